// Package checkpoint stores what an agent needs to survive its own restart,
// as a Mesos agent's meta directory does: each framework's FrameworkInfo,
// each task's TaskInfo and containerizer Spec (written before the launch),
// the containerizer's checkpoint of the launched container, the task's
// unacknowledged status updates with its current state, and when the task
// completed (its terminal update acknowledged), for garbage collection.
//
// Layout, under the directory given to Open (the agent's WorkDir/meta):
//
//	frameworks/<framework>/framework.json
//	frameworks/<framework>/tasks/<task>/task.json
//	frameworks/<framework>/tasks/<task>/container
//	frameworks/<framework>/tasks/<task>/updates.log
//	frameworks/<framework>/tasks/<task>/completed.json
//
// updates.log is append-only: each record is a whole Updates snapshot
// framed as "<crc32c in hex> <json>\n", and the last intact record is the
// task's state. Appending needs one fsync of the file, where replacing a
// file needs two dependent ones (file, then directory); the log is
// rewritten whole once it grows past maxLogSize. A record cut short by a
// crash fails its checksum and is ignored, and cut off before the next
// append. (Agents before the log kept updates.json; Load still reads it.)
//
// Contract: writes are submitted (Submit, or the blocking Put* helpers) and
// applied in submission order by one writer goroutine, which groups every
// write waiting when it starts into one batch: it writes the files, fsyncs
// them all at once (concurrent fsyncs share the file system's journal
// commits), renames replacements into place, fsyncs the directories that
// gained entries, and only then reports the batch's commits done. So a
// caller blocks on its batch, never on other callers' fsyncs one by one,
// and a commit is done only once its records are on disk. A record that
// exists is replaced whole (temporary file, fsync, rename, fsync of the
// directory), so it is either the old one or the new one; one that does
// not exist yet is written in place, so a crash before its commit is done
// may leave it torn, which Load reports as that record's error (see batch
// for why nothing can have acted on it). Temporary files left by a crash
// are ignored and removed by the next write of that file. Records are
// 0600 in 0700 directories, the store's root included, as they may hold
// secrets (see Task). Load reports an
// unreadable record as that task's error instead of failing the whole
// load, so one corrupt task cannot stop a restart. A Store is safe for
// concurrent use.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"agora/core/containerizer"
	"agora/core/mesos"
)

// File names of a task's records.
const (
	frameworkFile = "framework.json"
	taskFile      = "task.json"
	containerFile = "container"
	updatesLog    = "updates.log"
	completedFile = "completed.json"
	// legacyUpdatesFile is where agents before updates.log kept the stream.
	legacyUpdatesFile = "updates.json"
	tmpMarker         = ".tmp-"
)

// Records may hold secrets (a task's environment, SECRET variables
// included, which a restarted agent needs to relaunch and recover it), so
// only the agent's user may read them.
const (
	fileMode = 0o600
	dirMode  = 0o700
)

// Task is what the agent launched: enough to find the container again.
type Task struct {
	// Containerizer names the containerizer that runs the task.
	Containerizer string             `json:"containerizer"`
	Spec          containerizer.Spec `json:"spec"`
}

// Updates is a task's status update stream as far as it is not yet
// acknowledged, plus the task's current state.
type Updates struct {
	// State is the task's state as the agent knows it.
	State string `json:"state"`
	// Latest is the latest state given with the pending updates.
	Latest string `json:"latest,omitempty"`
	// Pending are the unacknowledged updates, oldest first.
	Pending []mesos.TaskStatus `json:"pending,omitempty"`
}

type completed struct {
	At time.Time `json:"at"`
}

// Options tunes a Store. The zero value is what an agent wants.
type Options struct {
	// Sync makes a file's or a directory's contents durable; default
	// (*os.File).Sync, fsync(2). Tests stall it to play a slow disk.
	Sync func(*os.File) error
	// OnError is told of every write that failed, for logging: most callers
	// do not wait for their writes. Default: nothing.
	OnError func(error)
}

