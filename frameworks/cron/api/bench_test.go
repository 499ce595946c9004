package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"agora/frameworks/cron/core"
	"agora/frameworks/cron/job"
)

// benchServer holds jobs jobs, each with a secret, a schedule, one active
// run and history finished runs.
func benchServer(b *testing.B, jobs, history int, opts Options) http.Handler {
	f := newFake(t0)
	for i := 0; i < jobs; i++ {
		id := fmt.Sprintf("team%d.job%d", i%20, i)
		j, err := job.Parse([]byte(fmt.Sprintf(`{"id":%q,"run":{"cmd":"report","cpus":0.1,"mem":32,"disk":0,"env":{"K":{"secret":"k"}},"secrets":{"k":{"value":"v"}}},"schedules":[{"id":"s","cron":"@hourly"}]}`, id)))
		if err != nil {
			b.Fatal(err)
		}
		f.jobs[id] = j
		f.active[id] = []core.Run{{ID: "active", JobID: id, Status: core.StatusActive, Tasks: []core.Task{{ID: id + ".t", State: "TASK_RUNNING"}}}}
		for k := 0; k < history; k++ {
			code := k % 2
			f.finished[id] = append(f.finished[id], core.Run{ID: fmt.Sprintf("r%d", k), JobID: id, Status: core.StatusSuccess,
				CreatedAt: t0.Add(-time.Duration(k) * time.Hour), FinishedAt: t0.Add(-time.Duration(k)*time.Hour + time.Minute),
				Tasks: []core.Task{{ID: fmt.Sprintf("%s.r%d", id, k), State: "TASK_FINISHED", ExitCode: &code}}})
		}
	}
	return New(f, opts)
}

func benchGet(b *testing.B, h http.Handler, path string) {
	b.ReportAllocs()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
		b.SetBytes(int64(rec.Body.Len()))
	}
}

// BenchmarkListJobs is `agora job list`'s call: every job with its active
// runs, history (50 runs each, the core's default bound) and next runs.
func BenchmarkListJobs(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("jobs=%d/plain", n), func(b *testing.B) {
			benchGet(b, benchServer(b, n, 50, Options{}), "/v1/jobs")
		})
		b.Run(fmt.Sprintf("jobs=%d/embed=all", n), func(b *testing.B) {
			benchGet(b, benchServer(b, n, 50, Options{}), "/v1/jobs?embed=activeRuns,history,nextRuns")
		})
		b.Run(fmt.Sprintf("jobs=%d/authorized", n), func(b *testing.B) {
			benchGet(b, benchServer(b, n, 50, Options{Authorizer: acl, Principal: func(*http.Request) string { return "viewer" }}), "/v1/jobs")
		})
	}
}

// BenchmarkGetJob is one job with its history, as `agora job history` asks.
func BenchmarkGetJob(b *testing.B) {
	benchGet(b, benchServer(b, 1000, 50, Options{}), "/v1/jobs/team7.job7?embed=history")
}
