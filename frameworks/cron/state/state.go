// Package state persists the cron framework's records in Agora's store
// (core/store): its framework id, each job's definition (schedules
// included), each job's cursor (how far its schedules and parents have been
// handled) and every run the core asked to keep.
//
// Contract:
//   - One small JSON record per object under the root (default "/cron"):
//     "framework", "jobs/<jobId>", "cursors/<jobId>", "runs/<jobId>/<runId>".
//     A record over MaxRecordBytes is refused with an error naming it, so
//     the state fits a ZooKeeper-backed store (znodes hold 1 MB).
//   - A record that does not decode, or that names another object than its
//     key does, is reported as a *CorruptError with its key, never dropped
//     silently: Jobs, Cursors and Runs return what decoded together with one
//     CorruptError per bad record (joined).
//   - Apply persists one core.Decisions in the order the core relies on:
//     every run is written before any cursor, and deletions come last, so a
//     failover between the two never finds a cursor past a fire whose run
//     was not stored (no fire is skipped; the run id makes a refire
//     idempotent, so none is doubled). Nothing is written when a record in
//     the batch is invalid.
//   - DeleteJob removes a job's runs and cursor before the job itself, so a
//     delete cut short leaves the job visible and a retry finishes it.
//
// A Store keeps no state beyond its configuration; it is safe for
// concurrent use.
package state

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"agora/core/store"
	"agora/frameworks/cron/core"
	"agora/frameworks/cron/job"
)

// DefaultRoot is where the framework's records live when New gets "".
const DefaultRoot = "/cron"

// MaxRecordBytes bounds one stored record, well under ZooKeeper's 1 MB
// znode limit.
const MaxRecordBytes = 512 << 10

// ErrTooLarge is wrapped by writes refused for their size.
var ErrTooLarge = errors.New("record too large")

// CorruptError reports a stored record that could not be decoded or does
// not match its key.
type CorruptError struct {
	Key string
	Err error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("state: corrupt record %s: %v", e.Key, e.Err)
}
func (e *CorruptError) Unwrap() error { return e.Err }

// Store is the cron framework's state in a store.Store.
type Store struct {
	st      store.Store
	root    string
	rootErr error
	// parallel bounds Apply's concurrent writes.
	parallel int
}

// DefaultParallel is how many writes Apply has in flight at once by
// default.
const DefaultParallel = 16

// New returns the framework's state kept under root ("" means "/cron") in
// st. An invalid root is reported by every call.
func New(st store.Store, root string) *Store {
	if root == "" {
		root = DefaultRoot
	}
	s := &Store{st: st, root: root, parallel: DefaultParallel}
	if err := store.ValidKey(root); err != nil {
		s.rootErr = fmt.Errorf("state: root: %w", err)
	}
	return s
}

// WithParallel sets how many writes Apply and DeleteJob keep in flight (at
// least 1) and returns s. More lets a group-committing store share one sync
// among more writes; fewer spares a ZooKeeper ensemble shared with others.
func (s *Store) WithParallel(n int) *Store {
	s.parallel = max(n, 1)
	return s
}

// frameworkRecord wraps the id so that every record is JSON.
type frameworkRecord struct {
	ID string `json:"id"`
}

// FrameworkID returns the id the framework subscribed with, so that it
// re-subscribes as the same framework after a restart or failover; a
// wrapped store.ErrNotFound before the first SetFrameworkID.
func (s *Store) FrameworkID(ctx context.Context) (string, error) {
	if s.rootErr != nil {
		return "", s.rootErr
	}
	key := s.key(frameworkKey)
	kv, err := s.st.Get(ctx, key)
	if err != nil {
		return "", fmt.Errorf("state: framework id: %w", err)
	}
	var r frameworkRecord
	if err := json.Unmarshal(kv.Value, &r); err != nil || r.ID == "" {
		if err == nil {
			err = errors.New("empty id")
		}
		return "", &CorruptError{Key: key, Err: err}
	}
	return r.ID, nil
}

// SetFrameworkID records the framework's id.
func (s *Store) SetFrameworkID(ctx context.Context, id string) error {
	if s.rootErr != nil {
		return s.rootErr
	}
	if id == "" {
		return errors.New("state: framework id: must not be empty")
	}
	w, err := s.encode(s.key(frameworkKey), "framework id", frameworkRecord{ID: id})
	if err != nil {
		return err
	}
	return s.write(ctx, w)
}

// op is one prepared write (data != nil) or delete (data == nil).
type op struct {
	key  string
	what string // names the object in errors
	data []byte
}

