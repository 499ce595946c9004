package core

import (
	"strings"
	"testing"
	"time"

	"agora/core/mesos"
	"agora/frameworks/cron/job"
)

// A day of an every-minute job, ticked every 20 seconds, with every run
// launched and finishing: exactly 1440 runs, one per minute, none twice.
func TestEveryMinuteForADayMakesExactly1440Runs(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("minutely", sched("* * * * *")), t0)
	made := map[string]bool{}
	for now := t0.Add(20 * time.Second); !now.After(t0.Add(24 * time.Hour)); now = now.Add(20 * time.Second) {
		d := s.tick(now)
		for _, r := range d.PersistRuns {
			if r.Status == StatusInitial {
				if made[r.ID] {
					t.Fatalf("run %s made twice", r.ID)
				}
				made[r.ID] = true
			}
		}
		for _, tid := range launched(s.offer("h1", now)) {
			s.update(tid, mesos.TaskRunning, "", now)
			s.update(tid, mesos.TaskFinished, "Command exited with status 0", now)
		}
	}
	if len(made) != 1440 {
		t.Fatalf("made %d runs in a day, want 1440", len(made))
	}
	for m := 1; m <= 1440; m++ {
		if id := scheduledRunID("s1", t0.Add(time.Duration(m)*time.Minute)); !made[id] {
			t.Fatalf("no run for the fire at minute %d (%s)", m, id)
		}
	}
	h, hist := s.c.History("minutely")
	if h.SuccessCount != 1440 || h.FailureCount != 0 {
		t.Errorf("history counts = %+v, want 1440 successes", h)
	}
	if len(hist) != 50 || hist[0].ID != scheduledRunID("s1", t0.Add(24*time.Hour)) {
		t.Errorf("history keeps %d runs, newest %s; want 50, the last fire's first", len(hist), hist[0].ID)
	}
	if n := len(s.runs); n != 50 {
		t.Errorf("store holds %d runs after trimming, want 50", n)
	}
}

// A master away for three hours: MaxMissed MISSED records standing for
// every fire that can no longer start, and one run for the newest fire,
// still within its starting deadline.
func TestCatchUpAfterOutageRecordsMissedAndStartsTheNewest(t *testing.T) {
	s := newSim(t, Config{MaxMissed: 5})
	s.put(newJob("minutely", sched("* * * * *", deadline(60))), t0)
	now := t0.Add(3*time.Hour + 30*time.Second)
	d := s.tick(now)
	var missed, started []Run
	for _, r := range d.PersistRuns {
		switch r.Status {
		case StatusMissed:
			missed = append(missed, r)
		case StatusInitial:
			started = append(started, r)
		default:
			t.Errorf("unexpected run %s %s", r.ID, r.Status)
		}
	}
	if len(missed) != 5 {
		t.Fatalf("%d MISSED records, want MaxMissed = 5", len(missed))
	}
	total := 0
	for _, r := range missed {
		total += r.Missed
		if !strings.Contains(r.Message, "startingDeadlineSeconds 60") {
			t.Errorf("missed message %q does not name the deadline", r.Message)
		}
	}
	// Fires t0+1m .. t0+3h: 180; all but the one at t0+3h are more than
	// 60 s old.
	if total != 179 {
		t.Errorf("MISSED records stand for %d fires, want 179", total)
	}
	newest := missed[len(missed)-1]
	if newest.ScheduledAt != t0.Add(3*time.Hour-time.Minute) || newest.Missed != 175 {
		t.Errorf("newest missed record = %s at %s standing for %d; want the fire at 02:59 standing for 175", newest.ID, newest.ScheduledAt, newest.Missed)
	}
	if len(started) != 1 || !started[0].ScheduledAt.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("started %v, want one run for the 03:00 fire", runIDs(started))
	}
	if h, _ := s.c.History("minutely"); h.FailureCount != 179 {
		t.Errorf("history failureCount = %d, want 179", h.FailureCount)
	}
	if c := s.cursors["minutely"]; !c.Schedules["s1"].Equal(t0.Add(3 * time.Hour)) {
		t.Errorf("cursor = %v, want the 03:00 fire", c.Schedules["s1"])
	}
	if got := launched(s.offer("h1", now)); len(got) != 1 || !strings.Contains(got[0], "20240301T030000Z-s1") {
		t.Errorf("launched %v, want the 03:00 run", got)
	}
	// The next tick makes nothing more for the past.
	if d := s.tick(now.Add(time.Second)); len(d.PersistRuns) != 0 {
		t.Errorf("second tick persisted %v", runIDs(d.PersistRuns))
	}
}

// Within the deadline every fire gets its run; the concurrency policy then
// decides (here FORBID: one runs, the others are skipped).
func TestCatchUpWithinDeadlineAppliesPolicy(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("j", sched("* * * * *", policy(job.Forbid))), t0)
	d := s.tick(t0.Add(5 * time.Minute))
	got := map[string]int{}
	for _, r := range d.PersistRuns {
		got[r.Status]++
	}
	if got[StatusInitial] != 1 || got[StatusSkipped] != 4 {
		t.Errorf("statuses %v, want 1 INITIAL and 4 SKIPPED", got)
	}
}

