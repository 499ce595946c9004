package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"agora/core/agent/checkpoint"
	"agora/core/agent/updates"
	"agora/core/agentapi"
	"agora/core/containerizer"
	"agora/core/health"
	"agora/core/mesos"
	"agora/core/resources"
)

// task is the agent's record of one launched task, kept until its terminal
// status update is acknowledged. Fields are guarded by Agent.mu.
type task struct {
	key       updates.Key
	info      mesos.TaskInfo
	framework mesos.FrameworkInfo
	state     string
	sandbox   string
	// czName and spec are what the task was launched with; spec.ContainerID
	// names its container.
	czName    string
	spec      containerizer.Spec
	container containerizer.Container // nil until Launch returns
	// meta is set once the task's records are checkpointed, so its state
	// and updates are checkpointed with every change.
	meta bool
	// killRequested makes a launch in progress kill what it starts.
	killRequested bool
	killGrace     time.Duration
	// forget is set when the master has removed the task's framework or the
	// agent itself: the task is killed and dropped without further updates.
	forget bool
	done   chan struct{} // closed when the task reached a terminal state

	// health is the task's validated health check, nil without one;
	// checker runs it while the task runs.
	health  *health.Spec
	checker *health.Checker
	healthy *bool
	// healthKill is why the health checker killed the task, "" if it did not.
	healthKill string
}

func randomUUID() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b
}

// statusLocked builds a status of this agent, stamped now.
func (a *Agent) statusLocked(taskID, state, source, reason, message string) mesos.TaskStatus {
	return newStatus(taskID, state, source, reason, message, a.id, a.now(), a.newUUID())
}

// enqueueLocked queues a status update, checkpoints the task's stream and
// wakes the sender. The update is held until its checkpoint is on disk.
func (a *Agent) enqueueLocked(k updates.Key, st mesos.TaskStatus, latest string) {
	a.updates.Add(k, st, latest)
	a.checkpointUpdatesLocked(k)
	a.kick()
}

// checkpointUpdatesLocked submits a checkpointed task's state and pending
// updates to the disk and holds its stream until they are there: no update
// is sent before it is on disk, and after an acknowledgement, no next
// update before the acknowledgement is (Mesos's rule). The write happens
// in the background, outside a.mu; a failed one is logged (OnError) and
// the stream is released anyway: the task runs on, but a restart would
// recover it from older records.
func (a *Agent) checkpointUpdatesLocked(k updates.Key) {
	t := a.tasks[k]
	if t == nil || !t.meta {
		return
	}
	pending, latest := a.updates.List(k)
	u := checkpoint.Updates{State: t.state, Latest: latest, Pending: pending}
	c := a.meta.Submit(checkpoint.UpdatesOp(k.FrameworkID, k.TaskID, u))
	a.updates.Hold(k, c.Seq())
}

// completeLocked forgets a task whose terminal update was acknowledged (or
// whose framework is gone): its records are marked for garbage collection
// with its sandbox.
func (a *Agent) completeLocked(t *task) {
	if a.tasks[t.key] == t {
		delete(a.tasks, t.key)
	}
	if !t.meta {
		return
	}
	fid, tid := t.key.FrameworkID, t.key.TaskID
	a.meta.Submit(checkpoint.UpdatesOp(fid, tid, checkpoint.Updates{State: t.state}), checkpoint.CompletedOp(fid, tid, a.now()))
}

func (a *Agent) kick() {
	select {
	case a.sendKick <- struct{}{}:
	default:
	}
}

// setStateLocked moves a task to state and queues the update, unless the
// task is being forgotten.
func (a *Agent) setStateLocked(t *task, st mesos.TaskStatus) {
	t.state = st.State
	if t.forget {
		return
	}
	a.enqueueLocked(t.key, st, st.State)
}

// finishLocked records a task's terminal state.
func (a *Agent) finishLocked(t *task, st mesos.TaskStatus) {
	a.setStateLocked(t, st)
	if t.forget {
		a.completeLocked(t)
	}
	close(t.done)
}

