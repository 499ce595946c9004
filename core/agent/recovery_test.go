package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"agora/core/agentapi"
	"agora/core/containerizer/process"
	"agora/core/mesos"
)

// The process containerizer's shims are this test binary, re-executed: the
// process package's init runs them.

// processCZ is a real process containerizer for the tests, with its own
// runtime and cgroup directories. Whatever the test leaves running is
// destroyed when it ends.
func processCZ(t *testing.T, runtimeDir, agentID string) *process.Containerizer {
	t.Helper()
	pc, err := process.New(process.Config{
		RuntimeDir:   runtimeDir,
		CgroupParent: fmt.Sprintf("agora-agent-test-%d", os.Getpid()),
		Logf:         t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ids, _ := pc.Orphans(context.Background(), agentID)
		for _, id := range ids {
			pc.Destroy(context.Background(), id)
		}
	})
	return pc
}

// ack acknowledges the first update of tid in state, waiting for it.
func (m *fakeMaster) ack(t *testing.T, tid, state string) gotUpdate {
	t.Helper()
	u := m.waitUpdate(t, tid, state)
	m.send(ackOf(u.Update))
	return u
}

// statePIDs returns each task's pid from GET /state.
func statePIDs(t *testing.T, a *Agent) map[string]int {
	var st struct {
		Tasks []stateTask `json:"tasks"`
	}
	getJSON(t, "http://"+a.Addr()+"/state", &st)
	out := map[string]int{}
	for _, tk := range st.Tasks {
		out[tk.ID] = tk.PID
	}
	return out
}

func processAlive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

func sandboxOf(cfg Config, fid, tid string) string {
	return filepath.Join(cfg.WorkDir, "frameworks", fid, "tasks", tid)
}

func shell(cmd string) func(*mesos.TaskInfo) {
	return func(ti *mesos.TaskInfo) { ti.Command = &mesos.CommandInfo{Value: cmd} }
}

// updatesOnStream returns the updates of tid that arrived on stream.
func (m *fakeMaster) updatesOnStream(tid, stream string) []gotUpdate {
	var out []gotUpdate
	for _, u := range m.allUpdates() {
		if u.Status.TaskID.Value == tid && u.stream == stream {
			out = append(out, u)
		}
	}
	return out
}

