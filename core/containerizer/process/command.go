package process

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"agora/core/containerizer"
	"agora/core/mesos"
)

// defaultPath is the PATH a task sees unless the agent or the task sets one.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// commandLine turns a Mesos CommandInfo into the program to execute and its
// argv: shell commands run as `/bin/sh -c value`; otherwise value is the
// executable and arguments is the whole argv, argv[0] included, as in Mesos.
func commandLine(cmd *mesos.CommandInfo) (path string, argv []string, err error) {
	if cmd == nil {
		return "", nil, errors.New("command: missing")
	}
	if cmd.IsShell() {
		if strings.TrimSpace(cmd.Value) == "" {
			return "", nil, errors.New("command.value: empty shell command")
		}
		return "/bin/sh", []string{"sh", "-c", cmd.Value}, nil
	}
	if cmd.Value == "" {
		return "", nil, errors.New("command.value: missing executable (shell is false)")
	}
	argv = append([]string(nil), cmd.Arguments...)
	if len(argv) == 0 {
		// Mesos would exec with an empty argv; programs expect argv[0].
		argv = []string{cmd.Value}
	}
	return cmd.Value, argv, nil
}

// describeCommand names a command in error messages.
func describeCommand(cmd *mesos.CommandInfo) string {
	if cmd.IsShell() {
		return fmt.Sprintf("shell command %q", cmd.Value)
	}
	return fmt.Sprintf("executable %q", cmd.Value)
}

// environ builds the task's environment: a minimal base (PATH, and HOME set
// to the sandbox so that tools writing dotfiles keep them with the task),
// then the agent's spec.Env, then the command's own variables; a later
// definition of a name replaces an earlier one in place.
func environ(sandbox string, specEnv []string, cmd *mesos.CommandInfo) ([]string, error) {
	var env containerizer.Env
	env.Set("PATH", defaultPath)
	env.Set("HOME", sandbox)
	for i, kv := range specEnv {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("env[%d]: %q is not NAME=value", i, kv)
		}
		env.Set(name, value)
	}
	if err := env.SetCommand(cmd, "process"); err != nil {
		return nil, err
	}
	return env.List(), nil
}

// envValue returns the value of name in env, last definition winning.
func envValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

func containsSlash(s string) bool { return strings.Contains(s, "/") }

// lookPath finds an executable named file in the directories of pathEnv.
func lookPath(file, pathEnv string) (string, error) {
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			// POSIX: an empty PATH entry is the working directory, which
			// the agent does not share with the task; skip it.
			continue
		}
		p := filepath.Join(dir, file)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable %q not found in PATH %q", file, pathEnv)
}

// memStats is what the memory controller says about a finished task.
type memStats struct {
	known     bool  // a memory cgroup was read
	oomKills  int64 // processes the kernel killed for the cgroup's limit
	failcnt   int64 // v1: times usage hit the limit
	peakBytes int64 // highest usage seen, 0 if unknown
}

// describeExit turns a wait status into the Exit a user sees. limitMB is
// the task's memory limit (0 = none).
func describeExit(ws syscall.WaitStatus, killed bool, mem memStats, limitMB float64) containerizer.Exit {
	e := containerizer.Exit{Killed: killed}
	switch {
	case ws.Signaled():
		e.Code = -1
		e.Signal = int(ws.Signal())
		e.Message = "Command terminated with signal " + signalName(ws.Signal())
	default:
		e.Code = ws.ExitStatus()
		e.Message = fmt.Sprintf("Command exited with status %d", e.Code)
	}
	// The kernel's OOM counter is authoritative; on v1 kernels without it,
	// hitting the limit and dying of SIGKILL is the OOM killer's signature.
	oom := mem.oomKills > 0 ||
		(mem.failcnt > 0 && ws.Signaled() && ws.Signal() == syscall.SIGKILL && !killed)
	if limitMB > 0 && oom {
		e.OOM = true
		peak := ""
		if mem.peakBytes > 0 {
			peak = fmt.Sprintf(", peak usage %s MB", formatMB(float64(mem.peakBytes)/(1<<20)))
		}
		e.Message = fmt.Sprintf("Memory limit exceeded: requested %s MB%s (%s)", formatMB(limitMB), peak, e.Message)
	}
	return e
}

func formatMB(mb float64) string { return strings.TrimSuffix(fmt.Sprintf("%.1f", mb), ".0") }

func signalName(s syscall.Signal) string {
	if n := unix.SignalName(s); n != "" {
		return n
	}
	return fmt.Sprintf("%d", int(s))
}

// validName accepts a single safe path component: container IDs name
// cgroup directories, so "..", "/" and control characters are refused.
func validName(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if s == "." || s == ".." {
		return fmt.Errorf("%q is not a valid name", s)
	}
	for _, r := range s {
		ok := r == '-' || r == '_' || r == '.' || r == ':' || r == '@' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("%q contains %q; allowed are letters, digits and -_.:@", s, r)
		}
	}
	return nil
}
