package master

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"agora/core/agentapi"
	"agora/core/mesos"
)

func ptr[T any](v T) *T { return &v }

func TestLaunchStatusAcknowledge(t *testing.T) {
	tm := startMaster(t, fastConfig(openStore(t, t.TempDir())))
	ag := tm.agent(t, "cpus:4;mem:4096;disk:1000;ports:[31000-31010]", &agentapi.Subscribe{AgentInfo: mesos.AgentInfo{Attributes: []mesos.Attribute{{Name: "rack", Type: mesos.Text, Text: &mesos.ValueText{Value: "r1"}}}}})
	fw := tm.framework(t, mesos.FrameworkInfo{User: "root", Name: "fw", Roles: []string{"web"}, Capabilities: []mesos.FrameworkCapability{{Type: "MULTI_ROLE"}}})

	ev := fw.next(mesos.EventOffers)
	o := ev.Offers.Offers[0]
	got := offerRes(t, o)
	if got.CPUs != 4 || got.Mem != 4096 || got.Ports.Size() != 11 {
		t.Fatalf("offer resources = %s, want the whole agent", got)
	}
	if o.Resources[0].AllocationInfo == nil || o.Resources[0].AllocationInfo.Role != "web" {
		t.Fatalf("offer resources lack allocation_info.role web: %+v", o.Resources[0])
	}
	if len(o.Attributes) != 1 || o.Attributes[0].Text.Value != "r1" {
		t.Fatalf("offer attributes = %+v", o.Attributes)
	}

	fw.mustCall(launchCall(o, taskInfo("t1", "cpus:1;mem:128;ports:[31000-31000]")))
	run := ag.next(agentapi.EventRunTask)
	if run.RunTask.Task.TaskID.Value != "t1" || run.RunTask.Framework.ID.Value != fw.id {
		t.Fatalf("RUN_TASK = %+v", run.RunTask)
	}
	ag.update(fw.id, "t1", mesos.TaskRunning, "uuid-1")
	st := fw.update(mesos.TaskRunning)
	if string(st.UUID) != "uuid-1" || st.AgentID.Value != ag.id {
		t.Fatalf("UPDATE status = %+v", st)
	}
	fw.mustCall(mesos.Call{Type: mesos.CallAcknowledge, Acknowledge: &mesos.CallAcknowledgeBody{AgentID: *st.AgentID, TaskID: st.TaskID, UUID: st.UUID}})
	ack := ag.next(agentapi.EventAcknowledge)
	if string(ack.Acknowledge.UUID) != "uuid-1" {
		t.Fatalf("ACKNOWLEDGE uuid = %q", ack.Acknowledge.UUID)
	}

	// The unused part of the agent is offered again, without the task's share.
	ev = fw.next(mesos.EventOffers)
	if r := offerRes(t, ev.Offers.Offers[0]); r.CPUs != 3 || r.Mem != 3968 || r.Ports.Size() != 10 {
		t.Fatalf("second offer = %s, want the agent minus the task", r)
	}

	tasks := tm.operator(t, mesos.GetTasks).GetTasks
	if len(tasks.Tasks) != 1 || tasks.Tasks[0].State != mesos.TaskRunning || tasks.Tasks[0].Role != "web" {
		t.Fatalf("GET_TASKS = %+v", tasks)
	}
	agents := tm.operator(t, mesos.GetAgents).GetAgents
	if len(agents.Agents) != 1 || !agents.Agents[0].Active {
		t.Fatalf("GET_AGENTS = %+v", agents)
	}

	// Finishing releases the resources and moves the task to completed once acknowledged.
	ag.update(fw.id, "t1", mesos.TaskFinished, "uuid-2")
	st = fw.update(mesos.TaskFinished)
	fw.mustCall(mesos.Call{Type: mesos.CallAcknowledge, Acknowledge: &mesos.CallAcknowledgeBody{AgentID: *st.AgentID, TaskID: st.TaskID, UUID: st.UUID}})
	ag.next(agentapi.EventAcknowledge)
	deadline := time.Now().Add(5 * time.Second)
	for {
		tasks = tm.operator(t, mesos.GetTasks).GetTasks
		if len(tasks.Tasks) == 0 && len(tasks.CompletedTasks) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task not completed: %+v", tasks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLaunchValidation(t *testing.T) {
	tm := startMaster(t, fastConfig(openStore(t, t.TempDir())))
	tm.agent(t, "cpus:2;mem:1024", nil)
	fw := tm.framework(t, mesos.FrameworkInfo{User: "u", Name: "v", Capabilities: []mesos.FrameworkCapability{{Type: "PARTITION_AWARE"}}})
	o := fw.next(mesos.EventOffers).Offers.Offers[0]

	// One good task, one that over-commits, one duplicate id, one without command.
	noCmd := taskInfo("nocmd", "cpus:0.1")
	noCmd.Command = nil
	fw.mustCall(launchCall(o, taskInfo("ok", "cpus:1;mem:512"), taskInfo("big", "cpus:1.5"), taskInfo("ok", "cpus:0.1"), noCmd))
	errs := map[string]string{}
	for len(errs) < 3 {
		s := fw.update(mesos.TaskError)
		errs[s.TaskID.Value+"#"+strconv.Itoa(len(errs))] = s.Message
		if s.Reason != mesos.ReasonTaskInvalid {
			t.Errorf("reason = %s", s.Reason)
		}
	}
	joined := ""
	for _, m := range errs {
		joined += m + "\n"
	}
	for _, want := range []string{"is more than what remains", "already exists", "command: required"} {
		if !strings.Contains(joined, want) {
			t.Errorf("TASK_ERROR messages lack %q:\n%s", want, joined)
		}
	}

	// Reusing a consumed offer is refused with TASK_DROPPED for a partition-aware framework.
	fw.mustCall(launchCall(o, taskInfo("late", "cpus:0.1")))
	s := fw.update(mesos.TaskDropped)
	if s.Reason != mesos.ReasonInvalidOffers || !strings.Contains(s.Message, "unknown or no longer valid") {
		t.Fatalf("dropped status = %+v", s)
	}
	// The master never over-commits: one task of 1 cpu runs on the 2-cpu agent.
	if n := len(tm.operator(t, mesos.GetTasks).GetTasks.Tasks); n != 1 {
		t.Fatalf("tasks = %d, want 1", n)
	}
}

func TestBadInputGets4xx(t *testing.T) {
	tm := startMaster(t, fastConfig(openStore(t, t.TempDir())))
	fw := tm.framework(t, mesos.FrameworkInfo{User: "u", Name: "v"})
	url := tm.srv.URL + "/api/v1/scheduler"
	hdr := map[string]string{"Mesos-Stream-Id": fw.streamID}
	cases := []struct {
		name, body string
		hdr        map[string]string
		code       int
		want       string
	}{
		{"malformed json", `{"type":`, hdr, 400, "malformed JSON"},
		{"unknown type", `{"type":"FLY","framework_id":{"value":"` + fw.id + `"}}`, hdr, 400, "unknown call type"},
		{"missing framework id", `{"type":"REVIVE"}`, hdr, 400, "framework_id"},
		{"wrong framework id", `{"type":"REVIVE","framework_id":{"value":"nope"}}`, hdr, 404, "framework_id"},
		{"missing stream id", `{"type":"REVIVE","framework_id":{"value":"` + fw.id + `"}}`, nil, 400, "Mesos-Stream-Id"},
		{"wrong stream id", `{"type":"REVIVE","framework_id":{"value":"` + fw.id + `"}}`, map[string]string{"Mesos-Stream-Id": "x"}, 400, "does not match"},
		{"negative refuse", `{"type":"DECLINE","framework_id":{"value":"` + fw.id + `"},"decline":{"offer_ids":[{"value":"o"}],"filters":{"refuse_seconds":-1}}}`, hdr, 400, "refuse_seconds"},
		{"absurd refuse", `{"type":"DECLINE","framework_id":{"value":"` + fw.id + `"},"decline":{"offer_ids":[{"value":"o"}],"filters":{"refuse_seconds":1e12}}}`, hdr, 400, "refuse_seconds"},
		{"non-numeric refuse", `{"type":"DECLINE","framework_id":{"value":"` + fw.id + `"},"decline":{"offer_ids":[{"value":"o"}],"filters":{"refuse_seconds":"soon"}}}`, hdr, 400, "refuse_seconds"},
		{"subscribe without name", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u"}}}`, nil, 400, "framework_info.name"},
		{"suppress foreign role", `{"type":"SUPPRESS","framework_id":{"value":"` + fw.id + `"},"suppress":{"roles":["other"]}}`, hdr, 400, "suppress.roles"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := post(t, url, c.body, c.hdr)
			if resp.StatusCode != c.code || !strings.Contains(body, c.want) {
				t.Fatalf("got %d %q, want %d mentioning %q", resp.StatusCode, body, c.code, c.want)
			}
		})
	}
	// Negative resources from an agent are refused, naming the field.
	resp, body := post(t, tm.srv.URL+agentapi.Path, `{"type":"SUBSCRIBE","subscribe":{"agent_info":{"hostname":"h","resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":-2}}]}}}`, nil)
	if resp.StatusCode != 400 || !strings.Contains(body, "resources[0].scalar.value") {
		t.Fatalf("negative agent resources: %d %s", resp.StatusCode, body)
	}
	// The framework is undisturbed.
	fw.mustCall(mesos.Call{Type: mesos.CallRevive})
}

func TestDeclineFilterSuppressRevive(t *testing.T) {
	tm := startMaster(t, fastConfig(openStore(t, t.TempDir())))
	tm.agent(t, "cpus:1;mem:512", nil)
	fw := tm.framework(t, mesos.FrameworkInfo{User: "u", Name: "v"})
	o := fw.next(mesos.EventOffers).Offers.Offers[0]
	fw.mustCall(mesos.Call{Type: mesos.CallDecline, Decline: &mesos.CallDeclineBody{OfferIDs: []mesos.OfferID{o.ID}, Filters: &mesos.Filters{RefuseSeconds: ptr(3600.0)}}})
	fw.none(mesos.EventOffers, 500*time.Millisecond) // filtered for an hour
	fw.mustCall(mesos.Call{Type: mesos.CallRevive})  // revive clears filters
	o = fw.next(mesos.EventOffers).Offers.Offers[0]
	fw.mustCall(mesos.Call{Type: mesos.CallSuppress})
	fw.mustCall(mesos.Call{Type: mesos.CallDecline, Decline: &mesos.CallDeclineBody{OfferIDs: []mesos.OfferID{o.ID}, Filters: &mesos.Filters{RefuseSeconds: ptr(0.0)}}})
	fw.none(mesos.EventOffers, 500*time.Millisecond) // suppressed
	fw.mustCall(mesos.Call{Type: mesos.CallRevive})
	fw.next(mesos.EventOffers)
}

func TestOfferTimeoutRescinds(t *testing.T) {
	cfg := fastConfig(openStore(t, t.TempDir()))
	cfg.OfferTimeout = 300 * time.Millisecond
	tm := startMaster(t, cfg)
	tm.agent(t, "cpus:1;mem:512", nil)
	fw := tm.framework(t, mesos.FrameworkInfo{User: "u", Name: "v"})
	o := fw.next(mesos.EventOffers).Offers.Offers[0]
	r := fw.next(mesos.EventRescind)
	if r.Rescind.OfferID != o.ID {
		t.Fatalf("rescinded %s, want %s", r.Rescind.OfferID.Value, o.ID.Value)
	}
	fw.next(mesos.EventOffers) // offered again
}

func TestKillReconcileTeardown(t *testing.T) {
	tm := startMaster(t, fastConfig(openStore(t, t.TempDir())))
	ag := tm.agent(t, "cpus:2;mem:1024", nil)
	fw := tm.framework(t, mesos.FrameworkInfo{User: "u", Name: "v"})
	o := fw.next(mesos.EventOffers).Offers.Offers[0]
	fw.mustCall(launchCall(o, taskInfo("t1", "cpus:1")))
	ag.next(agentapi.EventRunTask)
	ag.update(fw.id, "t1", mesos.TaskRunning, "u1")
	fw.update(mesos.TaskRunning)

	fw.mustCall(mesos.Call{Type: mesos.CallKill, Kill: &mesos.CallKillBody{TaskID: mesos.TaskID{Value: "t1"}, KillPolicy: &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: 2e9}}}})
	k := ag.next(agentapi.EventKillTask)
	if k.KillTask.TaskID.Value != "t1" || k.KillTask.KillPolicy.GracePeriod.Nanoseconds != 2e9 {
		t.Fatalf("KILL_TASK = %+v", k.KillTask)
	}
	// Kill of an unknown task answers TASK_LOST at once.
	fw.mustCall(mesos.Call{Type: mesos.CallKill, Kill: &mesos.CallKillBody{TaskID: mesos.TaskID{Value: "ghost"}}})
	if s := fw.update(mesos.TaskLost); s.TaskID.Value != "ghost" {
		t.Fatalf("lost = %+v", s)
	}
	// Explicit reconciliation: known task RUNNING, unknown task LOST.
	fw.mustCall(mesos.Call{Type: mesos.CallReconcile, Reconcile: &mesos.CallReconcileBody{Tasks: []mesos.ReconcileTask{{TaskID: mesos.TaskID{Value: "t1"}}, {TaskID: mesos.TaskID{Value: "nope"}}}}})
	if s := fw.update(mesos.TaskRunning); s.Reason != mesos.ReasonReconciliation || s.TaskID.Value != "t1" {
		t.Fatalf("reconcile t1 = %+v", s)
	}
	if s := fw.update(mesos.TaskLost); s.TaskID.Value != "nope" {
		t.Fatalf("reconcile nope = %+v", s)
	}
	// Implicit reconciliation: every task.
	fw.mustCall(mesos.Call{Type: mesos.CallReconcile})
	fw.update(mesos.TaskRunning)

	fw.mustCall(mesos.Call{Type: mesos.CallTeardown})
	sd := ag.next(agentapi.EventShutdownFramework)
	if sd.ShutdownFramework.FrameworkID.Value != fw.id {
		t.Fatalf("SHUTDOWN_FRAMEWORK for %s", sd.ShutdownFramework.FrameworkID.Value)
	}
	fws := tm.operator(t, mesos.GetFrameworks).GetFrameworks
	if len(fws.Frameworks) != 0 || len(fws.CompletedFrameworks) != 1 {
		t.Fatalf("GET_FRAMEWORKS after teardown = %+v", fws)
	}
	// A removed framework cannot come back under its id.
	resp, body := post(t, tm.srv.URL+"/api/v1/scheduler", mesos.Call{Type: mesos.CallSubscribe, FrameworkID: &mesos.FrameworkID{Value: fw.id},
		Subscribe: &mesos.CallSubscribeBody{FrameworkInfo: mesos.FrameworkInfo{Name: "v", ID: &mesos.FrameworkID{Value: fw.id}}}}, nil)
	if resp.StatusCode != 403 {
		t.Fatalf("resubscribe after teardown: %d %s", resp.StatusCode, body)
	}
}

