package core

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"agora/core/mesos"
	"agora/frameworks/cron/job"
	"agora/frameworks/cron/schedule"
	"agora/frameworks/services/placement"
)

// compiled is a job's parsed parts.
type compiled struct {
	cons   []placement.Constraint
	scheds []schedState
}

// compile parses j's constraints and schedules; errors are job.FieldErrors
// naming the field.
func compile(j *job.Job) (compiled, error) {
	var out compiled
	var errs job.FieldErrors
	cons, err := j.Run.Constraints()
	if err != nil {
		errs = append(errs, job.ErrorDetail{Path: "/run/placement/constraints", Errors: []string{err.Error()}})
	}
	out.cons = cons
	for i, s := range j.Schedules {
		parsed, err := schedule.Parse(s.Cron, s.Timezone)
		if err != nil {
			field, msg := "cron", err.Error()
			var fe *schedule.FieldError
			if errors.As(err, &fe) {
				field, msg = fe.Field, fe.Msg
			}
			errs = append(errs, job.ErrorDetail{Path: fmt.Sprintf("/schedules/%d/%s", i, field), Errors: []string{msg}})
		}
		out.scheds = append(out.scheds, schedState{spec: s, s: parsed})
	}
	if len(errs) > 0 {
		return out, errs
	}
	return out, nil
}

// PutJob creates or replaces a job, schedules included. A replaced job
// keeps its runs and cursor; a schedule that is new, or whose cron or
// timezone changed, starts at now (it never fires for the past). Invalid
// jobs, unknown parents and dependency cycles are job.FieldErrors.
func (c *Core) PutJob(j *job.Job, now time.Time) (Decisions, error) {
	if errs := j.Validate(); len(errs) > 0 {
		return Decisions{}, errs
	}
	// Only the new job's own edges can add a cycle or an unknown parent,
	// so a job without dependencies needs no look at the graph.
	if len(j.Dependencies) > 0 {
		all := make(map[string]*job.Job, len(c.jobs)+1)
		for id, js := range c.jobs {
			all[id] = js.job
		}
		all[j.ID] = j
		if errs := job.CheckDependencies(all); len(errs) > 0 {
			return Decisions{}, errs
		}
	}
	comp, err := compile(j)
	if err != nil {
		return Decisions{}, err
	}
	j = cloneJob(j)
	js := c.jobs[j.ID]
	if js == nil {
		js = &jobState{cursor: Cursor{JobID: j.ID}, runs: map[string]*Run{}}
		c.jobs[j.ID] = js
		c.order = nil
	}
	old := map[string]job.Schedule{}
	if js.job != nil {
		for _, s := range js.job.Schedules {
			old[s.ID] = s
		}
	}
	cur := map[string]time.Time{}
	for _, s := range j.Schedules {
		t, ok := js.cursor.Schedules[s.ID]
		if o, had := old[s.ID]; !ok || !had || o.Cron != s.Cron || zone(o.Timezone) != zone(s.Timezone) {
			t = now.UTC()
		}
		cur[s.ID] = t
	}
	js.cursor.Schedules = cur
	for p := range js.cursor.Parents {
		if !slices.ContainsFunc(j.Dependencies, func(d job.Dependency) bool { return d.ID == p }) {
			delete(js.cursor.Parents, p)
		}
	}
	js.job, js.cons, js.scheds = j, comp.cons, comp.scheds
	js.setNext()
	c.relink()
	c.persistCursor(j.ID)
	return c.finish(now), nil
}

// zone names UTC one way: "" and "UTC" are the same zone.
func zone(tz string) string {
	if tz == "" {
		return "UTC"
	}
	return tz
}

// setNext computes each schedule's next fire after its cursor.
func (js *jobState) setNext() {
	for i := range js.scheds {
		ss := &js.scheds[i]
		ss.next = time.Time{}
		if ss.s != nil {
			ss.next, _ = ss.s.Next(js.cursor.Schedules[ss.spec.ID])
		}
	}
}

// relink rebuilds the parent -> children index and the job order.
func (c *Core) relink() {
	c.children = map[string][]string{}
	for _, id := range c.jobOrder() {
		for _, d := range c.jobs[id].job.Dependencies {
			c.children[d.ID] = append(c.children[d.ID], id)
		}
	}
}

