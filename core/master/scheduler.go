package master

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strings"
	"time"

	"agora/core/acl"
	"agora/core/mesos"
	"agora/core/resources"
)

// apiError is an error with the HTTP status the API answers.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	if ae, ok := err.(*apiError); ok {
		status = ae.status
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, err.Error()+"\n")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// maxBody bounds a request body on the scheduler, operator and agent
// endpoints; the largest real call (an ACCEPT launching many tasks) is far
// smaller.
const maxBody = 16 << 20

func tooLarge() *apiError {
	return &apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the %d-byte (16 MiB) limit", maxBody)}
}

// decodeBody reads a JSON request body into v, insisting on the JSON
// content type and rejecting unknown fields' syntax errors with the offset.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt != "application/json" {
			return &apiError{http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q is not supported; send application/json", ct)}
		}
	}
	if r.ContentLength > maxBody {
		return tooLarge()
	}
	// MaxBytesReader, not a LimitReader, so the server also stops reading
	// and closes the connection of a client that keeps sending.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge()
		}
		return badRequest("reading request body: %v", err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badRequest("malformed JSON: field %q: %v", te.Field, err)
		}
		return badRequest("malformed JSON: %v", err)
	}
	return nil
}

// serveScheduler is POST /api/v1/scheduler.
func (m *Master) serveScheduler(w http.ResponseWriter, r *http.Request) {
	var call mesos.Call
	if err := decodeBody(w, r, &call); err != nil {
		writeError(w, err)
		return
	}
	if call.Type == mesos.CallSubscribe {
		m.subscribe(w, r, &call)
		return
	}
	if err := validateCall(&call); err != nil {
		writeError(w, err)
		return
	}
	var err error
	if e := m.exec(r.Context(), "scheduler call "+call.Type, func() { err = m.handleCall(principalOf(r), r.Header.Get("Mesos-Stream-Id"), &call) }); e != nil {
		writeError(w, e)
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

var knownCalls = map[string]bool{
	mesos.CallTeardown: true, mesos.CallAccept: true, mesos.CallDecline: true, mesos.CallRevive: true,
	mesos.CallSuppress: true, mesos.CallKill: true, mesos.CallAcknowledge: true, mesos.CallReconcile: true,
	mesos.CallShutdown: true, mesos.CallMessage: true, mesos.CallRequest: true,
}

// maxRefuseSeconds bounds filters.refuse_seconds to one year.
const maxRefuseSeconds = 365 * 24 * 3600

// validateCall checks a non-SUBSCRIBE call's shape, naming the bad field.
func validateCall(c *mesos.Call) error {
	if c.Type == "" {
		return badRequest("type: missing; use one of SUBSCRIBE, ACCEPT, DECLINE, REVIVE, SUPPRESS, KILL, ACKNOWLEDGE, RECONCILE, TEARDOWN")
	}
	if !knownCalls[c.Type] {
		return badRequest("type: unknown call type %q; use one of SUBSCRIBE, ACCEPT, DECLINE, REVIVE, SUPPRESS, KILL, ACKNOWLEDGE, RECONCILE, TEARDOWN", c.Type)
	}
	if c.FrameworkID == nil || c.FrameworkID.Value == "" {
		return badRequest("framework_id: required for %s calls", c.Type)
	}
	checkFilters := func(field string, f *mesos.Filters) error {
		if f == nil || f.RefuseSeconds == nil {
			return nil
		}
		v := *f.RefuseSeconds
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > maxRefuseSeconds {
			return badRequest("%s.filters.refuse_seconds: %v is out of range; use 0 to %d seconds", field, v, maxRefuseSeconds)
		}
		return nil
	}
	switch c.Type {
	case mesos.CallAccept:
		if c.Accept == nil {
			return badRequest("accept: required for ACCEPT calls")
		}
		if len(c.Accept.OfferIDs) == 0 {
			return badRequest("accept.offer_ids: at least one offer id is required")
		}
		for i, op := range c.Accept.Operations {
			if op.Type != mesos.OpLaunch {
				return badRequest("accept.operations[%d].type: %q is not supported; use LAUNCH", i, op.Type)
			}
			if op.Launch == nil {
				return badRequest("accept.operations[%d].launch: required for LAUNCH", i)
			}
		}
		return checkFilters("accept", c.Accept.Filters)
	case mesos.CallDecline:
		if c.Decline == nil || len(c.Decline.OfferIDs) == 0 {
			return badRequest("decline.offer_ids: at least one offer id is required")
		}
		return checkFilters("decline", c.Decline.Filters)
	case mesos.CallKill:
		if c.Kill == nil || c.Kill.TaskID.Value == "" {
			return badRequest("kill.task_id: required for KILL calls")
		}
		if kp := c.Kill.KillPolicy; kp != nil && kp.GracePeriod != nil && kp.GracePeriod.Nanoseconds < 0 {
			return badRequest("kill.kill_policy.grace_period: must not be negative")
		}
	case mesos.CallAcknowledge:
		if c.Acknowledge == nil {
			return badRequest("acknowledge: required for ACKNOWLEDGE calls")
		}
		if c.Acknowledge.TaskID.Value == "" || c.Acknowledge.AgentID.Value == "" || len(c.Acknowledge.UUID) == 0 {
			return badRequest("acknowledge: task_id, agent_id and uuid are all required")
		}
	case mesos.CallShutdown, mesos.CallMessage, mesos.CallRequest:
		return &apiError{http.StatusNotImplemented, fmt.Sprintf("type: %s calls are not supported yet (custom executors are not available)", c.Type)}
	}
	return nil
}

// validateFrameworkInfo checks SUBSCRIBE's framework_info.
func validateFrameworkInfo(fi *mesos.FrameworkInfo) error {
	if fi.Name == "" {
		return badRequest("subscribe.framework_info.name: required")
	}
	if fi.FailoverTimeout < 0 || math.IsNaN(fi.FailoverTimeout) || math.IsInf(fi.FailoverTimeout, 0) {
		return badRequest("subscribe.framework_info.failover_timeout: %v must be a non-negative number of seconds", fi.FailoverTimeout)
	}
	for _, role := range fi.EffectiveRoles() {
		if err := validRole(role); err != nil {
			return badRequest("subscribe.framework_info.roles: %v", err)
		}
	}
	return nil
}

func validRole(role string) error {
	if role == "" || role == "." || role == ".." || strings.HasPrefix(role, "-") || strings.ContainsAny(role, " \t\n\\") {
		return fmt.Errorf("role %q is invalid; roles are non-empty names without spaces or backslashes, not '.', '..' or starting with '-'", role)
	}
	return nil
}

// subscribe handles SUBSCRIBE and then serves the event stream.
func (m *Master) subscribe(w http.ResponseWriter, r *http.Request, call *mesos.Call) {
	if call.Subscribe == nil {
		writeError(w, badRequest("subscribe: required for SUBSCRIBE calls"))
		return
	}
	fi := call.Subscribe.FrameworkInfo
	if err := validateFrameworkInfo(&fi); err != nil {
		writeError(w, err)
		return
	}
	if call.FrameworkID != nil && fi.ID != nil && call.FrameworkID.Value != fi.ID.Value {
		writeError(w, badRequest("framework_id: %q does not match subscribe.framework_info.id %q", call.FrameworkID.Value, fi.ID.Value))
		return
	}
	if fi.ID == nil && call.FrameworkID != nil && call.FrameworkID.Value != "" {
		fi.ID = call.FrameworkID
	}
	principal := principalOf(r)
	if err := m.checkSubscriber(principal, &fi); err != nil {
		writeError(w, err)
		return
	}
	out := newOutbox()
	var streamID, id string
	var err error
	if e := m.exec(r.Context(), "scheduler call SUBSCRIBE", func() { id, streamID, err = m.subscribeFramework(fi, out) }); e != nil {
		writeError(w, e)
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Mesos-Stream-Id", streamID)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	hb, _ := json.Marshal(mesos.Event{Type: mesos.EventHeartbeat})
	out.serve(w, r, m.cfg.HeartbeatInterval, hb)
	m.post(func() { m.frameworkDisconnected(id, streamID) })
}

// subscribeFramework registers a new framework or re-subscribes a known one.
// It returns the framework's id and the new stream's id.
func (m *Master) subscribeFramework(fi mesos.FrameworkInfo, out *outbox) (string, string, error) {
	now := m.now()
	var f *framework
	if fi.ID != nil && fi.ID.Value != "" {
		for _, c := range m.completedFrameworks {
			if c.id == fi.ID.Value {
				return "", "", &apiError{http.StatusForbidden, fmt.Sprintf("framework_id: framework %s has been removed (torn down or failed over too late); subscribe without an id to register anew", c.id)}
			}
		}
		f = m.frameworks[fi.ID.Value]
		if f != nil {
			if err := m.samePrincipal(fi.Principal, f.info.Principal, "framework "+f.id); err != nil {
				return "", "", err
			}
		}
	}
	streamID := newUUID()
	if f == nil {
		if fi.ID == nil || fi.ID.Value == "" {
			fi.ID = &mesos.FrameworkID{Value: m.nextID("")}
		}
		f = &framework{id: fi.ID.Value, offers: map[string]*offer{}, tasks: map[string]*task{}, registered: now}
		m.frameworks[f.id] = f
		f.info, f.roles = fi, fi.EffectiveRoles()
		m.alloc.AddFramework(f.id, f.roles)
		m.cfg.Logf("framework %s (%s) registered with roles %v", f.id, fi.Name, f.roles)
	} else {
		if f.out != nil {
			// A second subscription replaces the first, as a scheduler failover.
			f.send(mesos.Event{Type: mesos.EventError, Error: &mesos.EventErrorBody{Message: "Framework failed over"}})
			f.out.close()
		}
		for _, o := range f.offers {
			m.rescindOffer(o, false)
		}
		oldRoles := f.roles
		f.info, f.roles = fi, fi.EffectiveRoles()
		if !sameStrings(oldRoles, f.roles) {
			m.alloc.RemoveFramework(f.id)
			m.alloc.AddFramework(f.id, f.roles)
			for _, t := range f.tasks {
				if !t.released {
					m.alloc.Allocate(t.agentID, f.id, t.role, t.res)
				}
			}
		}
		m.alloc.ActivateFramework(f.id)
		f.reregistered = now
		f.recovered = false
		m.cfg.Logf("framework %s (%s) re-subscribed", f.id, fi.Name)
	}
	f.out, f.streamID = out, streamID
	f.failoverDeadline = time.Time{}
	m.pers.putFramework(f)
	f.send(mesos.Event{Type: mesos.EventSubscribed, Subscribed: &mesos.EventSubscribedBody{
		FrameworkID: mesos.FrameworkID{Value: f.id}, HeartbeatIntervalSeconds: m.cfg.HeartbeatInterval.Seconds(), MasterInfo: &m.info,
	}})
	return f.id, streamID, nil
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// frameworkDisconnected runs when a subscription's stream ends.
func (m *Master) frameworkDisconnected(id, streamID string) {
	f := m.frameworks[id]
	if f == nil || f.streamID != streamID {
		return // removed, or already re-subscribed on a new stream
	}
	f.out.close()
	f.out, f.streamID = nil, ""
	f.unregistered = m.now()
	m.alloc.DeactivateFramework(f.id)
	for _, o := range f.offers {
		m.rescindOffer(o, false)
	}
	timeout := failoverTimeout(f.info)
	m.cfg.Logf("framework %s (%s) disconnected; failover timeout %s", f.id, f.info.Name, timeout)
	if timeout <= 0 {
		m.removeFramework(f)
		return
	}
	f.failoverDeadline = m.now().Add(timeout)
}

// handleCall runs a non-SUBSCRIBE call on the loop.
func (m *Master) handleCall(principal, streamID string, c *mesos.Call) error {
	f := m.frameworks[c.FrameworkID.Value]
	if f == nil {
		return &apiError{http.StatusNotFound, fmt.Sprintf("framework_id: framework %q is not known to this master; SUBSCRIBE first", c.FrameworkID.Value)}
	}
	if err := m.samePrincipal(principal, f.info.Principal, "framework "+f.id); err != nil {
		return err
	}
	if streamID == "" {
		return badRequest("Mesos-Stream-Id header: required on every call but SUBSCRIBE; use the value from the SUBSCRIBE response")
	}
	if f.out == nil {
		return &apiError{http.StatusForbidden, fmt.Sprintf("framework %s is not subscribed; SUBSCRIBE again with its framework_id", f.id)}
	}
	if streamID != f.streamID {
		return badRequest("Mesos-Stream-Id header: %q does not match the framework's current subscription", streamID)
	}
	switch c.Type {
	case mesos.CallTeardown:
		m.cfg.Logf("framework %s (%s) tore itself down", f.id, f.info.Name)
		m.removeFramework(f)
	case mesos.CallAccept:
		m.accept(f, c.Accept)
	case mesos.CallDecline:
		m.decline(f, c.Decline.OfferIDs, c.Decline.Filters)
		m.metrics.offersDeclined += uint64(len(c.Decline.OfferIDs))
	case mesos.CallRevive:
		var roles []string
		if c.Revive != nil {
			roles = c.Revive.Roles
		}
		if err := checkRoles(f, "revive.roles", roles); err != nil {
			return err
		}
		m.alloc.Revive(f.id, roles)
		m.allocate(nil)
	case mesos.CallSuppress:
		var roles []string
		if c.Suppress != nil {
			roles = c.Suppress.Roles
		}
		if err := checkRoles(f, "suppress.roles", roles); err != nil {
			return err
		}
		m.alloc.Suppress(f.id, roles)
	case mesos.CallKill:
		m.kill(f, c.Kill)
	case mesos.CallAcknowledge:
		return m.acknowledge(f, c.Acknowledge)
	case mesos.CallReconcile:
		var tasks []mesos.ReconcileTask
		if c.Reconcile != nil {
			tasks = c.Reconcile.Tasks
		}
		m.reconcile(f, tasks)
	}
	return nil
}

// checkRoles refuses roles the framework is not subscribed to.
func checkRoles(f *framework, field string, roles []string) error {
	for _, r := range roles {
		if !f.hasRole(r) {
			return badRequest("%s: framework %s is not subscribed to role %q (its roles: %v)", field, f.id, r, f.roles)
		}
	}
	return nil
}

func refuseFor(f *mesos.Filters) time.Duration {
	if f == nil || f.RefuseSeconds == nil {
		return 5 * time.Second
	}
	return time.Duration(*f.RefuseSeconds * float64(time.Second))
}

// decline returns offers and filters their agents for refuse_seconds.
func (m *Master) decline(f *framework, ids []mesos.OfferID, filters *mesos.Filters) {
	refuse := refuseFor(filters)
	for _, id := range ids {
		o := f.offers[id.Value]
		if o == nil {
			continue // expired or rescinded meanwhile: nothing to give back
		}
		m.dropOffer(o)
		m.alloc.Recover(o.agent.id, f.id, o.role, o.res)
		if refuse > 0 {
			m.alloc.Filter(f.id, o.agent.id, o.res, m.now().Add(refuse))
		}
		m.dirty[o.agent.id] = true
	}
}

// accept validates offers and launches the tasks of an ACCEPT call. Tasks
// that cannot launch get TASK_ERROR (bad task) or TASK_DROPPED/TASK_LOST
// (bad offers); the offers' unused resources are declined with the call's
// filters.
func (m *Master) accept(f *framework, acc *mesos.CallAcceptBody) {
	var tasks []mesos.TaskInfo
	for _, op := range acc.Operations {
		tasks = append(tasks, op.Launch.TaskInfos...)
	}
	// Validate the offers: all known, this framework's, one agent, distinct.
	var offers []*offer
	var offerErr string
	seen := map[string]bool{}
	for i, id := range acc.OfferIDs {
		o := m.offers[id.Value]
		switch {
		case seen[id.Value]:
			offerErr = fmt.Sprintf("offer_ids[%d]: offer %s is listed twice", i, id.Value)
		case o == nil:
			offerErr = fmt.Sprintf("offer_ids[%d]: offer %s is unknown or no longer valid (expired, rescinded or used)", i, id.Value)
		case o.framework != f:
			offerErr = fmt.Sprintf("offer_ids[%d]: offer %s belongs to another framework", i, id.Value)
			o = nil
		case len(offers) > 0 && o.agent != offers[0].agent:
			offerErr = fmt.Sprintf("offer_ids[%d]: offer %s is for agent %s, but the other offers are for agent %s", i, id.Value, o.agent.id, offers[0].agent.id)
		}
		seen[id.Value] = true
		if o != nil && o.framework == f {
			offers = append(offers, o)
		}
	}
	if offerErr != "" {
		for _, o := range offers {
			m.dropOffer(o)
			m.alloc.Recover(o.agent.id, f.id, o.role, o.res)
			m.dirty[o.agent.id] = true
		}
		state := mesos.TaskLost
		if f.partitionAware() {
			state = mesos.TaskDropped
		}
		for _, ti := range tasks {
			m.sendMasterUpdate(f, ti.TaskID, ti.AgentID.Value, state, mesos.ReasonInvalidOffers, "Task launched with invalid offers: "+offerErr)
		}
		return
	}
	a := offers[0].agent
	// Pool the offers per role; tasks consume from their role's pool.
	pool := map[string]resources.Resources{}
	for _, o := range offers {
		m.dropOffer(o)
		pool[o.role] = pool[o.role].Add(o.res)
	}
	batch := map[string]bool{}
	for i, ti := range tasks {
		field := fmt.Sprintf("task_infos[%d]", i)
		role, res, err := m.validateTask(f, a, field, &ti, pool, batch)
		if err != nil {
			m.sendMasterUpdate(f, ti.TaskID, a.id, mesos.TaskError, mesos.ReasonTaskInvalid, err.Error())
			continue
		}
		user := taskUser(f, &ti)
		if ok, why := m.allowed(f.info.Principal, acl.RunTasks, user); !ok {
			m.sendMasterUpdate(f, ti.TaskID, a.id, mesos.TaskError, mesos.ReasonTaskUnauthorized,
				fmt.Sprintf("Not authorized to launch as user %q: %s", user, why))
			continue
		}
		pool[role] = pool[role].Sub(res)
		batch[ti.TaskID.Value] = true
		m.launch(f, a, ti, role, res)
	}
	refuse := refuseFor(acc.Filters)
	for role, rest := range pool {
		// Launched resources stay allocated; the rest goes back.
		m.alloc.Recover(a.id, f.id, role, rest)
		if refuse > 0 && !rest.IsEmpty() {
			m.alloc.Filter(f.id, a.id, rest, m.now().Add(refuse))
		}
	}
	m.dirty[a.id] = true
}

// validateTask checks one TaskInfo of an ACCEPT against the offered pool.
func (m *Master) validateTask(f *framework, a *agent, field string, ti *mesos.TaskInfo, pool map[string]resources.Resources, batch map[string]bool) (string, resources.Resources, error) {
	var zero resources.Resources
	id := ti.TaskID.Value
	if id == "" {
		return "", zero, fmt.Errorf("%s.task_id: required", field)
	}
	if strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
		return "", zero, fmt.Errorf("%s.task_id: %q may not contain '/' or be '.' or '..'", field, id)
	}
	if _, dup := f.tasks[id]; dup || batch[id] {
		return "", zero, fmt.Errorf("%s.task_id: task %s already exists in this framework; task ids must be unique", field, id)
	}
	if ti.AgentID.Value != a.id {
		return "", zero, fmt.Errorf("%s.agent_id: %q does not match the offer's agent %s", field, ti.AgentID.Value, a.id)
	}
	if ti.Command == nil && ti.Executor == nil && (ti.Container == nil || ti.Container.Type != "DOCKER") {
		return "", zero, fmt.Errorf("%s.command: required (or a DOCKER container)", field)
	}
	if ti.Executor != nil {
		return "", zero, fmt.Errorf("%s.executor: custom executors are not supported yet; use command", field)
	}
	if ti.Command != nil && ti.Command.IsShell() && ti.Command.Value == "" && (ti.Container == nil || ti.Container.Type != "DOCKER") {
		return "", zero, fmt.Errorf("%s.command.value: required when shell is true", field)
	}
	if ti.Command != nil && !ti.Command.IsShell() && ti.Command.Value == "" {
		return "", zero, fmt.Errorf("%s.command.value: the executable to run is required when shell is false", field)
	}
	if ct := ti.Container; ct != nil {
		if ct.Type == "DOCKER" && (ct.Docker == nil || ct.Docker.Image == "") {
			return "", zero, fmt.Errorf("%s.container.docker.image: required for DOCKER containers", field)
		}
		if ct.Type != "DOCKER" && ct.Type != "MESOS" {
			return "", zero, fmt.Errorf("%s.container.type: %q is unknown; use DOCKER or MESOS", field, ct.Type)
		}
		want := "process"
		if ct.Type == "DOCKER" {
			want = "docker"
		}
		if !contains(a.containerizers, want) {
			return "", zero, fmt.Errorf("%s.container.type: agent %s has no %s containerizer (it has %v)", field, a.id, want, a.containerizers)
		}
	}
	res, err := resources.FromMesos(field+".resources", ti.Resources)
	if err != nil {
		return "", zero, err
	}
	if res.CPUs <= 0 && res.Mem <= 0 {
		return "", zero, fmt.Errorf("%s.resources: a task needs cpus or mem", field)
	}
	// The role is taken from allocation_info, else the only offered role.
	role := ""
	for _, r := range ti.Resources {
		if r.AllocationInfo != nil && r.AllocationInfo.Role != "" {
			if role != "" && role != r.AllocationInfo.Role {
				return "", zero, fmt.Errorf("%s.resources: resources from several roles (%s, %s) in one task", field, role, r.AllocationInfo.Role)
			}
			role = r.AllocationInfo.Role
		}
	}
	if role == "" {
		if len(pool) != 1 {
			return "", zero, fmt.Errorf("%s.resources.allocation_info.role: required when the offers span several roles", field)
		}
		for r := range pool {
			role = r
		}
	}
	avail, ok := pool[role]
	if !ok {
		return "", zero, fmt.Errorf("%s.resources: role %q was not offered", field, role)
	}
	if !avail.Contains(res) {
		return "", zero, fmt.Errorf("%s.resources: %s is more than what remains of the offers (%s)", field, res, avail)
	}
	return role, res, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// launch records a validated task and sends it to its agent.
func (m *Master) launch(f *framework, a *agent, ti mesos.TaskInfo, role string, res resources.Resources) {
	t := &task{info: ti, framework: f, agentID: a.id, role: role, res: res, state: mesos.TaskStaging}
	t.record(mesos.TaskStatus{TaskID: ti.TaskID, State: mesos.TaskStaging, Source: mesos.SourceMaster, AgentID: &mesos.AgentID{Value: a.id}, Timestamp: ts(m.now())})
	f.tasks[ti.TaskID.Value] = t
	a.tasks[t.key()] = t
	m.pers.putTask(t)
	a.send(runTaskEvent(f, ti))
	m.metrics.tasksLaunched++
}

// sendMasterUpdate sends a status generated by the master (no uuid, so it
// needs no acknowledgement).
func (m *Master) sendMasterUpdate(f *framework, taskID mesos.TaskID, agentID, state, reason, msg string) {
	s := mesos.TaskStatus{TaskID: taskID, State: state, Source: mesos.SourceMaster, Reason: reason, Message: msg, Timestamp: ts(m.now())}
	if agentID != "" {
		s.AgentID = &mesos.AgentID{Value: agentID}
	}
	f.send(mesos.Event{Type: mesos.EventUpdate, Update: &mesos.EventUpdateBody{Status: s}})
	m.metrics.countState(state)
}

func ts(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// kill forwards a KILL to the task's agent, or answers for an unknown task.
func (m *Master) kill(f *framework, k *mesos.CallKillBody) {
	t := f.tasks[k.TaskID.Value]
	if t == nil {
		agentID := ""
		if k.AgentID != nil {
			agentID = k.AgentID.Value
		}
		state := mesos.TaskLost
		if f.partitionAware() {
			state = mesos.TaskUnknown
		}
		m.sendMasterUpdate(f, k.TaskID, agentID, state, mesos.ReasonReconciliation, "Attempted to kill an unknown task")
		return
	}
	if mesos.IsTerminal(t.state) {
		return // already over; its terminal update is on its way or delivered
	}
	a := m.agents[t.agentID]
	if a == nil || a.unreachable || a.out == nil {
		// Forwarded when the agent re-registers and reports the task.
		t.killPending, t.killPolicy = true, k.KillPolicy
		return
	}
	a.send(agentKill(f.id, k.TaskID, k.KillPolicy))
}

// acknowledge relays a framework's acknowledgement to the task's agent.
func (m *Master) acknowledge(f *framework, ack *mesos.CallAcknowledgeBody) error {
	t := f.tasks[ack.TaskID.Value]
	if t == nil {
		return nil // already acknowledged and forgotten: acknowledgements are idempotent
	}
	if t.agentID != ack.AgentID.Value {
		return badRequest("acknowledge.agent_id: task %s runs on agent %s, not %s", t.info.TaskID.Value, t.agentID, ack.AgentID.Value)
	}
	if a := m.agents[t.agentID]; a != nil {
		a.send(agentAck(f.id, ack.TaskID, ack.UUID))
	}
	if string(t.pendingUUID) == string(ack.UUID) {
		// Complete the task only when its terminal update itself is
		// acknowledged: t.state may already be terminal while earlier
		// updates are still on their way.
		acked := t.pendingState
		t.pendingUUID, t.pendingState = nil, ""
		if mesos.IsTerminal(acked) {
			m.completeTask(t)
		}
	}
	return nil
}

// reconcile answers RECONCILE with the latest known state of each task.
func (m *Master) reconcile(f *framework, list []mesos.ReconcileTask) {
	send := func(t *task) {
		s := mesos.TaskStatus{TaskID: t.info.TaskID, State: t.state, Source: mesos.SourceMaster, Reason: mesos.ReasonReconciliation,
			AgentID: &mesos.AgentID{Value: t.agentID}, Timestamp: ts(m.now())}
		if n := len(t.statuses); n > 0 {
			s.Message = t.statuses[n-1].Message
			s.Healthy = t.statuses[n-1].Healthy
		}
		f.send(mesos.Event{Type: mesos.EventUpdate, Update: &mesos.EventUpdateBody{Status: s}})
	}
	if len(list) == 0 {
		for _, t := range f.tasks {
			send(t)
		}
		return
	}
	for _, rt := range list {
		if t := f.tasks[rt.TaskID.Value]; t != nil {
			send(t)
			continue
		}
		if t := findDone(f, rt.TaskID.Value); t != nil {
			send(t)
			continue
		}
		agentID := ""
		if rt.AgentID != nil {
			agentID = rt.AgentID.Value
		}
		state := mesos.TaskLost
		if f.partitionAware() {
			state = mesos.TaskUnknown
			if a := m.agents[agentID]; agentID != "" && a == nil {
				state = mesos.TaskGone
			} else if a != nil && a.unreachable {
				state = mesos.TaskUnreachable
			}
		}
		m.sendMasterUpdate(f, rt.TaskID, agentID, state, mesos.ReasonReconciliation, "Reconciliation: task is unknown to the master")
	}
}

func findDone(f *framework, id string) *task {
	for i := len(f.done) - 1; i >= 0; i-- {
		if f.done[i].info.TaskID.Value == id {
			return f.done[i]
		}
	}
	return nil
}

// removeFramework tears a framework down: its tasks are killed, its offers
// rescinded, and it is remembered as completed.
func (m *Master) removeFramework(f *framework) {
	for _, o := range f.offers {
		m.rescindOffer(o, false)
	}
	for _, a := range m.agents {
		if a.out != nil {
			for k := range a.tasks {
				if k.framework == f.id {
					a.send(agentShutdownFramework(f.id))
					break
				}
			}
		}
	}
	for _, t := range f.tasks {
		if !t.released {
			t.released = true
			m.alloc.Recover(t.agentID, f.id, t.role, t.res)
			m.dirty[t.agentID] = true
		}
		if a := m.agents[t.agentID]; a != nil {
			delete(a.tasks, t.key())
		}
		if !mesos.IsTerminal(t.state) {
			t.record(mesos.TaskStatus{TaskID: t.info.TaskID, State: mesos.TaskKilled, Source: mesos.SourceMaster,
				Reason: mesos.ReasonFrameworkRemoved, Message: "Framework removed", Timestamp: ts(m.now())})
		}
		m.pers.deleteTask(t)
		f.done = append(f.done, t)
	}
	f.tasks = map[string]*task{}
	m.alloc.RemoveFramework(f.id)
	if f.out != nil {
		f.out.close()
		f.out, f.streamID = nil, ""
	}
	f.unregistered = m.now()
	delete(m.frameworks, f.id)
	m.completedFrameworks = append(m.completedFrameworks, f)
	if n := len(m.completedFrameworks) - m.cfg.MaxCompletedFrameworks; n > 0 {
		m.completedFrameworks = m.completedFrameworks[n:]
	}
	m.pers.deleteFramework(f.id)
}

// completeTask moves a terminal, acknowledged task to the framework's history.
func (m *Master) completeTask(t *task) {
	f := t.framework
	delete(f.tasks, t.info.TaskID.Value)
	if a := m.agents[t.agentID]; a != nil {
		delete(a.tasks, t.key())
	}
	f.done = append(f.done, t)
	if n := len(f.done) - m.cfg.MaxCompletedTasks; n > 0 {
		f.done = f.done[n:]
	}
	m.pers.deleteTask(t)
}