func TestUnreachableAgentAndReregistration(t *testing.T) {
	tm := startMaster(t, fastConfig(openStore(t, t.TempDir())))
	ag := tm.agent(t, "cpus:2;mem:1024", nil)
	fw := tm.framework(t, mesos.FrameworkInfo{User: "u", Name: "v", FailoverTimeout: 60, Capabilities: []mesos.FrameworkCapability{{Type: "PARTITION_AWARE"}}})
	o := fw.next(mesos.EventOffers).Offers.Offers[0]
	fw.mustCall(launchCall(o, taskInfo("t1", "cpus:1")))
	run := ag.next(agentapi.EventRunTask)
	ag.update(fw.id, "t1", mesos.TaskRunning, "u1")
	fw.update(mesos.TaskRunning)

	ag.autoPong = false // the agent goes silent
	s := fw.update(mesos.TaskUnreachable)
	if s.Reason != mesos.ReasonAgentDisconnected {
		t.Fatalf("unreachable status = %+v", s)
	}
	if tasks := tm.operator(t, mesos.GetTasks).GetTasks; len(tasks.UnreachableTasks) != 1 {
		t.Fatalf("GET_TASKS unreachable = %+v", tasks)
	}

	// It comes back with the same id and its running task.
	ag.stop()
	running := mesos.Task{Name: "t1", TaskID: mesos.TaskID{Value: "t1"}, FrameworkID: mesos.FrameworkID{Value: fw.id}, State: mesos.TaskRunning, Resources: run.RunTask.Task.Resources}
	ag2 := tm.agent(t, "cpus:2;mem:1024", &agentapi.Subscribe{AgentInfo: mesos.AgentInfo{ID: &mesos.AgentID{Value: ag.id}}, Tasks: []mesos.Task{running}})
	if ag2.id != ag.id {
		t.Fatalf("re-registered as %s, want %s", ag2.id, ag.id)
	}
	if s := fw.update(mesos.TaskRunning); s.TaskID.Value != "t1" {
		t.Fatalf("back-to-running update = %+v", s)
	}
	// Only the unused cpu is offered: the task's resources stay accounted.
	for {
		ev := fw.next(mesos.EventOffers)
		if r := offerRes(t, ev.Offers.Offers[0]); r.CPUs == 1 {
			break
		} else if r.CPUs > 1 {
			t.Fatalf("offered %s while t1 holds 1 cpu", r)
		}
	}
}

