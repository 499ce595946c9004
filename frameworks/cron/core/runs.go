package core

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"agora/core/mesos"
	"agora/frameworks/cron/job"
	"agora/frameworks/cron/schedule"
)

// admit adds a new run to js under the concurrency policy: ALLOW starts it,
// FORBID records it SKIPPED while another run is active, REPLACE stops the
// active runs first. The run is INITIAL (waiting for an offer) or SKIPPED.
func (c *Core) admit(js *jobState, r *Run, policy string, now time.Time) {
	var actives []*Run
	if policy != job.Allow {
		actives = js.activeRuns()
	}
	switch {
	case policy == job.Forbid && len(actives) > 0:
		r.Status = StatusSkipped
		r.FinishedAt = now
		r.Message = fmt.Sprintf("skipped: run %s is still active and the concurrencyPolicy is FORBID", actives[len(actives)-1].ID)
		c.addFinished(js, r)
		return
	case policy == job.Replace:
		for _, a := range actives {
			c.stop(js, a, StatusStopped, "replaced by "+r.ID, now)
		}
	}
	r.Status = StatusInitial
	js.runs[r.ID] = r
	c.active[RunRef{JobID: r.JobID, RunID: r.ID}] = r
	c.persistRun(r)
}

// liveTask returns the run's latest task if it may still be running.
func liveTask(r *Run) *Task {
	if r.Status != StatusStarting && r.Status != StatusActive || len(r.Tasks) == 0 {
		return nil
	}
	t := &r.Tasks[len(r.Tasks)-1]
	if mesos.IsTerminal(t.State) {
		return nil
	}
	return t
}

// stop ends r as status (STOPPED or FAILED) because of msg: at once when it
// has no task running, otherwise by killing the task and ending the run
// when the kill's status arrives.
func (c *Core) stop(js *jobState, r *Run, status, msg string, now time.Time) {
	t := liveTask(r)
	if t == nil {
		c.end(js, r, status, msg, now)
		return
	}
	r.Killing, r.Message = status, msg
	c.kill(t, now)
	c.persistRun(r)
}

func (c *Core) kill(t *Task, now time.Time) {
	c.out.kill = append(c.out.kill, Kill{TaskID: t.ID, AgentID: t.AgentID})
	c.killedAt[t.ID] = now
}

// end gives r its final status and moves it to the history; a success
// counts for the jobs that depend on this one.
func (c *Core) end(js *jobState, r *Run, status, msg string, now time.Time) {
	r.Status, r.Message, r.FinishedAt = status, msg, now
	r.Killing, r.NextAttemptAt = "", time.Time{}
	delete(c.active, RunRef{JobID: r.JobID, RunID: r.ID})
	for _, t := range r.Tasks {
		delete(c.killedAt, t.ID)
		delete(c.reconciling, t.ID)
	}
	c.addFinished(js, r)
	if status == StatusSuccess {
		c.parentSucceeded(js.job.ID, r.ID, now)
	}
}

// addFinished records a finished run: newest in the history, counted in
// the summary (kept in the cursor, so it outlives trimming), oldest runs
// beyond MaxHistory deleted.
func (c *Core) addFinished(js *jobState, r *Run) {
	js.runs[r.ID] = r
	js.history = slices.Insert(js.history, 0, r)
	h := &js.cursor.History
	switch r.Status {
	case StatusSuccess:
		h.SuccessCount++
		h.LastSuccessAt = r.FinishedAt
	case StatusFailed, StatusMissed:
		// A missed fire is a failure to run, as Metronome counts a run
		// past its starting deadline as failed.
		h.FailureCount += max(r.Missed, 1)
		h.LastFailureAt = r.FinishedAt
	}
	c.persistRun(r)
	c.persistCursor(js.job.ID)
	c.trim(js)
}

func (c *Core) trim(js *jobState) {
	for len(js.history) > c.cfg.MaxHistory {
		old := js.history[len(js.history)-1]
		js.history = js.history[:len(js.history)-1]
		delete(js.runs, old.ID)
		for _, t := range old.Tasks {
			delete(c.byTask, t.ID)
		}
		c.deleteRun(RunRef{JobID: old.JobID, RunID: old.ID})
	}
}

// parentSucceeded records a successful run of parent in each child's
// cursor; a child whose parents have all succeeded gets a dependency run.
func (c *Core) parentSucceeded(parent, runID string, now time.Time) {
	for _, child := range c.children[parent] {
		js := c.jobs[child]
		if js == nil {
			continue
		}
		if js.cursor.Parents == nil {
			js.cursor.Parents = map[string]string{}
		}
		js.cursor.Parents[parent] = runID
		c.persistCursor(child)
		all := true
		for _, d := range js.job.Dependencies {
			if _, ok := js.cursor.Parents[d.ID]; !ok {
				all = false
				break
			}
		}
		if !all {
			continue
		}
		js.cursor.Parents = nil
		r := &Run{ID: js.otherRunID(TriggerDependency, now), JobID: child, Trigger: TriggerDependency, CreatedAt: now}
		c.admit(js, r, policyFor(js.job, ""), now)
	}
}

// Tick fires what is due and applies the deadlines: runs that could not
// start in time are missed or failed, runs past activeDeadlineSeconds are
// killed, unanswered kills are sent again.
func (c *Core) Tick(now time.Time) Decisions {
	for _, id := range c.jobOrder() {
		c.fire(c.jobs[id], now)
	}
	c.timers(now)
	return c.finish(now)
}

