package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"agora/core/client"
	"agora/core/mesos"
)

func runTask(args []string) error { return withCLI((*cli).task)(args) }

const taskUsage = "agora task log TASK [--stderr] [--follow] [--tail N] [--framework ID] [--master URL] [--json]"

// task dispatches the task subcommands; today that is only `log`.
func (c *cli) task(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("task: missing subcommand (usage: %s)", taskUsage)
	}
	switch args[0] {
	case "log", "logs":
		return c.taskLog(args[1:])
	case "-h", "--help", "help":
		fmt.Fprintf(c.stdout, "usage: %s\n", taskUsage)
		return nil
	}
	return fmt.Errorf("task: unknown subcommand %q (usage: %s)", args[0], taskUsage)
}

// Sizes of reads from the agent: whole chunks when printing, smaller ones
// when walking back from the end for --tail.
const (
	logChunk  = 1 << 20
	tailChunk = 64 << 10
)

// taskLog prints a task's sandbox stdout or stderr.
func (c *cli) taskLog(args []string) error {
	v := c.newFlags("task log", taskUsage,
		"Print a task's stdout (or stderr) from its agent's sandbox. The task is found\n"+
			"among the master's active and completed tasks. With --follow, keep printing\n"+
			"new output until the task ends and its output stops growing, or Ctrl-C.")
	stderr := v.fs.Bool("stderr", false, "print stderr instead of stdout")
	follow := v.fs.Bool("follow", false, "keep printing new output until the task ends")
	v.fs.BoolVar(follow, "f", false, "short for --follow")
	tail := v.fs.Int("tail", -1, "print only the last N lines (default: all)")
	framework := v.fs.String("framework", "", "framework id, when the task id exists in several frameworks")
	pos, help, err := c.parse(v, args)
	if help || err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("task log: want exactly one task id, got %d (usage: %s)", len(pos), taskUsage)
	}
	taskID := pos[0]

	op := client.NewOperator(v.master, c.hc)
	tr, err := c.getTasks(op)
	if err != nil {
		return err
	}
	task, err := findTask(tr, taskID, *framework)
	if err != nil {
		return fmt.Errorf("master at %s: %w", op.Master(), err)
	}
	ar, _, err := c.call(op, mesos.GetAgents)
	if err != nil {
		return err
	}
	if ar.GetAgents == nil {
		return fmt.Errorf("master at %s answered GET_AGENTS without get_agents", op.Master())
	}
	addr, err := taskAgentAddr(*ar.GetAgents, task)
	if err != nil {
		return err
	}
	if strings.HasPrefix(op.Master(), "https://") {
		// A cluster that speaks TLS does so on its agents too.
		addr = "https://" + addr
	}
	file := "stdout"
	if *stderr {
		file = "stderr"
	}
	l := &logReader{c: c, agent: addr, path: client.SandboxPath(task.FrameworkID.Value, taskID, file), json: v.json}

	err = l.run(*tail, *follow, func() (bool, error) {
		tr, err := c.getTasks(op)
		if err != nil {
			return false, err
		}
		t, err := findTask(tr, taskID, task.FrameworkID.Value)
		if err != nil {
			return true, nil // gone from the master's memory: long finished
		}
		return mesos.IsTerminal(t.State), nil
	})
	if c.ctx.Err() != nil {
		return nil // Ctrl-C is how a user stops --follow
	}
	if notFound(err) {
		return fmt.Errorf("no %s for task %q in its sandbox on agent %s (%s); the agent may have removed the sandbox: %w",
			file, taskID, task.AgentID.Value, addr, err)
	}
	return err
}

func (c *cli) getTasks(op *client.Operator) (mesos.TasksResp, error) {
	r, _, err := c.call(op, mesos.GetTasks)
	if err != nil {
		return mesos.TasksResp{}, err
	}
	if r.GetTasks == nil {
		return mesos.TasksResp{}, fmt.Errorf("master at %s answered GET_TASKS without get_tasks", op.Master())
	}
	return *r.GetTasks, nil
}

// findTask picks the task with id, in framework if given. A task id that
// exists in several frameworks is ambiguous. Within one framework an active
// entry wins over completed ones, and the newest completed entry over older
// ones (a task id may be reused after the task ended).
func findTask(tr mesos.TasksResp, id, framework string) (mesos.Task, error) {
	match := func(t mesos.Task) bool {
		return t.TaskID.Value == id && (framework == "" || t.FrameworkID.Value == framework)
	}
	byFramework := map[string]mesos.Task{}
	active := map[string]bool{}
	for _, list := range [][]mesos.Task{tr.Tasks, tr.UnreachableTasks, tr.OrphanTasks} {
		for _, t := range list {
			if match(t) && !active[t.FrameworkID.Value] {
				byFramework[t.FrameworkID.Value] = t
				active[t.FrameworkID.Value] = true
			}
		}
	}
	for _, t := range tr.CompletedTasks {
		if match(t) && !active[t.FrameworkID.Value] {
			byFramework[t.FrameworkID.Value] = t // later entries are newer
		}
	}
	switch len(byFramework) {
	case 0:
		if framework != "" {
			return mesos.Task{}, fmt.Errorf("task %q of framework %q not found; see `agora tasks --all`", id, framework)
		}
		return mesos.Task{}, fmt.Errorf("task %q not found among active or completed tasks; see `agora tasks --all`", id)
	case 1:
		for _, t := range byFramework {
			return t, nil
		}
	}
	ids := make([]string, 0, len(byFramework))
	for fw := range byFramework {
		ids = append(ids, fw)
	}
	sort.Strings(ids)
	return mesos.Task{}, fmt.Errorf("task %q exists in %d frameworks (%s); choose one with --framework ID",
		id, len(ids), strings.Join(ids, ", "))
}