func TestMasterRestartRecoversRegistry(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	tm := startMaster(t, fastConfig(st))
	ag := tm.agent(t, "cpus:2;mem:1024", nil)
	fw := tm.framework(t, mesos.FrameworkInfo{User: "u", Name: "keeper", FailoverTimeout: 3600})
	o := fw.next(mesos.EventOffers).Offers.Offers[0]
	fw.mustCall(launchCall(o, taskInfo("t1", "cpus:1")))
	ag.next(agentapi.EventRunTask)
	ag.update(fw.id, "t1", mesos.TaskRunning, "u1")
	fw.update(mesos.TaskRunning)
	fw.stop()
	ag.stop()
	tm.stop()
	st.Close()

	st = openStore(t, dir)
	defer st.Close()
	tm2 := startMaster(t, fastConfig(st))
	fws := tm2.operator(t, mesos.GetFrameworks).GetFrameworks
	if len(fws.Frameworks) != 1 || fws.Frameworks[0].FrameworkInfo.Name != "keeper" || !fws.Frameworks[0].Recovered {
		t.Fatalf("recovered frameworks = %+v", fws)
	}
	if ags := tm2.operator(t, mesos.GetAgents).GetAgents; len(ags.RecoveredAgents) != 1 {
		t.Fatalf("recovered agents = %+v", ags)
	}
	// Task records are read in the background; poll for them.
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks := tm2.operator(t, mesos.GetTasks).GetTasks
		if len(tasks.Tasks) == 1 && tasks.Tasks[0].State == mesos.TaskRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recovered tasks = %+v", tasks)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The framework re-subscribes with its id; the agent re-registers.
	fw2 := tm2.framework(t, mesos.FrameworkInfo{User: "u", Name: "keeper", FailoverTimeout: 3600, ID: &mesos.FrameworkID{Value: fw.id}})
	if fw2.id != fw.id {
		t.Fatalf("framework id %s, want %s", fw2.id, fw.id)
	}
	tm2.agent(t, "cpus:2;mem:1024", &agentapi.Subscribe{AgentInfo: mesos.AgentInfo{ID: &mesos.AgentID{Value: ag.id}},
		Tasks: []mesos.Task{{TaskID: mesos.TaskID{Value: "t1"}, FrameworkID: mesos.FrameworkID{Value: fw.id}, State: mesos.TaskRunning}}})
	ev := fw2.next(mesos.EventOffers)
	if r := offerRes(t, ev.Offers.Offers[0]); r.CPUs != 1 {
		t.Fatalf("offer after recovery = %s, want the 1 cpu t1 does not hold", r)
	}
}

