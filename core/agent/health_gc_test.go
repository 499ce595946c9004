package agent

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"agora/core/agent/gc"
	"agora/core/containerizer"
	"agora/core/mesos"
)

var mesosExit0 = containerizer.Exit{Code: 0, Message: "Command exited with status 0"}

// healthUpdates returns tid's distinct TASK_RUNNING updates that carry
// health (a resend is the same update).
func (m *fakeMaster) healthUpdates(tid string) []mesos.TaskStatus {
	var out []mesos.TaskStatus
	seen := map[string]bool{}
	for _, u := range m.allUpdates() {
		if u.Status.TaskID.Value == tid && u.Status.State == mesos.TaskRunning && u.Status.Healthy != nil && !seen[string(u.Status.UUID)] {
			seen[string(u.Status.UUID)] = true
			out = append(out, u.Status)
		}
	}
	return out
}

func TestTCPHealthCheckReportsAndKills(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	m.autoAck.Store(true)
	proc := newFakeProcess()
	startAgent(t, testConfig(t, m), proc)
	m.waitSubs(t, 1)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	m.send(runTask(framework("fw"), "web", func(ti *mesos.TaskInfo) {
		ti.HealthCheck = &mesos.HealthCheck{Type: "TCP", TCP: &mesos.TCPCheckInfo{Port: uint32(port)},
			DelaySeconds: 0.001, IntervalSeconds: 0.02, TimeoutSeconds: 1, ConsecutiveFailures: 3, GracePeriodSeconds: 60}
		ti.KillPolicy = &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: int64(time.Second)}}
	}))
	eventually(t, "healthy=true", func() bool { return len(m.healthUpdates("web")) >= 1 })
	first := m.healthUpdates("web")[0]
	if !*first.Healthy || first.Reason != mesos.ReasonTaskHealthCheckFailed {
		t.Fatalf("first health update: %+v", first)
	}

	ln.Close() // the task stops answering
	eventually(t, "healthy=false", func() bool { return len(m.healthUpdates("web")) >= 2 })
	if second := m.healthUpdates("web")[1]; *second.Healthy || !strings.Contains(second.Message, "connect") && !strings.Contains(second.Message, "refused") {
		t.Errorf("second health update: %+v", second)
	}
	killed := m.waitUpdate(t, "web", mesos.TaskKilled).Status
	if killed.Healthy == nil || *killed.Healthy || killed.Reason != mesos.ReasonTaskHealthCheckFailed ||
		!strings.Contains(killed.Message, "health check failed 3 times in a row") {
		t.Errorf("TASK_KILLED: %+v", killed)
	}
	if g := proc.container(t, "web").killGraces(); len(g) != 1 || g[0] != time.Second {
		t.Errorf("killed with grace %v, want the task's 1s", g)
	}
	if n := len(m.healthUpdates("web")); n != 2 {
		t.Errorf("%d health updates, want 2: one per change of health", n)
	}
}

func TestCommandHealthCheckRunsInTheSandbox(t *testing.T) {
	// The fake container cannot Exec: the check runs in the sandbox with the
	// task's environment.
	m := newFakeMaster(t, time.Second)
	m.autoAck.Store(true)
	cfg := testConfig(t, m)
	startAgent(t, cfg, newFakeProcess())
	m.waitSubs(t, 1)
	m.send(runTask(framework("fw"), "job", func(ti *mesos.TaskInfo) {
		ti.HealthCheck = &mesos.HealthCheck{Type: "COMMAND", Command: &mesos.CommandInfo{Value: `test -e "$MESOS_SANDBOX/healthy"`},
			DelaySeconds: 0.001, IntervalSeconds: 0.02, TimeoutSeconds: 5, ConsecutiveFailures: 1000, GracePeriodSeconds: 60}
	}))
	m.waitUpdate(t, "job", mesos.TaskRunning)
	marker := filepath.Join(sandboxOf(cfg, "fw", "job"), "healthy")
	os.WriteFile(marker, nil, 0o644)
	eventually(t, "healthy=true", func() bool { return len(m.healthUpdates("job")) >= 1 })
	os.Remove(marker)
	eventually(t, "healthy=false", func() bool { return len(m.healthUpdates("job")) >= 2 })
	if st := m.healthUpdates("job"); !*st[0].Healthy || *st[1].Healthy || !strings.Contains(st[1].Message, "exited with 1") {
		t.Errorf("health updates: %+v", st)
	}
}

