package api

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"agora/frameworks/cron/core"
	"agora/frameworks/cron/job"
)

// coreBackend is the Backend over the real core with a hand-set clock, as
// the driver is minus the store and the master: it checks that the API's
// reading of the core's errors and views holds.
type coreBackend struct {
	mu  sync.Mutex
	c   *core.Core
	now time.Time
}

func (b *coreBackend) Jobs() []*job.Job {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.c.Jobs()
}

func (b *coreBackend) Job(id string) (*job.Job, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.c.Job(id)
}

func (b *coreBackend) Runs(jobID string) []core.Run {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.c.Runs(jobID)
}

func (b *coreBackend) RunByID(jobID, runID string) (core.Run, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.c.RunByID(jobID, runID)
}

func (b *coreBackend) History(jobID string) (core.History, []core.Run) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.c.History(jobID)
}

func (b *coreBackend) NextFires(jobID string, n int) []time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.c.NextFires(jobID, n, b.now)
}

func (b *coreBackend) PutJob(ctx context.Context, j *job.Job) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, err := b.c.PutJob(j, b.now)
	return err
}

func (b *coreBackend) DeleteJob(ctx context.Context, id string, stopRuns bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	if stopRuns {
		_, err = b.c.DeleteJobStop(id, b.now)
	} else {
		_, err = b.c.DeleteJob(id, b.now)
	}
	return err
}

func (b *coreBackend) RunNow(ctx context.Context, id string) (core.Run, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, _, err := b.c.RunNow(id, b.now)
	return r, err
}

func (b *coreBackend) StopRun(ctx context.Context, jobID, runID string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, err := b.c.StopRun(jobID, runID, b.now)
	return err
}

func (b *coreBackend) Info() Info { return Info{Name: "cron", Elected: true} }

func TestOverTheRealCore(t *testing.T) {
	b := &coreBackend{c: core.New(core.Config{DefaultUser: "nobody"}), now: t0}
	h := New(b, Options{})
	seed(t, h, nightly)

	// Berlin's 02:00 is 01:00 UTC in March (before the switch to summer
	// time on the 29th).
	var v JobView
	a := call(t, h, http.MethodGet, "/v1/jobs/nightly", "")
	want(t, a, http.StatusOK, "get")
	a.decode(t, &v)
	if len(v.NextRuns) != 5 || !v.NextRuns[0].Equal(time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)) {
		t.Errorf("nextRuns %v", v.NextRuns)
	}
	if strings.Contains(a.body, secretValue) {
		t.Error("the core's view leaks the secret")
	}

	// A parent that does not exist is the core's 422.
	orphan := `{"id":"child","run":{"cmd":"x","cpus":0.1,"mem":32,"disk":0},"dependencies":[{"id":"ghost"}]}`
	if d := details(t, call(t, h, http.MethodPost, "/v1/jobs", orphan)); len(d) == 0 {
		t.Error("an unknown parent was accepted")
	}

	a = call(t, h, http.MethodPost, "/v1/jobs/nightly/runs", "")
	want(t, a, http.StatusCreated, "run now")
	var run core.Run
	a.decode(t, &run)
	a = call(t, h, http.MethodDelete, "/v1/jobs/nightly", "")
	want(t, a, http.StatusConflict, "delete with an active run")
	want(t, call(t, h, http.MethodGet, "/v1/jobs/nightly/runs/"+run.ID, ""), http.StatusOK, "get run")
	want(t, call(t, h, http.MethodPost, "/v1/jobs/nightly/runs/nope/actions/stop", ""), http.StatusNotFound, "stop unknown run")
	want(t, call(t, h, http.MethodPost, "/v1/jobs/nightly/runs/"+run.ID+"/actions/stop", ""), http.StatusOK, "stop")
	a = call(t, h, http.MethodGet, "/v1/jobs/nightly?embed=history", "")
	v = JobView{}
	a.decode(t, &v)
	if v.History == nil || len(v.History.FailedFinishedRuns)+len(v.History.SuccessfulFinishedRuns) != 1 {
		t.Errorf("history after stop: %s", a.body)
	}
	want(t, call(t, h, http.MethodDelete, "/v1/jobs/nightly", ""), http.StatusOK, "delete")
	want(t, call(t, h, http.MethodPost, "/v1/jobs/nightly/runs", ""), http.StatusNotFound, "run a deleted job")
}
