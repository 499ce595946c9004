package core

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"agora/core/mesos"
	"agora/frameworks/cron/job"
)

// startOne fires the minute-1 run of job id and launches it; it returns
// the run id and its task id.
func startOne(t *testing.T, s *sim, id string, at time.Time) (string, string) {
	t.Helper()
	s.tick(at)
	tids := launched(s.offer("h1", at))
	if len(tids) != 1 {
		t.Fatalf("launched %v, want one task", tids)
	}
	s.update(tids[0], mesos.TaskRunning, "", at)
	ref := s.c.byTask[tids[0]]
	return ref.RunID, tids[0]
}

func TestConcurrencyPolicies(t *testing.T) {
	t.Run("ALLOW starts another run", func(t *testing.T) {
		s := newSim(t, Config{})
		s.put(newJob("j", sched("* * * * *", policy(job.Allow))), t0)
		startOne(t, s, "j", t0.Add(time.Minute))
		d := s.tick(t0.Add(2 * time.Minute))
		if len(d.PersistRuns) != 1 || d.PersistRuns[0].Status != StatusInitial || len(d.Kill) != 0 {
			t.Fatalf("second fire: %+v", d)
		}
		if n := len(s.c.Runs("j")); n != 2 {
			t.Errorf("%d active runs, want 2", n)
		}
		if _, _, err := s.c.RunNow("j", t0.Add(2*time.Minute)); err != nil {
			t.Errorf("RunNow under ALLOW: %v", err)
		}
	})
	t.Run("FORBID skips the new fire", func(t *testing.T) {
		s := newSim(t, Config{})
		s.put(newJob("j", sched("* * * * *", policy(job.Forbid))), t0)
		first, tid := startOne(t, s, "j", t0.Add(time.Minute))
		d := s.tick(t0.Add(2 * time.Minute))
		if len(d.PersistRuns) != 1 {
			t.Fatalf("persisted %v", runIDs(d.PersistRuns))
		}
		r := d.PersistRuns[0]
		if r.Status != StatusSkipped || !strings.Contains(r.Message, first) || !strings.Contains(r.Message, "FORBID") {
			t.Errorf("second fire = %s %q, want SKIPPED naming %s and FORBID", r.Status, r.Message, first)
		}
		_, _, err := s.c.RunNow("j", t0.Add(2*time.Minute))
		var ce *ConflictError
		if !errors.As(err, &ce) || !strings.Contains(ce.Msg, first) {
			t.Errorf("RunNow under FORBID = %v, want a ConflictError naming %s", err, first)
		}
		// Once the first run ends, the next fire runs.
		s.update(tid, mesos.TaskFinished, "", t0.Add(150*time.Second))
		d = s.tick(t0.Add(3 * time.Minute))
		if len(d.PersistRuns) != 1 || d.PersistRuns[0].Status != StatusInitial {
			t.Errorf("third fire: %v", d.PersistRuns)
		}
	})
	t.Run("REPLACE kills the active run", func(t *testing.T) {
		s := newSim(t, Config{})
		s.put(newJob("j", sched("* * * * *", policy(job.Replace))), t0)
		first, tid := startOne(t, s, "j", t0.Add(time.Minute))
		d := s.tick(t0.Add(2 * time.Minute))
		second := scheduledRunID("s1", t0.Add(2*time.Minute))
		if !slices.Equal(killed(d), []string{tid}) {
			t.Fatalf("killed %v, want %s", killed(d), tid)
		}
		if r := s.run("j", second); r.Status != StatusInitial {
			t.Errorf("new run %s, want INITIAL", r.Status)
		}
		if r := s.runs[RunRef{"j", first}]; r.Killing != StatusStopped {
			t.Errorf("stored replaced run has Killing %q, want STOPPED (so a failover knows the kill was ours)", r.Killing)
		}
		s.update(tid, mesos.TaskKilled, "killed by the executor", t0.Add(2*time.Minute+time.Second))
		r := s.run("j", first)
		if r.Status != StatusStopped || r.Message != "replaced by "+second {
			t.Errorf("replaced run = %s %q, want STOPPED, replaced by %s", r.Status, r.Message, second)
		}
		if h, _ := s.c.History("j"); h.FailureCount != 0 {
			t.Errorf("a replaced run counted as a failure")
		}
		// A run still waiting for an offer is replaced at once.
		s.tick(t0.Add(3 * time.Minute))
		if r := s.run("j", second); r.Status != StatusStopped || !strings.Contains(r.Message, "replaced by") {
			t.Errorf("waiting run = %s %q, want STOPPED at once", r.Status, r.Message)
		}
	})
	t.Run("manual runs follow the first schedule's policy", func(t *testing.T) {
		s := newSim(t, Config{})
		s.put(newJob("j", sched("0 0 1 1 *", policy(job.Replace)), sched("0 0 2 1 *", policy(job.Forbid))), t0)
		r1, _, err := s.c.RunNow("j", t0)
		if err != nil {
			t.Fatal(err)
		}
		r2, d, err := s.c.RunNow("j", t0)
		if err != nil {
			t.Fatal(err)
		}
		s.apply(d)
		if r1.ID == r2.ID || !strings.HasPrefix(r2.ID, "20240301T000000Z-manual-") {
			t.Errorf("manual run ids %s, %s", r1.ID, r2.ID)
		}
		if r := s.run("j", r1.ID); r.Status != StatusStopped {
			t.Errorf("first manual run %s, want STOPPED by REPLACE", r.Status)
		}
	})
}

