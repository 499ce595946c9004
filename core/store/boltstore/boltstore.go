// Package boltstore is the embedded store.Store: one bbolt file, for a
// single master and for dev mode.
//
// Contract beyond store.Store:
//   - Only one Store may have a file open. bbolt locks the file, and Open
//     gives up after LockTimeout with an error wrapping ErrLocked rather than
//     waiting for another master to exit.
//   - Put and Delete return once the write is committed and synced to disk.
//     Writes queued while a commit is in flight share the next transaction
//     (group commit), so concurrent writers share fsyncs; each write still
//     gets its own compare-and-set result.
//   - Watches are fanned out in this process, after commit, in commit order.
//     Each watch buffers WatchBuffer events. A watcher that falls further
//     behind has its channel closed rather than stalling writers: a watch
//     channel that closes before its context ends means "events were lost",
//     and the watcher must Watch again and then List to resynchronise.
//   - A Delete event carries the version the key had when it was deleted.
//
// Each key is one record in one bucket, its value the 8-byte big-endian
// version followed by the user's bytes. bbolt keeps keys sorted, so List is
// one cursor Seek and a forward scan.
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"agora/core/store"
)

const (
	// WatchBuffer is how many undelivered events a watch may hold before
	// its channel is closed.
	WatchBuffer = 1024
	// LockTimeout is how long Open waits for another holder of the file.
	LockTimeout = time.Second
	// maxBatch bounds one group commit so a flood of writers still sees
	// commits (and replies) regularly.
	maxBatch = 1024
)

// ErrLocked is wrapped by Open's error when another Store, in this process
// or another, holds the file.
var ErrLocked = errors.New("boltstore: file is locked by another open store")

var bucket = []byte("kv")

// Store is a store.Store kept in one bbolt file. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string

	writes        chan *write   // unbuffered: a write is either taken by the committer or refused
	stop          chan struct{} // closed by Close
	committerDone chan struct{}
	closed        atomic.Bool

	mu       sync.Mutex // guards watchers; held while publishing so events keep commit order
	watchers map[*watcher]struct{}
}

var _ store.Store = (*Store)(nil)

// write is one Put or Delete on its way through the committer.
type write struct {
	key    string
	value  []byte
	expect int64
	delete bool

	// Set by the committer before done is closed.
	version int64
	event   *store.Event
	err     error
	done    chan struct{}
}

type watcher struct {
	prefix string
	ch     chan store.Event
	gone   chan struct{} // closed when the watcher is dropped, ending its ctx goroutine
}

// Open opens or creates the store file at path.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("boltstore: open: path is empty")
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: LockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: open %s: %w (waited %v; is another master or dev instance using it?)",
			path, ErrLocked, LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: open %s: create bucket: %w", path, err)
	}
	s := &Store{
		db:            db,
		path:          path,
		writes:        make(chan *write),
		stop:          make(chan struct{}),
		committerDone: make(chan struct{}),
		watchers:      make(map[*watcher]struct{}),
	}
	go s.commitLoop()
	return s, nil
}

// Path returns the file the store was opened on.
func (s *Store) Path() string { return s.path }

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if err := store.ValidKey(key); err != nil {
		return store.KV{}, fmt.Errorf("boltstore: get: %w", err)
	}
	if err := s.usable(ctx); err != nil {
		return store.KV{}, fmt.Errorf("boltstore: get %s: %w", key, err)
	}
	var kv store.KV
	err := s.db.View(func(tx *bolt.Tx) error {
		rec := tx.Bucket(bucket).Get([]byte(key))
		if rec == nil {
			return store.ErrNotFound
		}
		var err error
		kv, err = decode(key, rec)
		return err
	})
	if err != nil {
		return store.KV{}, fmt.Errorf("boltstore: get %s: %w", key, closedErr(err))
	}
	return kv, nil
}

