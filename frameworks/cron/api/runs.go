package api

import (
	"fmt"
	"net/http"
	"net/url"

	"agora/frameworks/cron/core"
	"agora/frameworks/httpapi"
)

func runSubject(jobID, runID string) string {
	return fmt.Sprintf("Run '%s' of job '%s'", runID, jobID)
}

// runs serves /v1/jobs/{jobId}/runs: the active runs, or a run now.
func (s *server) runs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("jobId")
	switch r.Method {
	case http.MethodGet:
		if j := s.existingJob(w, id); j == nil || !s.mayView(w, r, id) {
			return
		}
		out := s.b.Runs(id)
		if out == nil {
			out = []core.Run{}
		}
		httpapi.WriteJSON(w, http.StatusOK, out)
	case http.MethodPost:
		cur := s.existingJob(w, id)
		if cur == nil || !s.mayWrite(w, r, cur) {
			return
		}
		run, err := s.b.RunNow(r.Context(), id)
		if err != nil {
			writeError(w, err, jobSubject(id))
			return
		}
		w.Header().Set("Location", jobPathOf(id)+"/runs/"+url.PathEscape(run.ID))
		httpapi.WriteJSON(w, http.StatusCreated, run)
	default:
		httpapi.Allow(w, r, http.MethodGet, http.MethodPost)
	}
}

// runPath serves /v1/jobs/{jobId}/runs/{runId}: an active or finished run.
func (s *server) runPath(w http.ResponseWriter, r *http.Request) {
	if !httpapi.Allow(w, r, http.MethodGet) {
		return
	}
	id, rid := r.PathValue("jobId"), r.PathValue("runId")
	if j := s.existingJob(w, id); j == nil || !s.mayView(w, r, id) {
		return
	}
	run, ok := s.b.RunByID(id, rid)
	if !ok {
		httpapi.WriteMessage(w, http.StatusNotFound, runSubject(id, rid)+" does not exist")
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, run)
}

// stopRun serves POST /v1/jobs/{jobId}/runs/{runId}/actions/stop and
// answers the run as it is after the stop.
func (s *server) stopRun(w http.ResponseWriter, r *http.Request) {
	if !httpapi.Allow(w, r, http.MethodPost) {
		return
	}
	id, rid := r.PathValue("jobId"), r.PathValue("runId")
	cur := s.existingJob(w, id)
	if cur == nil || !s.mayWrite(w, r, cur) {
		return
	}
	if err := s.b.StopRun(r.Context(), id, rid); err != nil {
		writeError(w, err, runSubject(id, rid))
		return
	}
	if run, ok := s.b.RunByID(id, rid); ok {
		httpapi.WriteJSON(w, http.StatusOK, run)
		return
	}
	httpapi.WriteMessage(w, http.StatusOK, runSubject(id, rid)+" is stopping")
}