func TestNewScheduleNeverFiresForThePast(t *testing.T) {
	s := newSim(t, Config{})
	// Added at 10:30 with a daily 10:00 schedule: the first fire is
	// tomorrow's.
	added := t0.Add(10*time.Hour + 30*time.Minute)
	s.put(newJob("daily", sched("0 10 * * *")), added)
	if d := s.tick(added.Add(time.Second)); len(d.PersistRuns) != 0 {
		t.Fatalf("fired for the past: %v", runIDs(d.PersistRuns))
	}
	d := s.tick(t0.Add(34 * time.Hour))
	if len(d.PersistRuns) != 1 || d.PersistRuns[0].ID != "20240302T100000Z-s1" {
		t.Errorf("persisted %v, want 20240302T100000Z-s1", runIDs(d.PersistRuns))
	}
	if len(d.PersistCursors) != 1 || !d.PersistCursors[0].Schedules["s1"].Equal(t0.Add(34*time.Hour)) {
		t.Errorf("cursor not advanced with the run: %+v", d.PersistCursors)
	}
}

func TestDisabledScheduleDoesNotFire(t *testing.T) {
	s := newSim(t, Config{})
	off := false
	s.put(newJob("j", sched("* * * * *", func(sc *job.Schedule) { sc.Enabled = &off })), t0)
	if d := s.tick(t0.Add(time.Hour)); len(d.PersistRuns) != 0 {
		t.Errorf("disabled schedule fired: %v", runIDs(d.PersistRuns))
	}
}

// A run that finds no offer within its starting deadline is MISSED, not
// started late; a manual run waits up to maxLaunchDelay, then fails.
func TestWaitingRunsMissOrFail(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("j", sched("* * * * *", deadline(30)), func(j *job.Job) { j.Run.MaxLaunchDelay = 120 }), t0)
	s.tick(t0.Add(time.Minute))
	id := scheduledRunID("s1", t0.Add(time.Minute))
	s.tick(t0.Add(time.Minute + 30*time.Second))
	if r := s.run("j", id); r.Status != StatusInitial {
		t.Fatalf("at the deadline the run is %s, want still INITIAL", r.Status)
	}
	s.tick(t0.Add(time.Minute + 31*time.Second))
	r := s.run("j", id)
	if r.Status != StatusMissed || !strings.Contains(r.Message, "startingDeadlineSeconds 30") {
		t.Fatalf("after the deadline: %s %q, want MISSED naming startingDeadlineSeconds 30", r.Status, r.Message)
	}
	if s.runs[RunRef{"j", id}].Status != StatusMissed {
		t.Errorf("MISSED not persisted")
	}
	// An offer after that launches nothing for the missed run.
	if got := launched(s.offer("h", t0.Add(time.Minute+40*time.Second))); len(got) != 0 {
		t.Errorf("launched %v after the deadline", got)
	}

	m := newSim(t, Config{})
	m.put(newJob("m", func(j *job.Job) { j.Run.MaxLaunchDelay = 120 }), t0)
	run, d, err := m.c.RunNow("m", t0)
	if err != nil {
		t.Fatal(err)
	}
	m.apply(d)
	m.tick(t0.Add(120 * time.Second))
	if r := m.run("m", run.ID); r.Status != StatusInitial {
		t.Fatalf("manual run %s before maxLaunchDelay", r.Status)
	}
	m.tick(t0.Add(121 * time.Second))
	if r := m.run("m", run.ID); r.Status != StatusFailed || r.Message != "no offer fitted within maxLaunchDelay 120s" {
		t.Errorf("manual run = %s %q, want FAILED, no offer fitted within maxLaunchDelay 120s", r.Status, r.Message)
	}
}

func TestReplacingAJobKeepsCursorUnlessScheduleChanged(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("j", sched("*/10 * * * *"), sched("0 * * * *")), t0)
	s.tick(t0.Add(10 * time.Minute)) // s1 fires at 00:10
	later := t0.Add(25 * time.Minute)
	j := newJob("j", sched("*/10 * * * *"), sched("30 * * * *"))
	j.Description = "changed"
	d := s.put(j, later)
	c := d.PersistCursors[0]
	if !c.Schedules["s1"].Equal(t0.Add(10 * time.Minute)) {
		t.Errorf("unchanged schedule's cursor = %v, want kept at 00:10", c.Schedules["s1"])
	}
	if !c.Schedules["s2"].Equal(later) {
		t.Errorf("changed schedule's cursor = %v, want restarted at %v", c.Schedules["s2"], later)
	}
	if _, ok := s.c.RunByID("j", scheduledRunID("s1", t0.Add(10*time.Minute))); !ok {
		t.Error("replacing the job lost its run")
	}
	got, _ := s.c.Job("j")
	if got.Description != "changed" {
		t.Errorf("job not replaced")
	}
}

func TestNextFiresMergesEnabledSchedules(t *testing.T) {
	s := newSim(t, Config{})
	off := false
	s.put(newJob("j", sched("0 * * * *"), sched("30 * * * *"), sched("15 * * * *", func(sc *job.Schedule) { sc.Enabled = &off })), t0)
	got := s.c.NextFires("j", 4, t0.Add(time.Minute))
	want := []time.Time{t0.Add(30 * time.Minute), t0.Add(time.Hour), t0.Add(90 * time.Minute), t0.Add(2 * time.Hour)}
	if len(got) != len(want) {
		t.Fatalf("NextFires = %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("NextFires[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if s.c.NextFires("nope", 3, t0) != nil {
		t.Error("NextFires of an unknown job is not empty")
	}
}

// Time zones: a daily 02:30 job in Berlin fires at 01:30 UTC in winter and
// its run id names the UTC instant.
func TestScheduleInTimeZone(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("tz", sched("30 2 * * *", func(sc *job.Schedule) { sc.Timezone = "Europe/Berlin" })), t0)
	d := s.tick(t0.Add(2 * time.Hour))
	if len(d.PersistRuns) != 1 || d.PersistRuns[0].ID != "20240301T013000Z-s1" {
		t.Errorf("persisted %v, want 20240301T013000Z-s1", runIDs(d.PersistRuns))
	}
}
