package process

import (
	"errors"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"agora/core/containerizer"
)

// cleanupTimeout bounds how long the end of a task waits for its leftover
// processes to die before giving up on removing its cgroup.
const cleanupTimeout = 10 * time.Second

// container is one running task. Its main process leads its own process
// group, so the group id is the main pid.
type container struct {
	id      string
	cmd     *exec.Cmd
	pid     int
	cg      *taskCgroup
	limitMB float64
	logf    func(format string, args ...any)
	done    chan struct{}

	mu           sync.Mutex
	exited       bool // main process has ended; its pid must not be signalled
	killed       bool // Kill was called before the main process ended
	killDeadline time.Time
	killTimer    *time.Timer
	exit         containerizer.Exit
}

func newContainer(id string, cmd *exec.Cmd, cg *taskCgroup, limitMB float64, logf func(string, ...any)) *container {
	return &container{
		id:      id,
		cmd:     cmd,
		pid:     cmd.Process.Pid,
		cg:      cg,
		limitMB: limitMB,
		logf:    logf,
		done:    make(chan struct{}),
	}
}

func (c *container) PID() int              { return c.pid }
func (c *container) Done() <-chan struct{} { return c.done }

// Exit is valid once Done is closed.
func (c *container) Exit() containerizer.Exit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exit
}

// Kill asks the task to stop with SIGTERM and forces it with SIGKILL after
// grace. Repeated calls do not restart the grace period, but a shorter one
// brings the SIGKILL forward.
func (c *container) Kill(grace time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exited {
		return
	}
	deadline := time.Now().Add(grace)
	if !c.killed {
		c.killed = true
		c.killDeadline = deadline
		c.signalGroup(syscall.SIGTERM)
		c.killTimer = time.AfterFunc(grace, c.forceKill)
		return
	}
	if deadline.Before(c.killDeadline) {
		c.killDeadline = deadline
		c.killTimer.Reset(grace)
	}
}

func (c *container) forceKill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exited {
		return
	}
	c.signalGroup(syscall.SIGKILL)
	c.cg.killAll()
}

// signalGroup signals the task's process group. Callers hold mu and have
// checked that the main process has not been reaped, so the group id
// cannot have been reused.
func (c *container) signalGroup(sig syscall.Signal) {
	if err := syscall.Kill(-c.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		c.logf("process containerizer: %s: signal %s: %v", c.id, signalName(sig), err)
	}
}

// run waits for the main process, cleans up after it and publishes Exit.
func (c *container) run() {
	// Wait without reaping: while the main process is a zombie its pid,
	// and so its process group id, stays reserved, so the leftovers of the
	// group can be killed without risk of hitting an unrelated process.
	waitNoReap(c.pid)
	c.mu.Lock()
	c.exited = true
	killed := c.killed
	if c.killTimer != nil {
		c.killTimer.Stop()
	}
	// The task is over when its main process is: nothing it started may
	// outlive it.
	_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	c.mu.Unlock()
	c.cg.killAll()

	err := c.cmd.Wait()
	var ws syscall.WaitStatus
	if c.cmd.ProcessState != nil {
		ws, _ = c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	} else {
		c.logf("process containerizer: %s: wait: %v", c.id, err)
	}

	mem := c.cleanup()
	exit := describeExit(ws, killed, mem, c.limitMB)
	c.mu.Lock()
	c.exit = exit
	c.mu.Unlock()
	close(c.done)
}

// cleanup kills what is left in the cgroup until it is empty, reads the
// memory statistics and removes the cgroup.
func (c *container) cleanup() memStats {
	if c.cg == nil {
		return memStats{}
	}
	deadline := time.Now().Add(cleanupTimeout)
	delay := time.Millisecond
	for c.cg.killAll() > 0 && time.Now().Before(deadline) {
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
	mem := c.cg.memStats()
	// Exited processes can keep a cgroup busy for a moment after they are
	// gone from cgroup.procs.
	var err error
	for {
		if err = c.cg.remove(); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
	if err != nil {
		c.logf("process containerizer: %s: %v", c.id, err)
	}
	return mem
}

// waitNoReap blocks until pid has exited, leaving it a zombie.
func waitNoReap(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, syscall.EINTR) {
			return
		}
	}
}
