package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"agora/frameworks/httpapi"
	"agora/frameworks/services/app"
	"agora/frameworks/services/deploy"
)

// readOnlyFields are the app JSON fields the API adds on output. A definition
// read from GET and sent back is accepted: these are dropped on input, as
// Marathon does.
var readOnlyFields = []string{
	"tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy",
	"deployments", "tasks", "readinessCheckResults", "lastTaskFailure",
	"taskStats", "versionInfo",
}

// appRoute is a path under /v2/apps/ split into the app id and what follows.
type appRoute struct {
	id  string // absolute app id
	sub string // "", "restart", "tasks", "versions"
	arg string // task id or version
}

func joinID(segs []string) string { return "/" + strings.Join(segs, "/") }

// routeApp splits rest (the path after /v2/apps/). App ids are paths, so
// "/v2/apps/team/web/tasks" is ambiguous: like Marathon, the suffix wins,
// unless only the longer id names an existing app.
func (s *server) routeApp(rest string) appRoute {
	var segs []string
	for _, seg := range strings.Split(rest, "/") {
		if seg != "" {
			segs = append(segs, seg)
		}
	}
	n := len(segs)
	whole := appRoute{id: joinID(segs)}
	var rt appRoute
	switch {
	case n >= 2 && (segs[n-1] == "restart" || segs[n-1] == "tasks" || segs[n-1] == "versions"):
		rt = appRoute{id: joinID(segs[:n-1]), sub: segs[n-1]}
	case n >= 3 && (segs[n-2] == "tasks" || segs[n-2] == "versions"):
		rt = appRoute{id: joinID(segs[:n-2]), sub: segs[n-2], arg: segs[n-1]}
	default:
		return whole
	}
	if s.findApp(rt.id) == nil && s.findApp(whole.id) != nil {
		return whole
	}
	return rt
}

func (s *server) findApp(id string) *app.App {
	for _, a := range s.b.Apps() {
		if a.ID() == id {
			return a
		}
	}
	return nil
}

func appSubject(id string) string { return fmt.Sprintf("App '%s'", id) }

func notFoundApp(w http.ResponseWriter, id string) {
	httpapi.WriteMessage(w, http.StatusNotFound, appSubject(id)+" does not exist")
}

// existingApp returns the app, or answers 404 and returns nil.
func (s *server) existingApp(w http.ResponseWriter, id string) *app.App {
	a := s.findApp(id)
	if a == nil {
		notFoundApp(w, id)
	}
	return a
}

// apps serves /v2/apps.
func (s *server) apps(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s.listApps(w, r)
	case http.MethodPost:
		s.createApp(w, r)
	default:
		httpapi.Allow(w, r, http.MethodGet, http.MethodPost)
	}
}

// appsPath serves /v2/apps/{appId}[/restart|/tasks[/{taskId}]|/versions[/{version}]].
func (s *server) appsPath(w http.ResponseWriter, r *http.Request) {
	rt := s.routeApp(r.PathValue("rest"))
	if rt.id == "/" {
		s.apps(w, r)
		return
	}
	switch {
	case rt.sub == "":
		switch r.Method {
		case http.MethodGet:
			s.getApp(w, r, rt.id)
		case http.MethodPut, http.MethodPatch:
			s.putApp(w, r, rt.id)
		case http.MethodDelete:
			s.deleteApp(w, r, rt.id)
		default:
			httpapi.Allow(w, r, http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete)
		}
	case rt.sub == "restart":
		if httpapi.Allow(w, r, http.MethodPost) {
			s.restartApp(w, r, rt.id)
		}
	case rt.sub == "tasks" && rt.arg == "":
		switch r.Method {
		case http.MethodGet:
			s.appTasks(w, r, rt.id)
		case http.MethodDelete:
			s.killHostTasks(w, r, rt.id)
		default:
			httpapi.Allow(w, r, http.MethodGet, http.MethodDelete)
		}
	case rt.sub == "tasks":
		if httpapi.Allow(w, r, http.MethodDelete) {
			s.killTask(w, r, rt.id, rt.arg)
		}
	case rt.sub == "versions":
		if httpapi.Allow(w, r, http.MethodGet) {
			s.versions(w, r, rt.id, rt.arg)
		}
	}
}

