package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ShimSubcommand is the hidden first argument that makes the agent's binary
// run as a task's shim (see ShimMain); the default Config.ShimCommand is
// [os.Executable(), ShimSubcommand].
const ShimSubcommand = "__containerizer-shim"

// shimEnv marks a process the containerizer started as a shim. With
// ShimSubcommand as first argument it makes this package's init run the
// shim, whatever program links the package.
const shimEnv = "AGORA_CONTAINERIZER_SHIM"

// init turns any program that links this package into a shim when the
// containerizer starts it as one, before the program's own main (or a test
// binary's tests) can run. This is what makes the default ShimCommand safe
// in every binary: a test binary of a package that uses the containerizer
// would otherwise take the shim's arguments for its own and run its tests
// again, recursively.
func init() {
	if len(os.Args) > 1 && os.Args[1] == ShimSubcommand && os.Getenv(shimEnv) == "1" {
		os.Exit(ShimMain(os.Args[2:]))
	}
}

// The shim's inherited descriptors, after stdin, stdout and stderr.
const (
	shimReportFD = 3 // pipe: one shimReport, then closed
	shimStdoutFD = 4 // the sandbox's stdout file, for the task
	shimStderrFD = 5 // the sandbox's stderr file, for the task
)

// shimReport tells the containerizer whether the task started.
type shimReport struct {
	Task  procRecord `json:"task"`
	Error string     `json:"error,omitempty"`
}

// ShimMain runs a task's shim: the small supervisor between the agent and
// the task that outlives the agent. args is the task's runtime directory
// (the arguments after ShimSubcommand). The shim starts the task recorded in
// launch.json in its own process group and cgroup, reports its pid on fd 3,
// waits for it, kills whatever it left behind, removes its cgroup, records
// how it ended in outcome.json and exits. SIGUSR1 asks it to kill the task
// as kill.json says. It returns the shim's exit status.
func ShimMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintf(os.Stderr, "agora %s: want one argument, the runtime directory; got %q\n", ShimSubcommand, args)
		return 2
	}
	report := os.NewFile(shimReportFD, "report")
	stdout := os.NewFile(shimStdoutFD, "stdout")
	stderr := os.NewFile(shimStderrFD, "stderr")
	if report == nil || stdout == nil || stderr == nil {
		fmt.Fprintf(os.Stderr, "agora %s: descriptors 3-5 are not open; the shim is started by the process containerizer only\n", ShimSubcommand)
		return 2
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%s shim: %s\n", time.Now().Format(time.RFC3339Nano), fmt.Sprintf(format, a...))
	}
	if err := runShim(args[0], report, stdout, stderr, logf); err != nil {
		logf("%v", err)
		return 1
	}
	return 0
}

func runShim(dir string, report, stdout, stderr *os.File, logf func(string, ...any)) error {
	var rec launchRecord
	if err := readJSON(filepath.Join(dir, launchFile), &rec); err != nil {
		sendReport(report, shimReport{Error: fmt.Sprintf("shim: %v", err)})
		return err
	}
	cmd := &exec.Cmd{
		Path:        rec.Path,
		Args:        rec.Argv,
		Env:         rec.Env,
		Dir:         rec.Dir,
		Stdout:      stdout,
		Stderr:      stderr,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Credential: rec.Cred.credential()},
	}
	// Kill requests arrive as SIGUSR1. Terminal and session signals are
	// caught and dropped: the shim must outlive everything but its task.
	// (Caught, not ignored: ignored dispositions would pass to the task.)
	kills := make(chan os.Signal, 1)
	signal.Notify(kills, syscall.SIGUSR1)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)

	cg := rec.Cgroup.taskCgroup()
	err := cg.start(cmd)
	stdout.Close()
	stderr.Close()
	if err != nil {
		sendReport(report, shimReport{Error: unwrapExecError(err).Error()})
		return nil
	}
	pid := cmd.Process.Pid
	// The task cannot be reaped before we wait for it, so this is its
	// start time even if it has already exited.
	start, _, err := procStat(pid)
	if err != nil {
		logf("task %d: %v", pid, err)
	}
	task := procRecord{PID: pid, Start: start}
	if err := writeJSON(filepath.Join(dir, taskFile), task); err != nil {
		logf("record task pid: %v", err)
	}
	sendReport(report, shimReport{Task: task})

	s := &supervisor{dir: dir, cmd: cmd, pid: pid, cg: cg, limitMB: rec.LimitMB, logf: logf}
	go func() {
		for range kills {
			s.killRequested()
		}
	}()
	// A kill recorded before the handler was installed (Destroy racing a
	// launch) is not lost.
	s.killRequested()
	out := s.run()
	if err := writeJSON(filepath.Join(dir, outcomeFile), out); err != nil {
		return fmt.Errorf("record outcome %+v: %w", out, err)
	}
	return nil
}

