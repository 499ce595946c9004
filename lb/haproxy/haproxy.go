// Package haproxy runs one HAProxy master-worker process and talks to it:
// config checks (`haproxy -c`), start, adoption of a master left running
// by an earlier lb, hitless reloads (SIGUSR2 to the master) and Runtime
// API commands on the workers' admin stats socket. It decides nothing;
// lb's Driver does.
//
// Contract: at most one master per Files.Dir. The master's pid is kept in
// Files.PidFile; Adopt takes over a live master whose worker answers on
// the stats socket, and Start refuses to run while one does, so a restarted lb never
// leaves two masters behind.
package haproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Files are the paths one lb instance uses, all under Dir.
type Files struct {
	Dir          string
	Config       string // the config the master runs (-f)
	MasterSocket string // master CLI (-S)
	PidFile      string // the master's pid (-p)
	Log          string // the master's and workers' stdout/stderr
	// StatsSocket is the workers' admin Runtime API socket, as the config
	// declares it (expose-fd listeners).
	StatsSocket string
}

// FilesIn lays the files out under dir.
func FilesIn(dir string) Files {
	return Files{
		Dir:          dir,
		Config:       filepath.Join(dir, "haproxy.cfg"),
		MasterSocket: filepath.Join(dir, "master.sock"),
		PidFile:      filepath.Join(dir, "haproxy.pid"),
		Log:          filepath.Join(dir, "haproxy.log"),
		StatsSocket:  filepath.Join(dir, "stats.sock"),
	}
}

// Check runs `haproxy -c` on a config file and returns its output as the
// error when the config is refused.
func Check(ctx context.Context, bin, path string) error {
	out, err := exec.CommandContext(ctx, bin, "-c", "-f", path).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("haproxy -c %s: %s", path, msg)
	}
	return nil
}

// Process is a running master.
type Process struct {
	bin     string
	files   Files
	pid     int
	adopted bool
	exited  chan struct{} // closed when a master we started exits
}

// Pid is the master's pid.
func (p *Process) Pid() int { return p.pid }

// Adopted says the master was started by an earlier lb.
func (p *Process) Adopted() bool { return p.adopted }

// Alive says whether the master still runs.
func (p *Process) Alive() bool {
	if p.exited != nil {
		select {
		case <-p.exited:
			return false
		default:
			return true
		}
	}
	return pidAlive(p.pid, p.files.Config)
}

// Adopt returns the master recorded in files.PidFile when it is alive and
// answers on its master socket. A recorded master that is alive but does
// not answer is killed, so a fresh Start does not run beside it. It
// returns nil, nil when there is nothing to adopt.
func Adopt(ctx context.Context, bin string, files Files) (*Process, error) {
	data, err := os.ReadFile(files.PidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("adopt: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 || !pidAlive(pid, files.Config) {
		os.Remove(files.PidFile)
		return nil, nil
	}
	p := &Process{bin: bin, files: files, pid: pid, adopted: true}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := p.waitWorker(actx, 0); err == nil {
		return p, nil
	}
	// Wedged: end it so only one master ever serves these ports.
	if err := p.Kill(ctx); err != nil {
		return nil, fmt.Errorf("adopt: pid %d does not answer and would not die: %w", pid, err)
	}
	return nil, nil
}

// Start launches a master-worker HAProxy on files.Config and waits until a
// worker serves. It fails with HAProxy's output when the master dies.
func Start(ctx context.Context, bin string, files Files) (*Process, error) {
	if data, err := os.ReadFile(files.PidFile); err == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(data))); pid > 1 && pidAlive(pid, files.Config) {
			return nil, fmt.Errorf("start: a master (pid %d) already runs for %s", pid, files.Config)
		}
	}
	os.Remove(files.MasterSocket)
	os.Remove(files.StatsSocket)
	logf, err := os.OpenFile(files.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start: log: %w", err)
	}
	defer logf.Close()
	logStart, _ := logf.Seek(0, 2)
	cmd := exec.Command(bin, "-W", "-S", files.MasterSocket+",mode,600", "-f", files.Config, "-p", files.PidFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a signal for the lb's group (a terminal's
	// ^C) must not stop the load balancer, and it outlives a killed lb.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Process{bin: bin, files: files, pid: cmd.Process.Pid, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	// Our own record, in case the master dies before writing -p.
	if err := os.WriteFile(files.PidFile, []byte(strconv.Itoa(p.pid)+"\n"), 0o644); err != nil {
		p.Kill(ctx)
		return nil, fmt.Errorf("start: pid file: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := p.waitWorker(sctx, 0); err != nil {
		p.Kill(ctx)
		return nil, fmt.Errorf("start haproxy: %w: %s", err, logSince(files.Log, logStart))
	}
	return p, nil
}

func logSince(path string, off int64) string {
	data, err := os.ReadFile(path)
	if err != nil || off > int64(len(data)) {
		return ""
	}
	return strings.TrimSpace(string(data[off:]))
}

// waitWorker polls the stats socket until a worker other than notPid
// answers, and returns its pid.
func (p *Process) waitWorker(ctx context.Context, notPid int) (int, error) {
	var last error
	for {
		if !p.Alive() {
			return 0, fmt.Errorf("master %d exited", p.pid)
		}
		// A short deadline per try: a worker on its way out may take a
		// connection it never answers.
		tctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		pid, err := p.WorkerPid(tctx)
		cancel()
		if err == nil && pid != notPid {
			return pid, nil
		}
		if err == nil {
			err = fmt.Errorf("worker %d still answers", pid)
		}
		last = err
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for a worker: %v (last: %v)", ctx.Err(), last)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// WorkerPid asks the stats socket which worker answers.
func (p *Process) WorkerPid(ctx context.Context) (int, error) {
	out, err := cli(ctx, p.files.StatsSocket, "show info")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "Pid: "); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("show info: no Pid in %q", out)
}

// Reload makes the master load files.Config again (SIGUSR2): the new
// worker takes the listening sockets over (expose-fd listeners), old ones
// finish their connections, bounded by hard-stop-after. It returns once
// the new worker answers on the stats socket.
func (p *Process) Reload(ctx context.Context) error {
	old, err := p.WorkerPid(ctx)
	if err != nil {
		return fmt.Errorf("reload: current worker: %w", err)
	}
	if err := syscall.Kill(p.pid, syscall.SIGUSR2); err != nil {
		return fmt.Errorf("reload: signal master %d: %w", p.pid, err)
	}
	// A master that refuses the new config keeps the old worker: give up
	// after a while (the config passed `haproxy -c`, so this is rare).
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := p.waitWorker(rctx, old); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	return nil
}

// Runtime sends Runtime API commands to the worker on the stats socket, in
// one line, and returns an error naming the answers that are not
// successes.
func (p *Process) Runtime(ctx context.Context, cmds []string) error {
	if len(cmds) == 0 {
		return nil
	}
	out, err := cli(ctx, p.files.StatsSocket, strings.Join(cmds, "; "))
	if err != nil {
		return fmt.Errorf("runtime: %w", err)
	}
	var bad []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "IP changed from") || strings.HasPrefix(line, "no need to change") {
			continue
		}
		bad = append(bad, line)
	}
	if len(bad) > 0 {
		return fmt.Errorf("runtime: %s", strings.Join(bad, "; "))
	}
	return nil
}