// taskAgentAddr finds host:port of the agent that ran task.
func taskAgentAddr(ar mesos.AgentsResp, task mesos.Task) (string, error) {
	for _, a := range ar.Agents {
		if a.AgentInfo.ID != nil && a.AgentInfo.ID.Value == task.AgentID.Value {
			return agentAddr(a.AgentInfo), nil
		}
	}
	for _, a := range ar.RecoveredAgents {
		if a.ID != nil && a.ID.Value == task.AgentID.Value {
			return agentAddr(a), nil
		}
	}
	return "", fmt.Errorf("agent %s that ran task %q is not registered with the master, so its sandbox cannot be read",
		task.AgentID.Value, task.TaskID.Value)
}

// tailStart returns where the last n lines of buf begin. ok is false when
// buf holds fewer than n complete lines, i.e. more of the file before buf
// is needed. A final line without a newline counts as a line.
func tailStart(buf []byte, n int) (start int, ok bool) {
	if n <= 0 {
		return len(buf), true
	}
	end := len(buf)
	if end > 0 && buf[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if buf[i] == '\n' {
			n--
			if n == 0 {
				return i + 1, true
			}
		}
	}
	return 0, false
}

// logReader prints one sandbox file from an agent.
type logReader struct {
	c     *cli
	agent string // host:port
	path  string
	json  bool // print {"data","offset"} objects instead of raw bytes
}

// run prints the file (or its last tail lines if tail >= 0), then with
// follow polls for new bytes until terminal reports the task ended and a
// read after that found nothing new.
func (l *logReader) run(tail int, follow bool, terminal func() (bool, error)) error {
	off := int64(0)
	if tail >= 0 {
		var err error
		if off, err = l.tailOffset(tail); err != nil && !(follow && notFound(err)) {
			return err
		}
	}
	off, err := l.copyFrom(off)
	if err != nil && !(follow && notFound(err)) {
		return err
	}
	if !follow {
		return nil
	}
	tick := time.NewTicker(l.c.poll)
	defer tick.Stop()
	for {
		select {
		case <-l.c.ctx.Done():
			return nil
		case <-tick.C:
		}
		// Ask for the state before reading: output written before the task
		// ended is then in the file by the time of the read.
		done, err := terminal()
		if err != nil {
			return err
		}
		next, err := l.copyFrom(off)
		if err != nil && !notFound(err) {
			return err
		}
		if done && next == off {
			return nil
		}
		off = next
	}
}

// notFound reports an agent's 404: the sandbox file does not exist (yet).
func notFound(err error) bool {
	var api *client.APIError
	return errors.As(err, &api) && api.Status == http.StatusNotFound
}

// copyFrom prints the file from off to its current end and returns the new end.
func (l *logReader) copyFrom(off int64) (int64, error) {
	for {
		data, next, err := client.ReadFile(l.c.ctx, l.c.hc, l.agent, l.path, off, logChunk)
		if err != nil {
			return off, err
		}
		if len(data) == 0 {
			return off, nil
		}
		if err := l.emit(data, off); err != nil {
			return off, err
		}
		off = next
	}
}

func (l *logReader) emit(data []byte, off int64) error {
	if !l.json {
		_, err := l.c.stdout.Write(data)
		return err
	}
	b, err := json.Marshal(struct {
		Data   string `json:"data"`
		Offset int64  `json:"offset"`
	}{string(data), off})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(l.c.stdout, "%s\n", b)
	return err
}

// tailOffset walks back from the end of the file until it holds n lines
// and returns the offset where they start.
func (l *logReader) tailOffset(n int) (int64, error) {
	_, size, err := client.ReadFile(l.c.ctx, l.c.hc, l.agent, l.path, -1, 0)
	if err != nil {
		return 0, err
	}
	var buf []byte
	for start := size; start > 0; {
		from := max(0, start-tailChunk)
		b, err := l.readRange(from, start)
		if err != nil {
			return 0, err
		}
		buf = append(b, buf...)
		start = from
		if i, ok := tailStart(buf, n); ok {
			return start + int64(i), nil
		}
	}
	return 0, nil
}

// readRange reads [from, to), in as many requests as the agent needs.
func (l *logReader) readRange(from, to int64) ([]byte, error) {
	var out []byte
	for from < to {
		data, next, err := client.ReadFile(l.c.ctx, l.c.hc, l.agent, l.path, from, to-from)
		if err != nil {
			return nil, err
		}
		if len(data) == 0 {
			break // the file shrank (rotated); take what there is
		}
		if int64(len(data)) > to-from {
			data = data[:to-from]
		}
		out = append(out, data...)
		from = next
	}
	return out, nil
}