func TestHeartbeatsAndMetrics(t *testing.T) {
	cfg := fastConfig(openStore(t, t.TempDir()))
	cfg.HeartbeatInterval = 100 * time.Millisecond
	tm := startMaster(t, cfg)
	tm.agent(t, "cpus:1;mem:512", nil)
	fw := tm.framework(t, mesos.FrameworkInfo{User: "u", Name: "v"})
	fw.next(mesos.EventOffers)
	fw.next(mesos.EventHeartbeat)
	resp, body := getURL(t, tm.srv.URL+"/metrics")
	if resp != 200 || !strings.Contains(body, "agora_master_offers_sent_total 1") || !strings.Contains(body, `agora_master_agents{status="active"} 1`) {
		t.Fatalf("metrics: %d\n%s", resp, body)
	}
	for _, typ := range []string{mesos.GetHealth, mesos.GetVersion, mesos.GetState, mesos.GetRoles, mesos.GetMaster} {
		r := tm.operator(t, typ)
		if r.Type != typ {
			t.Fatalf("%s answered %s", typ, r.Type)
		}
	}
	if r := tm.operator(t, mesos.GetRoles); len(r.GetRoles.Roles) != 1 || r.GetRoles.Roles[0].Name != "*" {
		t.Fatalf("GET_ROLES = %+v", r.GetRoles)
	}
}

