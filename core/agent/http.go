package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"agora/core/agent/updates"
	"agora/core/mesos"
)

// Handler serves the agent's HTTP API: /health, /state and Mesos's
// /files/read and /files/download over the task sandboxes, all wrapped in
// Config.Middleware when one is given.
//
// A /files path names one task's sandbox,
// /frameworks/<framework>/tasks/<task>/<file>, and is resolved inside that
// sandbox alone: "..", absolute symlinks and symlinks that lead out of it
// (to the host, to another task's sandbox) are refused, and only regular
// files are served. Config.AuthorizeSandbox, if set, decides first, given
// the task's user.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /state", a.serveState)
	mux.HandleFunc("GET /files/read", a.serveFilesRead)
	mux.HandleFunc("GET /files/download", a.serveFilesDownload)
	if a.cfg.Middleware != nil {
		return a.cfg.Middleware(mux)
	}
	return mux
}

// stateTask is one task in GET /state.
type stateTask struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	FrameworkID string `json:"framework_id"`
	State       string `json:"state"`
	// Sandbox is the path to give /files/read; Directory is it on disk.
	Sandbox   string `json:"sandbox"`
	Directory string `json:"directory"`
	// PID is the task's main process, 0 if unknown or not a process.
	PID int `json:"pid,omitempty"`
	// Healthy is the task's last reported health, absent without a
	// health check or before its first result.
	Healthy *bool `json:"healthy,omitempty"`
	// User is the task's user: command.user, else its framework's user.
	User string `json:"user,omitempty"`
	// Command is the task's command with its secrets masked.
	Command *mesos.CommandInfo `json:"command,omitempty"`
}

type stateResponse struct {
	ID             string      `json:"id"`
	Hostname       string      `json:"hostname"`
	Version        string      `json:"version"`
	Master         string      `json:"master"`
	Registered     bool        `json:"registered"`
	Containerizers []string    `json:"containerizers"`
	Resources      any         `json:"resources"`
	Attributes     any         `json:"attributes,omitempty"`
	Tasks          []stateTask `json:"tasks"`
}

func (a *Agent) serveState(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	resp := stateResponse{
		ID:             a.id,
		Hostname:       a.hostname,
		Version:        Version,
		Master:         a.masterEndpoint(),
		Registered:     a.streamID != "",
		Containerizers: a.czNames,
		Resources:      a.res.ToMesos(""),
		Attributes:     a.cfg.Attributes,
		Tasks:          []stateTask{},
	}
	for k, t := range a.tasks {
		if t.forget {
			continue
		}
		resp.Tasks = append(resp.Tasks, stateTask{
			ID:          k.TaskID,
			Name:        t.info.Name,
			FrameworkID: k.FrameworkID,
			State:       t.state,
			Sandbox:     "/" + filepath.ToSlash(sandboxRel(k.FrameworkID, k.TaskID)),
			Directory:   t.sandbox,
			Healthy:     t.healthy,
			User:        taskUser(t.info, &t.framework),
			Command:     maskedCommand(t.info.Command),
		})
		if t.container != nil && !mesos.IsTerminal(t.state) {
			resp.Tasks[len(resp.Tasks)-1].PID = t.container.PID()
		}
	}
	a.mu.Unlock()
	sort.Slice(resp.Tasks, func(i, j int) bool {
		if resp.Tasks[i].FrameworkID != resp.Tasks[j].FrameworkID {
			return resp.Tasks[i].FrameworkID < resp.Tasks[j].FrameworkID
		}
		return resp.Tasks[i].ID < resp.Tasks[j].ID
	})
	writeJSON(w, http.StatusOK, resp)
}

// filesPath splits a /files path ("/frameworks/<fid>/tasks/<tid>/stdout")
// into the task it names and the file inside that task's sandbox.
func filesPath(p string) (fid, tid, file string, err error) {
	const example = "/frameworks/<framework>/tasks/<task>/stdout"
	if p == "" {
		return "", "", "", fmt.Errorf("path is required, e.g. %s", example)
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return "", "", "", fmt.Errorf("path %q: must not contain '..'", p)
		}
	}
	clean := strings.TrimPrefix(path.Clean("/"+p), "/")
	parts := strings.SplitN(clean, "/", 5)
	if len(parts) < 4 || parts[0] != frameworksDir || parts[2] != "tasks" {
		return "", "", "", fmt.Errorf("path %q: must name a file in a task's sandbox, %s", p, example)
	}
	fid, tid = parts[1], parts[3]
	if err := checkID("framework id", fid); err != nil {
		return "", "", "", fmt.Errorf("path %q: %w", p, err)
	}
	if err := checkID("task id", tid); err != nil {
		return "", "", "", fmt.Errorf("path %q: %w", p, err)
	}
	if len(parts) == 5 {
		file = parts[4]
	}
	return fid, tid, file, nil
}