func sendReport(w io.WriteCloser, r shimReport) {
	// The containerizer may be gone (EPIPE); then nobody needs the report.
	_ = json.NewEncoder(w).Encode(r)
	w.Close()
}

// supervisor is the shim's hold on its task. The task leads its own process
// group, so the group id is its pid.
type supervisor struct {
	dir     string
	cmd     *exec.Cmd
	pid     int
	cg      *taskCgroup
	limitMB float64
	logf    func(string, ...any)

	mu           sync.Mutex
	exited       bool // the task's main process has ended; its pid must not be signalled
	killed       bool // a kill was requested before the main process ended
	killDeadline time.Time
	killTimer    *time.Timer
}

// killRequested applies kill.json: SIGTERM to the group at once, SIGKILL at
// the deadline. Repeated requests do not restart the grace period, but an
// earlier deadline brings the SIGKILL forward.
func (s *supervisor) killRequested() {
	var k killRecord
	if err := readJSON(filepath.Join(s.dir, killFile), &k); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.logf("kill request: %v", err)
		}
		return
	}
	deadline := time.Unix(0, k.DeadlineUnixNano)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exited {
		return
	}
	if !s.killed {
		s.killed = true
		s.killDeadline = deadline
		s.signalGroup(syscall.SIGTERM)
		s.killTimer = time.AfterFunc(time.Until(deadline), s.forceKill)
		return
	}
	if deadline.Before(s.killDeadline) {
		s.killDeadline = deadline
		s.killTimer.Reset(time.Until(deadline))
	}
}

func (s *supervisor) forceKill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exited {
		return
	}
	s.signalGroup(syscall.SIGKILL)
	s.cg.killAll()
}

// signalGroup signals the task's process group. Callers hold mu and have
// checked that the main process has not been reaped, so the group id
// cannot have been reused.
func (s *supervisor) signalGroup(sig syscall.Signal) {
	if err := syscall.Kill(-s.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		s.logf("signal %s: %v", signalName(sig), err)
	}
}

// run waits for the task's main process, cleans up after it and says how it
// ended.
func (s *supervisor) run() outcomeRecord {
	// Wait without reaping: while the main process is a zombie its pid,
	// and so its process group id, stays reserved, so the leftovers of the
	// group can be killed without risk of hitting an unrelated process.
	waitNoReap(s.pid)
	s.mu.Lock()
	s.exited = true
	// A kill recorded but not yet signalled (Destroy kills directly too)
	// still makes this a killed task.
	_, err := os.Stat(filepath.Join(s.dir, killFile))
	killed := s.killed || err == nil
	if s.killTimer != nil {
		s.killTimer.Stop()
	}
	// The task is over when its main process is: nothing it started may
	// outlive it.
	_ = syscall.Kill(-s.pid, syscall.SIGKILL)
	s.mu.Unlock()
	s.cg.killAll()

	err = s.cmd.Wait()
	var ws syscall.WaitStatus
	if s.cmd.ProcessState != nil {
		ws, _ = s.cmd.ProcessState.Sys().(syscall.WaitStatus)
	} else {
		s.logf("wait: %v", err)
	}
	mem := cleanupCgroup(s.cg, s.logf)
	e := describeExit(ws, killed, mem, s.limitMB)
	return outcomeRecord{Code: e.Code, Signal: e.Signal, Killed: e.Killed, OOM: e.OOM, Message: e.Message, Ended: time.Now()}
}

// cleanupTimeout bounds how long the end of a task waits for its leftover
// processes to die before giving up on removing its cgroup.
const cleanupTimeout = 10 * time.Second

// cleanupCgroup kills what is left in the cgroup until it is empty, reads
// the memory statistics and removes the cgroup.
func cleanupCgroup(cg *taskCgroup, logf func(string, ...any)) memStats {
	if cg == nil {
		return memStats{}
	}
	deadline := time.Now().Add(cleanupTimeout)
	delay := time.Millisecond
	for cg.killAll() > 0 && time.Now().Before(deadline) {
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
	mem := cg.memStats()
	// Exited processes can keep a cgroup busy for a moment after they are
	// gone from cgroup.procs.
	var err error
	for {
		if err = cg.remove(); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
	if err != nil {
		logf("%v", err)
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
