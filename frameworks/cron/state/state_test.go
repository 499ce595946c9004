package state

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"agora/core/store"
	"agora/core/store/boltstore"
	"agora/core/store/zkstore"
	"agora/core/zk/zktest"
	"agora/frameworks/cron/core"
	"agora/frameworks/cron/job"
)

// The same suite runs on both store implementations the framework can be
// deployed on; ZooKeeper is a real server, not a mock.

func TestBoltStore(t *testing.T) {
	runSuite(t, func(t *testing.T) store.Store {
		st, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

func TestZooKeeperStore(t *testing.T) {
	z := zktest.Start(t)
	var n atomic.Int64
	runSuite(t, func(t *testing.T) store.Store {
		st, err := zkstore.Open(z.Servers(), fmt.Sprintf("/agora%d", n.Add(1)), 10*time.Second, t.Logf)
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

func runSuite(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st store.Store, s *Store)
	}{
		{"FrameworkID", testFrameworkID},
		{"JobsRoundTrip", testJobsRoundTrip},
		{"CursorsAndRunsRoundTrip", testCursorsAndRunsRoundTrip},
		{"DeleteJobKeepsPrefixSiblings", testDeleteJobKeepsPrefixSiblings},
		{"UnusualIDs", testUnusualIDs},
		{"CorruptReported", testCorruptReported},
		{"OversizeRefused", testOversizeRefused},
		{"ApplyRunsBeforeCursors", testApplyRunsBeforeCursors},
		{"ApplyDeletesLast", testApplyDeletesLast},
		{"ApplyInvalidWritesNothing", testApplyInvalidWritesNothing},
		{"ApplyFailureStopsBeforeCursors", testApplyFailureStopsBeforeCursors},
		{"ApplyBoundedConcurrency", testApplyBoundedConcurrency},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := open(t)
			t.Cleanup(func() { _ = st.Close() })
			tc.fn(t, st, New(st, ""))
		})
	}
}

var ctx = context.Background()

var t0 = time.Date(2024, 3, 10, 2, 30, 0, 0, time.UTC)

func mkJob(id string) *job.Job {
	retries := 2
	enabled := false
	j := &job.Job{
		ID:          id,
		Description: "nightly export",
		Labels:      map[string]string{"team": "a"},
		Run: job.Run{
			Cmd:            "echo hi",
			Args:           []string{"-v"},
			User:           "nobody",
			CPUs:           0.5,
			Mem:            64,
			Disk:           10,
			Env:            map[string]job.EnvVar{"PLAIN": {Value: "1"}, "DB_PASSWORD": {Secret: "db"}},
			Secrets:        map[string]job.Secret{"db": {Value: "hunter2"}},
			Docker:         &job.Docker{Image: "busybox:1.36", ForcePullImage: true},
			Placement:      &job.Placement{Constraints: []job.Constraint{{Attribute: "hostname", Operator: "UNIQUE"}}},
			MaxLaunchDelay: 600,
			Restart:        job.Restart{Policy: job.OnFailure, ActiveDeadlineSeconds: 120, Retries: &retries, BackoffSeconds: 1, BackoffFactor: 2},
			Volumes:        []job.Volume{{ContainerPath: "/data", HostPath: "/srv/data", Mode: "RO"}},
		},
		Schedules: []job.Schedule{
			{ID: "nightly", Cron: "0 2 * * *", Timezone: "Europe/Berlin", StartingDeadlineSeconds: 60, ConcurrencyPolicy: job.Forbid},
			{ID: "hourly", Cron: "@hourly", Enabled: &enabled},
		},
		Dependencies: []job.Dependency{{ID: "parent"}},
	}
	return j
}

func mkRun(jobID, runID string, at time.Time) core.Run {
	code := 0
	return core.Run{
		ID: runID, JobID: jobID, Trigger: core.TriggerSchedule, ScheduleID: "nightly",
		ScheduledAt: at, CreatedAt: at.Add(time.Second), Status: core.StatusSuccess,
		StartedAt: at.Add(2 * time.Second), FinishedAt: at.Add(time.Minute),
		Tasks: []core.Task{{
			ID: jobID + "." + runID + ".1", AgentID: "agent-1", Hostname: "h1", State: "TASK_FINISHED",
			LaunchedAt: at.Add(time.Second), StartedAt: at.Add(2 * time.Second), CompletedAt: at.Add(time.Minute),
			ExitCode: &code, Message: "Command exited with status 0",
		}},
	}
}

func mkCursor(jobID string, at time.Time) core.Cursor {
	return core.Cursor{
		JobID:     jobID,
		Schedules: map[string]time.Time{"nightly": at},
		Parents:   map[string]string{"parent": "r1"},
		History:   core.History{SuccessCount: 3, FailureCount: 1, LastSuccessAt: at, LastFailureAt: at.Add(-time.Hour)},
	}
}

func jobIDs(jobs []*job.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func runRefs(runs []core.Run) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.JobID + "/" + r.ID
	}
	return out
}

func cursorIDs(cs []core.Cursor) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.JobID
	}
	return out
}