func TestRetriesWithBackoff(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("j", sched("0 * * * *"), onFailure(3, 10, 2)), t0)
	at := t0.Add(time.Hour)
	s.tick(at)
	id := scheduledRunID("s1", at)
	wantWait := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second}
	now := at
	for attempt := 1; attempt <= 4; attempt++ {
		tids := launched(s.offer("h1", now))
		if len(tids) != 1 || tids[0] != taskID("j", id, attempt) {
			t.Fatalf("attempt %d: launched %v, want %s", attempt, tids, taskID("j", id, attempt))
		}
		s.update(tids[0], mesos.TaskRunning, "", now)
		s.update(tids[0], mesos.TaskFailed, "Command exited with status 3", now.Add(time.Second))
		now = now.Add(time.Second)
		r := s.run("j", id)
		if ec := r.Tasks[attempt-1].ExitCode; ec == nil || *ec != 3 {
			t.Errorf("attempt %d exit code %v, want 3", attempt, ec)
		}
		if attempt == 4 {
			if r.Status != StatusFailed || !strings.Contains(r.Message, "no retries left") {
				t.Errorf("after 4 attempts: %s %q, want FAILED with no retries left", r.Status, r.Message)
			}
			break
		}
		if r.Status != StatusInitial || !r.NextAttemptAt.Equal(now.Add(wantWait[attempt-1])) {
			t.Fatalf("after attempt %d: %s next at %v, want INITIAL at +%v", attempt, r.Status, r.NextAttemptAt, wantWait[attempt-1])
		}
		// Not before the backoff.
		if got := launched(s.offer("h1", r.NextAttemptAt.Add(-time.Millisecond))); len(got) != 0 {
			t.Fatalf("launched %v during the backoff", got)
		}
		now = r.NextAttemptAt
	}
	if h, _ := s.c.History("j"); h.FailureCount != 1 || h.SuccessCount != 0 {
		t.Errorf("history %+v, want one failed run", h)
	}
}

func TestBackoffCappedAtMaxLaunchDelay(t *testing.T) {
	r := job.Run{MaxLaunchDelay: 30, Restart: job.Restart{BackoffSeconds: 10, BackoffFactor: 3}}
	for n, want := range map[int]time.Duration{1: 10 * time.Second, 2: 30 * time.Second, 3: 30 * time.Second, 50: 30 * time.Second} {
		if got := backoff(r, n); got != want {
			t.Errorf("backoff after %d failures = %v, want %v", n, got, want)
		}
	}
}