// List implements store.Store. Prefix "/" lists every key.
func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, error) {
	if err := store.ValidPrefix(prefix); err != nil {
		return nil, fmt.Errorf("boltstore: list: %w", err)
	}
	if err := s.usable(ctx); err != nil {
		return nil, fmt.Errorf("boltstore: list %s: %w", prefix, err)
	}
	// Seeking to prefix+"/" skips the prefix key itself and siblings such
	// as "/a-" that sort before "/a/".
	start := []byte(prefix)
	if prefix != "/" {
		start = append(start, '/')
	}
	var out []store.KV
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, rec := c.Seek(start); k != nil && bytes.HasPrefix(k, start); k, rec = c.Next() {
			kv, err := decode(string(k), rec)
			if err != nil {
				return err
			}
			out = append(out, kv)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list %s: %w", prefix, closedErr(err))
	}
	return out, nil
}

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte, expect int64) (int64, error) {
	if err := store.ValidKey(key); err != nil {
		return 0, fmt.Errorf("boltstore: put: %w", err)
	}
	if expect < store.Any {
		return 0, fmt.Errorf("boltstore: put %s: invalid expect version %d", key, expect)
	}
	w := &write{key: key, value: value, expect: expect, done: make(chan struct{})}
	if err := s.submit(ctx, w); err != nil {
		return 0, fmt.Errorf("boltstore: put %s: %w", key, err)
	}
	return w.version, w.err
}

// Delete implements store.Store. Expect Absent (0) never matches an
// existing key, so it yields ErrConflict, or ErrNotFound when missing.
func (s *Store) Delete(ctx context.Context, key string, expect int64) error {
	if err := store.ValidKey(key); err != nil {
		return fmt.Errorf("boltstore: delete: %w", err)
	}
	if expect < store.Any {
		return fmt.Errorf("boltstore: delete %s: invalid expect version %d", key, expect)
	}
	w := &write{key: key, expect: expect, delete: true, done: make(chan struct{})}
	if err := s.submit(ctx, w); err != nil {
		return fmt.Errorf("boltstore: delete %s: %w", key, err)
	}
	return w.err
}

// Watch implements store.Store; see the package comment for what a channel
// closing early means.
func (s *Store) Watch(ctx context.Context, prefix string) (<-chan store.Event, error) {
	if err := store.ValidPrefix(prefix); err != nil {
		return nil, fmt.Errorf("boltstore: watch: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: watch %s: %w", prefix, err)
	}
	w := &watcher{prefix: prefix, ch: make(chan store.Event, WatchBuffer), gone: make(chan struct{})}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil, fmt.Errorf("boltstore: watch %s: %w", prefix, store.ErrClosed)
	}
	s.watchers[w] = struct{}{}
	s.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			s.dropLocked(w)
			s.mu.Unlock()
		case <-w.gone:
		}
	}()
	return w.ch, nil
}

// Close closes every watch channel, waits for the write in flight, and
// closes the file. Calling it again returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return nil
	}
	for w := range s.watchers {
		s.dropLocked(w)
	}
	s.mu.Unlock()
	close(s.stop)
	<-s.committerDone
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close %s: %w", s.path, err)
	}
	return nil
}

// usable reports why a read should not start.
func (s *Store) usable(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return ctx.Err()
}

// closedErr maps bbolt's "not open", seen by a read racing Close, to ErrClosed.
func closedErr(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return store.ErrClosed
	}
	return err
}

// submit hands w to the committer and waits for its result. The context
// only bounds the wait for the queue: once taken, a write is committed or
// refused and the caller learns which.
func (s *Store) submit(ctx context.Context, w *write) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	select {
	case s.writes <- w:
	case <-s.stop:
		return store.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-w.done
	return nil
}

// commitLoop is the only writer: it takes every write queued while the last
// commit ran and applies them, in arrival order, in one transaction.
func (s *Store) commitLoop() {
	defer close(s.committerDone)
	for {
		var batch []*write
		select {
		case w := <-s.writes:
			batch = append(batch, w)
		case <-s.stop:
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case w := <-s.writes:
				batch = append(batch, w)
			default:
				break drain
			}
		}
		s.commit(batch)
	}
}

