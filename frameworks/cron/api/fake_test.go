package api

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"agora/frameworks/cron/core"
	"agora/frameworks/cron/job"
)

// fake is an in-memory Backend: jobs, active and finished runs the tests set
// directly, errors they inject, and a record of every write so a test sees
// that a refused request changed nothing.
type fake struct {
	mu       sync.Mutex
	now      time.Time
	jobs     map[string]*job.Job
	active   map[string][]core.Run // newest first
	finished map[string][]core.Run // newest first
	summary  map[string]core.History
	fail     error // returned by every write when set
	n        int
	calls    []string
}

func newFake(now time.Time) *fake {
	return &fake{now: now, jobs: map[string]*job.Job{}, active: map[string][]core.Run{},
		finished: map[string][]core.Run{}, summary: map[string]core.History{}}
}

func (f *fake) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

// Calls lists the writes the API made, in order.
func (f *fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fake) Jobs() []*job.Job {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*job.Job, 0, len(f.jobs))
	for _, j := range f.jobs {
		out = append(out, j)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

func (f *fake) Job(id string) (*job.Job, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[id]
	return j, ok
}

func (f *fake) Runs(jobID string) []core.Run {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]core.Run(nil), f.active[jobID]...)
}

func (f *fake) RunByID(jobID, runID string) (core.Run, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range [][]core.Run{f.active[jobID], f.finished[jobID]} {
		for _, r := range l {
			if r.ID == runID {
				return r, true
			}
		}
	}
	return core.Run{}, false
}

func (f *fake) History(jobID string) (core.History, []core.Run) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.summary[jobID], append([]core.Run(nil), f.finished[jobID]...)
}

// NextFires pretends every enabled schedule fires on the hour.
func (f *fake) NextFires(jobID string, n int) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[jobID]
	if !ok {
		return nil
	}
	enabled := false
	for _, s := range j.Schedules {
		enabled = enabled || s.IsEnabled()
	}
	if !enabled {
		return nil
	}
	var out []time.Time
	t := f.now.Truncate(time.Hour)
	for range n {
		t = t.Add(time.Hour)
		out = append(out, t)
	}
	return out
}

func (f *fake) PutJob(ctx context.Context, j *job.Job) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.record("put %s", j.ID)
	cp := *j
	f.jobs[j.ID] = &cp
	return nil
}

func (f *fake) DeleteJob(ctx context.Context, id string, stopRuns bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if _, ok := f.jobs[id]; !ok {
		return fmt.Errorf("%w: job %s", core.ErrNotFound, id)
	}
	if len(f.active[id]) > 0 && !stopRuns {
		return &core.ConflictError{Msg: fmt.Sprintf("job '%s' has active runs; stop them first or use stopCurrentJobRuns=true", id)}
	}
	f.record("delete %s stop=%v", id, stopRuns)
	delete(f.jobs, id)
	delete(f.active, id)
	return nil
}

func (f *fake) RunNow(ctx context.Context, id string) (core.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return core.Run{}, f.fail
	}
	if _, ok := f.jobs[id]; !ok {
		return core.Run{}, fmt.Errorf("%w: job %s", core.ErrNotFound, id)
	}
	f.n++
	r := core.Run{ID: fmt.Sprintf("%s-manual-%d", f.now.UTC().Format("20060102T150405Z"), f.n), JobID: id,
		Trigger: core.TriggerManual, CreatedAt: f.now, Status: core.StatusInitial}
	f.record("run %s", id)
	f.active[id] = append([]core.Run{r}, f.active[id]...)
	return r, nil
}

func (f *fake) StopRun(ctx context.Context, jobID, runID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	for i, r := range f.active[jobID] {
		if r.ID == runID {
			f.record("stop %s %s", jobID, runID)
			r.Status, r.FinishedAt, r.Message = core.StatusStopped, f.now, "stopped by a user"
			f.active[jobID] = append(f.active[jobID][:i:i], f.active[jobID][i+1:]...)
			f.finished[jobID] = append([]core.Run{r}, f.finished[jobID]...)
			return nil
		}
	}
	return fmt.Errorf("%w: run %s of job %s", core.ErrNotFound, runID, jobID)
}

func (f *fake) Info() Info {
	return Info{Name: "cron", Version: "test", FrameworkID: "fw-1", Elected: true, Leader: "127.0.0.1:5050"}
}