// jobOrder returns the job ids sorted (shared: callers must not modify
// it, and must not add or remove jobs while ranging over it).
func (c *Core) jobOrder() []string {
	if c.order == nil {
		c.order = slices.Sorted(maps.Keys(c.jobs))
	}
	return c.order
}

func (c *Core) lookup(id string) (*jobState, error) {
	js := c.jobs[id]
	if js == nil {
		return nil, notFound("job %q does not exist", id)
	}
	return js, nil
}

// DeleteJob deletes a job with its runs and cursor. It refuses
// (*ConflictError) while the job has active runs or other jobs depend on
// it.
func (c *Core) DeleteJob(id string, now time.Time) (Decisions, error) {
	js, err := c.lookup(id)
	if err != nil {
		return Decisions{}, err
	}
	if err := c.dependants(id); err != nil {
		return Decisions{}, err
	}
	if act := js.activeRuns(); len(act) > 0 {
		ids := make([]string, len(act))
		for i, r := range act {
			ids[i] = r.ID
		}
		return Decisions{}, &ConflictError{Msg: fmt.Sprintf("job %q has active runs (%s); stop them first or delete with ?stopCurrentJobRuns=true", id, strings.Join(ids, ", "))}
	}
	c.remove(js, now)
	return c.finish(now), nil
}

// DeleteJobStop kills the job's active runs, then deletes it (Metronome's
// stopCurrentJobRuns=true). It still refuses while other jobs depend on it.
func (c *Core) DeleteJobStop(id string, now time.Time) (Decisions, error) {
	js, err := c.lookup(id)
	if err != nil {
		return Decisions{}, err
	}
	if err := c.dependants(id); err != nil {
		return Decisions{}, err
	}
	for _, r := range js.activeRuns() {
		if t := liveTask(r); t != nil {
			c.kill(t, now)
		}
	}
	c.remove(js, now)
	return c.finish(now), nil
}

func (c *Core) dependants(id string) error {
	if kids := c.children[id]; len(kids) > 0 {
		return &ConflictError{Msg: fmt.Sprintf("job %q is a dependency of %s; remove it from their dependencies first", id, strings.Join(kids, ", "))}
	}
	return nil
}

// remove forgets js and deletes its runs and cursor.
func (c *Core) remove(js *jobState, now time.Time) {
	id := js.job.ID
	ids := slices.Collect(maps.Keys(js.runs))
	slices.Sort(ids)
	for _, rid := range ids {
		r := js.runs[rid]
		for _, t := range r.Tasks {
			delete(c.byTask, t.ID)
			delete(c.killedAt, t.ID)
			delete(c.reconciling, t.ID)
		}
		delete(c.active, RunRef{JobID: id, RunID: rid})
		c.deleteRun(RunRef{JobID: id, RunID: rid})
	}
	delete(c.jobs, id)
	c.order = nil
	if c.out.deadJobs == nil {
		c.out.deadJobs = map[string]bool{}
	}
	c.out.deadJobs[id] = true
	c.out.delCurs = append(c.out.delCurs, id)
	for _, other := range c.jobs {
		delete(other.cursor.Parents, id)
	}
	c.relink()
}

// RunNow starts a manual run of the job, subject to its concurrency
// policy: FORBID with a run active is a *ConflictError.
func (c *Core) RunNow(id string, now time.Time) (Run, Decisions, error) {
	js, err := c.lookup(id)
	if err != nil {
		return Run{}, Decisions{}, err
	}
	policy := policyFor(js.job, "")
	if act := js.activeRuns(); policy == job.Forbid && len(act) > 0 {
		return Run{}, Decisions{}, &ConflictError{Msg: fmt.Sprintf("job %q has an active run %s and its concurrencyPolicy is FORBID; wait for it or stop it first", id, act[len(act)-1].ID)}
	}
	r := &Run{ID: js.otherRunID(TriggerManual, now), JobID: id, Trigger: TriggerManual, CreatedAt: now}
	c.admit(js, r, policy, now)
	return cloneRun(*r), c.finish(now), nil
}

