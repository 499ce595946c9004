package main

import (
	"cmp"
	"fmt"
	"slices"

	"agora/core/mesos"
)

func runTasks(args []string) error { return withCLI((*cli).tasks)(args) }

// tasks prints the master's tasks: `agora tasks [--all] [--master URL] [--json]`.
func (c *cli) tasks(args []string) error {
	v := c.newFlags("tasks", "agora tasks [--all] [--master URL] [--json]",
		"List tasks that are running or unreachable; --all adds completed ones.")
	all := v.fs.Bool("all", false, "also list completed tasks")
	resp, op, done, err := c.list(v, args, mesos.GetTasks)
	if done {
		return err
	}
	if resp.GetTasks == nil {
		return fmt.Errorf("master at %s answered GET_TASKS without get_tasks", op.Master())
	}
	rows := taskRows(*resp.GetTasks, *all)
	if len(rows) == 0 {
		what := "running"
		if *all {
			what = "known"
		}
		fmt.Fprintf(c.stderr, "no tasks are %s on the master at %s\n", what, op.Master())
		return nil
	}
	return writeTable(c.stdout, []string{"ID", "NAME", "FRAMEWORK", "AGENT", "STATE"}, rows)
}

// taskRows renders active tasks, then unreachable and orphaned ones, then
// (with all) completed ones; each group sorted by framework and task id.
func taskRows(tr mesos.TasksResp, all bool) [][]string {
	groups := [][]mesos.Task{tr.Tasks, tr.UnreachableTasks, tr.OrphanTasks}
	if all {
		groups = append(groups, tr.CompletedTasks)
	}
	var rows [][]string
	for _, g := range groups {
		g = slices.Clone(g)
		slices.SortStableFunc(g, func(a, b mesos.Task) int {
			return cmp.Or(cmp.Compare(a.FrameworkID.Value, b.FrameworkID.Value), cmp.Compare(a.TaskID.Value, b.TaskID.Value))
		})
		for _, t := range g {
			rows = append(rows, []string{t.TaskID.Value, t.Name, t.FrameworkID.Value, t.AgentID.Value, t.State})
		}
	}
	return rows
}
