package master

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"sort"

	"agora/core/acl"
	"agora/core/mesos"
	"agora/core/resources"
)

// operatorCall is the operator API request: master.proto Call, with the
// bodies of the calls that take arguments.
type operatorCall struct {
	Type          string `json:"type"`
	MarkAgentGone *struct {
		AgentID mesos.AgentID `json:"agent_id"`
	} `json:"mark_agent_gone,omitempty"`
	Teardown *struct {
		FrameworkID mesos.FrameworkID `json:"framework_id"`
	} `json:"teardown,omitempty"`
	UpdateACLs *struct {
		ACLs json.RawMessage `json:"acls"`
	} `json:"update_acls,omitempty"`
}

// Operator calls beyond the read-only GET_* ones. GET_ACLS and UPDATE_ACLS
// are Agora's: Mesos reads its ACLs from a flag only.
const (
	MarkAgentGone = "MARK_AGENT_GONE"
	Teardown      = "TEARDOWN"
	GetACLs       = "GET_ACLS"
	UpdateACLs    = "UPDATE_ACLS"
)

// aclsResp is GET_ACLS's answer.
type aclsResp struct {
	Type    string `json:"type"`
	GetACLs struct {
		ACLs json.RawMessage `json:"acls"`
	} `json:"get_acls"`
}