// StopRun stops an active run: a waiting one at once, a launched one when
// the kill's status arrives. Either way it ends STOPPED.
func (c *Core) StopRun(jobID, runID string, now time.Time) (Decisions, error) {
	js, err := c.lookup(jobID)
	if err != nil {
		return Decisions{}, err
	}
	r := js.runs[runID]
	if r == nil || Finished(r.Status) {
		return Decisions{}, notFound("job %q has no active run %q", jobID, runID)
	}
	c.stop(js, r, StatusStopped, "stopped by user", now)
	return c.finish(now), nil
}

// Recover loads the stored jobs, cursors and runs after a (re)start,
// before any offer. Each schedule's cursor becomes the newest of the
// stored cursor and the fire times of its stored runs, so no fire is made
// twice; a schedule without either starts at now. Unfinished runs with a
// launched task are reconciled (Decisions.Reconcile). Fires missed while
// away are handled by the next Tick. Runs of unknown jobs are deleted.
func (c *Core) Recover(jobs []*job.Job, cursors []Cursor, runs []Run, now time.Time) Decisions {
	c.reset()
	for _, j := range jobs {
		// Stored jobs were valid when stored; a part this build cannot
		// parse is left out rather than losing the job.
		comp, _ := compile(j)
		c.jobs[j.ID] = &jobState{job: cloneJob(j), cons: comp.cons, scheds: comp.scheds, cursor: Cursor{JobID: j.ID}, runs: map[string]*Run{}}
	}
	for _, cur := range cursors {
		if js := c.jobs[cur.JobID]; js != nil {
			js.cursor = cloneCursor(cur)
		}
	}
	stored := map[string]Cursor{}
	for id, js := range c.jobs {
		stored[id] = cloneCursor(js.cursor)
		if js.cursor.Schedules == nil {
			js.cursor.Schedules = map[string]time.Time{}
		}
	}
	sorted := slices.Clone(runs)
	sort.SliceStable(sorted, func(a, b int) bool {
		if sorted[a].JobID != sorted[b].JobID {
			return sorted[a].JobID < sorted[b].JobID
		}
		return sorted[a].ID < sorted[b].ID
	})
	for i := range sorted {
		r := cloneRun(sorted[i])
		js := c.jobs[r.JobID]
		if js == nil {
			c.deleteRun(RunRef{JobID: r.JobID, RunID: r.ID})
			continue
		}
		rp := &r
		js.runs[r.ID] = rp
		if r.Trigger == TriggerSchedule && r.ScheduleID != "" {
			if at, ok := js.cursor.Schedules[r.ScheduleID]; !ok || at.Before(r.ScheduledAt) {
				if slices.ContainsFunc(js.job.Schedules, func(s job.Schedule) bool { return s.ID == r.ScheduleID }) {
					js.cursor.Schedules[r.ScheduleID] = r.ScheduledAt.UTC()
				}
			}
		}
		if Finished(r.Status) {
			js.history = append(js.history, rp)
			continue
		}
		c.active[RunRef{JobID: r.JobID, RunID: r.ID}] = rp
		for _, t := range r.Tasks {
			if !mesos.IsTerminal(t.State) {
				c.byTask[t.ID] = RunRef{JobID: r.JobID, RunID: r.ID}
			}
		}
		if t := c.reconcileRun(rp); t != nil && r.Killing != "" {
			c.kill(t, now)
		}
	}
	for _, id := range c.jobOrder() {
		js := c.jobs[id]
		for _, s := range js.job.Schedules {
			if _, ok := js.cursor.Schedules[s.ID]; !ok {
				js.cursor.Schedules[s.ID] = now.UTC()
			}
		}
		for sid := range js.cursor.Schedules {
			if !slices.ContainsFunc(js.job.Schedules, func(s job.Schedule) bool { return s.ID == sid }) {
				delete(js.cursor.Schedules, sid)
			}
		}
		js.setNext()
		slices.SortStableFunc(js.history, func(a, b *Run) int {
			if r := b.FinishedAt.Compare(a.FinishedAt); r != 0 {
				return r
			}
			return -runOrder(a, b)
		})
		c.trim(js)
		if !cursorEqual(stored[id], js.cursor) {
			c.persistCursor(id)
		}
	}
	c.relink()
	return c.finish(now)
}