// fire handles the fires of js's enabled schedules in (cursor, now]: those
// older than the starting deadline become MISSED records (at most
// MaxMissed, the newest counting the rest), the others runs.
func (c *Core) fire(js *jobState, now time.Time) {
	for i := range js.scheds {
		ss := &js.scheds[i]
		if ss.s == nil || ss.next.IsZero() || ss.next.After(now) || !ss.spec.IsEnabled() {
			continue
		}
		sid := ss.spec.ID
		cursor := js.cursor.Schedules[sid]
		secs := startingDeadline(ss.spec)
		// A fire f is missed when now is after f + deadline.
		cutoff := now.Add(-seconds(secs))
		if ss.next.Before(cutoff) {
			missed, total := schedule.Fires(ss.s, cursor, cutoff.Add(-time.Nanosecond), c.cfg.MaxMissed)
			for k, f := range missed {
				id := scheduledRunID(sid, f)
				if js.runs[id] != nil {
					continue
				}
				r := &Run{ID: id, JobID: js.job.ID, Trigger: TriggerSchedule, ScheduleID: sid, ScheduledAt: f.UTC(),
					CreatedAt: now, FinishedAt: now, Status: StatusMissed, Missed: 1,
					Message: fmt.Sprintf("not started within startingDeadlineSeconds %d of its fire time", secs)}
				if k == len(missed)-1 && total > len(missed) {
					r.Missed = 1 + total - len(missed)
					r.Message += fmt.Sprintf("; this record stands for %d missed fires up to this one", r.Missed)
				}
				c.addFinished(js, r)
			}
			if len(missed) > 0 {
				cursor = missed[len(missed)-1]
			}
		}
		for {
			f, ok := ss.s.Next(cursor)
			if !ok || f.After(now) {
				break
			}
			cursor = f
			id := scheduledRunID(sid, f)
			if js.runs[id] != nil {
				continue // made before a failover
			}
			r := &Run{ID: id, JobID: js.job.ID, Trigger: TriggerSchedule, ScheduleID: sid, ScheduledAt: f.UTC(), CreatedAt: now}
			c.admit(js, r, policyFor(js.job, sid), now)
		}
		js.cursor.Schedules[sid] = cursor.UTC()
		c.persistCursor(js.job.ID)
		ss.next, _ = ss.s.Next(cursor)
	}
}

// timers applies the deadlines of unfinished runs.
func (c *Core) timers(now time.Time) {
	var due []*Run
	for _, r := range c.active {
		if c.overdue(r, now) {
			due = append(due, r)
		}
	}
	slices.SortFunc(due, func(a, b *Run) int {
		if r := strings.Compare(a.JobID, b.JobID); r != 0 {
			return r
		}
		return runOrder(a, b)
	})
	for _, r := range due {
		c.expire(c.jobs[r.JobID], r, now)
	}
}

// deadlineOf returns when r must have done its next step, the status it
// then ends in and why; ok is false when no deadline applies.
func (c *Core) deadlineOf(js *jobState, r *Run) (at time.Time, status, msg string, ok bool) {
	spec := js.job.Run
	if ads := spec.Restart.ActiveDeadlineSeconds; ads > 0 && len(r.Tasks) > 0 && r.Killing == "" {
		at = r.Tasks[0].LaunchedAt.Add(seconds(ads))
		status, msg, ok = StatusFailed, fmt.Sprintf("exceeded activeDeadlineSeconds %d", ads), true
	}
	if r.Status != StatusInitial {
		return at, status, msg, ok
	}
	var wait time.Time
	var wstatus, wmsg string
	if r.Trigger == TriggerSchedule && len(r.Tasks) == 0 {
		secs := job.DefaultStartingDeadlineSeconds
		for _, s := range js.job.Schedules {
			if s.ID == r.ScheduleID {
				secs = startingDeadline(s)
			}
		}
		wait = r.ScheduledAt.Add(seconds(secs))
		wstatus, wmsg = StatusMissed, fmt.Sprintf("not started within startingDeadlineSeconds %d of its fire time: no offer fitted", secs)
	} else {
		secs := maxLaunchDelay(spec)
		from := r.CreatedAt
		if r.NextAttemptAt.After(from) {
			from = r.NextAttemptAt
		}
		wait = from.Add(seconds(secs))
		wstatus, wmsg = StatusFailed, fmt.Sprintf("no offer fitted within maxLaunchDelay %ds", secs)
	}
	if !ok || wait.Before(at) {
		return wait, wstatus, wmsg, true
	}
	return at, status, msg, ok
}

func (c *Core) overdue(r *Run, now time.Time) bool {
	if r.Killing != "" {
		t := liveTask(r)
		return t != nil && now.Sub(c.killedAt[t.ID]) >= c.cfg.KillRetry
	}
	at, _, _, ok := c.deadlineOf(c.jobs[r.JobID], r)
	return ok && now.After(at)
}

// expire acts on an overdue run: kill again, kill for the deadline, or end
// a waiting run.
func (c *Core) expire(js *jobState, r *Run, now time.Time) {
	if r.Killing != "" {
		if t := liveTask(r); t != nil {
			c.kill(t, now)
		}
		return
	}
	_, status, msg, _ := c.deadlineOf(js, r)
	c.stop(js, r, status, msg, now)
}