// A task that finished before its RUNNING update was acknowledged stays
// until the FINISHED update itself is delivered and acknowledged.
func TestTerminalUpdateDeliveredAfterEarlierAck(t *testing.T) {
	tm := startMaster(t, fastConfig(openStore(t, t.TempDir())))
	ag := tm.agent(t, "cpus:2;mem:1024", nil)
	fw := tm.framework(t, mesos.FrameworkInfo{User: "u", Name: "quick"})
	o := fw.next(mesos.EventOffers).Offers.Offers[0]
	fw.mustCall(launchCall(o, taskInfo("t1", "cpus:1")))
	ag.next(agentapi.EventRunTask)
	ag.updateLatest(fw.id, "t1", mesos.TaskRunning, mesos.TaskFinished, "u-run")
	st := fw.update(mesos.TaskRunning)
	fw.mustCall(mesos.Call{Type: mesos.CallAcknowledge, Acknowledge: &mesos.CallAcknowledgeBody{AgentID: *st.AgentID, TaskID: st.TaskID, UUID: st.UUID}})
	ag.next(agentapi.EventAcknowledge)
	ag.update(fw.id, "t1", mesos.TaskFinished, "u-fin")
	if s := fw.update(mesos.TaskFinished); string(s.UUID) != "u-fin" {
		t.Fatalf("finished update = %+v", s)
	}
}