func TestNeverPolicyFailsAtOnce(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("j", sched("* * * * *")), t0)
	id, tid := startOne(t, s, "j", t0.Add(time.Minute))
	s.update(tid, mesos.TaskLost, "agent gone", t0.Add(90*time.Second))
	r := s.run("j", id)
	if r.Status != StatusFailed || !strings.Contains(r.Message, "TASK_LOST: agent gone") || r.Tasks[0].ExitCode != nil {
		t.Errorf("run = %s %q exit %v, want FAILED naming TASK_LOST and no exit code", r.Status, r.Message, r.Tasks[0].ExitCode)
	}
}

func TestActiveDeadlineKillsAndFails(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("j", sched("* * * * *"), func(j *job.Job) { j.Run.Restart.ActiveDeadlineSeconds = 60 }), t0)
	launchAt := t0.Add(time.Minute)
	id, tid := startOne(t, s, "j", launchAt)
	if d := s.tick(launchAt.Add(60 * time.Second)); len(d.Kill) != 0 {
		t.Fatalf("killed at the deadline itself: %v", killed(d))
	}
	d := s.tick(launchAt.Add(61 * time.Second))
	if !slices.Contains(killed(d), tid) {
		t.Fatalf("killed %v, want %s after activeDeadlineSeconds", killed(d), tid)
	}
	// No answer to the kill: it is sent again after KillRetry.
	if d := s.tick(launchAt.Add(80 * time.Second)); slices.Contains(killed(d), tid) {
		t.Errorf("kill re-sent before KillRetry")
	}
	if d := s.tick(launchAt.Add(91 * time.Second)); !slices.Contains(killed(d), tid) {
		t.Errorf("kill not re-sent after KillRetry: %v", killed(d))
	}
	s.update(tid, mesos.TaskKilled, "", launchAt.Add(92*time.Second))
	r := s.run("j", id)
	if r.Status != StatusFailed || r.Message != "exceeded activeDeadlineSeconds 60" {
		t.Errorf("run = %s %q, want FAILED, exceeded activeDeadlineSeconds 60", r.Status, r.Message)
	}
}

func TestActiveDeadlineBoundsRetries(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("j", sched("0 * * * *"), onFailure(5, 100, 1), func(j *job.Job) { j.Run.Restart.ActiveDeadlineSeconds = 150 }), t0)
	at := t0.Add(time.Hour)
	s.tick(at)
	id := scheduledRunID("s1", at)
	tid := launched(s.offer("h", at))[0]
	s.update(tid, mesos.TaskFailed, "", at.Add(10*time.Second))
	if r := s.run("j", id); r.Status != StatusInitial {
		t.Fatalf("first failure: %s, want a retry", r.Status)
	}
	tid = launched(s.offer("h", at.Add(110*time.Second)))[0]
	s.update(tid, mesos.TaskFailed, "", at.Add(151*time.Second))
	r := s.run("j", id)
	if r.Status != StatusFailed || !strings.Contains(r.Message, "not retried past activeDeadlineSeconds 150") {
		t.Errorf("second failure past the deadline: %s %q", r.Status, r.Message)
	}
}

