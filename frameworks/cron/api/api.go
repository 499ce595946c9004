// Package api serves the cron framework's Metronome REST API (/v1/jobs with
// schedules and runs, /v1/info, /v1/ping) over a Backend, and holds Client,
// the Go client of that API used by the `agora job` CLI and end-to-end
// tests.
//
// Contract:
//   - Shapes follow Metronome's documentation: the job JSON as job.Job
//     renders it, ?embed=activeRuns|schedules|history|historySummary,
//     Metronome's error bodies ({"message": ...}, and on 422 the
//     {"message","details":[{"path","errors"}]} of job.FieldErrors).
//   - Agora's additions: a job always carries its "schedules" (a body may
//     set them on POST and PUT); GET /v1/jobs/{id} adds "nextRuns" (the next
//     five fire times, RFC 3339) and lists take ?embed=nextRuns; history
//     entries name each attempt's task, status and exit code.
//   - PUT /v1/jobs/{id} replaces the job's spec but keeps its schedules
//     when the body has none, as Metronome does: schedules are managed
//     under /schedules, each write there being one Backend.PutJob of the
//     modified job.
//   - The handler decides nothing about runs: every write goes to the
//     Backend, whose errors choose the status (job.FieldErrors 422,
//     core.ErrNotFound 404, *core.ConflictError 409, ErrUnavailable 503,
//     other 500).
//   - The API acts for the calling principal (Options.Principal), as the
//     Authorizer allows: lists show only the jobs it may view, a read of
//     another job is a 403, and a write needs manage_jobs on the job and
//     run_tasks as the job's user (for a replace, as the current and the new
//     definition's); a refused write changes nothing. Answers never show a
//     secret's value, only mesos.SecretMask, and a definition sent back with
//     masked values keeps the stored ones.
package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"agora/frameworks/cron/core"
	"agora/frameworks/cron/job"
	"agora/frameworks/httpapi"
)

// Backend is what the API needs from the running framework. It is defined
// here and implemented by the framework's driver.
type Backend interface {
	// Jobs returns the current definitions, sorted by id.
	Jobs() []*job.Job
	Job(id string) (*job.Job, bool)
	// Runs returns the job's active runs, newest first.
	Runs(jobID string) []core.Run
	// RunByID finds an active or finished run.
	RunByID(jobID, runID string) (core.Run, bool)
	// History returns the job's summary and finished runs, newest first.
	History(jobID string) (core.History, []core.Run)
	// NextFires returns up to n fire times of the job's enabled schedules.
	NextFires(jobID string, n int) []time.Time

	// Writes return errors wrapping job.FieldErrors, core.ErrNotFound,
	// *core.ConflictError or ErrUnavailable where those apply.
	//
	// PutJob creates or replaces a job, schedules included.
	PutJob(ctx context.Context, j *job.Job) error
	// DeleteJob removes a job; with stopRuns its active runs are stopped
	// first, else active runs are a conflict.
	DeleteJob(ctx context.Context, id string, stopRuns bool) error
	RunNow(ctx context.Context, id string) (core.Run, error)
	StopRun(ctx context.Context, jobID, runID string) error
	Info() Info
}

// ErrUnavailable is wrapped by Backend errors meaning the framework cannot
// answer yet (not registered or not recovered): the API answers 503.
var ErrUnavailable = errors.New("cron framework is not available yet")

// Info is /v1/info: who the framework is and where its leader answers.
type Info struct {
	Name        string `json:"name"`
	Version     string `json:"version,omitempty"`
	FrameworkID string `json:"frameworkId"`
	// Elected is true on the leading master; Leader is its host:port.
	Elected bool   `json:"elected"`
	Leader  string `json:"leader"`
}

// Options tune the handler. Zero fields take the defaults.
type Options struct {
	// Authorizer decides what each request's principal may do (nil allows
	// everything): view_jobs filters every list and guards every read of a
	// job, manage_jobs and run_tasks guard every write.
	Authorizer Authorizer
	// Principal names who a request acts for (nil: "" for everyone).
	Principal func(*http.Request) string
	// MaxBodyBytes bounds request bodies (default 1 MiB); larger ones get
	// 413.
	MaxBodyBytes int64
	// DefaultUser is the user a job's tasks run as when its run.user is
	// empty: the object of run_tasks for such a job.
	DefaultUser string
}

// Validate reports the first bad field.
func (o Options) Validate() error {
	if o.MaxBodyBytes < 0 {
		return fmt.Errorf("cron api options: MaxBodyBytes %d is negative", o.MaxBodyBytes)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	return o
}

// server is the handler behind New.
type server struct {
	b    Backend
	opts Options
	mux  *http.ServeMux
}

// New returns the handler of /v1/... over b. Invalid options (see
// Options.Validate) are replaced by the defaults.
func New(b Backend, opts Options) http.Handler {
	s := &server{b: b, opts: opts.withDefaults()}
	m := http.NewServeMux()
	m.HandleFunc("/v1/jobs", s.jobs)
	m.HandleFunc("/v1/jobs/{jobId}", s.jobPath)
	m.HandleFunc("/v1/jobs/{jobId}/schedules", s.schedules)
	m.HandleFunc("/v1/jobs/{jobId}/schedules/{scheduleId}", s.schedulePath)
	m.HandleFunc("/v1/jobs/{jobId}/runs", s.runs)
	m.HandleFunc("/v1/jobs/{jobId}/runs/{runId}", s.runPath)
	m.HandleFunc("/v1/jobs/{jobId}/runs/{runId}/actions/stop", s.stopRun)
	m.HandleFunc("/v1/info", s.info)
	m.HandleFunc("/v1/ping", httpapi.Ping)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteMessage(w, http.StatusNotFound, fmt.Sprintf("no such resource: %s", r.URL.Path))
	})
	s.mux = m
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *server) info(w http.ResponseWriter, r *http.Request) {
	if !httpapi.Allow(w, r, http.MethodGet) {
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, s.b.Info())
}