// sandboxUser is the user of the task whose sandbox this is: of a task the
// agent runs, or of one it completed, from its checkpoint. "" if neither
// knows it.
func (a *Agent) sandboxUser(fid, tid string) string {
	a.mu.Lock()
	t := a.tasks[updates.Key{FrameworkID: fid, TaskID: tid}]
	var user string
	if t != nil {
		user = taskUser(t.info, &t.framework)
	}
	a.mu.Unlock()
	if t != nil {
		return user
	}
	r, fw, ok := a.meta.LoadTask(fid, tid)
	if !ok || r.Task == nil {
		return ""
	}
	return taskUser(r.Task.Spec.Task, fw)
}

// openSandboxFile authorizes and opens a /files path. The file is looked
// up through an os.Root at the one sandbox the path names, so no symlink a
// task left there can lead out of it; non-regular files (a FIFO would
// block the request) are refused.
func (a *Agent) openSandboxFile(w http.ResponseWriter, r *http.Request) (*os.File, os.FileInfo, bool) {
	p := r.URL.Query().Get("path")
	fid, tid, file, err := filesPath(p)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return nil, nil, false
	}
	if authz := a.cfg.AuthorizeSandbox; authz != nil {
		user := a.sandboxUser(fid, tid)
		if ok, reason := authz(r, user); !ok {
			if reason == "" {
				reason = "not allowed"
			}
			httpError(w, http.StatusForbidden, fmt.Sprintf("sandbox of task %q (user %q): %s", tid, user, reason))
			return nil, nil, false
		}
	}
	if file == "" {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("path %q is a directory", p))
		return nil, nil, false
	}
	tree, err := os.OpenRoot(filepath.Join(a.cfg.WorkDir, frameworksDir))
	if err != nil {
		httpError(w, http.StatusInternalServerError, fmt.Sprintf("sandbox tree: %v", err))
		return nil, nil, false
	}
	defer tree.Close()
	sandbox, err := tree.OpenRoot(filepath.Join(fid, "tasks", tid))
	if errors.Is(err, fs.ErrNotExist) {
		httpError(w, http.StatusNotFound, fmt.Sprintf("path %q: task %q of framework %q has no sandbox on this agent", p, tid, fid))
		return nil, nil, false
	}
	if err != nil {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("path %q: sandbox: %v", p, err))
		return nil, nil, false
	}
	defer sandbox.Close()
	f, err := sandbox.OpenFile(filepath.FromSlash(file), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		httpError(w, http.StatusNotFound, fmt.Sprintf("path %q: no such file", p))
		return nil, nil, false
	}
	if err != nil {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("path %q: %v", p, err))
		return nil, nil, false
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		httpError(w, http.StatusInternalServerError, fmt.Sprintf("path %q: %v", p, err))
		return nil, nil, false
	}
	if st.IsDir() {
		f.Close()
		httpError(w, http.StatusBadRequest, fmt.Sprintf("path %q is a directory", p))
		return nil, nil, false
	}
	if !st.Mode().IsRegular() {
		f.Close()
		httpError(w, http.StatusBadRequest, fmt.Sprintf("path %q is not a regular file (%v)", p, st.Mode().Type()))
		return nil, nil, false
	}
	return f, st, true
}

// readRequest is the parsed query of /files/read.
type readRequest struct {
	offset int64 // -1: only report the size
	length int64 // -1: to the end of the file
}

func parseReadRequest(q map[string][]string) (readRequest, error) {
	rr := readRequest{length: -1}
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if s := get("offset"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < -1 {
			return rr, fmt.Errorf("offset %q: want a byte offset >= 0, or -1 for the file size", s)
		}
		rr.offset = v
	}
	if s := get("length"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < -1 {
			return rr, fmt.Errorf("length %q: want a byte count >= 0", s)
		}
		rr.length = v
	}
	return rr, nil
}

// readWindow decides which bytes /files/read returns from a file of size:
// the requested window, at most maxFilesLength bytes, empty past the end.
func readWindow(rr readRequest, size int64) (offset, n int64) {
	if rr.offset == -1 {
		return size, 0
	}
	if rr.offset >= size {
		return rr.offset, 0
	}
	n = size - rr.offset
	if rr.length >= 0 && rr.length < n {
		n = rr.length
	}
	return rr.offset, min(n, maxFilesLength)
}

// serveFilesRead answers like Mesos's /files/read: {"data": ..., "offset": N}.
func (a *Agent) serveFilesRead(w http.ResponseWriter, r *http.Request) {
	rr, err := parseReadRequest(r.URL.Query())
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	f, st, ok := a.openSandboxFile(w, r)
	if !ok {
		return
	}
	defer f.Close()
	offset, n := readWindow(rr, st.Size())
	buf := make([]byte, n)
	m, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		httpError(w, http.StatusInternalServerError, fmt.Sprintf("read: %v", err))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Data   string `json:"data"`
		Offset int64  `json:"offset"`
	}{string(buf[:m]), offset})
}

func (a *Agent) serveFilesDownload(w http.ResponseWriter, r *http.Request) {
	f, st, ok := a.openSandboxFile(w, r)
	if !ok {
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", st.Name()))
	http.ServeContent(w, r, st.Name(), st.ModTime(), f)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	http.Error(w, msg, code)
}
