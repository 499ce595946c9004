package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"agora/core/containerizer"
	"agora/core/mesos"
	"agora/core/resources"
)

func fw(id string) mesos.FrameworkInfo {
	return mesos.FrameworkInfo{ID: &mesos.FrameworkID{Value: id}, Name: "n-" + id, User: "root"}
}

func task(tid string) Task {
	return Task{Containerizer: "process", Spec: containerizer.Spec{
		ContainerID: "c-" + tid,
		Task:        mesos.TaskInfo{Name: tid, TaskID: mesos.TaskID{Value: tid}, Command: &mesos.CommandInfo{Value: "sleep 1"}},
		FrameworkID: "fw",
		AgentID:     "agent-1",
		Sandbox:     "/sandbox/" + tid,
		Env:         []string{"A=b"},
		Limits:      resources.Resources{CPUs: 0.5, Mem: 64, Ports: resources.Ranges{{Begin: 31000, End: 31001}}},
	}}
}

func status(state string, uuid byte) mesos.TaskStatus {
	return mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t1"}, State: state, UUID: []byte{uuid}, Timestamp: 12.5}
}

func load(t *testing.T, s *Store) map[string]*TaskRecord {
	t.Helper()
	fws, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*TaskRecord{}
	for _, f := range fws {
		for _, r := range f.Tasks {
			out[f.ID+"/"+r.TaskID] = r
		}
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutFramework(fw("fw")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTask("fw", "t1", task("t1")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutContainer("fw", "t1", []byte(`{"pid":1}`)); err != nil {
		t.Fatal(err)
	}
	u := Updates{State: mesos.TaskRunning, Latest: mesos.TaskRunning, Pending: []mesos.TaskStatus{status(mesos.TaskStarting, 1), status(mesos.TaskRunning, 2)}}
	if err := s.PutUpdates("fw", "t1", u); err != nil {
		t.Fatal(err)
	}
	done := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s.PutTask("fw", "t2", task("t2")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCompleted("fw", "t2", done); err != nil {
		t.Fatal(err)
	}

	fws, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(fws) != 1 || fws[0].Info == nil || fws[0].Info.Name != "n-fw" || fws[0].Err != nil || len(fws[0].Tasks) != 2 {
		t.Fatalf("frameworks = %+v", fws)
	}
	r := fws[0].Tasks[0]
	if r.TaskID != "t1" || r.TaskErr != nil || r.Task.Spec.Limits.Ports[0].End != 31001 || r.Task.Spec.ContainerID != "c-t1" ||
		string(r.Container) != `{"pid":1}` || r.Updates == nil || len(r.Updates.Pending) != 2 ||
		string(r.Updates.Pending[1].UUID) != "\x02" || r.Updates.State != mesos.TaskRunning || r.Completed != nil {
		t.Fatalf("t1 = %+v (task %+v, updates %+v)", r, r.Task, r.Updates)
	}
	if r2 := fws[0].Tasks[1]; r2.Completed == nil || !r2.Completed.Equal(done) || r2.Container != nil || r2.Updates != nil {
		t.Fatalf("t2 = %+v", r2)
	}

	// A task id launched again starts from clean records.
	if err := s.PutTask("fw", "t2", task("t2")); err != nil {
		t.Fatal(err)
	}
	if r := load(t, s)["fw/t2"]; r.Completed != nil {
		t.Fatalf("relaunched task kept its completion mark: %+v", r)
	}

	// Removing the last task removes the framework.
	for _, tid := range []string{"t1", "t2"} {
		if err := s.RemoveTask("fw", tid); err != nil {
			t.Fatal(err)
		}
	}
	if fws, _ := s.Load(); len(fws) != 0 {
		t.Fatalf("after removing every task: %+v", fws)
	}
}

// TestTornWritesAreIgnored: a crash in the middle of a write leaves a
// partial temporary file or a partial record at the end of a task's
// updates log; the record read is the last complete one, and the next
// write succeeds and cuts the torn end off.
func TestTornWritesAreIgnored(t *testing.T) {
	s, _ := Open(t.TempDir())
	s.PutFramework(fw("fw"))
	s.PutTask("fw", "t1", task("t1"))
	good := Updates{State: mesos.TaskStarting, Pending: []mesos.TaskStatus{status(mesos.TaskStarting, 1)}}
	if err := s.PutUpdates("fw", "t1", good); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(s.TaskDir("fw", "t1"), updatesLog)
	appendRaw(t, log, `1234abcd {"state":"TASK_RUNN`)
	// A torn temporary framework record and task directory too.
	fwFile := filepath.Join(s.frameworkDir("fw"), frameworkFile)
	if err := os.WriteFile(tmpName(fwFile), []byte(`{"id":`), 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(s.dir, "frameworks", "fw", "tasks", ".x"+tmpMarker+"1"), 0o755)

	fws, err := s.Load()
	if err != nil || len(fws) != 1 || fws[0].Info == nil || fws[0].Info.Name != "n-fw" {
		t.Fatalf("after a torn framework write: %+v, %v", fws, err)
	}
	// A new Store, as after a restart, appends after the last whole record.
	s, _ = Open(s.dir)
	recs := load(t, s)
	r := recs["fw/t1"]
	if len(recs) != 1 || r.UpdatesErr != nil || r.Updates.State != mesos.TaskStarting || len(r.Updates.Pending) != 1 {
		t.Fatalf("after a torn write: %d tasks, t1 %+v", len(recs), r)
	}
	next := Updates{State: mesos.TaskRunning}
	if err := s.PutUpdates("fw", "t1", next); err != nil {
		t.Fatalf("write after a torn one: %v", err)
	}
	if r := load(t, s)["fw/t1"]; r.UpdatesErr != nil || r.Updates.State != mesos.TaskRunning {
		t.Fatalf("updates = %+v, %v", r.Updates, r.UpdatesErr)
	}
	if b, _ := os.ReadFile(log); strings.Contains(string(b), "TASK_RUNN\"") || strings.Count(string(b), "\n") != 2 {
		t.Errorf("torn record not cut off: %q", b)
	}
	if err := s.PutFramework(fw("fw")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmpName(fwFile)); !os.IsNotExist(err) {
		t.Errorf("temporary file left after a successful write: %v", err)
	}
}

func appendRaw(t *testing.T, file, data string) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

// TestUpdatesLogStaysSmall: a task that keeps changing appends a record
// each time; its log is rewritten as its last record before it grows past
// maxLogSize, and always reads back as the last state written.
func TestUpdatesLogStaysSmall(t *testing.T) {
	s, _ := Open(t.TempDir())
	s.PutTask("fw", "t1", task("t1"))
	log := filepath.Join(s.TaskDir("fw", "t1"), updatesLog)
	var largest int64
	for i := range 1000 {
		u := Updates{State: mesos.TaskRunning, Pending: []mesos.TaskStatus{status(mesos.TaskRunning, byte(i))}}
		if err := s.PutUpdates("fw", "t1", u); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(log)
		if err != nil {
			t.Fatal(err)
		}
		largest = max(largest, st.Size())
		if i%97 == 0 {
			r := load(t, s)["fw/t1"]
			if r.UpdatesErr != nil || r.Updates.Pending[0].UUID[0] != byte(i) {
				t.Fatalf("after write %d: %+v, %v", i, r.Updates, r.UpdatesErr)
			}
		}
	}
	if largest > maxLogSize {
		t.Errorf("the log grew to %d bytes, past %d", largest, maxLogSize)
	}
}

// TestLegacyUpdatesFileIsRead: the updates.json of an agent from before
// the log is still recovered.
func TestLegacyUpdatesFileIsRead(t *testing.T) {
	s, _ := Open(t.TempDir())
	s.PutTask("fw", "t1", task("t1"))
	if err := os.WriteFile(filepath.Join(s.TaskDir("fw", "t1"), legacyUpdatesFile), []byte(`{"state":"TASK_RUNNING"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := load(t, s)["fw/t1"]; r.UpdatesErr != nil || r.Updates == nil || r.Updates.State != mesos.TaskRunning {
		t.Fatalf("legacy updates: %+v, %v", r.Updates, r.UpdatesErr)
	}
}

// TestCorruptRecordsAreReportedPerTask: a damaged record fails only its
// task's load, with an error naming the file.
func TestCorruptRecordsAreReportedPerTask(t *testing.T) {
	s, _ := Open(t.TempDir())
	s.PutFramework(fw("fw"))
	for _, tid := range []string{"bad-task", "bad-updates", "good", "no-task"} {
		s.PutTask("fw", tid, task(tid))
		s.PutUpdates("fw", tid, Updates{State: mesos.TaskRunning})
	}
	os.WriteFile(filepath.Join(s.TaskDir("fw", "bad-task"), taskFile), []byte("{"), 0o644)
	os.WriteFile(filepath.Join(s.TaskDir("fw", "bad-updates"), updatesLog), []byte("not json\n"), 0o644)
	os.Remove(filepath.Join(s.TaskDir("fw", "no-task"), taskFile))
	os.WriteFile(filepath.Join(s.frameworkDir("fw"), frameworkFile), []byte("{"), 0o644)

	fws, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if fws[0].Err == nil || fws[0].Info != nil {
		t.Errorf("corrupt framework.json: %+v", fws[0])
	}
	recs := load(t, s)
	if r := recs["fw/bad-task"]; r.TaskErr == nil || !strings.Contains(r.TaskErr.Error(), "task.json is corrupt") || r.Updates == nil {
		t.Errorf("bad-task = %+v", r)
	}
	if r := recs["fw/bad-updates"]; r.UpdatesErr == nil || !strings.Contains(r.UpdatesErr.Error(), "updates.log is corrupt") || r.Task == nil {
		t.Errorf("bad-updates = %+v", r)
	}
	if r := recs["fw/no-task"]; r.TaskErr == nil || !strings.Contains(r.TaskErr.Error(), "missing") {
		t.Errorf("no-task = %+v", r)
	}
	if r := recs["fw/good"]; r.TaskErr != nil || r.UpdatesErr != nil {
		t.Errorf("good = %+v", r)
	}
}

func TestIDsCannotEscape(t *testing.T) {
	s, _ := Open(t.TempDir())
	for _, err := range []error{
		s.PutTask("..", "t", task("t")),
		s.PutTask("fw", "a/b", task("t")),
		s.PutFramework(mesos.FrameworkInfo{ID: &mesos.FrameworkID{Value: "x/../.."}}),
		s.PutFramework(mesos.FrameworkInfo{}),
		s.RemoveTask("fw", ""),
	} {
		if err == nil {
			t.Error("an unsafe id was accepted")
		}
	}
}

// BenchmarkPutUpdates is the cost of checkpointing one status update (or
// acknowledgement): an fsynced file write, rename and directory fsync.
func BenchmarkPutUpdates(b *testing.B) {
	s, _ := Open(b.TempDir())
	s.PutTask("fw", "t1", task("t1"))
	u := Updates{State: mesos.TaskRunning, Latest: mesos.TaskRunning, Pending: []mesos.TaskStatus{status(mesos.TaskStarting, 1), status(mesos.TaskRunning, 2)}}
	for b.Loop() {
		if err := s.PutUpdates("fw", "t1", u); err != nil {
			b.Fatal(err)
		}
	}
}

// stallingDisk is a Sync hook that blocks every fsync until released,
// telling the test when the writer is stuck in one.
type stallingDisk struct {
	s       *Store
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	seen    []uint64 // Durable() at each fsync
}

func newStallingStore(t *testing.T) (*Store, *stallingDisk) {
	d := &stallingDisk{entered: make(chan struct{}, 1), release: make(chan struct{})}
	s, err := OpenWith(t.TempDir(), Options{Sync: func(f *os.File) error {
		d.mu.Lock()
		d.seen = append(d.seen, d.s.Durable())
		d.mu.Unlock()
		select {
		case d.entered <- struct{}{}:
		default:
		}
		<-d.release
		return f.Sync()
	}})
	if err != nil {
		t.Fatal(err)
	}
	d.s = s
	return s, d
}

func done(c *Commit) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// TestCommitsAreDoneOnlyOnDiskAndGrouped: a commit is not done, nor counted
// durable, while its fsync is outstanding; commits submitted meanwhile are
// written together in the next batch.
func TestCommitsAreDoneOnlyOnDiskAndGrouped(t *testing.T) {
	s, d := newStallingStore(t)
	first := s.Submit(TaskOp("fw", "t1", task("t1")))
	<-d.entered
	var later []*Commit
	for i := range 20 {
		later = append(later, s.Submit(UpdatesOp("fw", "t1", Updates{State: mesos.TaskRunning, Pending: []mesos.TaskStatus{status(mesos.TaskRunning, byte(i))}})))
	}
	if done(first) || s.Durable() != 0 {
		t.Fatalf("a commit was done while its fsync was stalled (durable %d)", s.Durable())
	}
	barrier := s.Submit()
	close(d.release)
	if err := barrier.Wait(); err != nil {
		t.Fatal(err)
	}
	for _, c := range append(later, first) {
		if !done(c) || c.Wait() != nil {
			t.Fatalf("commit %d: done %v, err %v", c.Seq(), done(c), c.Wait())
		}
	}
	if got := s.Durable(); got != barrier.Seq() {
		t.Fatalf("durable = %d, want %d", got, barrier.Seq())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, seen := range d.seen {
		if seen != 0 && seen != first.Seq() {
			t.Fatalf("an fsync ran with %d durable: the 20 updates were not written as one batch (%v)", seen, d.seen)
		}
	}
	if r := load(t, s)["fw/t1"]; r.Updates == nil || r.Updates.Pending[0].UUID[0] != 19 {
		t.Fatalf("the last update written is not the one read: %+v", r.Updates)
	}
}

// TestBatchAppliesOpsInOrder: within one batch a removal undoes the writes
// before it and a relaunch starts from clean records, as if each op ran
// alone.
func TestBatchAppliesOpsInOrder(t *testing.T) {
	s, d := newStallingStore(t)
	s.Submit(FrameworkOp(fw("fw")))
	<-d.entered
	running := Updates{State: mesos.TaskRunning}
	var cs []*Commit
	for _, op := range []Op{
		TaskOp("fw", "t1", task("t1")), UpdatesOp("fw", "t1", Updates{State: mesos.TaskFinished}),
		CompletedOp("fw", "t1", time.Unix(1, 0)), ContainerOp("fw", "t1", []byte("old")),
		TaskOp("fw", "t1", task("t1")), UpdatesOp("fw", "t1", running),
		TaskOp("fw", "t2", task("t2")), UpdatesOp("fw", "t2", running), RemoveTaskOp("fw", "t2"),
		ContainerOp("fw", "gone", []byte("x")),
	} {
		cs = append(cs, s.Submit(op))
	}
	close(d.release)
	for i, c := range cs {
		err := c.Wait()
		if (err != nil) != (i == len(cs)-1) {
			t.Errorf("op %d: %v", i, err)
		}
	}
	recs := load(t, s)
	r := recs["fw/t1"]
	if len(recs) != 1 || r == nil || r.Completed != nil || r.Container != nil || r.Updates.State != mesos.TaskRunning {
		t.Fatalf("records = %v, t1 = %+v", recs, r)
	}
}

// TestFailedSyncFailsItsCommits: a write that cannot be made durable fails
// its commit with the file's name and is reported; a record it was to
// replace keeps its old contents; the next write succeeds.
func TestFailedSyncFailsItsCommits(t *testing.T) {
	var mu sync.Mutex
	broken := false
	var reported []error
	s, err := OpenWith(t.TempDir(), Options{
		Sync: func(f *os.File) error {
			mu.Lock()
			defer mu.Unlock()
			if broken && (strings.Contains(f.Name(), "task.json") || strings.Contains(f.Name(), "framework.json")) {
				return syscall.EIO
			}
			return f.Sync()
		},
		OnError: func(err error) { reported = append(reported, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	setBroken := func(b bool) { mu.Lock(); broken = b; mu.Unlock() }
	if err := s.PutFramework(fw("fw")); err != nil {
		t.Fatal(err)
	}
	setBroken(true)
	renamed := fw("fw")
	renamed.Name = "renamed"
	if err := s.PutFramework(renamed); err == nil || !strings.Contains(err.Error(), "framework.json") || !errors.Is(err, syscall.EIO) {
		t.Fatalf("PutFramework on a failing disk: %v", err)
	}
	if err := s.PutTask("fw", "t1", task("t1")); err == nil || !strings.Contains(err.Error(), "task.json") {
		t.Fatalf("PutTask on a failing disk: %v", err)
	}
	if len(reported) != 2 {
		t.Fatalf("reported %v", reported)
	}
	fws, _ := s.Load()
	if fws[0].Info == nil || fws[0].Info.Name != "n-fw" {
		t.Fatalf("a replacement that was not synced was renamed into place: %+v", fws[0].Info)
	}
	setBroken(false)
	if err := s.PutTask("fw", "t1", task("t1")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFramework(renamed); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkConcurrentPutUpdates is 100 tasks checkpointing an update each
// at the same time, as in a launch storm; compare BenchmarkPutUpdates, one
// at a time. ns/op is per round of 100.
func BenchmarkConcurrentPutUpdates(b *testing.B) {
	const n = 100
	s, _ := Open(b.TempDir())
	for i := range n {
		s.PutTask("fw", fmt.Sprint("t", i), task("t1"))
	}
	u := Updates{State: mesos.TaskRunning, Latest: mesos.TaskRunning, Pending: []mesos.TaskStatus{status(mesos.TaskStarting, 1), status(mesos.TaskRunning, 2)}}
	for b.Loop() {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if err := s.PutUpdates("fw", fmt.Sprint("t", i), u); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "updates/s")
}

// TestRecordsAreOnlyReadableByTheAgent: a task's records hold its
// environment, secrets included, so no other user of the host may read
// them, even in a store an older agent left world-readable.
func TestRecordsAreOnlyReadableByTheAgent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "meta")
	if err := os.MkdirAll(filepath.Join(dir, "frameworks"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	tk := task("t1")
	tk.Spec.Env = append(tk.Spec.Env, "DB_PASSWORD=s3cret")
	if err := s.PutFramework(fw("fw")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTask("fw", "t1", tk); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTask("fw", "t1", tk); err != nil { // replaced: the temporary twin path
		t.Fatal(err)
	}
	if err := s.PutContainer("fw", "t1", []byte("cp")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutUpdates("fw", "t1", Updates{State: mesos.TaskRunning, Pending: []mesos.TaskStatus{status(mesos.TaskRunning, 1)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCompleted("fw", "t1", time.Unix(10, 0)); err != nil {
		t.Fatal(err)
	}
	n := 0
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 9 {
		t.Fatalf("walked %d entries, want the store's dirs and 5 records", n)
	}
	r, info, ok := s.LoadTask("fw", "t1")
	if !ok || r.Task == nil || info == nil || info.User != "root" {
		t.Fatalf("LoadTask = %+v, %+v, %v; want the task and its framework", r, info, ok)
	}
	if _, _, ok := s.LoadTask("fw", "nope"); ok {
		t.Fatal("LoadTask of an unknown task reported ok")
	}
	if _, _, ok := s.LoadTask("..", "t1"); ok {
		t.Fatal("LoadTask of framework id .. reported ok")
	}
}
