package main

import (
	"fmt"
	"sort"
	"strings"

	"agora/core/mesos"
)

func runFrameworks(args []string) error { return withCLI((*cli).frameworks)(args) }

// frameworks prints the master's frameworks:
// `agora frameworks [--all] [--master URL] [--json]`.
func (c *cli) frameworks(args []string) error {
	v := c.newFlags("frameworks", "agora frameworks [--all] [--master URL] [--json]",
		"List the frameworks subscribed to the master: roles, whether they are active\n"+
			"and connected, how many tasks they run and the resources allocated to them.")
	all := v.fs.Bool("all", false, "also list completed (torn down) frameworks")
	resp, op, done, err := c.list(v, args, mesos.GetFrameworks)
	if done {
		return err
	}
	if resp.GetFrameworks == nil {
		return fmt.Errorf("master at %s answered GET_FRAMEWORKS without get_frameworks", op.Master())
	}
	tresp, _, err := c.call(op, mesos.GetTasks)
	if err != nil {
		return err
	}
	var tasks mesos.TasksResp
	if tresp.GetTasks != nil {
		tasks = *tresp.GetTasks
	}
	rows := frameworkRows(*resp.GetFrameworks, tasks, *all)
	if len(rows) == 0 {
		fmt.Fprintf(c.stderr, "no frameworks are subscribed to the master at %s\n", op.Master())
		return nil
	}
	return writeTable(c.stdout, []string{"ID", "NAME", "ROLES", "ACTIVE/CONNECTED", "TASKS", "CPUS", "MEM"}, rows)
}

// frameworkRows renders one row per framework, sorted by name then id. TASKS
// counts the framework's tasks that are not terminal (unreachable included).
func frameworkRows(fr mesos.FrameworksResp, tr mesos.TasksResp, all bool) [][]string {
	live := map[string]int{}
	for _, list := range [][]mesos.Task{tr.Tasks, tr.UnreachableTasks} {
		for _, t := range list {
			live[t.FrameworkID.Value]++
		}
	}
	row := func(f mesos.FrameworkState, status string) []string {
		info := f.FrameworkInfo
		id := idOf(info.ID)
		used := sum(f.AllocatedResources)
		return []string{id, info.Name, strings.Join(info.EffectiveRoles(), ","), status,
			fmt.Sprint(live[id]), fmtNum(used.CPUs), fmtMB(used.Mem)}
	}
	var rows [][]string
	for _, f := range fr.Frameworks {
		rows = append(rows, row(f, yesNo(f.Active)+"/"+yesNo(f.Connected)))
	}
	if all {
		for _, f := range fr.CompletedFrameworks {
			rows = append(rows, row(f, "completed"))
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i][1] != rows[j][1] {
			return rows[i][1] < rows[j][1]
		}
		return rows[i][0] < rows[j][0]
	})
	return rows
}
