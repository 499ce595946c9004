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
//	frameworks/<framework>/tasks/<task>/updates.json
//	frameworks/<framework>/tasks/<task>/completed.json
//
// Contract: every write replaces one whole file atomically and durably
// (temporary file, fsync, rename, fsync of the directory), so a record is
// either the old one or the new one, never half-written; temporary files
// left by a crash are ignored and removed by the next write of that file.
// Load reports an unreadable record as that task's error instead of failing
// the whole load, so one corrupt task cannot stop a restart. A Store is safe
// for concurrent use as long as one file is not written concurrently.
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
	"time"

	"agora/core/containerizer"
	"agora/core/mesos"
)

// File names of a task's records.
const (
	frameworkFile = "framework.json"
	taskFile      = "task.json"
	containerFile = "container"
	updatesFile   = "updates.json"
	completedFile = "completed.json"
	tmpMarker     = ".tmp-"
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

// Store reads and writes checkpoints under one directory.
type Store struct {
	dir string
}

// Open returns the store rooted at dir, creating dir if needed.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "frameworks"), 0o755); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return &Store{dir: dir}, nil
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

// PutFramework records a framework's info.
func (s *Store) PutFramework(info mesos.FrameworkInfo) error {
	if info.ID == nil {
		return errors.New("checkpoint: framework.id is missing")
	}
	if err := checkName("framework.id", info.ID.Value); err != nil {
		return err
	}
	dir := s.frameworkDir(info.ID.Value)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return writeJSON(filepath.Join(dir, frameworkFile), info)
}

// PutTask starts a task's records afresh (a task id reused after an earlier
// task completed replaces the old records) with what is about to launch.
func (s *Store) PutTask(fid, tid string, t Task) error {
	if err := checkName("framework.id", fid); err != nil {
		return err
	}
	if err := checkName("task.task_id", tid); err != nil {
		return err
	}
	dir := s.TaskDir(fid, tid)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	return writeJSON(filepath.Join(dir, taskFile), t)
}

// PutContainer records the containerizer's checkpoint of a launched task.
func (s *Store) PutContainer(fid, tid string, cp []byte) error {
	return writeFile(filepath.Join(s.TaskDir(fid, tid), containerFile), cp)
}

// PutUpdates records a task's state and unacknowledged updates.
func (s *Store) PutUpdates(fid, tid string, u Updates) error {
	return writeJSON(filepath.Join(s.TaskDir(fid, tid), updatesFile), u)
}

// PutCompleted marks a task as done with: its terminal update was
// acknowledged (or its framework removed) at at. Its records and sandbox
// are kept until garbage collection.
func (s *Store) PutCompleted(fid, tid string, at time.Time) error {
	return writeJSON(filepath.Join(s.TaskDir(fid, tid), completedFile), completed{At: at})
}

// RemoveTask deletes a task's records, and its framework's once no task is
// left.
func (s *Store) RemoveTask(fid, tid string) error {
	if err := checkName("framework.id", fid); err != nil {
		return err
	}
	if err := checkName("task.task_id", tid); err != nil {
		return err
	}
	if err := os.RemoveAll(s.TaskDir(fid, tid)); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tasks := filepath.Join(s.frameworkDir(fid), "tasks")
	if entries, err := os.ReadDir(tasks); err == nil && len(entries) == 0 {
		if err := os.RemoveAll(s.frameworkDir(fid)); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	return nil
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

// Load reads every framework and task record, in id order.
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
		r.Container = b
	} else if !errors.Is(err, fs.ErrNotExist) {
		r.ContainerErr = err
	}
	var u Updates
	if err := readJSON(filepath.Join(dir, updatesFile), &u); err == nil {
		r.Updates = &u
	} else if !errors.Is(err, fs.ErrNotExist) {
		r.UpdatesErr = err
	}
	var c completed
	if err := readJSON(filepath.Join(dir, completedFile), &c); err == nil {
		r.Completed = &c.At
	} else if !errors.Is(err, fs.ErrNotExist) {
		r.CompletedErr = err
	}
	return r
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

func writeJSON(file string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("checkpoint: encode %s: %w", filepath.Base(file), err)
	}
	return writeFile(file, b)
}

// writeFile replaces file with data atomically and durably.
func writeFile(file string, data []byte) error {
	dir := filepath.Dir(file)
	// A fixed temporary name: one left by a crash is truncated and reused.
	tmp, err := os.OpenFile(tmpName(file), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("checkpoint: write %s: %w", file, err)
	}
	// The rename is durable only once the directory is.
	return syncDir(dir)
}

// tmpName is file's temporary twin, which Load never reads.
func tmpName(file string) string {
	return filepath.Join(filepath.Dir(file), "."+filepath.Base(file)+tmpMarker+"w")
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("checkpoint: sync %s: %w", dir, err)
	}
	return nil
}