// A task that needs Docker is refused on an agent without it, and the
// framework is told why.
func TestDockerTaskRefusedOnAgentWithoutDocker(t *testing.T) {
	tm := startMaster(t, fastConfig(openStore(t, t.TempDir())))
	tm.agent(t, "cpus:2;mem:1024", &agentapi.Subscribe{Containerizers: []string{"process"}})
	fw := tm.framework(t, mesos.FrameworkInfo{User: "u", Name: "d"})
	o := fw.next(mesos.EventOffers).Offers.Offers[0]
	ti := taskInfo("web", "cpus:1")
	ti.Container = &mesos.ContainerInfo{Type: "DOCKER", Docker: &mesos.DockerInfo{Image: "busybox"}}
	fw.mustCall(launchCall(o, ti))
	s := fw.update(mesos.TaskError)
	if !strings.Contains(s.Message, "no docker containerizer") {
		t.Fatalf("TASK_ERROR message = %q, want it to say the agent has no docker containerizer", s.Message)
	}
	if n := len(tm.operator(t, mesos.GetTasks).GetTasks.Tasks); n != 0 {
		t.Fatalf("%d tasks launched on an agent without docker", n)
	}
}

// A resent update that arrives after the next one (two posts in flight) is
// not shown to the framework: it would see an old state last. The agent
// gets the acknowledgement again.
func TestStaleResendNotForwarded(t *testing.T) {
	tm := startMaster(t, fastConfig(openStore(t, t.TempDir())))
	ag := tm.agent(t, "cpus:2;mem:1024", nil)
	fw := tm.framework(t, mesos.FrameworkInfo{User: "u", Name: "v"})
	o := fw.next(mesos.EventOffers).Offers.Offers[0]
	fw.mustCall(launchCall(o, taskInfo("t1", "cpus:1")))
	ag.next(agentapi.EventRunTask)
	ag.update(fw.id, "t1", mesos.TaskStarting, "u1")
	s := fw.update(mesos.TaskStarting)
	fw.mustCall(mesos.Call{Type: mesos.CallAcknowledge, Acknowledge: &mesos.CallAcknowledgeBody{AgentID: *s.AgentID, TaskID: s.TaskID, UUID: s.UUID}})
	if a := ag.next(agentapi.EventAcknowledge); string(a.Acknowledge.UUID) != "u1" {
		t.Fatalf("acknowledged %q, want u1", a.Acknowledge.UUID)
	}
	ag.update(fw.id, "t1", mesos.TaskRunning, "u2")
	fw.update(mesos.TaskRunning)
	ag.updateLatest(fw.id, "t1", mesos.TaskStarting, mesos.TaskRunning, "u1") // the late resend
	if a := ag.next(agentapi.EventAcknowledge); string(a.Acknowledge.UUID) != "u1" {
		t.Fatalf("acknowledged %q again, want u1", a.Acknowledge.UUID)
	}
	fw.none(mesos.EventUpdate, 300*time.Millisecond)
}