func TestInvalidHealthCheckFailsTheTask(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	m.autoAck.Store(true)
	proc := newFakeProcess()
	startAgent(t, testConfig(t, m), proc)
	m.waitSubs(t, 1)
	m.send(runTask(framework("fw"), "bad", func(ti *mesos.TaskInfo) {
		ti.HealthCheck = &mesos.HealthCheck{Type: "HTTP", IntervalSeconds: -1, HTTP: &mesos.HTTPCheckInfo{Port: 80}}
	}))
	f := m.waitUpdate(t, "bad", mesos.TaskFailed).Status
	if f.Reason != mesos.ReasonTaskInvalid || !strings.Contains(f.Message, "health_check.interval_seconds") {
		t.Errorf("TASK_FAILED: %+v", f)
	}
	proc.mu.Lock()
	launched := len(proc.containers)
	proc.mu.Unlock()
	if launched != 0 {
		t.Error("a task with an invalid health check was launched")
	}
}

func TestCompletedSandboxesAreCollected(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	m.autoAck.Store(true)
	proc := newFakeProcess()
	cfg := testConfig(t, m)
	cfg.GCDelay = time.Millisecond
	cfg.GCInterval = 10 * time.Millisecond
	startAgent(t, cfg, proc)
	m.waitSubs(t, 1)
	m.send(runTask(framework("fw"), "done"))
	m.send(runTask(framework("fw"), "runs"))
	m.waitUpdate(t, "runs", mesos.TaskRunning)
	proc.container(t, "done").finish(mesosExit0)
	m.waitUpdate(t, "done", mesos.TaskFinished)
	eventually(t, "completed sandbox and records removed", func() bool {
		_, e1 := os.Stat(sandboxOf(cfg, "fw", "done"))
		_, e2 := os.Stat(filepath.Join(cfg.WorkDir, "meta", "frameworks", "fw", "tasks", "done"))
		return os.IsNotExist(e1) && os.IsNotExist(e2)
	})
	if _, err := os.Stat(filepath.Join(sandboxOf(cfg, "fw", "runs"), "stdout")); err != nil {
		t.Errorf("a running task's sandbox was collected: %v", err)
	}
}

func TestFullDiskCollectsSandboxesEarly(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	m.autoAck.Store(true)
	proc := newFakeProcess()
	cfg := testConfig(t, m)
	cfg.GCInterval = 10 * time.Millisecond // GCDelay stays 7 days
	var full atomic.Bool
	var measured atomic.Int64 // collections that found a candidate
	startAgentWith(t, cfg, func(a *Agent) {
		a.diskUsage = func(string) (gc.Disk, error) {
			measured.Add(1)
			if full.Load() {
				return gc.Disk{Used: 95, Total: 100}, nil
			}
			return gc.Disk{Used: 10, Total: 100}, nil
		}
	}, proc)
	m.waitSubs(t, 1)
	m.send(runTask(framework("fw"), "done"))
	proc.container(t, "done").finish(mesosExit0)
	m.waitUpdate(t, "done", mesos.TaskFinished)
	eventually(t, "task completed", func() bool {
		_, err := os.Stat(filepath.Join(cfg.WorkDir, "meta", "frameworks", "fw", "tasks", "done", "completed.json"))
		return err == nil
	})
	seen := measured.Load()
	eventually(t, "collections with a roomy disk", func() bool { return measured.Load() >= seen+3 })
	if _, err := os.Stat(sandboxOf(cfg, "fw", "done")); err != nil {
		t.Fatalf("sandbox collected before gc_delay with a roomy disk: %v", err)
	}
	full.Store(true)
	eventually(t, "sandbox collected on a full disk", func() bool {
		_, err := os.Stat(sandboxOf(cfg, "fw", "done"))
		return os.IsNotExist(err)
	})
}

func TestGCConfigValidate(t *testing.T) {
	base := Config{Master: "127.0.0.1:5050", WorkDir: t.TempDir()}
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.GCDelay = -time.Second }, "GCDelay"},
		{func(c *Config) { c.GCDiskThreshold = 1.5 }, "GCDiskThreshold"},
		{func(c *Config) { c.GCDiskThreshold = -0.1 }, "GCDiskThreshold"},
		{func(c *Config) { c.GCInterval = -time.Second }, "GCInterval"},
	} {
		cfg := base
		tc.mod(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate = %v, want an error naming %s", err, tc.want)
		}
	}
	a, err := New(base, newFakeProcess())
	if err != nil {
		t.Fatal(err)
	}
	if a.cfg.GCDelay != 7*24*time.Hour || a.cfg.GCDiskThreshold != 0.9 || a.cfg.GCInterval != time.Minute {
		t.Errorf("GC defaults: delay %v, threshold %v, interval %v", a.cfg.GCDelay, a.cfg.GCDiskThreshold, a.cfg.GCInterval)
	}
}