// Store reads and writes checkpoints under one directory.
type Store struct {
	dir     string
	sync    func(*os.File) error
	onError func(error)

	mu      sync.Mutex
	queue   []*Commit // submitted, not yet taken by the writer
	last    uint64    // sequence number of the last commit submitted
	durable uint64    // every commit up to this one is done
	changed chan struct{}
	writing bool // a writer goroutine is running

	// logs is the length of each updates.log's intact records as the
	// writer last wrote or checked it. Only the writer goroutine (one at a
	// time) uses it.
	logs map[string]int64
}

// Open returns the store rooted at dir, creating dir if needed.
func Open(dir string) (*Store, error) { return OpenWith(dir, Options{}) }

// OpenWith is Open with options.
func OpenWith(dir string, o Options) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "frameworks"), dirMode); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	// A store written by an older agent has 0755 directories and 0644
	// files: closing its root is enough to keep them from other users.
	for _, d := range []string{dir, filepath.Join(dir, "frameworks")} {
		if err := os.Chmod(d, dirMode); err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
	}
	if o.Sync == nil {
		o.Sync = (*os.File).Sync
	}
	if o.OnError == nil {
		o.OnError = func(error) {}
	}
	return &Store{dir: dir, sync: o.Sync, onError: o.OnError, changed: make(chan struct{}), logs: map[string]int64{}}, nil
}

// Dir is the store's root.
func (s *Store) Dir() string { return s.dir }

func (s *Store) frameworkDir(fid string) string {
	return filepath.Join(s.dir, "frameworks", fid)
}

// TaskDir is where a task's records are.
func (s *Store) TaskDir(fid, tid string) string {
	return filepath.Join(s.dir, "frameworks", fid, "tasks", tid)
}

// checkName refuses ids that would escape the store.
func checkName(field, id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\\\x00") {
		return fmt.Errorf("checkpoint: %s %q cannot name a directory", field, id)
	}
	return nil
}

// PutFramework records a framework's info and waits until it is on disk.
func (s *Store) PutFramework(info mesos.FrameworkInfo) error {
	return s.Submit(FrameworkOp(info)).Wait()
}

// PutTask starts a task's records afresh (a task id reused after an earlier
// task completed replaces the old records) with what is about to launch,
// and waits until they are on disk.
func (s *Store) PutTask(fid, tid string, t Task) error {
	return s.Submit(TaskOp(fid, tid, t)).Wait()
}

// PutContainer records the containerizer's checkpoint of a launched task
// and waits until it is on disk.
func (s *Store) PutContainer(fid, tid string, cp []byte) error {
	return s.Submit(ContainerOp(fid, tid, cp)).Wait()
}

// PutUpdates records a task's state and unacknowledged updates and waits
// until they are on disk.
func (s *Store) PutUpdates(fid, tid string, u Updates) error {
	return s.Submit(UpdatesOp(fid, tid, u)).Wait()
}

// PutCompleted marks a task as done with: its terminal update was
// acknowledged (or its framework removed) at at. Its records and sandbox
// are kept until garbage collection. It waits until the mark is on disk.
func (s *Store) PutCompleted(fid, tid string, at time.Time) error {
	return s.Submit(CompletedOp(fid, tid, at)).Wait()
}

// RemoveTask deletes a task's records, and its framework's once no task is
// left, and waits until that is done.
func (s *Store) RemoveTask(fid, tid string) error {
	return s.Submit(RemoveTaskOp(fid, tid)).Wait()
}

// Framework is one framework's records as loaded.
type Framework struct {
	ID string
	// Info is nil if framework.json is missing or unreadable (Err says why).
	Info  *mesos.FrameworkInfo
	Err   error
	Tasks []*TaskRecord
}

// TaskRecord is one task's records as loaded. A nil field with a nil error
// means that record was never written.
type TaskRecord struct {
	FrameworkID, TaskID string

	Task    *Task
	TaskErr error

	Container    []byte
	ContainerErr error

	Updates    *Updates
	UpdatesErr error

	// Completed is when the task was marked done, nil if it was not.
	Completed    *time.Time
	CompletedErr error
}