func TestStaleAndUnknownUpdatesAreIgnored(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("j", sched("0 * * * *"), onFailure(3, 1, 2)), t0)
	at := t0.Add(time.Hour)
	s.tick(at)
	id := scheduledRunID("s1", at)
	first := launched(s.offer("h", at))[0]
	s.update(first, mesos.TaskFailed, "", at)
	second := launched(s.offer("h", at.Add(2*time.Second)))[0]
	s.update(second, mesos.TaskRunning, "", at.Add(3*time.Second))
	for _, st := range []string{mesos.TaskFinished, mesos.TaskFailed, mesos.TaskRunning} {
		if d := s.update(first, st, "", at.Add(4*time.Second)); len(d.PersistRuns) != 0 {
			t.Errorf("stale %s for the first attempt changed %v", st, runIDs(d.PersistRuns))
		}
	}
	if d := s.update("nobody.knows.1", mesos.TaskRunning, "", at); len(d.PersistRuns)+len(d.Kill) != 0 {
		t.Errorf("unknown task changed something: %+v", d)
	}
	if r := s.run("j", id); r.Status != StatusActive {
		t.Errorf("run %s, want ACTIVE", r.Status)
	}
	// Unreachable: still waiting.
	s.update(second, mesos.TaskUnreachable, "agent partitioned", at.Add(5*time.Second))
	if r := s.run("j", id); r.Status != StatusActive {
		t.Errorf("after TASK_UNREACHABLE the run is %s, want still ACTIVE", r.Status)
	}
	s.update(second, mesos.TaskFinished, "", at.Add(6*time.Second))
	if r := s.run("j", id); r.Status != StatusSuccess || r.Failures != 1 {
		t.Errorf("run %s with %d failures, want SUCCESS after 1", r.Status, r.Failures)
	}
}

// Recover from what a run in progress persisted: the same fire makes no
// second run, the task is reconciled and its updates finish the run.
func TestRecoverRunInProgressMakesNoSecondRun(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("j", sched("*/5 * * * *")), t0)
	fire := t0.Add(5 * time.Minute)
	id, tid := startOne(t, s, "j", fire)

	d := s.recovered(fire.Add(time.Minute))
	if len(d.Reconcile) != 1 || d.Reconcile[0].TaskID.Value != tid || d.Reconcile[0].AgentID == nil {
		t.Fatalf("Reconcile = %+v, want %s with its agent", d.Reconcile, tid)
	}
	if d := s.tick(fire.Add(time.Minute)); len(d.PersistRuns) != 0 {
		t.Fatalf("tick after recovery persisted %v", runIDs(d.PersistRuns))
	}
	if got := launched(s.offer("h1", fire.Add(time.Minute))); len(got) != 0 {
		t.Fatalf("launched %v after recovery", got)
	}
	s.update(tid, mesos.TaskRunning, "", fire.Add(time.Minute))
	s.update(tid, mesos.TaskFinished, "", fire.Add(2*time.Minute))
	if r := s.run("j", id); r.Status != StatusSuccess {
		t.Errorf("run %s, want SUCCESS", r.Status)
	}
	// The next fire is the next one, once.
	d = s.tick(fire.Add(5 * time.Minute))
	if len(d.PersistRuns) != 1 || d.PersistRuns[0].ID != scheduledRunID("s1", fire.Add(5*time.Minute)) {
		t.Errorf("next fire persisted %v", runIDs(d.PersistRuns))
	}
}

// A failover after the run was written but before the cursor was: the
// cursor is rebuilt from the run, so the fire is not made again.
func TestRecoverRebuildsCursorFromRuns(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("j", sched("*/5 * * * *")), t0)
	stale := s.cursors["j"]
	fire := t0.Add(5 * time.Minute)
	s.tick(fire)
	s.cursors["j"] = stale // the cursor write was lost
	d := s.recovered(fire.Add(time.Second))
	if len(d.PersistCursors) != 1 || !d.PersistCursors[0].Schedules["s1"].Equal(fire) {
		t.Errorf("recovered cursor = %+v, want s1 at %v", d.PersistCursors, fire)
	}
	if d := s.tick(fire.Add(2 * time.Second)); len(d.PersistRuns) != 0 {
		t.Errorf("fire made twice: %v", runIDs(d.PersistRuns))
	}
	if n := len(s.c.Runs("j")); n != 1 {
		t.Errorf("%d active runs, want 1", n)
	}
}