// parseEmbeds reads ?embed= (repeated or comma-separated). Marathon's
// names take "apps." on lists and "app." on one app; both are accepted.
func parseEmbeds(w http.ResponseWriter, r *http.Request, e embeds) (embeds, bool) {
	for _, v := range r.URL.Query()["embed"] {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			_, what, ok := strings.Cut(name, ".")
			if !ok || !(strings.HasPrefix(name, "apps.") || strings.HasPrefix(name, "app.")) {
				httpapi.BadParam(w, "embed", name, "one of apps.tasks, apps.counts, apps.deployments, apps.readiness, apps.lastTaskFailure, apps.failures, apps.taskStats")
				return e, false
			}
			switch what {
			case "tasks", "failures":
				e.tasks = true
			case "readiness":
				e.readiness = true
			case "counts", "deployments", "lastTaskFailure", "taskStats":
				// Counts and deployments are always in; Agora keeps no
				// task failure history or statistics.
			default:
				httpapi.BadParam(w, "embed", name, "one of apps.tasks, apps.counts, apps.deployments, apps.readiness, apps.lastTaskFailure, apps.failures, apps.taskStats")
				return e, false
			}
		}
	}
	return e, true
}

// labelTerm is one term of a ?label= selector: "key", "key==value" or
// "key!=value".
type labelTerm struct {
	key, op, value string
}

func parseLabelSelector(sel string) ([]labelTerm, error) {
	var out []labelTerm
	for _, t := range strings.Split(sel, ",") {
		t = strings.TrimSpace(t)
		var lt labelTerm
		switch {
		case strings.Contains(t, "=="):
			k, v, _ := strings.Cut(t, "==")
			lt = labelTerm{strings.TrimSpace(k), "==", strings.TrimSpace(v)}
		case strings.Contains(t, "!="):
			k, v, _ := strings.Cut(t, "!=")
			lt = labelTerm{strings.TrimSpace(k), "!=", strings.TrimSpace(v)}
		default:
			lt = labelTerm{key: t}
		}
		if lt.key == "" || strings.ContainsAny(lt.key, " =!") {
			return nil, fmt.Errorf("term %q", t)
		}
		out = append(out, lt)
	}
	return out, nil
}

func matchLabels(labels map[string]string, terms []labelTerm) bool {
	for _, t := range terms {
		v, ok := labels[t.key]
		switch t.op {
		case "":
			if !ok {
				return false
			}
		case "==":
			if !ok || v != t.value {
				return false
			}
		case "!=":
			if ok && v == t.value {
				return false
			}
		}
	}
	return true
}

// inGroup reports whether id is the group (or app) g or lies under it.
func inGroup(id, g string) bool {
	g = strings.TrimRight(g, "/")
	return g == "" || id == g || strings.HasPrefix(id, g+"/")
}

func (s *server) listApps(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	e, ok := parseEmbeds(w, r, embeds{})
	if !ok {
		return
	}
	var terms []labelTerm
	if sel := q.Get("label"); sel != "" {
		t, err := parseLabelSelector(sel)
		if err != nil {
			httpapi.BadParam(w, "label", sel, "a selector of key, key==value or key!=value terms")
			return
		}
		terms = t
	}
	idFilter, cmdFilter := q.Get("id"), q.Get("cmd")
	ins := byApp(s.b.Instances(""))
	deps := s.b.Deployments()
	view := s.viewFilter(r)
	out := []AppView{}
	for _, a := range s.b.Apps() {
		id := a.ID()
		switch {
		case !view(id):
			continue
		case idFilter != "" && strings.HasPrefix(idFilter, "/") && !inGroup(id, idFilter):
			continue
		case idFilter != "" && !strings.HasPrefix(idFilter, "/") && !strings.Contains(id, idFilter):
			continue
		case cmdFilter != "" && !strings.Contains(a.Cmd, cmdFilter):
			continue
		case !matchLabels(a.Labels, terms):
			continue
		}
		out = append(out, appView(a, ins[id], deps, e))
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"apps": out})
}

func (s *server) getApp(w http.ResponseWriter, r *http.Request, id string) {
	// One app comes with its tasks, as in Marathon.
	e, ok := parseEmbeds(w, r, embeds{tasks: true, readiness: true})
	if !ok {
		return
	}
	a := s.existingApp(w, id)
	if a == nil || !s.mayView(w, r, id) {
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"app": appView(a, s.b.Instances(id), s.b.Deployments(), e)})
}

// readFields reads a JSON object body, answering 413 or 422 itself when it
// cannot, and drops the read-only fields.
func (s *server) readFields(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpapi.WriteMessage(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", tooBig.Limit))
			return nil, false
		}
		httpapi.WriteMessage(w, http.StatusBadRequest, fmt.Sprintf("read request body: %v", err))
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		msg := "the body must be a JSON object (an app definition)"
		if err != nil {
			msg = fmt.Sprintf("invalid JSON: %v", err)
		}
		writeFieldErrors(w, app.FieldErrors{{Path: "", Message: msg}})
		return nil, false
	}
	for _, k := range readOnlyFields {
		delete(m, k)
	}
	return m, true
}

