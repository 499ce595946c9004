package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"agora/frameworks/cron/job"
	"agora/frameworks/httpapi"
)

func scheduleSubject(jobID, id string) string {
	return fmt.Sprintf("Schedule '%s' of job '%s'", id, jobID)
}

// scheduleIndex is the position of schedule id in j, or -1.
func scheduleIndex(j *job.Job, id string) int {
	for i, sc := range j.Schedules {
		if sc.ID == id {
			return i
		}
	}
	return -1
}

// withSchedules is a copy of j with other schedules; j is not changed.
func withSchedules(j *job.Job, schedules []job.Schedule) *job.Job {
	cp := *j
	cp.Schedules = schedules
	return &cp
}

// schedules serves /v1/jobs/{jobId}/schedules.
func (s *server) schedules(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("jobId")
	switch r.Method {
	case http.MethodGet:
		j := s.existingJob(w, id)
		if j == nil || !s.mayView(w, r, id) {
			return
		}
		out := j.Schedules
		if out == nil {
			out = []job.Schedule{}
		}
		httpapi.WriteJSON(w, http.StatusOK, out)
	case http.MethodPost:
		s.createSchedule(w, r, id)
	default:
		httpapi.Allow(w, r, http.MethodGet, http.MethodPost)
	}
}

// schedulePath serves /v1/jobs/{jobId}/schedules/{scheduleId}.
func (s *server) schedulePath(w http.ResponseWriter, r *http.Request) {
	id, sid := r.PathValue("jobId"), r.PathValue("scheduleId")
	switch r.Method {
	case http.MethodGet:
		j := s.existingJob(w, id)
		if j == nil || !s.mayView(w, r, id) {
			return
		}
		i := scheduleIndex(j, sid)
		if i < 0 {
			httpapi.WriteMessage(w, http.StatusNotFound, scheduleSubject(id, sid)+" does not exist")
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, j.Schedules[i])
	case http.MethodPut:
		s.putSchedule(w, r, id, sid)
	case http.MethodDelete:
		s.deleteSchedule(w, r, id, sid)
	default:
		httpapi.Allow(w, r, http.MethodGet, http.MethodPut, http.MethodDelete)
	}
}

// parseSchedule parses and validates one schedule, answering 422 itself.
func parseSchedule(w http.ResponseWriter, m map[string]json.RawMessage) (*job.Schedule, bool) {
	data, err := json.Marshal(m)
	if err != nil {
		writeFieldErrors(w, fieldError("/", err.Error()))
		return nil, false
	}
	sc, err := job.ParseSchedule(data)
	if err != nil {
		writeFieldErrors(w, asFieldErrors(err))
		return nil, false
	}
	return sc, true
}

// putSchedules stores j with its new schedules, answering an error itself.
func (s *server) putSchedules(w http.ResponseWriter, r *http.Request, j *job.Job, subject string) bool {
	if errs := j.Validate(); len(errs) > 0 {
		writeFieldErrors(w, errs)
		return false
	}
	if err := s.b.PutJob(r.Context(), j); err != nil {
		writeError(w, err, subject)
		return false
	}
	return true
}

func (s *server) createSchedule(w http.ResponseWriter, r *http.Request, id string) {
	m, ok := s.readObject(w, r, "a schedule")
	if !ok {
		return
	}
	cur := s.existingJob(w, id)
	if cur == nil || !s.mayWrite(w, r, cur) {
		return
	}
	sc, ok := parseSchedule(w, m)
	if !ok {
		return
	}
	if scheduleIndex(cur, sc.ID) >= 0 {
		httpapi.WriteMessage(w, http.StatusConflict, fmt.Sprintf("Schedule with id '%s' already exists for job '%s'", sc.ID, id))
		return
	}
	next := withSchedules(cur, append(append([]job.Schedule(nil), cur.Schedules...), *sc))
	if !s.putSchedules(w, r, next, jobSubject(id)) {
		return
	}
	w.Header().Set("Location", jobPathOf(id)+"/schedules/"+sc.ID)
	httpapi.WriteJSON(w, http.StatusCreated, s.storedSchedule(id, *sc))
}

// storedSchedule is the Backend's copy of a schedule after a write, else sc.
func (s *server) storedSchedule(jobID string, sc job.Schedule) job.Schedule {
	if j, ok := s.b.Job(jobID); ok && j != nil {
		if i := scheduleIndex(j, sc.ID); i >= 0 {
			return j.Schedules[i]
		}
	}
	return sc
}

func (s *server) putSchedule(w http.ResponseWriter, r *http.Request, id, sid string) {
	m, ok := s.readObject(w, r, "a schedule")
	if !ok {
		return
	}
	cur := s.existingJob(w, id)
	if cur == nil || !s.mayWrite(w, r, cur) {
		return
	}
	i := scheduleIndex(cur, sid)
	if i < 0 {
		httpapi.WriteMessage(w, http.StatusNotFound, scheduleSubject(id, sid)+" does not exist")
		return
	}
	if !withID(w, m, sid, "schedule") {
		return
	}
	sc, ok := parseSchedule(w, m)
	if !ok {
		return
	}
	schedules := append([]job.Schedule(nil), cur.Schedules...)
	schedules[i] = *sc
	if !s.putSchedules(w, r, withSchedules(cur, schedules), jobSubject(id)) {
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, s.storedSchedule(id, *sc))
}

func (s *server) deleteSchedule(w http.ResponseWriter, r *http.Request, id, sid string) {
	cur := s.existingJob(w, id)
	if cur == nil || !s.mayWrite(w, r, cur) {
		return
	}
	i := scheduleIndex(cur, sid)
	if i < 0 {
		httpapi.WriteMessage(w, http.StatusNotFound, scheduleSubject(id, sid)+" does not exist")
		return
	}
	gone := cur.Schedules[i]
	schedules := append(append([]job.Schedule(nil), cur.Schedules[:i]...), cur.Schedules[i+1:]...)
	if !s.putSchedules(w, r, withSchedules(cur, schedules), jobSubject(id)) {
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, gone)
}