// TestAgentRestartRecoversTasks is the agent's checkpoint recovery with
// the real process containerizer: the agent stops (without killing its
// tasks), some tasks end while it is down, and a new Agent on the same work
// directory carries on.
func TestAgentRestartRecoversTasks(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	cfg := testConfig(t, m)
	runtime := t.TempDir()
	fw := framework("fw")
	a1 := startAgent(t, cfg, processCZ(t, runtime, "agent-1"))
	m.waitSubs(t, 1)

	const waitGo = "echo > ready; while ! test -e go; do sleep 0.02; done; "
	m.send(runTask(fw, "steady", shell("exec sleep 1000")))
	m.send(runTask(fw, "unacked", shell("exec sleep 1000")))
	m.send(runTask(fw, "finisher", shell(waitGo+"exit 0")))
	m.send(runTask(fw, "failer", shell(waitGo+"exit 3")))
	m.send(runTask(fw, "checked", shell("exec sleep 1000"), func(ti *mesos.TaskInfo) {
		ti.HealthCheck = &mesos.HealthCheck{Type: "COMMAND", Command: &mesos.CommandInfo{Value: `test "$MESOS_TASK_ID" = checked`},
			DelaySeconds: 0.001, IntervalSeconds: 0.05, TimeoutSeconds: 5, GracePeriodSeconds: 60}
	}))
	for _, tid := range []string{"steady", "unacked", "finisher", "failer", "checked"} {
		m.ack(t, tid, mesos.TaskStarting)
	}
	for _, tid := range []string{"steady", "finisher", "failer"} {
		m.ack(t, tid, mesos.TaskRunning)
	}
	m.ack(t, "checked", mesos.TaskRunning)
	healthy := m.waitUpdate(t, "checked", mesos.TaskRunning)
	eventually(t, "checked reported healthy", func() bool {
		for _, u := range m.updatesOnStream("checked", "stream-1") {
			if u.Status.Healthy != nil && *u.Status.Healthy && u.Status.Reason == mesos.ReasonTaskHealthCheckFailed {
				healthy = u
				return true
			}
		}
		return false
	})
	m.send(ackOf(healthy.Update))
	unackedRunning := m.waitUpdate(t, "unacked", mesos.TaskRunning)
	waitFile := func(dir, name string) {
		eventually(t, dir+"/"+name, func() bool { _, err := os.Stat(filepath.Join(dir, name)); return err == nil })
	}
	waitFile(sandboxOf(cfg, "fw", "finisher"), "ready")
	waitFile(sandboxOf(cfg, "fw", "failer"), "ready")
	pids := statePIDs(t, a1.Agent)
	for tid, pid := range pids {
		if pid <= 0 {
			t.Fatalf("task %s has no pid in /state: %v", tid, pids)
		}
	}

	// The agent stops; its tasks do not.
	a1.stop(t)
	for tid, pid := range pids {
		if !processAlive(pid) {
			t.Fatalf("task %s (pid %d) died with the agent", tid, pid)
		}
	}
	// Two tasks end while no agent runs.
	for _, tid := range []string{"finisher", "failer"} {
		os.WriteFile(filepath.Join(sandboxOf(cfg, "fw", tid), "go"), nil, 0o644)
	}
	for _, tid := range []string{"finisher", "failer"} {
		eventually(t, tid+" ended", func() bool { return !processAlive(pids[tid]) })
	}
	// ... and their shims have recorded how (the process containerizer's
	// outcome files), so the restarted agent finds them ended.
	eventually(t, "outcomes recorded", func() bool {
		files, _ := filepath.Glob(filepath.Join(runtime, "*", "outcome.json"))
		return len(files) == 2
	})

	// A new agent, as after a restart of the agent process.
	a2 := startAgent(t, cfg, processCZ(t, runtime, "agent-1"))
	sub := m.waitSubs(t, 2).Subscribe
	if sub.AgentInfo.ID == nil || sub.AgentInfo.ID.Value != "agent-1" {
		t.Fatalf("the restarted agent did not re-register under its id: %+v", sub.AgentInfo)
	}
	states := map[string]string{}
	for _, tk := range sub.Tasks {
		states[tk.TaskID.Value] = tk.State
	}
	want := map[string]string{"steady": mesos.TaskRunning, "unacked": mesos.TaskRunning, "checked": mesos.TaskRunning,
		"finisher": mesos.TaskFinished, "failer": mesos.TaskFailed}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Fatalf("re-registration tasks = %v, want %v", states, want)
	}
	if len(sub.Frameworks) != 1 || sub.Frameworks[0].ID.Value != "fw" || sub.Frameworks[0].User != "root" {
		t.Fatalf("re-registration frameworks = %+v", sub.Frameworks)
	}
	// Same processes, not relaunched.
	after := statePIDs(t, a2.Agent)
	for _, tid := range []string{"steady", "unacked", "checked"} {
		if after[tid] != pids[tid] || !processAlive(after[tid]) {
			t.Errorf("task %s: pid %d after the restart, %d before", tid, after[tid], pids[tid])
		}
	}

	// The unacknowledged RUNNING is resent, the same update (same UUID).
	eventually(t, "unacked RUNNING resent", func() bool {
		for _, u := range m.updatesOnStream("unacked", "stream-2") {
			if string(u.Status.UUID) == string(unackedRunning.Status.UUID) {
				return true
			}
		}
		return false
	})
	fin := m.ack(t, "finisher", mesos.TaskFinished)
	if fin.Status.Message != "Command exited with status 0" || fin.stream != "stream-2" {
		t.Errorf("finisher: %+v", fin)
	}
	failed := m.ack(t, "failer", mesos.TaskFailed)
	if failed.Status.Message != "Command exited with status 3" || failed.Status.Reason != mesos.ReasonCommandExecutorFailed {
		t.Errorf("failer: %+v", failed.Status)
	}
	// Acknowledged updates are not sent again, and nothing is launched twice.
	for _, tid := range []string{"steady", "finisher", "failer"} {
		for _, u := range m.updatesOnStream(tid, "stream-2") {
			if u.Status.State == mesos.TaskStarting || u.Status.State == mesos.TaskRunning {
				t.Errorf("task %s: acknowledged %s sent again after the restart", tid, u.Status.State)
			}
		}
	}
	// The health checker runs again for the recovered task.
	eventually(t, "checked healthy again after the restart", func() bool {
		for _, u := range m.updatesOnStream("checked", "stream-2") {
			if u.Status.Healthy != nil && *u.Status.Healthy {
				return true
			}
		}
		return false
	})

	// The recovered tasks are the agent's to kill.
	for _, tid := range []string{"steady", "unacked", "checked"} {
		m.send(agentapi.Event{Type: agentapi.EventKillTask, KillTask: &agentapi.KillTask{
			FrameworkID: mesos.FrameworkID{Value: "fw"}, TaskID: mesos.TaskID{Value: tid}}})
	}
	m.autoAck.Store(true)
	m.send(ackOf(unackedRunning.Update))
	for _, tid := range []string{"steady", "unacked", "checked"} {
		if st := m.waitUpdate(t, tid, mesos.TaskKilled).Status; !strings.Contains(st.Message, "SIGTERM") {
			t.Errorf("%s killed: %+v", tid, st)
		}
		if processAlive(pids[tid]) {
			t.Errorf("task %s (pid %d) alive after TASK_KILLED", tid, pids[tid])
		}
	}
}