// Master sends one line to the master CLI and returns the answer.
func (p *Process) Master(ctx context.Context, line string) (string, error) {
	return cli(ctx, p.files.MasterSocket, line)
}

// cli writes one command line to a HAProxy CLI socket and reads until the
// other side closes.
func cli(ctx context.Context, path, line string) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn, err := dialUnix(path, time.Until(deadline))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	if _, err := conn.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	// The master CLI answers once it sees the end of the input.
	conn.CloseWrite()
	var out bytes.Buffer
	if _, err := out.ReadFrom(conn); err != nil {
		return out.String(), err
	}
	return out.String(), nil
}

// dialUnix connects with a blocking connect bounded by timeout, so a
// listener with a full backlog makes us wait instead of failing at once.
func dialUnix(path string, timeout time.Duration) (*net.UnixConn, error) {
	if timeout <= 0 {
		return nil, fmt.Errorf("dial %s: %w", path, context.DeadlineExceeded)
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", path, err)
	}
	tv := syscall.NsecToTimeval(timeout.Nanoseconds())
	// SO_SNDTIMEO bounds a blocking connect on a unix socket.
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
	for {
		err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: path})
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("dial %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", path, err)
	}
	return c.(*net.UnixConn), nil
}

// Stop soft-stops the master (workers finish their connections, bounded
// by hard-stop-after) and waits for it to exit; past ctx it kills it.
func (p *Process) Stop(ctx context.Context) error {
	for p.Alive() {
		// Again and again: a master that is re-executing itself for a
		// reload does not see a signal sent meanwhile.
		syscall.Kill(p.pid, syscall.SIGUSR1)
		wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		p.waitExit(wctx)
		cancel()
		if ctx.Err() != nil {
			return p.Kill(context.Background())
		}
	}
	os.Remove(p.files.PidFile)
	return nil
}

// Kill ends the master and its workers at once.
func (p *Process) Kill(ctx context.Context) error {
	syscall.Kill(p.pid, syscall.SIGTERM)
	kctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if !p.waitExit(kctx) {
		syscall.Kill(-p.pid, syscall.SIGKILL)
		syscall.Kill(p.pid, syscall.SIGKILL)
		kctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel2()
		if !p.waitExit(kctx2) {
			return fmt.Errorf("pid %d survives SIGKILL", p.pid)
		}
	}
	os.Remove(p.files.PidFile)
	return nil
}

func (p *Process) waitExit(ctx context.Context) bool {
	for p.Alive() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// pidAlive says whether pid is a live haproxy running config (so a pid
// reused by another program is never adopted or killed).
func pidAlive(pid int, config string) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		// A zombie has exited; its parent has not reaped it yet.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return false
		}
	}
	if len(data) == 0 {
		// No command line while the process is between images: a master
		// re-executing itself on reload. It is the same master.
		return true
	}
	args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
	if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "haproxy") {
		return false
	}
	for i, a := range args {
		if a == "-f" && i+1 < len(args) && args[i+1] == config {
			return true
		}
	}
	return false
}