// encode marshals v for key and checks its size.
func (s *Store) encode(key, what string, v any) (op, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return op{}, fmt.Errorf("state: %s: encode: %w", what, err)
	}
	if len(data) > MaxRecordBytes {
		return op{}, fmt.Errorf("state: %s: record %s is %d bytes, over the %d-byte limit: %w", what, key, len(data), MaxRecordBytes, ErrTooLarge)
	}
	return op{key: key, what: what, data: data}, nil
}

// write performs one op; its error names the object and the key.
func (s *Store) write(ctx context.Context, w op) error {
	if w.data == nil {
		if err := s.st.Delete(ctx, w.key, store.Any); err != nil {
			return fmt.Errorf("state: %s: delete %s: %w", w.what, w.key, err)
		}
		return nil
	}
	if _, err := s.st.Put(ctx, w.key, w.data, store.Any); err != nil {
		return fmt.Errorf("state: %s: write %s: %w", w.what, w.key, err)
	}
	return nil
}

// PutJob writes j's definition, schedules included, replacing any stored
// one.
func (s *Store) PutJob(ctx context.Context, j *job.Job) error {
	if s.rootErr != nil {
		return s.rootErr
	}
	if j == nil {
		return errors.New("state: job: nil")
	}
	if j.ID == "" {
		return errors.New("state: job id: must not be empty")
	}
	w, err := s.encode(s.jobKey(j.ID), "job "+j.ID, j)
	if err != nil {
		return err
	}
	return s.write(ctx, w)
}

// Jobs returns every stored job, sorted by id. Records that do not decode
// are reported in the error (one *CorruptError each) alongside the jobs
// that did.
func (s *Store) Jobs(ctx context.Context) ([]*job.Job, error) {
	if s.rootErr != nil {
		return nil, s.rootErr
	}
	kvs, err := s.st.List(ctx, s.key(jobsDir))
	if err != nil {
		return nil, fmt.Errorf("state: list jobs: %w", err)
	}
	out := make([]*job.Job, 0, len(kvs))
	var errs []error
	for _, kv := range kvs {
		j, err := decodeJob(kv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, j)
	}
	slices.SortFunc(out, func(x, y *job.Job) int { return strings.Compare(x.ID, y.ID) })
	return out, errors.Join(errs...)
}

// decodeJob parses a stored job and checks it is the job its key names, so
// a record written under the wrong key is not served as another job. It is
// not validated again: the definition was valid when stored, and a newer
// build's stricter rules must not lose jobs at recovery.
func decodeJob(kv store.KV) (*job.Job, error) {
	id, err := unescapeSegment(lastSegment(kv.Key))
	if err != nil {
		return nil, &CorruptError{Key: kv.Key, Err: err}
	}
	var j job.Job
	if err := json.Unmarshal(kv.Value, &j); err != nil {
		return nil, &CorruptError{Key: kv.Key, Err: err}
	}
	if j.ID != id {
		return nil, &CorruptError{Key: kv.Key, Err: fmt.Errorf("job id %q does not match the key's %q", j.ID, id)}
	}
	return &j, nil
}

// DeleteJob removes the job, its cursor and all its runs. Runs go first and
// the job last, so a delete cut short leaves the job visible and a retry
// finishes it. Deleting a job that is not stored is not an error.
func (s *Store) DeleteJob(ctx context.Context, id string) error {
	if s.rootErr != nil {
		return s.rootErr
	}
	if id == "" {
		return errors.New("state: delete job: id: must not be empty")
	}
	kvs, err := s.st.List(ctx, s.runsKey(id))
	if err != nil {
		return fmt.Errorf("state: delete job %s: list runs: %w", id, err)
	}
	dels := make([]op, len(kvs))
	for i, kv := range kvs {
		dels[i] = op{key: kv.Key, what: "delete job " + id + ": run"}
	}
	if err := s.run(ctx, dels); err != nil {
		return err
	}
	if err := s.write(ctx, op{key: s.cursorKey(id), what: "delete job " + id + ": cursor"}); err != nil {
		return err
	}
	return s.write(ctx, op{key: s.jobKey(id), what: "delete job " + id})
}

// PutCursor writes a job's cursor, replacing any stored one.
func (s *Store) PutCursor(ctx context.Context, c core.Cursor) error {
	if s.rootErr != nil {
		return s.rootErr
	}
	w, err := s.cursorOp(c)
	if err != nil {
		return err
	}
	return s.write(ctx, w)
}

func (s *Store) cursorOp(c core.Cursor) (op, error) {
	if c.JobID == "" {
		return op{}, errors.New("state: cursor jobId: must not be empty")
	}
	return s.encode(s.cursorKey(c.JobID), "job "+c.JobID+" cursor", c)
}

// DeleteCursor removes a job's cursor; a missing one is not an error.
func (s *Store) DeleteCursor(ctx context.Context, jobID string) error {
	if s.rootErr != nil {
		return s.rootErr
	}
	w, err := s.deleteCursorOp(jobID)
	if err != nil {
		return err
	}
	return s.write(ctx, w)
}

