package checkpoint

import (
	"os"
	"path/filepath"
	"strings"
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
// partial temporary file; the record read is the last complete one, and
// the next write succeeds.
func TestTornWritesAreIgnored(t *testing.T) {
	s, _ := Open(t.TempDir())
	s.PutFramework(fw("fw"))
	s.PutTask("fw", "t1", task("t1"))
	good := Updates{State: mesos.TaskStarting, Pending: []mesos.TaskStatus{status(mesos.TaskStarting, 1)}}
	if err := s.PutUpdates("fw", "t1", good); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(s.TaskDir("fw", "t1"), updatesFile)
	if err := os.WriteFile(tmpName(file), []byte(`{"state":"TASK_RUNN`), 0o644); err != nil {
		t.Fatal(err)
	}
	// A torn temporary task directory too (never a real task).
	os.MkdirAll(filepath.Join(s.dir, "frameworks", "fw", "tasks", ".x"+tmpMarker+"1"), 0o755)

	recs := load(t, s)
	r := recs["fw/t1"]
	if len(recs) != 1 || r.UpdatesErr != nil || r.Updates.State != mesos.TaskStarting || len(r.Updates.Pending) != 1 {
		t.Fatalf("after a torn write: %d tasks, t1 %+v", len(recs), r)
	}
	next := Updates{State: mesos.TaskRunning}
	if err := s.PutUpdates("fw", "t1", next); err != nil {
		t.Fatalf("write after a torn one: %v", err)
	}
	if r := load(t, s)["fw/t1"]; r.Updates.State != mesos.TaskRunning {
		t.Fatalf("updates = %+v", r.Updates)
	}
	if _, err := os.Stat(tmpName(file)); !os.IsNotExist(err) {
		t.Errorf("temporary file left after a successful write: %v", err)
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
	os.WriteFile(filepath.Join(s.TaskDir("fw", "bad-updates"), updatesFile), []byte("not json"), 0o644)
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
	if r := recs["fw/bad-updates"]; r.UpdatesErr == nil || !strings.Contains(r.UpdatesErr.Error(), "updates.json") || r.Task == nil {
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