func (s *Store) commit(batch []*write) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for _, w := range batch {
			if err := apply(b, w); err != nil {
				return fmt.Errorf("%s: %w", w.key, err)
			}
		}
		return nil
	})
	if err != nil {
		// Nothing in the batch was stored, whatever apply decided.
		for _, w := range batch {
			w.version, w.event = 0, nil
			w.err = fmt.Errorf("boltstore: commit: %w", err)
		}
	}
	s.publish(batch)
	for _, w := range batch {
		close(w.done)
	}
}

// apply performs one write inside the batch transaction. A failed
// compare-and-set is recorded in w.err and is not an error of the batch;
// only storage errors are returned, and they abort the whole transaction.
func apply(b *bolt.Bucket, w *write) error {
	k := []byte(w.key)
	var current int64
	if rec := b.Get(k); rec != nil {
		kv, err := decode(w.key, rec)
		if err != nil {
			w.err = err
			return nil
		}
		current = kv.Version
	}
	if w.delete {
		remove, err := checkDelete(current, w.expect)
		if err != nil {
			w.err = fmt.Errorf("boltstore: delete %s: %w", w.key, err)
			return nil
		}
		if !remove {
			return nil
		}
		if err := b.Delete(k); err != nil {
			return err
		}
		w.event = &store.Event{Type: store.Delete, KV: store.KV{Key: w.key, Version: current}}
		return nil
	}
	next, err := checkPut(current, w.expect)
	if err != nil {
		w.err = fmt.Errorf("boltstore: put %s: %w", w.key, err)
		return nil
	}
	if err := b.Put(k, encode(next, w.value)); err != nil {
		return err
	}
	w.version = next
	w.event = &store.Event{Type: store.Put, KV: store.KV{Key: w.key, Value: w.value, Version: next}}
	return nil
}

// publish delivers the batch's events in commit order. Each watcher gets its
// own copy of the value, made before the writer's Put returns and may reuse
// its buffer.
func (s *Store) publish(batch []*write) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range batch {
		if w.event == nil {
			continue
		}
		for wt := range s.watchers {
			if !store.Under(w.event.KV.Key, wt.prefix) {
				continue
			}
			ev := *w.event
			if ev.Type == store.Put {
				ev.KV.Value = append([]byte{}, ev.KV.Value...)
			}
			select {
			case wt.ch <- ev:
			default:
				s.dropLocked(wt) // too far behind: it must resynchronise
			}
		}
	}
}

// dropLocked removes and closes a watcher once; s.mu must be held, which is
// also what makes the close safe against a concurrent publish.
func (s *Store) dropLocked(w *watcher) {
	if _, ok := s.watchers[w]; !ok {
		return
	}
	delete(s.watchers, w)
	close(w.ch)
	close(w.gone)
}

// checkPut decides a Put against the key's current version (0 if absent)
// and returns the version the key will have.
func checkPut(current, expect int64) (int64, error) {
	if expect != store.Any && expect != current {
		return 0, store.ErrConflict
	}
	return current + 1, nil
}

// checkDelete decides a Delete against the key's current version (0 if
// absent); remove is false when there is nothing to delete.
func checkDelete(current, expect int64) (remove bool, err error) {
	switch {
	case expect == store.Any:
		return current != 0, nil
	case current == 0:
		return false, store.ErrNotFound
	case expect != current:
		return false, store.ErrConflict
	}
	return true, nil
}

const versionLen = 8

func encode(version int64, value []byte) []byte {
	rec := make([]byte, versionLen+len(value))
	binary.BigEndian.PutUint64(rec, uint64(version))
	copy(rec[versionLen:], value)
	return rec
}

// decode copies the record out: bbolt's bytes are only valid inside the
// transaction.
func decode(key string, rec []byte) (store.KV, error) {
	if len(rec) < versionLen {
		return store.KV{}, fmt.Errorf("boltstore: record %s is corrupt: %d bytes, shorter than its version", key, len(rec))
	}
	return store.KV{
		Key:     key,
		Value:   append([]byte{}, rec[versionLen:]...),
		Version: int64(binary.BigEndian.Uint64(rec)),
	}, nil
}