// parseApp parses and validates a definition, answering 422 itself.
// pathID, when set, is the id the URL names: a different id in the body is
// refused, a missing one is taken from the URL.
func parseApp(w http.ResponseWriter, m map[string]json.RawMessage, pathID string) (*app.App, bool) {
	if _, ok := m["id"]; !ok && pathID != "" {
		m["id"], _ = json.Marshal(pathID)
	}
	data, err := json.Marshal(m)
	if err != nil {
		writeFieldErrors(w, app.FieldErrors{{Path: "", Message: err.Error()}})
		return nil, false
	}
	a, err := app.Parse(data)
	if err != nil {
		var fe app.FieldErrors
		if !errors.As(err, &fe) {
			fe = app.FieldErrors{{Path: "", Message: err.Error()}}
		}
		writeFieldErrors(w, fe)
		return nil, false
	}
	if pathID != "" && a.ID() != pathID {
		writeFieldErrors(w, app.FieldErrors{{Path: "id", Message: fmt.Sprintf("%q in the body does not match the app id %q of the URL", a.AppID, pathID)}})
		return nil, false
	}
	if errs := a.Validate(); len(errs) > 0 {
		writeFieldErrors(w, errs)
		return nil, false
	}
	return a, true
}

// writeFlags reads ?force and ?dryRun.
func writeFlags(w http.ResponseWriter, r *http.Request) (force, dryRun, ok bool) {
	if force, ok = httpapi.BoolParam(w, r, "force"); !ok {
		return
	}
	dryRun, ok = httpapi.BoolParam(w, r, "dryRun")
	return
}

func (s *server) createApp(w http.ResponseWriter, r *http.Request) {
	force, dryRun, ok := writeFlags(w, r)
	if !ok {
		return
	}
	m, ok := s.readFields(w, r)
	if !ok {
		return
	}
	delete(m, "version") // a new definition gets a new version
	a, ok := parseApp(w, m, "")
	if !ok {
		return
	}
	id := a.ID()
	if !s.mayWrite(w, r, a) {
		return
	}
	if s.findApp(id) != nil {
		httpapi.WriteMessage(w, http.StatusConflict, fmt.Sprintf("An app with id [%s] already exists.", id))
		return
	}
	depID, cur, ok := s.apply(w, r, a, nil, force, dryRun)
	if !ok {
		return
	}
	v := appView(cur, s.b.Instances(id), s.b.Deployments(), embeds{})
	if depID != "" && !hasDeployment(v.Deployments, depID) {
		v.Deployments = append(v.Deployments, DeploymentRef{ID: depID})
	}
	w.Header().Set("Location", appPath(id))
	setDeploymentHeader(w, depID)
	httpapi.WriteJSON(w, http.StatusCreated, v)
}

func hasDeployment(refs []DeploymentRef, id string) bool {
	for _, d := range refs {
		if d.ID == id {
			return true
		}
	}
	return false
}

// appPath is the URL path of an app.
func appPath(id string) string { return "/v2/apps" + escapedPath(id) }

// escapedPath is an app or group id as a URL path, its segments escaped.
func escapedPath(id string) string {
	segs := strings.Split(strings.Trim(id, "/"), "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "/" + strings.Join(segs, "/")
}

// setDeploymentHeader names the started deployment as Marathon does.
func setDeploymentHeader(w http.ResponseWriter, id string) {
	if id != "" {
		w.Header().Set("Marathon-Deployment-Id", id)
	}
}

// putApp serves PUT (create or replace) and PATCH (merge the given
// top-level fields into the current definition).
func (s *server) putApp(w http.ResponseWriter, r *http.Request, id string) {
	force, dryRun, ok := writeFlags(w, r)
	if !ok {
		return
	}
	m, ok := s.readFields(w, r)
	if !ok {
		return
	}
	cur := s.findApp(id)
	// Checked before anything about the app (a stored version, the merged
	// definition) is looked at: its current tasks are the ones replaced.
	if cur != nil && !s.mayWrite(w, r, cur) {
		return
	}
	if r.Method == http.MethodPatch {
		if cur == nil {
			notFoundApp(w, id)
			return
		}
		base, err := definitionFields(cur)
		if err != nil {
			httpapi.WriteMessage(w, http.StatusInternalServerError, err.Error())
			return
		}
		for k, v := range m {
			base[k] = v
		}
		m = base
	}
	var a *app.App
	if raw, ok := m["version"]; ok && onlyVersion(m) {
		// Marathon's rollback: PUT {"version": "..."} restores that version.
		var v string
		if err := json.Unmarshal(raw, &v); err != nil || v == "" {
			writeFieldErrors(w, app.FieldErrors{{Path: "version", Message: "must be a version string from /versions"}})
			return
		}
		old, err := s.b.Version(r.Context(), id, v)
		if err != nil {
			writeError(w, err, fmt.Sprintf("Version '%s' of app '%s'", v, id))
			return
		}
		cp := *old
		cp.Version, cp.VersionInfo = "", nil
		a = &cp
	} else {
		delete(m, "version")
		if a, ok = parseApp(w, m, id); !ok {
			return
		}
	}
	// The new definition's user runs the tasks from now on.
	if !s.mayWrite(w, r, a) {
		return
	}
	depID, now, ok := s.apply(w, r, a, cur, force, dryRun)
	if !ok {
		return
	}
	setDeploymentHeader(w, depID)
	status := http.StatusOK
	if cur == nil {
		// A PUT that creates answers as a POST does.
		status = http.StatusCreated
		w.Header().Set("Location", appPath(id))
	}
	httpapi.WriteJSON(w, status, WriteResult{DeploymentID: depID, Version: s.versionOf(now)})
}

// onlyVersion reports a body naming nothing but a version (and the id).
func onlyVersion(m map[string]json.RawMessage) bool {
	for k := range m {
		if k != "version" && k != "id" {
			return false
		}
	}
	return true
}

// definitionFields is a stored definition as top-level JSON fields, without
// its bookkeeping, for PATCH to merge into.
func definitionFields(a *app.App) (map[string]json.RawMessage, error) {
	data, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode app %s: %w", a.ID(), err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decode app %s: %w", a.ID(), err)
	}
	delete(m, "version")
	delete(m, "versionInfo")
	return m, nil
}

