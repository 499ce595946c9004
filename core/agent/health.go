package agent

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"

	"agora/core/containerizer"
	"agora/core/health"
	"agora/core/mesos"
)

// Health checks run by the agent, as Mesos runs them: a checker per running
// task with a health_check, a TASK_RUNNING update with `healthy` on every
// change of health, and a kill after too many failures in a row.

// healthTarget resolves where a task's HTTP or TCP check connects: the
// agent's hostname and the check's port, translated for a Docker BRIDGE task
// to the host port its port_mappings map it to.
func healthTarget(hostname string, spec health.Spec, ci *mesos.ContainerInfo) health.Target {
	port := spec.Port
	if ci != nil && ci.Docker != nil && strings.EqualFold(ci.Docker.Network, "BRIDGE") {
		for _, m := range ci.Docker.PortMappings {
			proto := strings.ToLower(m.Protocol)
			if m.ContainerPort == port && m.HostPort != 0 && (proto == "" || strings.Contains(proto, "tcp")) {
				port = m.HostPort
				break
			}
		}
	}
	t := health.Target{Host: hostname}
	switch spec.Type {
	case health.TypeHTTP:
		t.HTTPPort = port
	case health.TypeTCP:
		t.TCPPort = port
	}
	return t
}

// healthRunFunc runs COMMAND checks in the container when it can (Execer),
// else in the task's sandbox with the task's environment.
func healthRunFunc(c containerizer.Container, sandbox string, env []string) health.RunFunc {
	if ex, ok := c.(containerizer.Execer); ok {
		return ex.Exec
	}
	return func(ctx context.Context, argv, extra []string) (int, error) {
		return runInSandbox(ctx, sandbox, append(append([]string{"PATH=" + defaultTaskPath}, env...), extra...), argv)
	}
}

// defaultTaskPath is the PATH of a command check run in a sandbox.
const defaultTaskPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// runInSandbox runs argv in dir in its own process group, killed whole when
// ctx ends, and returns its exit status (128+n for signal n).
func runInSandbox(ctx context.Context, dir string, env, argv []string) (int, error) {
	if len(argv) == 0 {
		return -1, errors.New("empty command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err := cmd.Run()
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	if cmd.ProcessState == nil {
		return -1, fmt.Errorf("run %s: %w", argv[0], err)
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// startHealthLocked starts a running task's health checker, if it has a
// health check and none runs yet.
func (a *Agent) startHealthLocked(t *task, c containerizer.Container) {
	if t.health == nil || t.checker != nil || a.launchCtx == nil {
		return
	}
	probe, err := health.NewProbe(*t.health, healthTarget(a.hostname, *t.health, t.info.Container), healthRunFunc(c, t.sandbox, t.spec.Env))
	if err != nil {
		a.logf("agent: task %q: health check not started: %v", t.key.TaskID, err)
		return
	}
	t.checker = health.Start(a.launchCtx, *t.health, a.now(), probe, func(d health.Decision) { a.healthDecision(t, d) })
}

// healthDecision acts on a checker's decision: a TASK_RUNNING update with
// the new health, and a kill (reported TASK_KILLED, unhealthy) after too
// many failures.
func (a *Agent) healthDecision(t *task, d health.Decision) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tasks[t.key] != t || t.forget || mesos.IsTerminal(t.state) {
		return
	}
	if d.Report && t.state == mesos.TaskRunning {
		healthy := d.Healthy
		st := a.statusLocked(t.key.TaskID, mesos.TaskRunning, mesos.SourceExecutor, mesos.ReasonTaskHealthCheckFailed, d.Message)
		st.Healthy = &healthy
		if t.container != nil && t.container.PID() > 0 {
			st.ContainerStatus = &mesos.ContainerStatus{ExecutorPID: uint32(t.container.PID())}
		}
		t.healthy = &healthy
		a.setStateLocked(t, st)
	}
	if d.Kill {
		a.logf("agent: killing task %q of framework %q: %s", t.key.TaskID, t.key.FrameworkID, d.Message)
		t.healthKill = d.Message
		a.killLocked(t, killGrace(nil, t.info.KillPolicy, a.cfg.DefaultKillGrace))
	}
}
