package api

import (
	"fmt"
	"net/http"
	"strings"

	"agora/core/mesos"
	"agora/frameworks/httpapi"
	"agora/frameworks/services/app"
	"agora/frameworks/services/core"
)

// taskStatuses maps /v2/tasks?status= values to the task states they select.
var taskStatuses = map[string][]string{
	"staging":     {"", mesos.TaskStaging},
	"starting":    {mesos.TaskStarting},
	"running":     {mesos.TaskRunning},
	"killing":     {mesos.TaskKilling},
	"unreachable": {mesos.TaskUnreachable},
}

// tasks serves GET /v2/tasks.
func (s *server) tasks(w http.ResponseWriter, r *http.Request) {
	if !httpapi.Allow(w, r, http.MethodGet) {
		return
	}
	var want []string
	if st := r.URL.Query().Get("status"); st != "" {
		states, ok := taskStatuses[strings.ToLower(st)]
		if !ok {
			httpapi.BadParam(w, "status", st, "one of staging, starting, running, killing, unreachable")
			return
		}
		want = states
	}
	apps := map[string]*app.App{}
	for _, a := range s.b.Apps() {
		apps[a.ID()] = a
	}
	view := s.viewFilter(r)
	out := []Task{}
	for _, in := range s.b.Instances("") {
		if (want != nil && !contains(want, in.State)) || !view(in.AppID) {
			continue
		}
		out = append(out, taskView(apps[in.AppID], in))
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"tasks": out})
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

// appTasks serves GET /v2/apps/{appId}/tasks.
func (s *server) appTasks(w http.ResponseWriter, r *http.Request, id string) {
	a := s.existingApp(w, id)
	if a == nil || !s.mayView(w, r, id) {
		return
	}
	out := []Task{}
	for _, in := range s.b.Instances(id) {
		out = append(out, taskView(a, in))
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"tasks": out})
}

// killHostTasks serves DELETE /v2/apps/{appId}/tasks?host=...&scale=...: it
// kills the app's tasks on host, or all of them without host.
func (s *server) killHostTasks(w http.ResponseWriter, r *http.Request, id string) {
	scale, ok := httpapi.BoolParam(w, r, "scale")
	if !ok {
		return
	}
	a := s.existingApp(w, id)
	if a == nil || !s.mayWrite(w, r, a) {
		return
	}
	host := r.URL.Query().Get("host")
	var ids []string
	killed := []Task{}
	for _, in := range s.b.Instances(id) {
		if host != "" && in.Host != host {
			continue
		}
		ids = append(ids, in.TaskID)
		killed = append(killed, taskView(a, in))
	}
	if len(ids) == 0 {
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"tasks": killed})
		return
	}
	s.kill(w, r, a, ids, scale, map[string]any{"tasks": killed})
}

// killTask serves DELETE /v2/apps/{appId}/tasks/{taskId}.
func (s *server) killTask(w http.ResponseWriter, r *http.Request, id, taskID string) {
	scale, ok := httpapi.BoolParam(w, r, "scale")
	if !ok {
		return
	}
	a := s.existingApp(w, id)
	if a == nil || !s.mayWrite(w, r, a) {
		return
	}
	var found *core.Instance
	for _, in := range s.b.Instances(id) {
		if in.TaskID == taskID {
			found = &in
			break
		}
	}
	if found == nil {
		httpapi.WriteMessage(w, http.StatusNotFound, fmt.Sprintf("Task '%s' does not exist", taskID))
		return
	}
	s.kill(w, r, a, []string{taskID}, scale, map[string]any{"task": taskView(a, *found)})
}

// kill asks the backend to kill ids and answers the deployment (scale) or
// the killed tasks.
func (s *server) kill(w http.ResponseWriter, r *http.Request, a *app.App, ids []string, scale bool, killed any) {
	id := a.ID()
	depID, err := s.b.KillTasks(r.Context(), id, ids, scale)
	if err != nil {
		writeError(w, err, fmt.Sprintf("Task '%s' of app '%s'", strings.Join(ids, "', '"), id))
		return
	}
	if !scale {
		httpapi.WriteJSON(w, http.StatusOK, killed)
		return
	}
	cur := s.findApp(id)
	if cur != nil {
		s.postEvent(r, cur)
	}
	setDeploymentHeader(w, depID)
	httpapi.WriteJSON(w, http.StatusOK, WriteResult{DeploymentID: depID, Version: s.versionOf(cur)})
}