// handleRunTask validates a RUN_TASK, records the task, reports
// TASK_STARTING and launches it in the background so the event stream keeps
// flowing (pings included) while a containerizer pulls an image.
func (a *Agent) handleRunTask(rt *agentapi.RunTask) {
	var fid string
	if rt.Framework.ID != nil {
		fid = rt.Framework.ID.Value
	}
	tid := rt.Task.TaskID.Value
	key := updates.Key{FrameworkID: fid, TaskID: tid}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopping {
		a.logf("agent: ignoring task %q: the agent is stopping", tid)
		return
	}
	fail := func(reason, msg string) {
		a.logf("agent: task %q of framework %q failed before launch: %s", tid, fid, msg)
		latest := mesos.TaskFailed
		if t := a.tasks[key]; t != nil {
			// The failure concerns this launch; the task by that id lives on.
			latest = t.state
		}
		a.enqueueLocked(key, a.statusLocked(tid, mesos.TaskFailed, mesos.SourceAgent, reason, msg), latest)
	}
	if err := checkID("framework.id", fid); err != nil {
		fail(mesos.ReasonTaskInvalid, err.Error())
		return
	}
	if err := checkID("task.task_id", tid); err != nil {
		fail(mesos.ReasonTaskInvalid, err.Error())
		return
	}
	if t := a.tasks[key]; t != nil {
		fail(mesos.ReasonTaskInvalid, fmt.Sprintf("task %q of framework %q already exists on this agent (state %s)", tid, fid, t.state))
		return
	}
	limits, err := resources.FromMesos("task.resources", rt.Task.Resources)
	if err != nil {
		fail(mesos.ReasonTaskInvalid, err.Error())
		return
	}
	czName, err := containerizerFor(rt.Task.Container)
	if err != nil {
		fail(mesos.ReasonTaskInvalid, err.Error())
		return
	}
	cz := a.czs[czName]
	if cz == nil {
		fail(mesos.ReasonContainerLaunchFailed, fmt.Sprintf("this agent has no %q containerizer (it has %v)", czName, a.czNames))
		return
	}
	var hc *health.Spec
	if rt.Task.HealthCheck != nil {
		spec, err := health.FromMesos(rt.Task.HealthCheck)
		if err != nil {
			fail(mesos.ReasonTaskInvalid, err.Error())
			return
		}
		hc = &spec
	}
	sandbox := filepath.Join(a.cfg.WorkDir, sandboxRel(fid, tid))
	if err := os.MkdirAll(sandbox, 0o755); err != nil {
		fail(mesos.ReasonContainerLaunchFailed, fmt.Sprintf("create sandbox: %v", err))
		return
	}
	spec := containerizer.Spec{
		ContainerID: fmt.Sprintf("%x", a.newUUID()),
		Task:        rt.Task,
		FrameworkID: fid,
		AgentID:     a.id,
		Sandbox:     sandbox,
		Env:         taskEnv(a.id, a.hostname, fid, tid, sandbox, limits.Ports),
		Limits:      limits,
		User:        runUser(a.cfg.switchUser(), rt.Task, &rt.Framework),
	}
	// What is launched goes to disk first, so a restart can always find (or
	// clean up) the container: the launch waits for this commit.
	ops := []checkpoint.Op{checkpoint.TaskOp(fid, tid, checkpoint.Task{Containerizer: czName, Spec: spec})}
	if op, changed := a.frameworkOpLocked(rt.Framework); changed {
		ops = append([]checkpoint.Op{op}, ops...)
	}
	recorded := a.meta.Submit(ops...)
	t := &task{
		key:       key,
		info:      rt.Task,
		framework: rt.Framework,
		state:     mesos.TaskStaging,
		sandbox:   sandbox,
		czName:    czName,
		spec:      spec,
		meta:      true,
		health:    hc,
		done:      make(chan struct{}),
	}
	a.tasks[key] = t
	a.setStateLocked(t, a.statusLocked(tid, mesos.TaskStarting, mesos.SourceExecutor, "", ""))
	a.taskGroup.Add(1)
	go a.launch(a.launchCtx, t, cz, spec, recorded)
}

