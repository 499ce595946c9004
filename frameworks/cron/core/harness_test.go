package core

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"agora/core/mesos"
	"agora/core/resources"
	"agora/frameworks/cron/job"
)

// t0 is a Friday at midnight, UTC.
var t0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

func intp(n int) *int { return &n }

// newJob builds a valid job with defaults applied after mods.
func newJob(id string, mods ...func(*job.Job)) *job.Job {
	j := &job.Job{ID: id, Run: job.Run{Cmd: "echo " + id, CPUs: 0.5, Mem: 64}}
	for _, m := range mods {
		m(j)
	}
	j.ApplyDefaults()
	return j
}

// sched adds a schedule "s<n>" with cron expr and optional changes.
func sched(expr string, mods ...func(*job.Schedule)) func(*job.Job) {
	return func(j *job.Job) {
		s := job.Schedule{ID: fmt.Sprintf("s%d", len(j.Schedules)+1), Cron: expr}
		for _, m := range mods {
			m(&s)
		}
		j.Schedules = append(j.Schedules, s)
	}
}

func policy(p string) func(*job.Schedule) { return func(s *job.Schedule) { s.ConcurrencyPolicy = p } }
func deadline(secs int) func(*job.Schedule) {
	return func(s *job.Schedule) { s.StartingDeadlineSeconds = secs }
}

func dependsOn(ids ...string) func(*job.Job) {
	return func(j *job.Job) {
		for _, id := range ids {
			j.Dependencies = append(j.Dependencies, job.Dependency{ID: id})
		}
	}
}

func onFailure(retries int, backoffSecs, factor float64) func(*job.Job) {
	return func(j *job.Job) {
		j.Run.Restart = job.Restart{Policy: job.OnFailure, Retries: intp(retries), BackoffSeconds: backoffSecs, BackoffFactor: factor}
	}
}

// sim drives a Core and keeps what its Decisions persist, like the driver
// and the store would.
type sim struct {
	t       *testing.T
	c       *Core
	runs    map[RunRef]Run
	cursors map[string]Cursor
	jobs    map[string]*job.Job
	last    Decisions
	all     []Decisions
	offerN  int
}

func newSim(t *testing.T, cfg Config) *sim {
	return &sim{t: t, c: New(cfg), runs: map[RunRef]Run{}, cursors: map[string]Cursor{}, jobs: map[string]*job.Job{}}
}

func (s *sim) apply(d Decisions) Decisions {
	s.t.Helper()
	for _, r := range d.PersistRuns {
		s.runs[RunRef{JobID: r.JobID, RunID: r.ID}] = r
	}
	for _, c := range d.PersistCursors {
		s.cursors[c.JobID] = c
	}
	for _, r := range d.DeleteRuns {
		delete(s.runs, r)
	}
	for _, id := range d.DeleteCursors {
		delete(s.cursors, id)
		delete(s.jobs, id)
	}
	s.last = d
	s.all = append(s.all, d)
	return d
}

func (s *sim) put(j *job.Job, now time.Time) Decisions {
	s.t.Helper()
	d, err := s.c.PutJob(j, now)
	if err != nil {
		s.t.Fatalf("PutJob(%s): %v", j.ID, err)
	}
	s.jobs[j.ID] = j
	return s.apply(d)
}

func (s *sim) tick(now time.Time) Decisions { return s.apply(s.c.Tick(now)) }

// offer gives one offer on host with room for n small tasks.
func (s *sim) offer(host string, now time.Time, attrs ...mesos.Attribute) Decisions {
	s.offerN++
	o := mesos.Offer{
		ID:         mesos.OfferID{Value: fmt.Sprintf("o%d", s.offerN)},
		AgentID:    mesos.AgentID{Value: "agent-" + host},
		Hostname:   host,
		Resources:  resources.Resources{CPUs: 4, Mem: 4096, Disk: 1000}.ToMesos("*"),
		Attributes: attrs,
	}
	return s.apply(s.c.Offers([]mesos.Offer{o}, now))
}

func (s *sim) update(taskID, state, msg string, now time.Time) Decisions {
	return s.apply(s.c.Update(mesos.TaskStatus{TaskID: mesos.TaskID{Value: taskID}, State: state, Message: msg}, now))
}

// recovered starts a new core from what was persisted.
func (s *sim) recovered(now time.Time) Decisions {
	var jobs []*job.Job
	for _, j := range s.jobs {
		jobs = append(jobs, j)
	}
	var cursors []Cursor
	for _, c := range s.cursors {
		cursors = append(cursors, c)
	}
	var runs []Run
	for _, r := range s.runs {
		runs = append(runs, r)
	}
	s.c = New(s.c.cfg)
	return s.apply(s.c.Recover(jobs, cursors, runs, now))
}

func (s *sim) run(jobID, runID string) Run {
	s.t.Helper()
	r, ok := s.c.RunByID(jobID, runID)
	if !ok {
		s.t.Fatalf("run %s/%s not found", jobID, runID)
	}
	return r
}

// launched returns the task ids launched in d.
func launched(d Decisions) []string {
	var out []string
	for _, l := range d.Launch {
		out = append(out, l.Task.TaskID.Value)
	}
	return out
}

func killed(d Decisions) []string {
	var out []string
	for _, k := range d.Kill {
		out = append(out, k.TaskID)
	}
	return out
}

// storedByStatus counts persisted runs of a job by status.
func (s *sim) storedByStatus(jobID string) map[string]int {
	m := map[string]int{}
	for ref, r := range s.runs {
		if ref.JobID == jobID {
			m[r.Status]++
		}
	}
	return m
}

func wantErrContains(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("error = nil, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func runIDs(rs []Run) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func sortedRefs(m map[RunRef]Run) []RunRef {
	out := make([]RunRef, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b RunRef) int {
		return strings.Compare(a.JobID+"/"+a.RunID, b.JobID+"/"+b.RunID)
	})
	return out
}