// TestRecoveryFailsUntrustworthyTasks: a task whose container checkpoint is
// corrupt is destroyed and reported TASK_FAILED; a container no checkpoint
// knows is destroyed.
func TestRecoveryFailsUntrustworthyTasks(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	m.autoAck.Store(true)
	cfg := testConfig(t, m)
	runtime := t.TempDir()
	fw := framework("fw")
	a1 := startAgent(t, cfg, processCZ(t, runtime, "agent-1"))
	m.waitSubs(t, 1)
	for _, tid := range []string{"corrupt", "forgotten", "fine"} {
		m.send(runTask(fw, tid, shell("exec sleep 1000")))
	}
	for _, tid := range []string{"corrupt", "forgotten", "fine"} {
		m.waitUpdate(t, tid, mesos.TaskRunning)
	}
	pids := statePIDs(t, a1.Agent)
	a1.stop(t)

	meta := filepath.Join(cfg.WorkDir, "meta", "frameworks", "fw", "tasks")
	if err := os.WriteFile(filepath.Join(meta, "corrupt", "container"), []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(meta, "forgotten")); err != nil {
		t.Fatal(err)
	}

	a2 := startAgent(t, cfg, processCZ(t, runtime, "agent-1"))
	failed := m.waitUpdate(t, "corrupt", mesos.TaskFailed).Status
	if failed.Reason != mesos.ReasonExecutorTerminated || failed.Source != mesos.SourceAgent ||
		!strings.Contains(failed.Message, "could not be recovered") || !strings.Contains(failed.Message, "checkpoint") {
		t.Errorf("corrupt task: %+v", failed)
	}
	for _, tid := range []string{"corrupt", "forgotten"} {
		if processAlive(pids[tid]) {
			t.Errorf("task %s (pid %d) left running after recovery", tid, pids[tid])
		}
	}
	if !processAlive(pids["fine"]) || statePIDs(t, a2.Agent)["fine"] != pids["fine"] {
		t.Errorf("the intact task was not recovered")
	}
}

// TestRecoveryWithoutARecoverer: tasks of a containerizer that cannot
// recover are reported failed after a restart.
func TestRecoveryWithoutARecoverer(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	m.autoAck.Store(true)
	cfg := testConfig(t, m)
	a1 := startAgent(t, cfg, newFakeProcess())
	m.waitSubs(t, 1)
	m.send(runTask(framework("fw"), "t1"))
	m.waitUpdate(t, "t1", mesos.TaskRunning)
	a1.stop(t)

	startAgent(t, cfg, newFakeProcess())
	sub := m.waitSubs(t, 2).Subscribe
	if len(sub.Tasks) != 1 || sub.Tasks[0].State != mesos.TaskFailed {
		t.Fatalf("re-registration tasks: %+v", sub.Tasks)
	}
	f := m.waitUpdate(t, "t1", mesos.TaskFailed).Status
	if f.Reason != mesos.ReasonExecutorTerminated || !strings.Contains(f.Message, `"process" cannot recover`) {
		t.Errorf("TASK_FAILED: %+v", f)
	}
}