// serveOperator is POST /api/v1, the Mesos v1 operator API.
func (m *Master) serveOperator(w http.ResponseWriter, r *http.Request) {
	var call operatorCall
	if err := decodeBody(w, r, &call); err != nil {
		writeError(w, err)
		return
	}
	var resp *mesos.OperatorResponse
	principal := principalOf(r)
	switch call.Type {
	case mesos.GetHealth:
		resp = &mesos.OperatorResponse{Type: call.Type, GetHealth: &mesos.HealthInfo{Healthy: true}}
	case mesos.GetVersion:
		resp = &mesos.OperatorResponse{Type: call.Type, GetVersion: &mesos.VersionResp{VersionInfo: m.versionInfo()}}
	case mesos.GetState, mesos.GetAgents, mesos.GetFrameworks, mesos.GetTasks, mesos.GetRoles, mesos.GetMaster, mesos.GetExecutors:
		if e := m.exec(r.Context(), "operator call "+call.Type, func() { resp = m.operatorState(principal, call.Type) }); e != nil {
			writeError(w, e)
			return
		}
	case MarkAgentGone:
		if call.MarkAgentGone == nil || call.MarkAgentGone.AgentID.Value == "" {
			writeError(w, badRequest("mark_agent_gone.agent_id: required"))
			return
		}
		m.operatorWrite(w, r, call.Type, func() error { return m.markAgentGone(principal, call.MarkAgentGone.AgentID.Value) })
		return
	case Teardown:
		if call.Teardown == nil || call.Teardown.FrameworkID.Value == "" {
			writeError(w, badRequest("teardown.framework_id: required"))
			return
		}
		m.operatorWrite(w, r, call.Type, func() error { return m.teardown(principal, call.Teardown.FrameworkID.Value) })
		return
	case GetACLs:
		if err := m.authorize(principal, acl.ManageACLs, "*"); err != nil {
			writeError(w, err)
			return
		}
		out := aclsResp{Type: GetACLs}
		cur := acl.AllowAll()
		if m.cfg.ACLs != nil {
			cur = m.cfg.ACLs.ACLs()
		}
		data, err := cur.Marshal()
		if err != nil {
			writeError(w, err)
			return
		}
		out.GetACLs.ACLs = data
		writeJSON(w, http.StatusOK, out)
		return
	case UpdateACLs:
		if call.UpdateACLs == nil {
			writeError(w, badRequest("update_acls: required for UPDATE_ACLS, e.g. {\"type\":\"UPDATE_ACLS\",\"update_acls\":{\"acls\":{...}}}"))
			return
		}
		if err := m.updateACLs(r.Context(), principal, call.UpdateACLs.ACLs); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	case "":
		writeError(w, badRequest("type: missing; use e.g. GET_STATE, GET_AGENTS, GET_FRAMEWORKS, GET_TASKS, GET_ROLES, GET_MASTER, GET_HEALTH, GET_VERSION"))
		return
	default:
		writeError(w, badRequest("type: unknown or unsupported operator call %q; use GET_STATE, GET_AGENTS, GET_FRAMEWORKS, GET_TASKS, GET_ROLES, GET_MASTER, GET_HEALTH, GET_VERSION, MARK_AGENT_GONE, TEARDOWN, GET_ACLS or UPDATE_ACLS", call.Type))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (m *Master) versionInfo() mesos.VersionInfo {
	return mesos.VersionInfo{Version: Version}
}

// operatorWrite runs a changing operator call on the loop and answers 200,
// or the call's error.
func (m *Master) operatorWrite(w http.ResponseWriter, r *http.Request, typ string, f func() error) {
	var err error
	if e := m.exec(r.Context(), "operator call "+typ, func() { err = f() }); e != nil {
		err = e
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// operatorState builds a read-only response on the loop.
func (m *Master) operatorState(principal, typ string) *mesos.OperatorResponse {
	resp := &mesos.OperatorResponse{Type: typ}
	switch typ {
	case mesos.GetAgents:
		a := m.agentsState(principal)
		resp.GetAgents = &a
	case mesos.GetFrameworks:
		f := m.frameworksState(principal)
		resp.GetFrameworks = &f
	case mesos.GetTasks:
		t := m.tasksState(principal)
		resp.GetTasks = &t
	case mesos.GetExecutors:
		resp.GetExecutors = &mesos.ExecutorsResp{Executors: []struct{}{}}
	case mesos.GetState:
		resp.GetState = &mesos.StateResp{GetTasks: m.tasksState(principal), GetFrameworks: m.frameworksState(principal), GetAgents: m.agentsState(principal),
			GetExecutors: mesos.ExecutorsResp{Executors: []struct{}{}}}
	case mesos.GetRoles:
		resp.GetRoles = m.rolesState()
	case mesos.GetMaster:
		resp.GetMaster = &mesos.MasterResp{MasterInfo: m.info, StartTime: ts(m.start), ElectedTime: ts(m.start)}
	}
	return resp
}

func (m *Master) agentsState(principal string) mesos.AgentsResp {
	out := mesos.AgentsResp{Agents: []mesos.AgentState{}, RecoveredAgents: []mesos.AgentInfo{}}
	for _, a := range byKey(m.agents) {
		if !m.canView(principal, acl.ViewAgents, a.info.Hostname) {
			continue
		}
		if a.recovered {
			out.RecoveredAgents = append(out.RecoveredAgents, a.info)
			continue
		}
		st := mesos.AgentState{
			AgentInfo: a.info, Active: !a.unreachable, Version: a.version, PID: "agent@" + a.addr(),
			RegisteredTime: mesos.NewTimeInfo(a.registered), TotalResources: a.total.ToMesos(""),
			AllocatedResources: a.used().ToMesos(""), OfferedResources: a.offered().ToMesos(""),
		}
		if !a.reregistered.IsZero() {
			st.ReregisteredTime = mesos.NewTimeInfo(a.reregistered)
		}
		for _, c := range a.containerizers {
			st.Capabilities = append(st.Capabilities, mesos.FrameworkCapability{Type: "CONTAINERIZER_" + c})
		}
		out.Agents = append(out.Agents, st)
	}
	return out
}

func (m *Master) frameworkState(f *framework) mesos.FrameworkState {
	info := f.info
	info.ID = &mesos.FrameworkID{Value: f.id}
	st := mesos.FrameworkState{FrameworkInfo: info, Active: f.out != nil, Connected: f.out != nil, Recovered: f.recovered,
		RegisteredTime: mesos.NewTimeInfo(f.registered), Offers: []mesos.Offer{}}
	if !f.reregistered.IsZero() {
		st.ReregisteredTime = mesos.NewTimeInfo(f.reregistered)
	}
	if !f.unregistered.IsZero() {
		st.UnregisteredTime = mesos.NewTimeInfo(f.unregistered)
	}
	var alloc, offered resources.Resources
	for _, t := range f.tasks {
		if !t.released {
			alloc = alloc.Add(t.res)
		}
	}
	for _, o := range byKey(f.offers) {
		st.Offers = append(st.Offers, o.toMesos())
		offered = offered.Add(o.res)
	}
	st.AllocatedResources = alloc.ToMesos("")
	st.OfferedResources = offered.ToMesos("")
	return st
}

func (m *Master) frameworksState(principal string) mesos.FrameworksResp {
	out := mesos.FrameworksResp{Frameworks: []mesos.FrameworkState{}, CompletedFrameworks: []mesos.FrameworkState{}}
	for _, f := range byKey(m.frameworks) {
		if m.canView(principal, acl.ViewFrameworks, f.info.User) {
			out.Frameworks = append(out.Frameworks, m.frameworkState(f))
		}
	}
	for _, f := range m.completedFrameworks {
		if m.canView(principal, acl.ViewFrameworks, f.info.User) {
			out.CompletedFrameworks = append(out.CompletedFrameworks, m.frameworkState(f))
		}
	}
	return out
}

func (m *Master) tasksState(principal string) mesos.TasksResp {
	out := mesos.TasksResp{PendingTasks: []mesos.TaskInfo{}, Tasks: []mesos.Task{}, UnreachableTasks: []mesos.Task{}, CompletedTasks: []mesos.Task{}}
	all := make([]*framework, 0, len(m.frameworks)+len(m.completedFrameworks))
	for _, f := range m.frameworks {
		all = append(all, f)
	}
	all = append(all, m.completedFrameworks...)
	for _, f := range all {
		for _, t := range f.tasks {
			if !m.canView(principal, acl.ViewTasks, taskUser(f, &t.info)) {
				continue
			}
			if t.state == mesos.TaskUnreachable {
				out.UnreachableTasks = append(out.UnreachableTasks, t.toMesos())
			} else if mesos.IsTerminal(t.state) {
				out.CompletedTasks = append(out.CompletedTasks, t.toMesos())
			} else {
				out.Tasks = append(out.Tasks, t.toMesos())
			}
		}
		for _, t := range f.done {
			if m.canView(principal, acl.ViewTasks, taskUser(f, &t.info)) {
				out.CompletedTasks = append(out.CompletedTasks, t.toMesos())
			}
		}
	}
	byID := func(ts []mesos.Task) {
		sort.Slice(ts, func(i, j int) bool {
			if ts[i].FrameworkID.Value != ts[j].FrameworkID.Value {
				return ts[i].FrameworkID.Value < ts[j].FrameworkID.Value
			}
			return ts[i].TaskID.Value < ts[j].TaskID.Value
		})
	}
	byID(out.Tasks)
	byID(out.UnreachableTasks)
	byID(out.CompletedTasks)
	return out
}

func (m *Master) rolesState() *mesos.RolesResp {
	out := &mesos.RolesResp{Roles: []mesos.Role{}}
	for _, ri := range m.alloc.Roles() {
		r := mesos.Role{Name: ri.Name, Weight: ri.Weight, Frameworks: []mesos.FrameworkID{}, Resources: ri.Allocated.ToMesos("")}
		for _, f := range ri.Frameworks {
			r.Frameworks = append(r.Frameworks, mesos.FrameworkID{Value: f})
		}
		out.Roles = append(out.Roles, r)
	}
	return out
}

// byKey returns m's values in the order of their keys (the ids), so that
// answers do not change order from one call to the next.
func byKey[T any](m map[string]T) []T {
	out := make([]T, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}
