package master

import (
	"fmt"
	"net/http"
	"reflect"
	"time"

	"agora/core/acl"
	"agora/core/agentapi"
	"agora/core/mesos"
	"agora/core/resources"
)

func runTaskEvent(f *framework, ti mesos.TaskInfo) agentapi.Event {
	info := f.info
	info.ID = &mesos.FrameworkID{Value: f.id}
	return agentapi.Event{Type: agentapi.EventRunTask, RunTask: &agentapi.RunTask{Framework: info, Task: ti}}
}

func agentKill(fid string, tid mesos.TaskID, kp *mesos.KillPolicy) agentapi.Event {
	return agentapi.Event{Type: agentapi.EventKillTask, KillTask: &agentapi.KillTask{FrameworkID: mesos.FrameworkID{Value: fid}, TaskID: tid, KillPolicy: kp}}
}

func agentAck(fid string, tid mesos.TaskID, uuid []byte) agentapi.Event {
	return agentapi.Event{Type: agentapi.EventAcknowledge, Acknowledge: &agentapi.Acknowledge{FrameworkID: mesos.FrameworkID{Value: fid}, TaskID: tid, UUID: uuid}}
}

func agentShutdownFramework(fid string) agentapi.Event {
	return agentapi.Event{Type: agentapi.EventShutdownFramework, ShutdownFramework: &agentapi.ShutdownFramework{FrameworkID: mesos.FrameworkID{Value: fid}}}
}