func cursorEqual(a, b Cursor) bool {
	return a.JobID == b.JobID && a.History == b.History &&
		maps.EqualFunc(a.Schedules, b.Schedules, time.Time.Equal) && maps.Equal(a.Parents, b.Parents)
}

// Jobs returns copies of every job, sorted by id.
func (c *Core) Jobs() []*job.Job {
	out := make([]*job.Job, 0, len(c.jobs))
	for _, id := range c.jobOrder() {
		out = append(out, cloneJob(c.jobs[id].job))
	}
	return out
}

// Job returns a copy of one job.
func (c *Core) Job(id string) (*job.Job, bool) {
	js := c.jobs[id]
	if js == nil {
		return nil, false
	}
	return cloneJob(js.job), true
}

// Runs returns the job's active (unfinished) runs, newest first.
func (c *Core) Runs(jobID string) []Run {
	js := c.jobs[jobID]
	if js == nil {
		return nil
	}
	act := js.activeRuns()
	out := make([]Run, 0, len(act))
	for i := len(act) - 1; i >= 0; i-- {
		out = append(out, cloneRun(*act[i]))
	}
	return out
}

// RunByID returns one run, active or in the history.
func (c *Core) RunByID(jobID, runID string) (Run, bool) {
	js := c.jobs[jobID]
	if js == nil {
		return Run{}, false
	}
	r := js.runs[runID]
	if r == nil {
		return Run{}, false
	}
	return cloneRun(*r), true
}

// History returns the job's summary and its finished runs, newest first.
func (c *Core) History(jobID string) (History, []Run) {
	js := c.jobs[jobID]
	if js == nil {
		return History{}, nil
	}
	out := make([]Run, len(js.history))
	for i, r := range js.history {
		out[i] = cloneRun(*r)
	}
	return js.cursor.History, out
}

// maxSkip bounds the fires NextFires steps over to reach now from a cursor
// left behind (no Tick for a long while).
const maxSkip = 1 << 20

// NextFires returns the next n fire times after now over the job's enabled
// schedules, merged in order.
func (c *Core) NextFires(jobID string, n int, now time.Time) []time.Time {
	js := c.jobs[jobID]
	if js == nil || n <= 0 {
		return nil
	}
	var all []time.Time
	for _, ss := range js.scheds {
		if ss.s == nil || !ss.spec.IsEnabled() {
			continue
		}
		// From the cursor, not from now: an @every schedule's cadence is
		// anchored on its last fire.
		t := js.cursor.Schedules[ss.spec.ID]
		for k := 0; !t.After(now) && k < maxSkip; k++ {
			next, ok := ss.s.Next(t)
			if !ok {
				break
			}
			t = next
		}
		if !t.After(now) {
			continue
		}
		all = append(all, t)
		all = append(all, schedule.NextN(ss.s, t, n-1)...)
	}
	slices.SortFunc(all, time.Time.Compare)
	all = slices.CompactFunc(all, time.Time.Equal)
	if len(all) > n {
		all = all[:n]
	}
	return all
}

// Reconcile asks a master about the live task of every unfinished run, as
// after a new subscription; an answer that the task never ran launches the
// run again without counting a failure, as after Recover.
func (c *Core) Reconcile(now time.Time) Decisions {
	for _, ref := range slices.SortedFunc(maps.Keys(c.active), func(a, b RunRef) int {
		return cmp.Or(strings.Compare(a.JobID, b.JobID), strings.Compare(a.RunID, b.RunID))
	}) {
		c.reconcileRun(c.active[ref])
	}
	return c.finish(now)
}

// reconcileRun marks r's live task as being reconciled and asks about it;
// it returns the task, or nil when r has none.
func (c *Core) reconcileRun(r *Run) *Task {
	t := liveTask(r)
	if t == nil {
		return nil
	}
	c.reconciling[t.ID] = true
	rt := mesos.ReconcileTask{TaskID: mesos.TaskID{Value: t.ID}}
	if t.AgentID != "" {
		rt.AgentID = &mesos.AgentID{Value: t.AgentID}
	}
	c.out.recon = append(c.out.recon, rt)
	return t
}