// A run stored as STARTING whose task the master never saw (the driver
// stopped between the write and the launch) is launched again as a new
// attempt, not counted as a failure.
func TestRecoverRelaunchesAttemptThatNeverStarted(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("j", sched("*/5 * * * *")), t0)
	fire := t0.Add(5 * time.Minute)
	s.tick(fire)
	tid := launched(s.offer("h1", fire))[0]
	id := s.c.byTask[tid].RunID
	s.recovered(fire.Add(time.Minute))
	d := s.update(tid, mesos.TaskLost, "Reconciliation: task is unknown", fire.Add(time.Minute))
	if len(d.PersistRuns) != 1 || d.PersistRuns[0].Status != StatusInitial {
		t.Fatalf("after TASK_LOST at reconciliation: %+v", d.PersistRuns)
	}
	got := launched(s.offer("h1", fire.Add(time.Minute)))
	if len(got) != 1 || got[0] != taskID("j", id, 2) {
		t.Fatalf("relaunched %v, want attempt 2", got)
	}
	if r := s.run("j", id); r.Failures != 0 || r.Status != StatusStarting {
		t.Errorf("run %s with %d failures, want STARTING with none", r.Status, r.Failures)
	}
	// The same answer for a run that had been running is a failure.
	s.update(got[0], mesos.TaskRunning, "", fire.Add(2*time.Minute))
	s.recovered(fire.Add(3 * time.Minute))
	s.update(got[0], mesos.TaskLost, "", fire.Add(3*time.Minute))
	if r := s.run("j", id); r.Status != StatusFailed {
		t.Errorf("lost while running: %s, want FAILED (NEVER policy)", r.Status)
	}
}

// Our own kill in flight at a failover still ends the run as its cause
// says, and is sent again.
func TestRecoverKeepsKillCause(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("j", sched("* * * * *")), t0)
	id, tid := startOne(t, s, "j", t0.Add(time.Minute))
	d, err := s.c.StopRun("j", id, t0.Add(70*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	s.apply(d)
	d = s.recovered(t0.Add(80 * time.Second))
	if !slices.Contains(killed(d), tid) {
		t.Errorf("kill not re-sent after recovery: %v", killed(d))
	}
	s.update(tid, mesos.TaskKilled, "", t0.Add(81*time.Second))
	if r := s.run("j", id); r.Status != StatusStopped || r.Message != "stopped by user" {
		t.Errorf("run = %s %q, want STOPPED by user", r.Status, r.Message)
	}
}

func TestDependencies(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("a"), t0)
	s.put(newJob("b"), t0)
	s.put(newJob("c", dependsOn("a", "b")), t0)
	runTo := func(jobID, final string, now time.Time) {
		t.Helper()
		r, d, err := s.c.RunNow(jobID, now)
		if err != nil {
			t.Fatal(err)
		}
		s.apply(d)
		want := taskID(jobID, r.ID, 1)
		if tids := launched(s.offer("h", now)); !slices.Contains(tids, want) {
			t.Fatalf("launched %v, want %s", tids, want)
		}
		s.update(want, mesos.TaskRunning, "", now)
		s.update(want, final, "", now)
		if got := s.run(jobID, r.ID).Status; got == "" {
			t.Fatal("no run")
		}
	}
	dependencyRuns := func() int {
		n := 0
		for _, r := range s.runs {
			if r.JobID == "c" && r.Trigger == TriggerDependency {
				n++
			}
		}
		return n
	}
	runTo("a", mesos.TaskFinished, t0.Add(time.Minute))
	if dependencyRuns() != 0 {
		t.Fatal("c ran after only one of its parents succeeded")
	}
	if p := s.cursors["c"].Parents; p["a"] == "" {
		t.Errorf("c's cursor does not record a's success: %v", p)
	}
	runTo("b", mesos.TaskFailed, t0.Add(2*time.Minute))
	if dependencyRuns() != 0 {
		t.Fatal("c ran after a parent failed")
	}
	runTo("b", mesos.TaskFinished, t0.Add(3*time.Minute))
	if dependencyRuns() != 1 {
		t.Fatalf("c has %d dependency runs after both parents succeeded, want 1", dependencyRuns())
	}
	if p := s.cursors["c"].Parents; len(p) != 0 {
		t.Errorf("c's parents not reset after its run: %v", p)
	}
	runTo("a", mesos.TaskFinished, t0.Add(4*time.Minute))
	if dependencyRuns() != 1 {
		t.Errorf("c ran again after only a succeeded again")
	}
	// The parents cannot be deleted while c depends on them.
	_, err := s.c.DeleteJob("a", t0.Add(5*time.Minute))
	var ce *ConflictError
	if !errors.As(err, &ce) || !strings.Contains(ce.Msg, `"c"`) && !strings.Contains(ce.Msg, "c") {
		t.Errorf("DeleteJob(a) = %v, want a ConflictError naming c", err)
	}
	if _, err := s.c.DeleteJobStop("b", t0.Add(5*time.Minute)); !errors.As(err, &ce) {
		t.Errorf("DeleteJobStop(b) = %v, want a ConflictError", err)
	}
}

