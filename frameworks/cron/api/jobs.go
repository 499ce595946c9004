package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"agora/frameworks/cron/job"
	"agora/frameworks/httpapi"
)

func jobSubject(id string) string { return fmt.Sprintf("Job '%s'", id) }

// jobPathOf is the URL path of a job.
func jobPathOf(id string) string { return "/v1/jobs/" + url.PathEscape(id) }

// existingJob returns the job, or answers 404 and returns nil.
func (s *server) existingJob(w http.ResponseWriter, id string) *job.Job {
	j, ok := s.b.Job(id)
	if !ok || j == nil {
		httpapi.WriteMessage(w, http.StatusNotFound, jobSubject(id)+" does not exist")
		return nil
	}
	return j
}

// jobs serves /v1/jobs.
func (s *server) jobs(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s.listJobs(w, r)
	case http.MethodPost:
		s.createJob(w, r)
	default:
		httpapi.Allow(w, r, http.MethodGet, http.MethodPost)
	}
}

// jobPath serves /v1/jobs/{jobId}.
func (s *server) jobPath(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("jobId")
	switch r.Method {
	case http.MethodGet:
		s.getJob(w, r, id)
	case http.MethodPut:
		s.putJob(w, r, id)
	case http.MethodDelete:
		s.deleteJob(w, r, id)
	default:
		httpapi.Allow(w, r, http.MethodGet, http.MethodPut, http.MethodDelete)
	}
}

const embedWant = "one of activeRuns, schedules, history, historySummary, nextRuns"

// parseEmbeds reads ?embed= (repeated or comma-separated).
func parseEmbeds(w http.ResponseWriter, r *http.Request, e embeds) (embeds, bool) {
	for _, v := range r.URL.Query()["embed"] {
		for _, name := range strings.Split(v, ",") {
			switch strings.TrimSpace(name) {
			case "":
			case "activeRuns":
				e.activeRuns = true
			case "history":
				e.history = true
			case "historySummary":
				e.historySummary = true
			case "nextRuns":
				e.nextRuns = true
			case "schedules":
				// A job always shows its schedules in Agora.
			default:
				httpapi.BadParam(w, "embed", name, embedWant)
				return e, false
			}
		}
	}
	return e, true
}

func (s *server) listJobs(w http.ResponseWriter, r *http.Request) {
	e, ok := parseEmbeds(w, r, embeds{})
	if !ok {
		return
	}
	view := s.viewFilter(r)
	// The array is joined by hand: encoding/json would re-check and
	// compact every job's MarshalJSON output, a quarter of a large list's
	// cost.
	out := []byte{'['}
	for _, j := range s.b.Jobs() {
		if !view(j.ID) {
			continue
		}
		data, err := s.view(j, e).MarshalJSON()
		if err != nil {
			httpapi.WriteMessage(w, http.StatusInternalServerError, err.Error())
			return
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, data...)
	}
	httpapi.WriteRaw(w, http.StatusOK, append(out, ']'))
}

// writeView answers one job.
func writeView(w http.ResponseWriter, status int, v JobView) {
	data, err := v.MarshalJSON()
	if err != nil {
		httpapi.WriteMessage(w, http.StatusInternalServerError, err.Error())
		return
	}
	httpapi.WriteRaw(w, status, data)
}

func (s *server) getJob(w http.ResponseWriter, r *http.Request, id string) {
	e, ok := parseEmbeds(w, r, embeds{nextRuns: true})
	if !ok {
		return
	}
	j := s.existingJob(w, id)
	if j == nil || !s.mayView(w, r, id) {
		return
	}
	writeView(w, http.StatusOK, s.view(j, e))
}

// readObject reads a JSON object body, answering 413 or 422 itself when it
// cannot, and drops the fields answers add (a GET's answer sent back is a
// valid definition). what names the object for the 422 message.
func (s *server) readObject(w http.ResponseWriter, r *http.Request, what string) (map[string]json.RawMessage, bool) {
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
		msg := "the body must be a JSON object (" + what + ")"
		if err != nil {
			msg = fmt.Sprintf("invalid JSON: %v", err)
		}
		writeFieldErrors(w, fieldError("/", msg))
		return nil, false
	}
	for _, k := range viewKeys {
		delete(m, k)
	}
	return m, true
}

