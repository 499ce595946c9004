package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"agora/core/containerizer"
)

// container is the containerizer's view of one task: its shim, which it
// launched or recovered, and the task the shim supervises.
type container struct {
	id   string
	dir  string // runtime directory
	rec  launchRecord
	task procRecord
	shim *pidHandle
	// shimCmd is set when this process started the shim and must reap it.
	shimCmd *exec.Cmd
	logf    func(format string, args ...any)
	done    chan struct{}

	mu           sync.Mutex
	ended        bool
	killDeadline time.Time // zero until Kill
	exit         containerizer.Exit
}

var (
	_ containerizer.Container = (*container)(nil)
	_ containerizer.Execer    = (*container)(nil)
)

func (c *container) PID() int              { return c.task.PID }
func (c *container) Done() <-chan struct{} { return c.done }

// Exit is valid once Done is closed.
func (c *container) Exit() containerizer.Exit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exit
}

// Kill records a SIGKILL deadline in kill.json and tells the shim, which
// sends SIGTERM to the task's process group at once and SIGKILL to the group
// and its cgroup at the deadline. Repeated calls do not restart the grace
// period, but a shorter one brings the SIGKILL forward. The request is in
// the runtime directory, so it holds even if the agent dies meanwhile.
func (c *container) Kill(grace time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	deadline := time.Now().Add(max(0, grace))
	if !c.killDeadline.IsZero() && !deadline.Before(c.killDeadline) {
		return
	}
	c.killDeadline = deadline
	if err := writeJSON(filepath.Join(c.dir, killFile), killRecord{DeadlineUnixNano: deadline.UnixNano()}); err != nil {
		c.logf("process containerizer: %s: record kill: %v", c.id, err)
	}
	if err := c.shim.signal(syscall.SIGUSR1); err != nil {
		// Without its shim the task is killed when the shim's end is
		// noticed (watch); nothing else can be done here.
		c.logf("process containerizer: %s: ask shim to kill: %v", c.id, err)
	}
}

// watch waits for the shim to end and publishes the task's outcome.
func (c *container) watch() {
	c.shim.wait()
	if c.shimCmd != nil {
		_ = c.shimCmd.Wait() // reap it; its status says nothing about the task
	}
	c.shim.close()
	exit, err := readOutcome(c.dir)
	switch _, statErr := os.Stat(c.dir); {
	case err == nil:
	case errors.Is(statErr, os.ErrNotExist):
		// Destroy (from another containerizer value) killed the task and
		// removed the runtime directory with the outcome.
		killTask(c.task, c.rec.Cgroup.taskCgroup(), c.logf)
		exit = containerizer.Exit{Code: -1, Signal: int(syscall.SIGKILL), Killed: true, Message: "Task was destroyed"}
	default:
		// The shim died before its task, or before it could write: the task
		// is unsupervised, so it must not run on.
		c.logf("process containerizer: %s: %v; killing the task", c.id, err)
		killTask(c.task, c.rec.Cgroup.taskCgroup(), c.logf)
		c.mu.Lock()
		killed := !c.killDeadline.IsZero()
		c.mu.Unlock()
		exit = containerizer.Exit{Code: -1, Signal: int(syscall.SIGKILL), Killed: killed,
			Message: fmt.Sprintf("Task supervisor (shim) exited without recording how the task ended (%v); the task was killed", err)}
	}
	c.finish(exit)
}

func (c *container) finish(exit containerizer.Exit) {
	c.mu.Lock()
	c.ended = true
	c.exit = exit
	c.mu.Unlock()
	close(c.done)
}

// readOutcome reads the shim's record of the task's end.
func readOutcome(dir string) (containerizer.Exit, error) {
	var o outcomeRecord
	if err := readJSON(filepath.Join(dir, outcomeFile), &o); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return containerizer.Exit{}, errors.New("no outcome recorded")
		}
		return containerizer.Exit{}, err
	}
	return o.exit(), nil
}

// killTask SIGKILLs a task's process group (only if its leader is still the
// recorded process, so a reused pid is never hit) and everything in its
// cgroup, then removes the cgroup.
func killTask(task procRecord, cg *taskCgroup, logf func(string, ...any)) {
	if task.running() {
		if err := syscall.Kill(-task.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			logf("process containerizer: kill task group %d: %v", task.PID, err)
		}
	}
	cleanupCgroup(cg, logf)
}

// Exec runs argv in the task's context: its sandbox as working directory,
// its environment with env added, its user, and its cgroup while the task
// runs (so a COMMAND health check is limited and accounted like the task;
// on cgroup v1 from just after it starts).
// It returns the exit status (128+n for a signal n), or an error if the
// command could not run or ctx ended first, in which case it is killed.
func (c *container) Exec(ctx context.Context, argv []string, env []string) (int, error) {
	if len(argv) == 0 {
		return -1, errors.New("exec: empty argv")
	}
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	fullEnv := append(append([]string(nil), c.rec.Env...), env...)
	path := argv[0]
	if !containsSlash(path) {
		var err error
		if path, err = lookPath(path, envValue(fullEnv, "PATH")); err != nil {
			return -1, fmt.Errorf("exec: %w", err)
		}
	}
	newCmd := func() *exec.Cmd {
		cmd := exec.CommandContext(ctx, path, argv[1:]...)
		cmd.Args[0] = argv[0]
		cmd.Env = fullEnv
		cmd.Dir = c.rec.Dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.rec.Cred.credential()}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		return cmd
	}
	cmd := newCmd()
	cg := c.rec.Cgroup.taskCgroup()
	select {
	case <-c.done:
		cg = nil // the task's cgroup is gone with it
	default:
	}
	if cg != nil && cg.version == 1 {
		// Not the v1 thread trick here: a thread of the agent inside the
		// task's cgroup would be killed with it when the shim empties the
		// cgroup. The command joins its cgroup right after it starts, which
		// leaves a moment in which it is not yet limited.
		if err := cmd.Start(); err != nil {
			return -1, fmt.Errorf("exec %s: %w", argv[0], unwrapExecError(err))
		}
		if err := cg.join(cmd.Process.Pid); err != nil {
			c.logf("process containerizer: %s: exec %s outside the task's cgroup: %v", c.id, argv[0], err)
		}
	} else if err := cg.start(cmd); err != nil {
		if cg == nil || cmd.Process != nil {
			return -1, fmt.Errorf("exec %s: %w", argv[0], unwrapExecError(err))
		}
		// The cgroup went away as the task ended; run the command anyway.
		cmd = newCmd()
		if err := cmd.Start(); err != nil {
			return -1, fmt.Errorf("exec %s: %w", argv[0], unwrapExecError(err))
		}
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		return -1, fmt.Errorf("exec %s: %w", argv[0], ctx.Err())
	}
	if cmd.ProcessState == nil {
		return -1, fmt.Errorf("exec %s: %w", argv[0], err)
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}