func (s *server) versionOf(a *app.App) string {
	if a != nil && a.Version != "" {
		return a.Version
	}
	return version(s.opts.Now())
}

// apply answers a dry run with the plan, or puts a and announces it; it
// returns the deployment and the stored definition, or false when it has
// answered already.
func (s *server) apply(w http.ResponseWriter, r *http.Request, a, cur *app.App, force, dryRun bool) (string, *app.App, bool) {
	if dryRun {
		s.preview(w, r, a, cur)
		return "", nil, false
	}
	depID, err := s.b.PutApp(r.Context(), a, force)
	if err != nil {
		writeError(w, err, appSubject(a.ID()))
		return "", nil, false
	}
	now := s.findApp(a.ID())
	if now == nil {
		now = a
	}
	s.postEvent(r, now)
	return depID, now, true
}

func (s *server) preview(w http.ResponseWriter, r *http.Request, a, cur *app.App) {
	plan, err := s.b.Preview(r.Context(), a)
	if err != nil {
		writeError(w, err, appSubject(a.ID()))
		return
	}
	steps, changed := plan.Steps, plan.Changed
	if steps == nil {
		steps = []deploy.PlanStep{}
	}
	if changed == nil {
		changed = []string{}
	}
	httpapi.WriteJSON(w, http.StatusOK, PlanView{App: a.ID(), Steps: steps, Restart: plan.Restart, ChangedFields: changed, Create: cur == nil})
}

func without(l []string, drop ...string) []string {
	out := l[:0:0]
	for _, s := range l {
		keep := true
		for _, d := range drop {
			if s == d {
				keep = false
			}
		}
		if keep {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func (s *server) deleteApp(w http.ResponseWriter, r *http.Request, id string) {
	force, ok := httpapi.BoolParam(w, r, "force")
	if !ok {
		return
	}
	cur := s.existingApp(w, id)
	if cur == nil || !s.mayWrite(w, r, cur) {
		return
	}
	depID, err := s.b.DeleteApp(r.Context(), id, force)
	if err != nil {
		writeError(w, err, appSubject(id))
		return
	}
	s.postEvent(r, cur)
	setDeploymentHeader(w, depID)
	httpapi.WriteJSON(w, http.StatusOK, WriteResult{DeploymentID: depID, Version: version(s.opts.Now())})
}

func (s *server) restartApp(w http.ResponseWriter, r *http.Request, id string) {
	force, ok := httpapi.BoolParam(w, r, "force")
	if !ok {
		return
	}
	if a := s.existingApp(w, id); a == nil || !s.mayWrite(w, r, a) {
		return
	}
	depID, err := s.b.Restart(r.Context(), id, force)
	if err != nil {
		writeError(w, err, appSubject(id))
		return
	}
	cur := s.findApp(id)
	if cur != nil {
		s.postEvent(r, cur)
	}
	setDeploymentHeader(w, depID)
	httpapi.WriteJSON(w, http.StatusOK, WriteResult{DeploymentID: depID, Version: s.versionOf(cur)})
}

func (s *server) versions(w http.ResponseWriter, r *http.Request, id, v string) {
	if s.existingApp(w, id) == nil || !s.mayView(w, r, id) {
		return
	}
	if v == "" {
		vs, err := s.b.Versions(r.Context(), id)
		if err != nil {
			writeError(w, err, appSubject(id))
			return
		}
		if vs == nil {
			vs = []string{}
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"versions": vs})
		return
	}
	a, err := s.b.Version(r.Context(), id, v)
	if err != nil {
		writeError(w, err, fmt.Sprintf("Version '%s' of app '%s'", v, id))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, a.Masked())
}