// frameworkOpLocked is the write of a framework's info if it changed since
// the last one. A failed write is forgotten by the launch that waits for it,
// so the next launch writes it again.
func (a *Agent) frameworkOpLocked(fw mesos.FrameworkInfo) (checkpoint.Op, bool) {
	b, err := json.Marshal(fw)
	if err != nil {
		return checkpoint.FrameworkOp(fw), true // the op carries the error
	}
	fid := fw.ID.Value
	if bytes.Equal(a.fwCheckpoints[fid], b) {
		return checkpoint.Op{}, false
	}
	a.fwCheckpoints[fid] = b
	return checkpoint.FrameworkOp(fw), true
}

// launch waits for the task's records to be on disk, then starts its
// container, checkpoints it and watches it.
func (a *Agent) launch(ctx context.Context, t *task, cz containerizer.Containerizer, spec containerizer.Spec, recorded *checkpoint.Commit) {
	defer a.taskGroup.Done()
	tid := t.key.TaskID
	err := recorded.Wait()

	a.mu.Lock()
	if err != nil {
		delete(a.fwCheckpoints, t.key.FrameworkID)
		a.finishLocked(t, a.statusLocked(tid, mesos.TaskFailed, mesos.SourceAgent, mesos.ReasonContainerLaunchFailed, err.Error()))
		a.mu.Unlock()
		return
	}
	if t.killRequested {
		a.finishLocked(t, a.statusLocked(tid, mesos.TaskKilled, mesos.SourceAgent, mesos.ReasonTaskKilledDuringLaunch, "killed before it was launched"))
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()

	c, err := cz.Launch(ctx, spec)
	if err != nil {
		a.mu.Lock()
		a.finishLocked(t, a.statusLocked(tid, mesos.TaskFailed, mesos.SourceAgent, mesos.ReasonContainerLaunchFailed,
			fmt.Sprintf("%s containerizer: %v", cz.Name(), err)))
		a.mu.Unlock()
		return
	}
	cp, cpErr := containerCheckpoint(cz, c)

	a.mu.Lock()
	t.container = c
	// The container's checkpoint is submitted before the RUNNING update,
	// so it is on disk before RUNNING can be sent (writes become durable in
	// submission order). A crash between the two leaves a task recorded
	// STARTING, or RUNNING without a container: either way recovery
	// destroys the container and fails the task, whose RUNNING was never
	// sent.
	if cpErr == nil && cp != nil {
		a.meta.Submit(checkpoint.ContainerOp(t.key.FrameworkID, tid, cp))
	} else if cpErr != nil {
		// The task runs, but a restarted agent will fail it.
		a.logf("agent: checkpoint container of task %q: %v", tid, cpErr)
	}
	if t.killRequested {
		// Killed while launching: finish the kill now that there is
		// something to kill; its exit reports TASK_KILLED.
		c.Kill(t.killGrace)
	} else {
		a.runningLocked(t, c)
	}
	a.mu.Unlock()
	a.watch(t, cz, c)
}

// containerCheckpoint is what the containerizer needs to recover c, nil if
// it cannot recover containers.
func containerCheckpoint(cz containerizer.Containerizer, c containerizer.Container) ([]byte, error) {
	rc, ok := cz.(containerizer.Recoverer)
	if !ok {
		return nil, nil
	}
	return rc.Checkpoint(c)
}

// runningLocked reports a launched or recovered task running and starts
// its health checker.
func (a *Agent) runningLocked(t *task, c containerizer.Container) {
	st := a.statusLocked(t.key.TaskID, mesos.TaskRunning, mesos.SourceExecutor, "", "")
	if pid := c.PID(); pid > 0 {
		st.ContainerStatus = &mesos.ContainerStatus{ExecutorPID: uint32(pid)}
	}
	a.setStateLocked(t, st)
	a.startHealthLocked(t, c)
}

// watch waits for a task's container to end and reports how it ended;
// then the containerizer may remove what is left of it. It returns early,
// leaving the task running, when the agent stops without killing tasks.
func (a *Agent) watch(t *task, cz containerizer.Containerizer, c containerizer.Container) {
	select {
	case <-c.Done():
	case <-a.detach:
		return
	}
	a.mu.Lock()
	checker := t.checker
	t.checker = nil
	a.mu.Unlock()
	if checker != nil {
		checker.Stop() // outside the lock: its last decision may be waiting for it
	}

	exit := c.Exit()
	state, reason := exitState(exit)
	a.mu.Lock()
	st := a.statusLocked(t.key.TaskID, state, mesos.SourceExecutor, reason, exit.Message)
	if t.healthKill != "" && exit.Killed {
		unhealthy := false
		st.Reason, st.Message, st.Healthy = mesos.ReasonTaskHealthCheckFailed, t.healthKill, &unhealthy
	}
	a.finishLocked(t, st)
	a.mu.Unlock()

	// The end is checkpointed: the container's remains are not needed.
	if rc, ok := cz.(containerizer.Recoverer); ok {
		if err := rc.Destroy(context.Background(), t.spec.ContainerID); err != nil {
			a.logf("agent: clean up container of task %q: %v", t.key.TaskID, err)
		}
	}
}

// killLocked asks a live task to stop within grace.
func (a *Agent) killLocked(t *task, grace time.Duration) {
	if mesos.IsTerminal(t.state) {
		return
	}
	t.killRequested, t.killGrace = true, grace
	if t.container != nil {
		t.container.Kill(grace)
	}
}

// handleKillTask kills a task, announcing TASK_KILLING to frameworks that
// understand it. A task the agent does not know is reported lost, so the
// master can settle its view.
func (a *Agent) handleKillTask(k *agentapi.KillTask) {
	key := updates.Key{FrameworkID: k.FrameworkID.Value, TaskID: k.TaskID.Value}
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.tasks[key]
	if t == nil || t.forget {
		msg := fmt.Sprintf("task %q of framework %q is unknown to this agent", key.TaskID, key.FrameworkID)
		a.enqueueLocked(key, a.statusLocked(key.TaskID, mesos.TaskLost, mesos.SourceAgent, mesos.ReasonTaskUnknown, msg), mesos.TaskLost)
		return
	}
	if mesos.IsTerminal(t.state) {
		// Its terminal update is already on its way.
		return
	}
	grace := killGrace(k.KillPolicy, t.info.KillPolicy, a.cfg.DefaultKillGrace)
	if t.state != mesos.TaskKilling && t.framework.HasCapability("TASK_KILLING_STATE") {
		a.setStateLocked(t, a.statusLocked(key.TaskID, mesos.TaskKilling, mesos.SourceExecutor, "", ""))
	}
	a.killLocked(t, grace)
}

// handleAcknowledge pops an acknowledged update; once a task's terminal
// update is acknowledged the agent forgets the task (its sandbox stays).
func (a *Agent) handleAcknowledge(ack *agentapi.Acknowledge) {
	key := updates.Key{FrameworkID: ack.FrameworkID.Value, TaskID: ack.TaskID.Value}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, remaining, err := a.updates.Acknowledge(key, ack.UUID)
	if err != nil {
		a.logf("agent: %v", err)
		return
	}
	if t := a.tasks[key]; t != nil && remaining == 0 && mesos.IsTerminal(t.state) {
		a.completeLocked(t)
	} else {
		a.checkpointUpdatesLocked(key)
	}
	a.kick()
}

// forgetLocked kills the tasks selected by match and drops them and their
// pending updates without reporting further: the master has removed their
// framework or this agent. It returns channels closed as each task ends.
func (a *Agent) forgetLocked(match func(updates.Key) bool) []chan struct{} {
	var done []chan struct{}
	for k, t := range a.tasks {
		if !match(k) {
			continue
		}
		t.forget = true
		if mesos.IsTerminal(t.state) {
			a.completeLocked(t)
			continue
		}
		a.killLocked(t, killGrace(nil, t.info.KillPolicy, a.cfg.DefaultKillGrace))
		done = append(done, t.done)
	}
	return done
}

// handleShutdownFramework kills a removed framework's tasks. Like Mesos, it
// sends no updates for them: the master already accounts for them.
func (a *Agent) handleShutdownFramework(fid string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.updates.DropFramework(fid)
	a.forgetLocked(func(k updates.Key) bool { return k.FrameworkID == fid })
}

// handleShutdown obeys a master that removed this agent: kill everything,
// wait for it, and drop the agent id so the next subscription registers a
// new agent.
func (a *Agent) handleShutdown(ctx context.Context, msg string) {
	a.logf("agent: master shut this agent down (%s); killing all tasks and registering anew", msg)
	a.mu.Lock()
	a.updates.Clear()
	done := a.forgetLocked(func(updates.Key) bool { return true })
	a.mu.Unlock()
	for _, d := range done {
		select {
		case <-d:
		case <-ctx.Done():
			return
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.id = ""
	if err := os.Remove(filepath.Join(a.cfg.WorkDir, agentIDFile)); err != nil && !os.IsNotExist(err) {
		a.logf("agent: removing agent id: %v", err)
	}
}

// subscribeLocked builds the SUBSCRIBE call: a registration, or with a
// known id a re-registration listing every task not yet forgotten.
func (a *Agent) subscribeLocked(port int32) agentapi.Call {
	info := mesos.AgentInfo{
		Hostname:   a.hostname,
		Port:       port,
		Resources:  a.res.ToMesos(""),
		Attributes: a.cfg.Attributes,
	}
	var agentID *mesos.AgentID
	if a.id != "" {
		agentID = &mesos.AgentID{Value: a.id}
		info.ID = agentID
	}
	sub := &agentapi.Subscribe{AgentInfo: info, Containerizers: a.czNames, Version: Version, Scheme: a.cfg.Scheme}
	keys := make([]updates.Key, 0, len(a.tasks))
	for k, t := range a.tasks {
		if !t.forget {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].FrameworkID != keys[j].FrameworkID {
			return keys[i].FrameworkID < keys[j].FrameworkID
		}
		return keys[i].TaskID < keys[j].TaskID
	})
	seen := map[string]bool{}
	for _, k := range keys {
		t := a.tasks[k]
		mt := mesos.Task{
			Name:        t.info.Name,
			TaskID:      t.info.TaskID,
			FrameworkID: mesos.FrameworkID{Value: k.FrameworkID},
			AgentID:     mesos.AgentID{Value: a.id},
			State:       t.state,
			Resources:   t.info.Resources,
			Labels:      t.info.Labels,
			Discovery:   t.info.Discovery,
			Container:   t.info.Container,
			HealthCheck: t.info.HealthCheck,
			KillPolicy:  t.info.KillPolicy,
			User:        taskUser(t.info, &t.framework),
		}
		if head, ok := a.updates.Head(k); ok {
			mt.StatusUpdateState, mt.StatusUpdateUUID = head.State, head.UUID
			mt.Statuses = []mesos.TaskStatus{head}
		}
		sub.Tasks = append(sub.Tasks, mt)
		if !seen[k.FrameworkID] {
			seen[k.FrameworkID] = true
			sub.Frameworks = append(sub.Frameworks, t.framework)
		}
	}
	return agentapi.Call{Type: agentapi.CallSubscribe, AgentID: agentID, Subscribe: sub}
}
