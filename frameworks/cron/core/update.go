package core

import (
	"fmt"
	"time"

	"agora/core/mesos"
	"agora/frameworks/cron/job"
)

// Update takes a task status update. Updates for unknown tasks, for an
// attempt that is no longer the run's latest, or after the attempt ended
// are ignored.
func (c *Core) Update(st mesos.TaskStatus, now time.Time) Decisions {
	c.update(st, now)
	return c.finish(now)
}

func (c *Core) update(st mesos.TaskStatus, now time.Time) {
	tid := st.TaskID.Value
	ref, ok := c.byTask[tid]
	if !ok {
		return
	}
	js := c.jobs[ref.JobID]
	if js == nil {
		return
	}
	r := js.runs[ref.RunID]
	if r == nil || Finished(r.Status) || len(r.Tasks) == 0 {
		return
	}
	t := &r.Tasks[len(r.Tasks)-1]
	if t.ID != tid || mesos.IsTerminal(t.State) || t.State == mesos.TaskUnknown {
		return // stale: an earlier attempt, or one already ended
	}
	recovered := c.reconciling[tid]
	delete(c.reconciling, tid)
	if st.AgentID != nil && t.AgentID == "" {
		t.AgentID = st.AgentID.Value
	}
	wasStarting := r.Status == StatusStarting
	t.State = st.State
	switch st.State {
	case mesos.TaskStaging, mesos.TaskStarting, mesos.TaskKilling:
		return // nothing a user would see changes
	case mesos.TaskRunning:
		if t.StartedAt.IsZero() {
			t.StartedAt = now
		}
		if r.StartedAt.IsZero() {
			r.StartedAt = now
		}
		r.Status = StatusActive
		c.persistRun(r)
		return
	case mesos.TaskUnreachable:
		// The master tells later whether it came back or is gone.
		t.Message = st.Message
		c.persistRun(r)
		return
	}
	// Terminal from here on.
	t.CompletedAt = now
	t.Message = st.Message
	t.ExitCode = exitCode(st.Message)
	delete(c.byTask, tid)
	delete(c.killedAt, tid)
	if st.State == mesos.TaskFinished {
		if t.ExitCode == nil {
			z := 0
			t.ExitCode = &z
		}
		c.end(js, r, StatusSuccess, "", now)
		return
	}
	if r.Killing != "" {
		c.end(js, r, r.Killing, r.Message, now)
		return
	}
	if recovered && wasStarting && neverRan(st.State) {
		// Stored before its launch and never seen by the master (or gone
		// before it ran): launch it again, not as a failure.
		t.Message = fmt.Sprintf("%s at reconciliation: never started; launching again", st.State)
		r.Status, r.NextAttemptAt = StatusInitial, time.Time{}
		c.persistRun(r)
		if c.overdue(r, now) {
			c.expire(js, r, now)
		}
		return
	}
	c.failed(js, r, t, st, now)
}

// neverRan: the answers that mean a task is not known to have run.
func neverRan(state string) bool {
	switch state {
	case mesos.TaskLost, mesos.TaskGone, mesos.TaskGoneByOperator, mesos.TaskUnknown, mesos.TaskDropped:
		return true
	}
	return false
}

// failed handles a failed attempt: retried after its backoff with
// ON_FAILURE while retries and the active deadline allow, else the run
// fails.
func (c *Core) failed(js *jobState, r *Run, t *Task, st mesos.TaskStatus, now time.Time) {
	spec := js.job.Run
	r.Failures++
	why := st.State
	if st.Message != "" {
		why += ": " + st.Message
	}
	inTime := true
	if ads := spec.Restart.ActiveDeadlineSeconds; ads > 0 {
		inTime = now.Before(r.Tasks[0].LaunchedAt.Add(seconds(ads)))
	}
	if spec.Restart.Policy == job.OnFailure && r.Failures <= retries(spec) && inTime {
		r.Status = StatusInitial
		r.NextAttemptAt = now.Add(backoff(spec, r.Failures))
		r.Message = fmt.Sprintf("attempt %d failed (%s); retry %d of %d after %s", len(r.Tasks), why, r.Failures, retries(spec), backoff(spec, r.Failures))
		c.persistRun(r)
		return
	}
	msg := fmt.Sprintf("attempt %d (task %s) failed: %s", len(r.Tasks), t.ID, why)
	if spec.Restart.Policy == job.OnFailure {
		if !inTime {
			msg += fmt.Sprintf("; not retried past activeDeadlineSeconds %d", spec.Restart.ActiveDeadlineSeconds)
		} else {
			msg += fmt.Sprintf("; no retries left (retries %d)", retries(spec))
		}
	}
	c.end(js, r, StatusFailed, msg, now)
}