// A kill asked for while the task's agent is away reaches the agent when
// it re-registers.
func TestKillWhileAgentAwayForwardedOnReregistration(t *testing.T) {
	tm := startMaster(t, fastConfig(openStore(t, t.TempDir())))
	ag := tm.agent(t, "cpus:2;mem:1024", nil)
	fw := tm.framework(t, mesos.FrameworkInfo{User: "u", Name: "v", FailoverTimeout: 60, Capabilities: []mesos.FrameworkCapability{{Type: "PARTITION_AWARE"}}})
	o := fw.next(mesos.EventOffers).Offers.Offers[0]
	fw.mustCall(launchCall(o, taskInfo("t1", "cpus:1")))
	run := ag.next(agentapi.EventRunTask)
	ag.update(fw.id, "t1", mesos.TaskRunning, "u1")
	fw.update(mesos.TaskRunning)
	ag.autoPong = false
	fw.update(mesos.TaskUnreachable)
	fw.mustCall(mesos.Call{Type: mesos.CallKill, Kill: &mesos.CallKillBody{TaskID: mesos.TaskID{Value: "t1"}}})
	ag.stop()

	running := mesos.Task{Name: "t1", TaskID: mesos.TaskID{Value: "t1"}, FrameworkID: mesos.FrameworkID{Value: fw.id}, State: mesos.TaskRunning, Resources: run.RunTask.Task.Resources}
	ag2 := tm.agent(t, "cpus:2;mem:1024", &agentapi.Subscribe{AgentInfo: mesos.AgentInfo{ID: &mesos.AgentID{Value: ag.id}}, Tasks: []mesos.Task{running}})
	if k := ag2.next(agentapi.EventKillTask); k.KillTask.TaskID.Value != "t1" {
		t.Fatalf("KILL_TASK for %s, want t1", k.KillTask.TaskID.Value)
	}
}

// An agent serving its API over TLS says so, and offers carry it, so a
// framework's links to sandboxes use https.
func TestOffersCarryTheAgentsScheme(t *testing.T) {
	tm := startMaster(t, fastConfig(openStore(t, t.TempDir())))
	tm.agent(t, "cpus:1;mem:128", &agentapi.Subscribe{Scheme: "https"})
	fw := tm.framework(t, mesos.FrameworkInfo{User: "u", Name: "links"})
	if o := fw.next(mesos.EventOffers).Offers.Offers[0]; o.URL == nil || o.URL.Scheme != "https" {
		t.Fatalf("offer URL = %+v, want scheme https", o.URL)
	}
}