// Load reads every framework and task record, in id order. It may run
// while writes are in progress; it then sees each record either before or
// after the write.
func (s *Store) Load() ([]*Framework, error) {
	fwDirs, err := readDirs(filepath.Join(s.dir, "frameworks"))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var out []*Framework
	for _, fid := range fwDirs {
		f := &Framework{ID: fid}
		var info mesos.FrameworkInfo
		switch err := readJSON(filepath.Join(s.frameworkDir(fid), frameworkFile), &info); {
		case err == nil:
			f.Info = &info
		case !errors.Is(err, fs.ErrNotExist):
			f.Err = err
		}
		tids, err := readDirs(filepath.Join(s.frameworkDir(fid), "tasks"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		for _, tid := range tids {
			f.Tasks = append(f.Tasks, s.loadTask(fid, tid))
		}
		out = append(out, f)
	}
	return out, nil
}

// LoadTask reads one task's records and its framework's info (nil if
// missing or unreadable), e.g. to learn the user of a task the agent has
// forgotten but whose sandbox is still there. ok is false if the store has
// no records of the task.
func (s *Store) LoadTask(fid, tid string) (r *TaskRecord, fw *mesos.FrameworkInfo, ok bool) {
	if checkName("framework id", fid) != nil || checkName("task id", tid) != nil {
		return nil, nil, false
	}
	if _, err := os.Stat(s.TaskDir(fid, tid)); err != nil {
		return nil, nil, false
	}
	var info mesos.FrameworkInfo
	if readJSON(filepath.Join(s.frameworkDir(fid), frameworkFile), &info) == nil {
		fw = &info
	}
	return s.loadTask(fid, tid), fw, true
}

func (s *Store) loadTask(fid, tid string) *TaskRecord {
	dir := s.TaskDir(fid, tid)
	r := &TaskRecord{FrameworkID: fid, TaskID: tid}
	var t Task
	if r.TaskErr = readJSON(filepath.Join(dir, taskFile), &t); r.TaskErr == nil {
		r.Task = &t
	} else if errors.Is(r.TaskErr, fs.ErrNotExist) {
		r.TaskErr = fmt.Errorf("%s is missing", taskFile)
	}
	if b, err := os.ReadFile(filepath.Join(dir, containerFile)); err == nil {
		if len(b) > 0 { // empty: created, then a crash before its data
			r.Container = b
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		r.ContainerErr = err
	}
	r.Updates, r.UpdatesErr = readUpdates(dir)
	var c completed
	if err := readJSON(filepath.Join(dir, completedFile), &c); err == nil {
		r.Completed = &c.At
	} else if !errors.Is(err, fs.ErrNotExist) {
		r.CompletedErr = err
	}
	return r
}

// readUpdates reads a task's updates log, or the updates.json of an older
// agent if there is no log. Both missing is (nil, nil).
func readUpdates(dir string) (*Updates, error) {
	b, err := os.ReadFile(filepath.Join(dir, updatesLog))
	if errors.Is(err, fs.ErrNotExist) {
		var u Updates
		switch err := readJSON(filepath.Join(dir, legacyUpdatesFile), &u); {
		case err == nil:
			return &u, nil
		case errors.Is(err, fs.ErrNotExist):
			return nil, nil
		default:
			return nil, err
		}
	}
	if err != nil {
		return nil, err
	}
	rec, _, err := lastRecord(b)
	if err != nil || rec == nil {
		return nil, err
	}
	var u Updates
	if err := json.Unmarshal(rec, &u); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %w", updatesLog, err)
	}
	return &u, nil
}

// readDirs lists the subdirectories of dir, sorted, skipping temporaries.
func readDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && !strings.Contains(e.Name(), tmpMarker) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

func readJSON(file string, v any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s is corrupt: %w", filepath.Base(file), err)
	}
	return nil
}

// tmpName is file's temporary twin, which Load never reads.
func tmpName(file string) string {
	return filepath.Join(filepath.Dir(file), "."+filepath.Base(file)+tmpMarker+"w")
}