func testFrameworkID(t *testing.T, st store.Store, s *Store) {
	if _, err := s.FrameworkID(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("FrameworkID before any set: err = %v, want ErrNotFound", err)
	}
	if err := s.SetFrameworkID(ctx, "fw-1"); err != nil {
		t.Fatal(err)
	}
	// A restarted framework (a new Store on the same store) sees the id,
	// at the agreed key.
	id, err := New(st, "/cron").FrameworkID(ctx)
	if err != nil || id != "fw-1" {
		t.Fatalf("FrameworkID = %q, %v; want fw-1", id, err)
	}
	if _, err := st.Get(ctx, "/cron/framework"); err != nil {
		t.Fatalf("framework id not at /cron/framework: %v", err)
	}
	if err := s.SetFrameworkID(ctx, ""); err == nil {
		t.Fatal("empty framework id accepted")
	}
}

func testJobsRoundTrip(t *testing.T, st store.Store, s *Store) {
	if jobs, err := s.Jobs(ctx); err != nil || len(jobs) != 0 {
		t.Fatalf("Jobs on an empty store = %v, %v", jobIDs(jobs), err)
	}
	for _, id := range []string{"team-b.report", "team-a.nightly", "parent"} {
		if err := s.PutJob(ctx, mkJob(id)); err != nil {
			t.Fatalf("PutJob(%s): %v", id, err)
		}
	}
	if _, err := st.Get(ctx, "/cron/jobs/team-a.nightly"); err != nil {
		t.Fatalf("job not at its agreed, readable key: %v", err)
	}
	jobs, err := New(st, "/cron").Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"parent", "team-a.nightly", "team-b.report"}; !reflect.DeepEqual(jobIDs(jobs), want) {
		t.Fatalf("Jobs = %v, want %v sorted", jobIDs(jobs), want)
	}
	if want := mkJob("team-a.nightly"); !reflect.DeepEqual(jobs[1], want) {
		t.Fatalf("job round trip:\n got %+v\nwant %+v", jobs[1], want)
	}
	// Replacing a job keeps one record with the new definition.
	j := mkJob("parent")
	j.Schedules = nil
	j.Run.Cmd = "echo bye"
	if err := s.PutJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	jobs, err = s.Jobs(ctx)
	if err != nil || len(jobs) != 3 || jobs[0].Run.Cmd != "echo bye" || jobs[0].Schedules != nil {
		t.Fatalf("after replace: %v, %v", jobIDs(jobs), err)
	}
	if err := s.PutJob(ctx, &job.Job{}); err == nil || !strings.Contains(err.Error(), "job id") {
		t.Fatalf("job without id: %v, want an error naming the id", err)
	}
	if err := s.PutJob(ctx, nil); err == nil {
		t.Fatal("nil job accepted")
	}
}