func (s *Store) deleteCursorOp(jobID string) (op, error) {
	if jobID == "" {
		return op{}, errors.New("state: delete cursor: jobId: must not be empty")
	}
	return op{key: s.cursorKey(jobID), what: "delete job " + jobID + " cursor"}, nil
}

// Cursors returns every stored cursor, sorted by job id. Records that do
// not decode are reported in the error alongside the cursors that did.
func (s *Store) Cursors(ctx context.Context) ([]core.Cursor, error) {
	if s.rootErr != nil {
		return nil, s.rootErr
	}
	kvs, err := s.st.List(ctx, s.key(cursorsDir))
	if err != nil {
		return nil, fmt.Errorf("state: list cursors: %w", err)
	}
	out := make([]core.Cursor, 0, len(kvs))
	var errs []error
	for _, kv := range kvs {
		c, err := decodeCursor(kv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y core.Cursor) int { return strings.Compare(x.JobID, y.JobID) })
	return out, errors.Join(errs...)
}

func decodeCursor(kv store.KV) (core.Cursor, error) {
	id, err := unescapeSegment(lastSegment(kv.Key))
	if err != nil {
		return core.Cursor{}, &CorruptError{Key: kv.Key, Err: err}
	}
	var c core.Cursor
	if err := json.Unmarshal(kv.Value, &c); err != nil {
		return core.Cursor{}, &CorruptError{Key: kv.Key, Err: err}
	}
	if c.JobID != id {
		return core.Cursor{}, &CorruptError{Key: kv.Key, Err: fmt.Errorf("cursor jobId %q does not match the key's %q", c.JobID, id)}
	}
	return c, nil
}

// PutRun writes a run, replacing any stored one with the same job and run
// id.
func (s *Store) PutRun(ctx context.Context, r core.Run) error {
	if s.rootErr != nil {
		return s.rootErr
	}
	w, err := s.runOp(r)
	if err != nil {
		return err
	}
	return s.write(ctx, w)
}

func (s *Store) runOp(r core.Run) (op, error) {
	if r.JobID == "" {
		return op{}, fmt.Errorf("state: run %s: jobId: must not be empty", r.ID)
	}
	if r.ID == "" {
		return op{}, fmt.Errorf("state: job %s run: id: must not be empty", r.JobID)
	}
	return s.encode(s.runKey(r.JobID, r.ID), "job "+r.JobID+" run "+r.ID, r)
}

// DeleteRun removes one run; a missing run is not an error.
func (s *Store) DeleteRun(ctx context.Context, jobID, runID string) error {
	if s.rootErr != nil {
		return s.rootErr
	}
	w, err := s.deleteRunOp(core.RunRef{JobID: jobID, RunID: runID})
	if err != nil {
		return err
	}
	return s.write(ctx, w)
}

func (s *Store) deleteRunOp(r core.RunRef) (op, error) {
	if r.JobID == "" {
		return op{}, fmt.Errorf("state: delete run %s: jobId: must not be empty", r.RunID)
	}
	if r.RunID == "" {
		return op{}, fmt.Errorf("state: delete job %s run: id: must not be empty", r.JobID)
	}
	return op{key: s.runKey(r.JobID, r.RunID), what: "job " + r.JobID + " run " + r.RunID}, nil
}

// Runs returns every stored run of every job, sorted by job id then run
// id. Records that do not decode are reported in the error alongside the
// runs that did.
func (s *Store) Runs(ctx context.Context) ([]core.Run, error) {
	if s.rootErr != nil {
		return nil, s.rootErr
	}
	dir := s.key(runsDir)
	kvs, err := s.st.List(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("state: list runs: %w", err)
	}
	out := make([]core.Run, 0, len(kvs))
	var errs []error
	for _, kv := range kvs {
		r, err := decodeRun(kv, dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y core.Run) int {
		return cmp.Or(strings.Compare(x.JobID, y.JobID), strings.Compare(x.ID, y.ID))
	})
	return out, errors.Join(errs...)
}

func decodeRun(kv store.KV, dir string) (core.Run, error) {
	jobID, runID, err := runKeyIDs(kv.Key, dir)
	if err != nil {
		return core.Run{}, &CorruptError{Key: kv.Key, Err: err}
	}
	var r core.Run
	if err := json.Unmarshal(kv.Value, &r); err != nil {
		return core.Run{}, &CorruptError{Key: kv.Key, Err: err}
	}
	if r.JobID != jobID || r.ID != runID {
		return core.Run{}, &CorruptError{Key: kv.Key, Err: fmt.Errorf("run %s/%s does not match the key's %s/%s", r.JobID, r.ID, jobID, runID)}
	}
	return r, nil
}