// asFieldErrors makes any parse error a 422 body.
func asFieldErrors(err error) job.FieldErrors {
	var fe job.FieldErrors
	if errors.As(err, &fe) {
		return fe
	}
	return fieldError("/", err.Error())
}

// withID sets m's "id" to pathID when it has none, and reports false after
// a 422 when it names another.
func withID(w http.ResponseWriter, m map[string]json.RawMessage, pathID, what string) bool {
	raw, ok := m["id"]
	if !ok {
		m["id"], _ = json.Marshal(pathID)
		return true
	}
	var id string
	if json.Unmarshal(raw, &id) == nil && id != pathID {
		writeFieldErrors(w, fieldError("/id", fmt.Sprintf("%q in the body does not match the %s id %q of the URL", id, what, pathID)))
		return false
	}
	return true
}

// parseJob parses and validates a definition, answering 422 itself.
func parseJob(w http.ResponseWriter, m map[string]json.RawMessage) (*job.Job, bool) {
	data, err := json.Marshal(m)
	if err != nil {
		writeFieldErrors(w, fieldError("/", err.Error()))
		return nil, false
	}
	j, err := job.Parse(data)
	if err != nil {
		writeFieldErrors(w, asFieldErrors(err))
		return nil, false
	}
	return j, true
}

func (s *server) createJob(w http.ResponseWriter, r *http.Request) {
	m, ok := s.readObject(w, r, "a job definition")
	if !ok {
		return
	}
	j, ok := parseJob(w, m)
	if !ok {
		return
	}
	// A new job has no stored secret a mask could stand for.
	if errs := j.KeepMaskedSecrets(&job.Job{}); len(errs) > 0 {
		writeFieldErrors(w, errs)
		return
	}
	if !s.mayWrite(w, r, j) {
		return
	}
	if _, exists := s.b.Job(j.ID); exists {
		httpapi.WriteMessage(w, http.StatusConflict, fmt.Sprintf("Job with id '%s' already exists", j.ID))
		return
	}
	if err := s.b.PutJob(r.Context(), j); err != nil {
		writeError(w, err, jobSubject(j.ID))
		return
	}
	w.Header().Set("Location", jobPathOf(j.ID))
	writeView(w, http.StatusCreated, s.view(s.stored(j), embeds{}))
}

// stored is the Backend's copy of j after a write (its defaults as the
// framework keeps them), else j.
func (s *server) stored(j *job.Job) *job.Job {
	if cur, ok := s.b.Job(j.ID); ok && cur != nil {
		return cur
	}
	return j
}

// putJob replaces a job's spec. Metronome keeps the schedules when the body
// names none: they are managed under /schedules.
func (s *server) putJob(w http.ResponseWriter, r *http.Request, id string) {
	m, ok := s.readObject(w, r, "a job definition")
	if !ok {
		return
	}
	cur := s.existingJob(w, id)
	// The current user's tasks are the ones replaced: checked before the
	// body says anything.
	if cur == nil || !s.mayWrite(w, r, cur) {
		return
	}
	if !withID(w, m, id, "job") {
		return
	}
	_, hasSchedules := m["schedules"]
	j, ok := parseJob(w, m)
	if !ok {
		return
	}
	if !hasSchedules {
		j.Schedules = append([]job.Schedule(nil), cur.Schedules...)
	}
	if errs := j.KeepMaskedSecrets(cur); len(errs) > 0 {
		writeFieldErrors(w, errs)
		return
	}
	// The new definition's user runs the tasks from now on.
	if !s.mayWrite(w, r, j) {
		return
	}
	if err := s.b.PutJob(r.Context(), j); err != nil {
		writeError(w, err, jobSubject(id))
		return
	}
	writeView(w, http.StatusOK, s.view(s.stored(j), embeds{}))
}

func (s *server) deleteJob(w http.ResponseWriter, r *http.Request, id string) {
	stop, ok := httpapi.BoolParam(w, r, "stopCurrentJobRuns")
	if !ok {
		return
	}
	cur := s.existingJob(w, id)
	if cur == nil || !s.mayWrite(w, r, cur) {
		return
	}
	if err := s.b.DeleteJob(r.Context(), id, stop); err != nil {
		writeError(w, err, jobSubject(id))
		return
	}
	writeView(w, http.StatusOK, s.view(cur, embeds{}))
}