func TestDependencyCycleAndUnknownParentRejected(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("a"), t0)
	s.put(newJob("b", dependsOn("a")), t0)
	_, err := s.c.PutJob(newJob("a", dependsOn("b")), t0)
	var fe job.FieldErrors
	if !errors.As(err, &fe) {
		t.Fatalf("cycle: err = %v, want job.FieldErrors", err)
	}
	wantErrContains(t, err, "cycle: a -> b -> a")
	if got, _ := s.c.Job("a"); len(got.Dependencies) != 0 {
		t.Errorf("rejected definition was installed")
	}
	_, err = s.c.PutJob(newJob("c", dependsOn("ghost")), t0)
	wantErrContains(t, err, "ghost")
	if _, ok := s.c.Job("c"); ok {
		t.Error("job with an unknown parent was created")
	}
	_, err = s.c.PutJob(newJob("BAD ID"), t0)
	if !errors.As(err, &fe) {
		t.Errorf("invalid id: err = %v, want job.FieldErrors", err)
	}
}

func TestHistoryTrimming(t *testing.T) {
	s := newSim(t, Config{MaxHistory: 3})
	s.put(newJob("j", sched("* * * * *")), t0)
	var ids []string
	for m := 1; m <= 5; m++ {
		now := t0.Add(time.Duration(m) * time.Minute)
		s.tick(now)
		tid := launched(s.offer("h", now))[0]
		ids = append(ids, s.c.byTask[tid].RunID)
		final := mesos.TaskFinished
		if m == 2 {
			final = mesos.TaskFailed
		}
		s.update(tid, final, "", now.Add(time.Second))
	}
	h, hist := s.c.History("j")
	if !slices.Equal(runIDs(hist), []string{ids[4], ids[3], ids[2]}) {
		t.Errorf("history = %v, want the 3 newest, newest first", runIDs(hist))
	}
	if h.SuccessCount != 4 || h.FailureCount != 1 || !h.LastSuccessAt.Equal(t0.Add(5*time.Minute+time.Second)) || !h.LastFailureAt.Equal(t0.Add(2*time.Minute+time.Second)) {
		t.Errorf("summary = %+v, want 4 successes, 1 failure (kept across trimming)", h)
	}
	for _, id := range ids[:2] {
		if _, ok := s.runs[RunRef{"j", id}]; ok {
			t.Errorf("trimmed run %s still stored", id)
		}
	}
	// The summary survives a failover: it lives in the cursor.
	s.recovered(t0.Add(10 * time.Minute))
	if h2, hist2 := s.c.History("j"); h2 != h || len(hist2) != 3 {
		t.Errorf("after recovery: %+v with %d runs, want %+v with 3", h2, len(hist2), h)
	}
}