func testCursorsAndRunsRoundTrip(t *testing.T, st store.Store, s *Store) {
	c := mkCursor("nightly", t0)
	if err := s.PutCursor(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCursor(ctx, core.Cursor{JobID: "bare"}); err != nil {
		t.Fatal(err)
	}
	r1 := mkRun("nightly", "20240310T023000Z-nightly", t0)
	r2 := core.Run{ID: "20240310T030000Z-manual-1", JobID: "nightly", Trigger: core.TriggerManual, CreatedAt: t0.Add(time.Hour), Status: core.StatusInitial}
	r3 := mkRun("other", "20240310T023000Z-nightly", t0)
	for _, r := range []core.Run{r2, r3, r1} {
		if err := s.PutRun(ctx, r); err != nil {
			t.Fatalf("PutRun(%s/%s): %v", r.JobID, r.ID, err)
		}
	}
	if _, err := st.Get(ctx, "/cron/runs/nightly/20240310T023000Z-nightly"); err != nil {
		t.Fatalf("run not at its agreed key: %v", err)
	}
	if _, err := st.Get(ctx, "/cron/cursors/nightly"); err != nil {
		t.Fatalf("cursor not at its agreed key: %v", err)
	}
	cs, err := s.Cursors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []core.Cursor{{JobID: "bare"}, c}; !reflect.DeepEqual(cs, want) {
		t.Fatalf("Cursors = %+v, want %+v", cs, want)
	}
	runs, err := s.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []core.Run{r1, r2, r3}; !reflect.DeepEqual(runs, want) {
		t.Fatalf("Runs = %+v\nwant %+v", runs, want)
	}
	// An update replaces the run; a delete removes only that run.
	r2.Status = core.StatusStopped
	r2.FinishedAt = t0.Add(2 * time.Hour)
	if err := s.PutRun(ctx, r2); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRun(ctx, "nightly", r1.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRun(ctx, "nightly", r1.ID); err != nil {
		t.Fatalf("deleting a missing run: %v, want no error", err)
	}
	runs, err = s.Runs(ctx)
	if err != nil || !reflect.DeepEqual(runs, []core.Run{r2, r3}) {
		t.Fatalf("Runs after update and delete = %v, %v", runRefs(runs), err)
	}
	for _, bad := range []core.Run{{JobID: "x"}, {ID: "r"}} {
		if err := s.PutRun(ctx, bad); err == nil || !strings.Contains(err.Error(), "must not be empty") {
			t.Fatalf("PutRun(%+v) = %v, want an error naming the empty field", bad, err)
		}
	}
	if err := s.PutCursor(ctx, core.Cursor{}); err == nil || !strings.Contains(err.Error(), "jobId") {
		t.Fatalf("cursor without job id: %v", err)
	}
	if err := s.DeleteCursor(ctx, "bare"); err != nil {
		t.Fatal(err)
	}
	if cs, err := s.Cursors(ctx); err != nil || !reflect.DeepEqual(cs, []core.Cursor{c}) {
		t.Fatalf("Cursors after DeleteCursor(bare) = %v, %v", cursorIDs(cs), err)
	}
	if err := s.DeleteRun(ctx, "", "r"); err == nil {
		t.Fatal("DeleteRun without job id accepted")
	}
}

// Deleting job "a" removes its runs and cursor, and nothing of the jobs
// whose ids start the same.
func testDeleteJobKeepsPrefixSiblings(t *testing.T, _ store.Store, s *Store) {
	ids := []string{"a", "a.b", "ab", "a-b", "a.b.c"}
	for _, id := range ids {
		if err := s.PutJob(ctx, mkJob(id)); err != nil {
			t.Fatal(err)
		}
		if err := s.PutCursor(ctx, mkCursor(id, t0)); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := s.PutRun(ctx, mkRun(id, fmt.Sprintf("20240310T0%d0000Z-nightly", i), t0)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.DeleteJob(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	rest := []string{"a-b", "a.b", "a.b.c", "ab"}
	jobs, err := s.Jobs(ctx)
	if err != nil || !reflect.DeepEqual(jobIDs(jobs), rest) {
		t.Fatalf("Jobs after DeleteJob(a) = %v, %v; want %v", jobIDs(jobs), err, rest)
	}
	cs, err := s.Cursors(ctx)
	if err != nil || !reflect.DeepEqual(cursorIDs(cs), rest) {
		t.Fatalf("Cursors after DeleteJob(a) = %v, %v; want %v", cursorIDs(cs), err, rest)
	}
	runs, err := s.Runs(ctx)
	if err != nil || len(runs) != 3*len(rest) {
		t.Fatalf("Runs after DeleteJob(a) = %v, %v", runRefs(runs), err)
	}
	for _, r := range runs {
		if r.JobID == "a" {
			t.Fatalf("run %s/%s survived its job's delete", r.JobID, r.ID)
		}
	}
	// Deleting again, or a job never stored, is not an error.
	if err := s.DeleteJob(ctx, "a"); err != nil {
		t.Fatalf("second DeleteJob: %v", err)
	}
	if err := s.DeleteJob(ctx, "never"); err != nil {
		t.Fatalf("DeleteJob(never stored): %v", err)
	}
	// A job re-created under the same id starts without the old runs.
	if err := s.PutJob(ctx, mkJob("a")); err != nil {
		t.Fatal(err)
	}
	runs, _ = s.Runs(ctx)
	for _, r := range runs {
		if r.JobID == "a" {
			t.Fatalf("re-created job inherited run %s", r.ID)
		}
	}
	if err := s.DeleteJob(ctx, ""); err == nil {
		t.Fatal("DeleteJob(\"\") accepted")
	}
}

// Ids a naive key mapping would break: dots and dashes, dot-only ids,
// run ids with slashes and colons, and a long id.
func testUnusualIDs(t *testing.T, _ store.Store, s *Store) {
	jobIDsIn := []string{"0", "a--b", "a.-b", "team-a.nightly.v2", ".", "..", "x%2Fy", strings.Repeat("seg.", 50) + "end"}
	runIDsIn := []string{"20240310T023000Z-sched-1", "20240310T023000Z-a:b/c", "..", "r%"}
	for _, id := range jobIDsIn {
		if err := s.PutJob(ctx, mkJob(id)); err != nil {
			t.Fatalf("PutJob(%q): %v", id, err)
		}
		if err := s.PutCursor(ctx, mkCursor(id, t0)); err != nil {
			t.Fatalf("PutCursor(%q): %v", id, err)
		}
		for _, rid := range runIDsIn {
			if err := s.PutRun(ctx, mkRun(id, rid, t0)); err != nil {
				t.Fatalf("PutRun(%q, %q): %v", id, rid, err)
			}
		}
	}
	want := slices.Sorted(slices.Values(jobIDsIn))
	jobs, err := s.Jobs(ctx)
	if err != nil || !reflect.DeepEqual(jobIDs(jobs), want) {
		t.Fatalf("Jobs = %q, %v; want %q", jobIDs(jobs), err, want)
	}
	cs, err := s.Cursors(ctx)
	if err != nil || !reflect.DeepEqual(cursorIDs(cs), want) {
		t.Fatalf("Cursors = %q, %v; want %q", cursorIDs(cs), err, want)
	}
	runs, err := s.Runs(ctx)
	if err != nil || len(runs) != len(jobIDsIn)*len(runIDsIn) {
		t.Fatalf("Runs = %q, %v", runRefs(runs), err)
	}
	var wantRefs []string
	for _, id := range want {
		for _, rid := range slices.Sorted(slices.Values(runIDsIn)) {
			wantRefs = append(wantRefs, id+"/"+rid)
		}
	}
	if !reflect.DeepEqual(runRefs(runs), wantRefs) {
		t.Fatalf("Runs = %q\nwant %q", runRefs(runs), wantRefs)
	}
	// Deleting "." leaves ".." and the rest.
	if err := s.DeleteJob(ctx, "."); err != nil {
		t.Fatal(err)
	}
	runs, err = s.Runs(ctx)
	if err != nil || len(runs) != (len(jobIDsIn)-1)*len(runIDsIn) {
		t.Fatalf("Runs after DeleteJob(.) = %q, %v", runRefs(runs), err)
	}
}

func testCorruptReported(t *testing.T, st store.Store, s *Store) {
	if err := s.PutJob(ctx, mkJob("good")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCursor(ctx, mkCursor("good", t0)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRun(ctx, mkRun("good", "r1", t0)); err != nil {
		t.Fatal(err)
	}
	raw := map[string]string{
		"/cron/jobs/bad":           `{"id": "bad", "run": {"cpus": "lots"}}`,
		"/cron/jobs/other":         `{"id": "good", "run": {"cpus": 1}}`, // a valid job under another job's key
		"/cron/cursors/bad":        `{"jobId": `,
		"/cron/cursors/other":      `{"jobId": "good"}`,
		"/cron/runs/good/bad":      `not json`,
		"/cron/runs/good/other":    `{"id": "r1", "jobId": "good"}`,
		"/cron/runs/good/x%zz":     `{"id": "x%zz", "jobId": "good"}`, // an escape that is not one
		"/cron/runs/flat":          `{"id": "flat", "jobId": "flat"}`, // a run key without a run id
		"/cron/runs/deep/r1/extra": `{"id": "r1", "jobId": "deep"}`,
	}
	for k, v := range raw {
		if _, err := st.Put(ctx, k, []byte(v), store.Absent); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	check := func(what string, err error, n int, keys ...string) {
		t.Helper()
		var ce *CorruptError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: err = %v, want a CorruptError", what, err)
		}
		for _, k := range keys {
			if !strings.Contains(err.Error(), k) {
				t.Fatalf("%s: err = %v, does not name %s", what, err, k)
			}
		}
		if n != 1 {
			t.Fatalf("%s: %d good records returned, want the 1 good one", what, n)
		}
	}
	jobs, err := s.Jobs(ctx)
	check("Jobs", err, len(jobs), "/cron/jobs/bad", "/cron/jobs/other")
	cs, err := s.Cursors(ctx)
	check("Cursors", err, len(cs), "/cron/cursors/bad", "/cron/cursors/other")
	runs, err := s.Runs(ctx)
	check("Runs", err, len(runs), "/cron/runs/good/bad", "/cron/runs/good/other", "/cron/runs/good/x%zz", "/cron/runs/flat", "/cron/runs/deep/r1/extra")
	// One CorruptError per bad record, each with its own key.
	var keys []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *CorruptError
		if errors.As(e, &ce) {
			keys = append(keys, ce.Key)
		}
	}
	if len(keys) != 5 {
		t.Fatalf("Runs reported %d corrupt keys %v, want 5", len(keys), keys)
	}
	if _, err := st.Put(ctx, "/cron/framework", []byte("fw-raw"), store.Absent); err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if _, err := s.FrameworkID(ctx); !errors.As(err, &ce) || ce.Key != "/cron/framework" {
		t.Fatalf("FrameworkID(corrupt) = %v", err)
	}
	// A corrupt job can still be deleted, with its runs.
	if err := s.DeleteJob(ctx, "bad"); err != nil {
		t.Fatal(err)
	}
	jobs, err = s.Jobs(ctx)
	if err == nil || strings.Contains(err.Error(), "/cron/jobs/bad") || len(jobs) != 1 {
		t.Fatalf("after deleting the corrupt job: %v, %v", jobIDs(jobs), err)
	}
}

func testOversizeRefused(t *testing.T, st store.Store, s *Store) {
	j := mkJob("huge")
	j.Description = strings.Repeat("x", 1<<20)
	if err := s.PutJob(ctx, j); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "/cron/jobs/huge") {
		t.Fatalf("1 MB job: %v, want ErrTooLarge naming the key", err)
	}
	if _, err := st.Get(ctx, "/cron/jobs/huge"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused job was stored: %v", err)
	}
	r := mkRun("huge", "r1", t0)
	r.Message = strings.Repeat("m", MaxRecordBytes)
	if err := s.Apply(ctx, core.Decisions{PersistRuns: []core.Run{r}}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversize run in Apply: %v, want ErrTooLarge", err)
	}
	j.Description = strings.Repeat("x", MaxRecordBytes-4096)
	if err := s.PutJob(ctx, j); err != nil {
		t.Fatalf("job under the limit: %v", err)
	}
}

// recorder wraps a store and records, in order, the keys written and
// deleted; before each write it may run a check against the inner store.
type recorder struct {
	store.Store
	mu    sync.Mutex
	ops   []string // "put <key>" / "del <key>"
	onPut func(key string) error
	hold  func(key string) // called first in Put, outside mu
}

func (r *recorder) Put(ctx context.Context, key string, value []byte, expect int64) (int64, error) {
	if r.hold != nil {
		r.hold(key)
	}
	if r.onPut != nil {
		if err := r.onPut(key); err != nil {
			return 0, err
		}
	}
	v, err := r.Store.Put(ctx, key, value, expect)
	r.mu.Lock()
	r.ops = append(r.ops, "put "+key)
	r.mu.Unlock()
	return v, err
}

func (r *recorder) Delete(ctx context.Context, key string, expect int64) error {
	err := r.Store.Delete(ctx, key, expect)
	r.mu.Lock()
	r.ops = append(r.ops, "del "+key)
	r.mu.Unlock()
	return err
}

func (r *recorder) recorded() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ops)
}

// phaseOf classifies a recorded op by the Apply phase it belongs to.
func phaseOf(rec string) int {
	switch {
	case strings.HasPrefix(rec, "put /cron/runs/"):
		return 0
	case strings.HasPrefix(rec, "put /cron/cursors/"):
		return 1
	case strings.HasPrefix(rec, "del /cron/runs/"):
		return 2
	case strings.HasPrefix(rec, "del /cron/cursors/"):
		return 3
	}
	return -1
}

// A failover at any point of Apply must never find a cursor ahead of the
// runs it accounts for: every run is readable before any cursor is
// written.
func testApplyRunsBeforeCursors(t *testing.T, st store.Store, _ *Store) {
	var d core.Decisions
	for j := range 5 {
		jobID := fmt.Sprintf("job%d", j)
		for i := range 8 {
			d.PersistRuns = append(d.PersistRuns, mkRun(jobID, fmt.Sprintf("20240310T0%d0000Z-nightly", i), t0))
		}
		d.PersistCursors = append(d.PersistCursors, mkCursor(jobID, t0))
	}
	rec := &recorder{Store: st}
	rec.onPut = func(key string) error {
		if !strings.HasPrefix(key, "/cron/cursors/") {
			return nil
		}
		for _, r := range d.PersistRuns {
			if _, err := st.Get(ctx, "/cron/runs/"+r.JobID+"/"+r.ID); err != nil {
				return fmt.Errorf("cursor %s written before run %s/%s was readable: %w", key, r.JobID, r.ID, err)
			}
		}
		return nil
	}
	s := New(rec, "")
	if err := s.Apply(ctx, d); err != nil {
		t.Fatal(err)
	}
	ops := rec.recorded()
	if len(ops) != 45 {
		t.Fatalf("Apply made %d writes, want 45: %v", len(ops), ops)
	}
	for i := 1; i < len(ops); i++ {
		if phaseOf(ops[i]) < phaseOf(ops[i-1]) {
			t.Fatalf("write %d %q came after %q: %v", i, ops[i], ops[i-1], ops)
		}
	}
	runs, err := s.Runs(ctx)
	if err != nil || !reflect.DeepEqual(runs, d.PersistRuns) {
		t.Fatalf("Runs after Apply = %v, %v", runRefs(runs), err)
	}
	cs, err := s.Cursors(ctx)
	if err != nil || !reflect.DeepEqual(cs, d.PersistCursors) {
		t.Fatalf("Cursors after Apply = %v, %v", cursorIDs(cs), err)
	}
	// An empty Decisions writes nothing.
	if err := s.Apply(ctx, core.Decisions{}); err != nil || len(rec.recorded()) != 45 {
		t.Fatalf("empty Apply: %v, %d writes", err, len(rec.recorded())-45)
	}
}

// Deletions come after the writes, so a run both updated and deleted in
// one batch (finished, then trimmed from history) ends up deleted; and
// the later of two writes of one run wins.
func testApplyDeletesLast(t *testing.T, st store.Store, _ *Store) {
	rec := &recorder{Store: st}
	s := New(rec, "")
	old := mkRun("j", "20240309T023000Z-nightly", t0.Add(-24*time.Hour))
	if err := s.PutRun(ctx, old); err != nil {
		t.Fatal(err)
	}
	// Job "gone" was deleted: its run and its cursor go, runs first.
	goneRun := mkRun("gone", "r1", t0)
	if err := s.PutRun(ctx, goneRun); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCursor(ctx, mkCursor("gone", t0)); err != nil {
		t.Fatal(err)
	}
	first := mkRun("j", "20240310T023000Z-nightly", t0)
	first.Status = core.StatusActive
	second := first
	second.Status = core.StatusSuccess
	d := core.Decisions{
		PersistRuns:    []core.Run{old, first, second},
		PersistCursors: []core.Cursor{mkCursor("j", t0)},
		DeleteRuns:     []core.RunRef{{JobID: "j", RunID: old.ID}, {JobID: "gone", RunID: goneRun.ID}},
		DeleteCursors:  []string{"gone"},
	}
	before := len(rec.recorded())
	if err := s.Apply(ctx, d); err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs(ctx)
	if err != nil || !reflect.DeepEqual(runs, []core.Run{second}) {
		t.Fatalf("Runs = %+v, %v; want only the finished run", runs, err)
	}
	cs, err := s.Cursors(ctx)
	if err != nil || !reflect.DeepEqual(cursorIDs(cs), []string{"j"}) {
		t.Fatalf("Cursors = %v, %v; want only j's", cursorIDs(cs), err)
	}
	ops := rec.recorded()[before:]
	if len(ops) != 6 {
		t.Fatalf("Apply made %v, want 2 run writes, 1 cursor write, 2 run deletes, 1 cursor delete", ops)
	}
	for i := 1; i < len(ops); i++ {
		if phaseOf(ops[i]) < phaseOf(ops[i-1]) {
			t.Fatalf("op %q came after %q: %v", ops[i], ops[i-1], ops)
		}
	}
	if last := ops[len(ops)-1]; last != "del /cron/cursors/gone" {
		t.Fatalf("last op = %q, want the cursor deletion: %v", last, ops)
	}
}

// A batch with an invalid record writes nothing, and says which.
func testApplyInvalidWritesNothing(t *testing.T, st store.Store, _ *Store) {
	rec := &recorder{Store: st}
	s := New(rec, "")
	for _, d := range []core.Decisions{
		{PersistRuns: []core.Run{mkRun("j", "r1", t0), {JobID: "j"}}},
		{PersistRuns: []core.Run{mkRun("j", "r1", t0)}, PersistCursors: []core.Cursor{{}}},
		{PersistRuns: []core.Run{mkRun("j", "r1", t0)}, DeleteRuns: []core.RunRef{{JobID: "j"}}},
		{PersistRuns: []core.Run{mkRun("j", "r1", t0)}, DeleteCursors: []string{""}},
	} {
		err := s.Apply(ctx, d)
		if err == nil || !strings.Contains(err.Error(), "must not be empty") {
			t.Fatalf("Apply(%+v) = %v, want an error naming the empty field", d, err)
		}
	}
	if ops := rec.recorded(); len(ops) != 0 {
		t.Fatalf("invalid batches wrote %v", ops)
	}
}

// When a run cannot be written, no cursor is: the fire stays unhandled
// and the next Apply (or a failover) retries it. The error names the key.
func testApplyFailureStopsBeforeCursors(t *testing.T, st store.Store, _ *Store) {
	boom := errors.New("disk full")
	badKey := "/cron/runs/j/20240310T023000Z-nightly"
	rec := &recorder{Store: st, onPut: func(key string) error {
		if key == badKey {
			return boom
		}
		return nil
	}}
	s := New(rec, "")
	d := core.Decisions{PersistCursors: []core.Cursor{mkCursor("j", t0)}}
	for i := range 40 {
		d.PersistRuns = append(d.PersistRuns, mkRun("j", fmt.Sprintf("20240310T0230%02dZ-x", i), t0))
	}
	d.PersistRuns = append(d.PersistRuns, mkRun("j", "20240310T023000Z-nightly", t0))
	err := s.Apply(ctx, d)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), badKey) {
		t.Fatalf("Apply = %v, want the store's error naming %s", err, badKey)
	}
	for _, op := range rec.recorded() {
		if phaseOf(op) != 0 {
			t.Fatalf("after a failed run write, Apply went on to %q", op)
		}
	}
	if _, err := st.Get(ctx, "/cron/cursors/j"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("cursor written although a run failed: %v", err)
	}
	// Applying the same batch again once the store recovers completes it.
	rec.onPut = nil
	if err := s.Apply(ctx, d); err != nil {
		t.Fatal(err)
	}
	if runs, err := s.Runs(ctx); err != nil || len(runs) != 41 {
		t.Fatalf("after retry: %d runs, %v", len(runs), err)
	}
}

// Apply's writes go concurrently, but never more than DefaultParallel at
// once. Writes are held until DefaultParallel of them are in flight (a
// sequential Apply would never get there and the poll below would fail),
// then released; the highest count seen must be exactly the bound.
func testApplyBoundedConcurrency(t *testing.T, st store.Store, _ *Store) {
	var inflight, highest atomic.Int64
	release := make(chan struct{})
	rec := &recorder{Store: st, hold: func(string) {
		n := inflight.Add(1)
		for {
			h := highest.Load()
			if n <= h || highest.CompareAndSwap(h, n) {
				break
			}
		}
		<-release
		inflight.Add(-1)
	}}
	s := New(rec, "")
	var d core.Decisions
	for i := range 3 * DefaultParallel {
		d.PersistRuns = append(d.PersistRuns, mkRun("j", fmt.Sprintf("r%03d", i), t0))
	}
	done := make(chan error, 1)
	go func() { done <- s.Apply(ctx, d) }()
	deadline := time.Now().Add(30 * time.Second)
	for inflight.Load() < DefaultParallel {
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("only %d writes in flight, want %d at once", inflight.Load(), DefaultParallel)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if h := highest.Load(); h != DefaultParallel {
		t.Fatalf("at most %d writes in flight, want exactly the bound %d", h, DefaultParallel)
	}
	if runs, err := s.Runs(ctx); err != nil || len(runs) != len(d.PersistRuns) {
		t.Fatalf("after Apply: %d runs, %v", len(runs), err)
	}
}