// serveAgent is POST /agent/api/v1, the agents' endpoint.
func (m *Master) serveAgent(w http.ResponseWriter, r *http.Request) {
	var call agentapi.Call
	if err := decodeBody(w, r, &call); err != nil {
		writeError(w, err)
		return
	}
	switch call.Type {
	case agentapi.CallSubscribe:
		m.agentSubscribe(w, r, &call)
		return
	case agentapi.CallUpdate, agentapi.CallPong:
	default:
		writeError(w, badRequest("type: unknown agent call %q; use SUBSCRIBE, UPDATE or PONG", call.Type))
		return
	}
	if call.AgentID == nil || call.AgentID.Value == "" {
		writeError(w, badRequest("agent_id: required"))
		return
	}
	if call.Type == agentapi.CallUpdate && (call.Update == nil || call.Update.Status.TaskID.Value == "" || call.Update.FrameworkID.Value == "") {
		writeError(w, badRequest("update: framework_id and status.task_id are required"))
		return
	}
	var err error
	stream := r.Header.Get(agentapi.StreamHeader)
	if e := m.exec(r.Context(), "agent call "+call.Type, func() { err = m.handleAgentCall(principalOf(r), stream, &call) }); e != nil {
		writeError(w, e)
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (m *Master) agentSubscribe(w http.ResponseWriter, r *http.Request, call *agentapi.Call) {
	s := call.Subscribe
	if s == nil {
		writeError(w, badRequest("subscribe: required for SUBSCRIBE"))
		return
	}
	total, err := resources.FromMesos("subscribe.agent_info.resources", s.AgentInfo.Resources)
	if err != nil {
		writeError(w, badRequest("%v", err))
		return
	}
	if s.AgentInfo.Hostname == "" {
		writeError(w, badRequest("subscribe.agent_info.hostname: required"))
		return
	}
	principal := principalOf(r)
	if err := m.authorize(principal, acl.RegisterAgents, s.AgentInfo.Hostname); err != nil {
		writeError(w, err)
		return
	}
	out := newOutbox()
	var id, streamID string
	if e := m.exec(r.Context(), "agent call SUBSCRIBE", func() { id, streamID, err = m.registerAgent(principal, s, total, out) }); e != nil {
		writeError(w, e)
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(agentapi.StreamHeader, streamID)
	w.WriteHeader(http.StatusOK)
	out.serve(w, r, 0, nil)
	m.post(func() {
		if a := m.agents[id]; a != nil && a.streamID == streamID {
			a.out.close()
			a.out, a.streamID = nil, ""
		}
	})
}

// registerAgent admits a new agent or re-registers a known one and
// reconciles the tasks it reports with the master's view.
func (m *Master) registerAgent(principal string, s *agentapi.Subscribe, total resources.Resources, out *outbox) (string, string, error) {
	now := m.now()
	info := s.AgentInfo
	var a *agent
	if info.ID != nil && info.ID.Value != "" {
		if m.goneAgents[info.ID.Value] {
			out.push(agentapi.Event{Type: agentapi.EventShutdown, Shutdown: &agentapi.Shutdown{Message: "agent " + info.ID.Value + " was removed from the cluster; register anew"}})
			out.close()
			streamID := newUUID()
			return info.ID.Value, streamID, nil
		}
		a = m.agents[info.ID.Value]
		if a != nil {
			if err := m.samePrincipal(principal, a.principal, "agent "+a.id); err != nil {
				return "", "", err
			}
			a.principal = principal
		}
	}
	streamID := newUUID()
	fresh := a == nil
	if fresh {
		id := m.nextID("S")
		if info.ID != nil && info.ID.Value != "" {
			id = info.ID.Value // an agent this master lost track of keeps its id
		}
		a = &agent{id: id, principal: principal, tasks: map[taskKey]*task{}, offers: map[string]*offer{}, registered: now}
		m.agents[id] = a
		m.cfg.Logf("agent %s at %s:%d registered with %s", id, info.Hostname, info.Port, total)
	} else {
		if a.out != nil {
			a.out.close()
		}
		for _, o := range a.offers {
			m.rescindOffer(o, true)
		}
		a.reregistered = now
		m.cfg.Logf("agent %s at %s:%d re-registered", a.id, info.Hostname, info.Port)
	}
	info.ID = &mesos.AgentID{Value: a.id}
	registryChanged := fresh || a.unreachable || !reflect.DeepEqual(a.info, info) || !sameStrings(a.containerizers, s.Containerizers) || a.version != s.Version || a.scheme != s.Scheme
	a.info, a.total, a.containerizers, a.version, a.scheme = info, total, s.Containerizers, s.Version, s.Scheme
	a.out, a.streamID = out, streamID
	wasUnreachable := a.unreachable
	a.unreachable, a.recovered, a.pingsMissed, a.ponged = false, false, 0, true

	// Frameworks the agent knows and the master does not (master lost state).
	for _, fi := range s.Frameworks {
		if fi.ID == nil || m.frameworks[fi.ID.Value] != nil || m.isCompletedFramework(fi.ID.Value) {
			continue
		}
		f := &framework{id: fi.ID.Value, info: fi, roles: fi.EffectiveRoles(), offers: map[string]*offer{}, tasks: map[string]*task{}, recovered: true, registered: now}
		f.failoverDeadline = now.Add(failoverTimeout(fi))
		m.frameworks[f.id] = f
		m.alloc.AddFramework(f.id, f.roles)
		m.alloc.DeactivateFramework(f.id)
		m.pers.putFramework(f)
	}

	// Reconcile tasks.
	reported := map[taskKey]bool{}
	var kills []agentapi.Event // asked for while the agent was away
	for _, rt := range s.Tasks {
		k := taskKey{rt.FrameworkID.Value, rt.TaskID.Value}
		reported[k] = true
		f := m.frameworks[k.framework]
		if f == nil {
			if m.isCompletedFramework(k.framework) {
				out.push(agentShutdownFramework(k.framework))
			}
			continue
		}
		t := f.tasks[k.task]
		isNew := t == nil
		if isNew {
			res, _ := resources.FromMesos("task", rt.Resources)
			role := rt.Role
			if role == "" && len(f.roles) > 0 {
				role = f.roles[0]
			}
			t = &task{info: mesos.TaskInfo{Name: rt.Name, TaskID: rt.TaskID, AgentID: mesos.AgentID{Value: a.id}, Resources: rt.Resources, Labels: rt.Labels, Container: rt.Container, HealthCheck: rt.HealthCheck, KillPolicy: rt.KillPolicy},
				framework: f, agentID: a.id, role: role, res: res, statuses: rt.Statuses}
			f.tasks[k.task] = t
			a.tasks[k] = t
		}
		previous := t.state
		t.state = rt.State
		if mesos.IsTerminal(t.state) {
			t.released = true
		} else if t.killPending {
			kills = append(kills, agentKill(f.id, t.info.TaskID, t.killPolicy))
		}
		t.killPending = false
		if wasUnreachable && previous != rt.State && !mesos.IsTerminal(rt.State) {
			// The framework was told the task was unreachable or lost; tell it
			// the task is back.
			m.sendMasterUpdate(f, t.info.TaskID, a.id, rt.State, mesos.ReasonReconciliation, "Agent re-registered; task is "+rt.State)
		}
		// After a failover every agent reports every task: only what is new
		// or changed goes to the registry.
		if isNew || previous != rt.State {
			m.pers.putTask(t)
		}
	}
	// Tasks the master knows on this agent but the agent did not report.
	for k, t := range a.tasks {
		if reported[k] || mesos.IsTerminal(t.state) {
			continue
		}
		state := mesos.TaskLost
		if t.framework.partitionAware() {
			state = mesos.TaskGone
		}
		t.record(mesos.TaskStatus{TaskID: t.info.TaskID, State: state, Source: mesos.SourceMaster, Reason: mesos.ReasonReconciliation,
			Message: "Task was not reported by its re-registering agent", AgentID: &mesos.AgentID{Value: a.id}, Timestamp: ts(now)})
		m.sendMasterUpdate(t.framework, t.info.TaskID, a.id, state, mesos.ReasonReconciliation, "Task was not reported by its re-registering agent")
		m.completeTask(t)
	}

	// Rebuild the allocator's view of this agent from its tasks.
	m.alloc.RemoveAgent(a.id)
	m.alloc.AddAgent(a.id, a.total)
	for _, t := range a.tasks {
		if !t.released {
			m.alloc.Allocate(a.id, t.framework.id, t.role, t.res)
		}
	}
	if registryChanged {
		m.pers.putAgent(a)
	}
	out.push(agentapi.Event{Type: agentapi.EventRegistered, Registered: &agentapi.Registered{
		AgentID: mesos.AgentID{Value: a.id}, MasterInfo: m.info, PingIntervalSeconds: m.cfg.AgentPingTimeout.Seconds(),
	}})
	for _, k := range kills {
		out.push(k)
	}
	m.dirty[a.id] = true
	return a.id, streamID, nil
}

func failoverTimeout(fi mesos.FrameworkInfo) time.Duration {
	return time.Duration(fi.FailoverTimeout * float64(time.Second))
}

func (m *Master) isCompletedFramework(id string) bool {
	for _, f := range m.completedFrameworks {
		if f.id == id {
			return true
		}
	}
	return false
}

// handleAgentCall runs UPDATE and PONG on the loop.
func (m *Master) handleAgentCall(principal, streamID string, c *agentapi.Call) error {
	a := m.agents[c.AgentID.Value]
	if a == nil {
		return &apiError{http.StatusNotFound, fmt.Sprintf("agent_id: agent %q is not registered; SUBSCRIBE first", c.AgentID.Value)}
	}
	if err := m.samePrincipal(principal, a.principal, "agent "+a.id); err != nil {
		return err
	}
	if a.streamID == "" || streamID != a.streamID {
		return badRequest("%s header: %q does not match the agent's current subscription", agentapi.StreamHeader, streamID)
	}
	switch c.Type {
	case agentapi.CallPong:
		a.ponged, a.pingsMissed = true, 0
	case agentapi.CallUpdate:
		m.statusUpdate(a, c.Update)
	}
	return nil
}

// statusUpdate records a task status from an agent and forwards it to the
// framework; the framework's ACKNOWLEDGE is relayed back to the agent.
func (m *Master) statusUpdate(a *agent, u *agentapi.Update) {
	s := u.Status
	fid := u.FrameworkID.Value
	f := m.frameworks[fid]
	if f == nil {
		// The framework is gone: acknowledge so the agent stops retrying.
		a.send(agentAck(fid, s.TaskID, s.UUID))
		if m.isCompletedFramework(fid) {
			a.send(agentShutdownFramework(fid))
		}
		return
	}
	t := f.tasks[s.TaskID.Value]
	if t == nil {
		if findDone(f, s.TaskID.Value) != nil {
			// A resend whose acknowledgement was lost on the way.
			a.send(agentAck(fid, s.TaskID, s.UUID))
		}
		return
	}
	if len(s.UUID) > 0 && string(t.pendingUUID) != string(s.UUID) && t.recorded(s.UUID) {
		// A resend overtaken by newer updates: the framework acknowledged
		// it already (the agent sends the next only after that). Forwarding
		// it would show the framework an old state last; the agent gets
		// the acknowledgement again in case it lost it.
		a.send(agentAck(fid, s.TaskID, s.UUID))
		return
	}
	latest := u.LatestState
	if latest == "" {
		latest = s.State
	}
	if n := len(t.statuses); n == 0 || string(t.statuses[n-1].UUID) != string(s.UUID) || len(s.UUID) == 0 {
		t.record(s)
		m.metrics.countState(s.State)
	}
	t.state = latest
	if mesos.IsTerminal(latest) && !t.released {
		t.released = true
		m.alloc.Recover(a.id, f.id, t.role, t.res)
		m.dirty[a.id] = true
	}
	if len(s.UUID) > 0 {
		t.pendingUUID, t.pendingState = s.UUID, s.State
	}
	m.pers.putTask(t)
	f.send(mesos.Event{Type: mesos.EventUpdate, Update: &mesos.EventUpdateBody{Status: s}})
}

// pingAgents sends PINGs and marks agents that missed too many unreachable.
func (m *Master) pingAgents() {
	for _, a := range m.agents {
		if a.unreachable || a.recovered {
			continue
		}
		if !a.ponged {
			a.pingsMissed++
			if a.pingsMissed >= m.cfg.MaxAgentPingTimeouts {
				m.cfg.Logf("agent %s missed %d pings; marking it unreachable", a.id, a.pingsMissed)
				m.markUnreachable(a)
				continue
			}
		}
		a.ponged = false
		a.send(agentapi.Event{Type: agentapi.EventPing})
	}
}

// markUnreachable stops offering an agent and tells frameworks its tasks
// are unreachable (TASK_LOST for frameworks that are not partition-aware).
func (m *Master) markUnreachable(a *agent) {
	a.unreachable = true
	a.unreachableSince = m.now()
	for _, o := range a.offers {
		m.rescindOffer(o, true)
	}
	m.alloc.DeactivateAgent(a.id)
	if a.out != nil {
		a.out.close()
		a.out, a.streamID = nil, ""
	}
	for _, t := range a.tasks {
		if mesos.IsTerminal(t.state) {
			continue
		}
		state := mesos.TaskLost
		if t.framework.partitionAware() {
			state = mesos.TaskUnreachable
		}
		t.record(mesos.TaskStatus{TaskID: t.info.TaskID, State: mesos.TaskUnreachable, Source: mesos.SourceMaster,
			Reason: mesos.ReasonAgentDisconnected, Message: "Agent is unreachable", AgentID: &mesos.AgentID{Value: a.id}, Timestamp: ts(m.now())})
		m.sendMasterUpdate(t.framework, t.info.TaskID, a.id, state, mesos.ReasonAgentDisconnected, "Agent "+a.id+" is unreachable")
		m.pers.putTask(t)
	}
	m.pers.putAgent(a)
}

// removeAgent forgets an agent for good; its tasks are reported gone.
func (m *Master) removeAgent(a *agent, why string) {
	m.cfg.Logf("removing agent %s: %s", a.id, why)
	for _, o := range a.offers {
		m.rescindOffer(o, true)
	}
	for _, t := range a.tasks {
		if !mesos.IsTerminal(t.state) {
			state := mesos.TaskLost
			if t.framework.partitionAware() {
				state = mesos.TaskGone
			}
			t.record(mesos.TaskStatus{TaskID: t.info.TaskID, State: state, Source: mesos.SourceMaster, Reason: mesos.ReasonAgentRemoved,
				Message: "Agent removed: " + why, AgentID: &mesos.AgentID{Value: a.id}, Timestamp: ts(m.now())})
			m.sendMasterUpdate(t.framework, t.info.TaskID, a.id, state, mesos.ReasonAgentRemoved, "Agent removed: "+why)
		}
		t.released = true
		m.completeTask(t)
	}
	m.alloc.RemoveAgent(a.id)
	if a.out != nil {
		a.out.push(agentapi.Event{Type: agentapi.EventShutdown, Shutdown: &agentapi.Shutdown{Message: why}})
		a.out.close()
	}
	delete(m.agents, a.id)
	m.goneAgents[a.id] = true
	m.pers.deleteAgent(a.id)
}
