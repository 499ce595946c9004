package master

import (
	"context"
	"testing"
	"time"

	agentpkg "agora/core/agent"
	"agora/core/agentapi"
	"agora/core/containerizer/process"
	"agora/core/mesos"
	"agora/core/resources"
)

// startRealAgent runs a real agent with the process containerizer against tm.
func startRealAgent(t testing.TB, tm *testMaster, res string) *agentpkg.Agent {
	t.Helper()
	r, err := resources.Parse(res)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := process.New(process.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agentpkg.New(agentpkg.Config{Master: tm.srv.URL, Listen: "127.0.0.1:0", WorkDir: t.TempDir(), Resources: r,
		UpdateRetryInterval: 100 * time.Millisecond, Logf: t.Logf}, pc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

// An unacknowledged status update is resent until the framework, back
// after a failover, acknowledges it; later updates wait their turn.
func TestStatusUpdatesResentAcrossFrameworkFailover(t *testing.T) {
	tm := startMaster(t, fastConfig(openStore(t, t.TempDir())))
	startRealAgent(t, tm, "cpus:2;mem:1024;disk:100")
	info := mesos.FrameworkInfo{User: "root", Name: "failover", FailoverTimeout: 60}
	fw := tm.framework(t, info)
	o := fw.next(mesos.EventOffers).Offers.Offers[0]
	ti := taskInfo("t1", "cpus:0.5;mem:64")
	ti.Command = &mesos.CommandInfo{Value: "sleep 0.3; echo done"}
	fw.mustCall(launchCall(o, ti))

	// STARTING arrives; the framework "crashes" before acknowledging it.
	first := fw.update(mesos.TaskStarting)
	fw.stop()

	info.ID = &mesos.FrameworkID{Value: fw.id}
	fw2 := tm.framework(t, info)
	// The same STARTING update (same uuid) comes again, before anything later.
	var again mesos.TaskStatus
	for {
		ev := fw2.next(mesos.EventUpdate)
		again = ev.Update.Status
		if again.State != mesos.TaskStarting {
			t.Fatalf("got %s before the unacknowledged TASK_STARTING was resent", again.State)
		}
		if string(again.UUID) == string(first.UUID) {
			break
		}
	}
	ack := func(s mesos.TaskStatus) {
		fw2.mustCall(mesos.Call{Type: mesos.CallAcknowledge, Acknowledge: &mesos.CallAcknowledgeBody{AgentID: *s.AgentID, TaskID: s.TaskID, UUID: s.UUID}})
	}
	ack(again)
	ack(fw2.update(mesos.TaskRunning))
	fin := fw2.update(mesos.TaskFinished)
	ack(fin)
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks := tm.operator(t, mesos.GetTasks).GetTasks
		if len(tasks.CompletedTasks) == 1 && tasks.CompletedTasks[0].State == mesos.TaskFinished {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task not completed after acknowledgement: %+v", tasks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A framework that does not come back within its failover timeout is
// removed and its tasks are shut down.
func TestFailoverTimeoutRemovesFramework(t *testing.T) {
	tm := startMaster(t, fastConfig(openStore(t, t.TempDir())))
	ag := tm.agent(t, "cpus:2;mem:1024", nil)
	fw := tm.framework(t, mesos.FrameworkInfo{User: "u", Name: "brief", FailoverTimeout: 0.5})
	o := fw.next(mesos.EventOffers).Offers.Offers[0]
	fw.mustCall(launchCall(o, taskInfo("t1", "cpus:1")))
	ag.next(agentapi.EventRunTask)
	fw.stop()
	sd := ag.next(agentapi.EventShutdownFramework)
	if sd.ShutdownFramework.FrameworkID.Value != fw.id {
		t.Fatalf("shutdown of %s, want %s", sd.ShutdownFramework.FrameworkID.Value, fw.id)
	}
	if fws := tm.operator(t, mesos.GetFrameworks).GetFrameworks; len(fws.Frameworks) != 0 || len(fws.CompletedFrameworks) != 1 {
		t.Fatalf("frameworks after failover timeout = %+v", fws)
	}
}

// An agent marked gone has its tasks reported TASK_GONE and cannot return.
func TestMarkAgentGone(t *testing.T) {
	tm := startMaster(t, fastConfig(openStore(t, t.TempDir())))
	ag := tm.agent(t, "cpus:2;mem:1024", nil)
	fw := tm.framework(t, mesos.FrameworkInfo{User: "u", Name: "pa", Capabilities: []mesos.FrameworkCapability{{Type: "PARTITION_AWARE"}}})
	o := fw.next(mesos.EventOffers).Offers.Offers[0]
	fw.mustCall(launchCall(o, taskInfo("t1", "cpus:1")))
	ag.next(agentapi.EventRunTask)
	resp, body := post(t, tm.srv.URL+"/api/v1", map[string]any{"type": "MARK_AGENT_GONE", "mark_agent_gone": map[string]any{"agent_id": map[string]string{"value": ag.id}}}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("MARK_AGENT_GONE: %d %s", resp.StatusCode, body)
	}
	if s := fw.update(mesos.TaskGone); s.Reason != mesos.ReasonAgentRemoved {
		t.Fatalf("gone status = %+v", s)
	}
	ag.next(agentapi.EventShutdown)
	if ags := tm.operator(t, mesos.GetAgents).GetAgents; len(ags.Agents) != 0 {
		t.Fatalf("agents after MARK_AGENT_GONE = %+v", ags)
	}
	resp, body = post(t, tm.srv.URL+"/api/v1", map[string]any{"type": "MARK_AGENT_GONE", "mark_agent_gone": map[string]any{"agent_id": map[string]string{"value": "nope"}}}, nil)
	if resp.StatusCode != 404 {
		t.Fatalf("MARK_AGENT_GONE of unknown agent: %d %s", resp.StatusCode, body)
	}
}