func TestDeleteAndStop(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("j", sched("* * * * *")), t0)
	id, tid := startOne(t, s, "j", t0.Add(time.Minute))

	_, err := s.c.DeleteJob("j", t0.Add(2*time.Minute))
	var ce *ConflictError
	if !errors.As(err, &ce) || !strings.Contains(ce.Msg, id) || !strings.Contains(ce.Msg, "?stopCurrentJobRuns=true") {
		t.Fatalf("DeleteJob with an active run = %v, want a ConflictError naming %s and the fix", err, id)
	}
	if _, err := s.c.DeleteJob("ghost", t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteJob(ghost) = %v, want ErrNotFound", err)
	}
	if _, err := s.c.StopRun("j", "nope", t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("StopRun(unknown) = %v, want ErrNotFound", err)
	}
	if _, _, err := s.c.RunNow("ghost", t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("RunNow(ghost) = %v, want ErrNotFound", err)
	}

	// StopRun of a waiting run ends it at once.
	r, d, _ := s.c.RunNow("j", t0.Add(90*time.Second))
	s.apply(d)
	d, err = s.c.StopRun("j", r.ID, t0.Add(91*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	s.apply(d)
	if got := s.run("j", r.ID); got.Status != StatusStopped || len(d.Kill) != 0 {
		t.Errorf("stopped waiting run = %s, kills %v; want STOPPED at once", got.Status, killed(d))
	}

	d, err = s.c.DeleteJobStop("j", t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	s.apply(d)
	if !slices.Equal(killed(d), []string{tid}) {
		t.Errorf("DeleteJobStop killed %v, want %s", killed(d), tid)
	}
	if !slices.Equal(d.DeleteCursors, []string{"j"}) || len(s.runs) != 0 {
		t.Errorf("after delete: cursors deleted %v, %d runs stored", d.DeleteCursors, len(s.runs))
	}
	if len(d.PersistCursors) != 0 {
		t.Errorf("deleted job's cursor persisted: %+v", d.PersistCursors)
	}
	if _, ok := s.c.Job("j"); ok {
		t.Error("job still there")
	}
	// The kill's answer for a deleted job is ignored.
	if d := s.update(tid, mesos.TaskKilled, "", t0.Add(3*time.Minute)); len(d.PersistRuns) != 0 {
		t.Errorf("update for a deleted job persisted %v", runIDs(d.PersistRuns))
	}
}

func TestSuppressAndRevive(t *testing.T) {
	s := newSim(t, Config{})
	d := s.put(newJob("j", sched("0 * * * *")), t0)
	if !d.Suppress {
		t.Errorf("nothing waits but no Suppress")
	}
	d = s.tick(t0.Add(time.Hour))
	if !d.Revive {
		t.Errorf("a run waits but no Revive")
	}
	if d := s.tick(t0.Add(time.Hour + time.Second)); d.Revive || d.Suppress {
		t.Errorf("repeated Revive/Suppress: %+v", d)
	}
	d = s.offer("h", t0.Add(time.Hour+2*time.Second))
	if len(d.Launch) != 1 || !d.Suppress {
		t.Errorf("launch of the last waiting run: %d launches, Suppress %v", len(d.Launch), d.Suppress)
	}
}

// A new subscription (the stream dropped, the framework kept running)
// reconciles like a recovery: a task the master never saw is launched
// again, not counted as a failure.
func TestReconcileAfterResubscribeRelaunchesAttemptThatNeverStarted(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("j", sched("*/5 * * * *")), t0)
	fire := t0.Add(5 * time.Minute)
	s.tick(fire)
	tid := launched(s.offer("h1", fire))[0]
	id := s.c.byTask[tid].RunID
	d := s.c.Reconcile(fire.Add(time.Second))
	if len(d.Reconcile) != 1 || d.Reconcile[0].TaskID.Value != tid {
		t.Fatalf("Reconcile asks about %+v, want %s", d.Reconcile, tid)
	}
	s.update(tid, mesos.TaskLost, "Reconciliation: task is unknown", fire.Add(2*time.Second))
	if r := s.run("j", id); r.Failures != 0 || r.Status != StatusInitial {
		t.Fatalf("run %s with %d failures after TASK_LOST at reconciliation, want INITIAL with none", r.Status, r.Failures)
	}
}
