// Package zkstore is the store.Store of a highly available cluster: the
// registry kept in ZooKeeper, one znode per key, shared by every master
// that opens the same root.
//
// Layout under root (e.g. /agora):
//
//	/agora/+frameworks/fw-1        key /frameworks/fw-1
//	/agora/+tasks/+fw-1/task-7     key /tasks/fw-1/task-7
//	/agora/tasks                   key /tasks (a key may also be a prefix)
//	/agora/%log/e-0000000042       change log entry (see Watch)
//
// A key's last element is a leaf znode holding the value; the elements above
// it are directory znodes named "+element", created empty as needed and
// never listed as keys. Keys and directories never share a znode, so that
// a key's version is always its znode's data version + 1, whatever else is
// stored below it: if a key's znode also held its children, writing a key
// over an existing directory, or deleting a key that has children, would
// have to keep the znode and its data version, and the version would drift
// from the contract's "created = 1". An element starting with "+" or "%" is
// escaped ("%2B...", "%25..."), so names starting with "%" are free for the
// store's own znodes. Empty directories are left in place.
//
// Contract beyond store.Store:
//   - Versions: store version = ZooKeeper data version + 1. Put and Delete
//     with an expected version are one ZooKeeper compare-and-set; Put and
//     Delete with store.Any read the version first and compare-and-set on
//     it, retrying on a race.
//   - Writes queued while a write is in flight are sent together as one
//     ZooKeeper multi-op (group commit, at most one write per key per
//     multi); each write still gets its own compare-and-set result.
//   - Values are at most MaxValueSize bytes (ZooKeeper refuses requests over
//     1 MiB); Put of a larger value fails with an error naming the key and
//     the size.
//   - Watch sees every change in order, made by any store on the same root:
//     each multi-op also creates one sequential log entry under %log listing
//     its changes, and watches read the log. The last LogRetention entries
//     are kept. A watch channel that closes before its context ends means
//     events were lost (the watcher fell WatchBuffer events behind, or the
//     log was trimmed past it, or a value over InlineValue bytes was
//     overwritten before the watch read it): Watch again, then List.
//     Watches survive disconnections and session expiry: they resume from
//     the log. A Delete event carries the version the key had when it was
//     deleted.
//   - List reads the keys one by one; it is not a snapshot. A key written
//     or deleted during the call may or may not be in the result. Ephemeral
//     znodes (an election sharing the root) are not keys.
//   - While ZooKeeper is unreachable, a call fails once its context ends or
//     once it has waited for the connection for the session timeout,
//     whichever is first; when ZooKeeper returns, the store works again. A
//     write whose connection dropped after it was sent fails with an error
//     wrapping ErrUnknownOutcome: it may or may not have been applied.
package zkstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"

	"agora/core/store"
)

const (
	// MaxValueSize is the largest value Put accepts.
	MaxValueSize = 1_000_000
	// InlineValue is the largest value copied into the change log; a larger
	// value is read from its key by watchers.
	InlineValue = 128 << 10
	// WatchBuffer is how many undelivered events a watch may hold before
	// its channel is closed.
	WatchBuffer = 1024
	// LogRetention is how many change log entries (one per multi-op) are
	// kept for watches that fall behind.
	LogRetention = 1024

	// maxRequest is what one request may weigh: ZooKeeper's default
	// jute.maxbuffer (1 MiB - 1) less room for framing. A larger request
	// makes the server drop the connection, failing every call in flight.
	maxRequest = 0xfffff - 4096
	// opOverhead bounds the framing one operation adds to a multi-op.
	opOverhead = 128
	// maxBatch bounds the writes in one multi-op.
	maxBatch = 512
	// trimEvery is how many log entries this store writes between trims.
	trimEvery = 128
)

// Store is a store.Store on ZooKeeper. It is safe for concurrent use.
type Store struct {
	conn    *zk.Conn
	lay     layout
	timeout time.Duration // how long a call waits for a lost connection
	logf    func(string, ...any)
	acl     []zk.ACL

	writes     chan *op      // unbuffered: a write is either taken by the committer or not
	stop       chan struct{} // closed by Close
	closed     atomic.Bool
	closeOnce  sync.Once
	commitDone chan struct{}
	eventsDone chan struct{}

	logWrites atomic.Int64 // log entries written by this store, for trimming
	trimming  atomic.Bool
	bg        sync.WaitGroup // trims in progress

	mu        sync.Mutex // guards watchers and following; held while delivering
	watchers  map[*watcher]struct{}
	following bool
	followWG  sync.WaitGroup
	wake      chan struct{} // nudges the follower to re-check whether it is needed
}

var _ store.Store = (*Store)(nil)

// Open connects to ZooKeeper and returns a store keeping its keys under
// root, creating root if needed. sessionTimeout is the ZooKeeper session
// timeout and also how long a call waits for a lost connection to return;
// Open itself waits that long for a first connection. logf receives
// connection problems; nil discards them.
func Open(servers []string, root string, sessionTimeout time.Duration, logf func(string, ...any)) (*Store, error) {
	if len(servers) == 0 {
		return nil, errors.New("zkstore: open: servers is empty")
	}
	if err := store.ValidKey(root); err != nil {
		return nil, fmt.Errorf("zkstore: open: root: %w", err)
	}
	if sessionTimeout <= 0 {
		return nil, fmt.Errorf("zkstore: open: sessionTimeout %v must be positive", sessionTimeout)
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	conn, events, err := zk.Connect(servers, sessionTimeout, zk.WithLogger(zkLogger{logf}), zk.WithLogInfo(false))
	if err != nil {
		return nil, fmt.Errorf("zkstore: open %v: %w", servers, err)
	}
	s := &Store{
		conn:       conn,
		lay:        layout{root: root},
		timeout:    sessionTimeout,
		logf:       logf,
		acl:        zk.WorldACL(zk.PermAll),
		writes:     make(chan *op),
		stop:       make(chan struct{}),
		commitDone: make(chan struct{}),
		eventsDone: make(chan struct{}),
		watchers:   make(map[*watcher]struct{}),
		wake:       make(chan struct{}, 1),
	}
	go s.logSessionEvents(events)
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	if err := s.createDirs(ctx, append(s.rootDirs(), s.lay.log())); err != nil {
		conn.Close()
		<-s.eventsDone
		return nil, fmt.Errorf("zkstore: open %v%s: %w", servers, root, err)
	}
	go s.commitLoop()
	return s, nil
}

// Conn is the store's ZooKeeper connection, for sharing with code that
// needs one session (the store itself creates nothing ephemeral).
func (s *Store) Conn() *zk.Conn { return s.conn }

// Root is the znode the keys live under.
func (s *Store) Root() string { return s.lay.root }

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if err := store.ValidKey(key); err != nil {
		return store.KV{}, fmt.Errorf("zkstore: get: %w", err)
	}
	if err := s.usable(); err != nil {
		return store.KV{}, fmt.Errorf("zkstore: get %s: %w", key, err)
	}
	kv, err := s.read(ctx, key, s.lay.leaf(key))
	if err != nil {
		return store.KV{}, fmt.Errorf("zkstore: get %s: %w", key, err)
	}
	return kv, nil
}

// read fetches one key's leaf znode.
func (s *Store) read(ctx context.Context, key, path string) (store.KV, error) {
	var kv store.KV
	err := s.retry(ctx, func() error {
		data, stat, err := s.conn.Get(path)
		if errors.Is(err, zk.ErrNoNode) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if stat.EphemeralOwner != 0 {
			return store.ErrNotFound // not one of ours: an election's znode
		}
		if data == nil {
			data = []byte{}
		}
		kv = store.KV{Key: key, Value: data, Version: int64(stat.Version) + 1}
		return nil
	})
	return kv, err
}

// List implements store.Store. Prefix "/" lists every key.
func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, error) {
	if err := store.ValidPrefix(prefix); err != nil {
		return nil, fmt.Errorf("zkstore: list: %w", err)
	}
	if err := s.usable(); err != nil {
		return nil, fmt.Errorf("zkstore: list %s: %w", prefix, err)
	}
	keys, err := s.walk(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("zkstore: list %s: %w", prefix, err)
	}
	kvs, err := s.readAll(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("zkstore: list %s: %w", prefix, err)
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key })
	return kvs, nil
}

// readers is how many reads List keeps in flight on the connection.
const readers = 64

// walk returns every key under prefix, listing directories level by level
// with the level's listings in flight together.
func (s *Store) walk(ctx context.Context, prefix string) ([]string, error) {
	type dir struct{ key, path string } // key: the prefix the directory holds
	level := []dir{{key: prefix, path: s.lay.dir(prefix)}}
	if prefix == "/" {
		level[0].key = ""
	}
	var keys []string
	for len(level) > 0 {
		children := make([][]string, len(level))
		err := parallel(ctx, len(level), func(i int) error {
			return s.retry(ctx, func() error {
				names, _, err := s.conn.Children(level[i].path)
				if errors.Is(err, zk.ErrNoNode) {
					return nil // nothing was ever stored there
				}
				children[i] = names
				return err
			})
		})
		if err != nil {
			return nil, err
		}
		var next []dir
		for i, d := range level {
			for _, name := range children[i] {
				if elem, ok := unescapeDir(name); ok {
					next = append(next, dir{key: d.key + "/" + elem, path: d.path + "/" + name})
				} else if elem, ok := unescapeLeaf(name); ok {
					keys = append(keys, d.key+"/"+elem)
				}
			}
		}
		level = next
	}
	return keys, nil
}

// readAll reads keys with many reads in flight; keys deleted meanwhile are
// left out.
func (s *Store) readAll(ctx context.Context, keys []string) ([]store.KV, error) {
	kvs := make([]store.KV, len(keys))
	found := make([]bool, len(keys))
	err := parallel(ctx, len(keys), func(i int) error {
		kv, err := s.read(ctx, keys[i], s.lay.leaf(keys[i]))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		kvs[i], found[i] = kv, err == nil
		return err
	})
	if err != nil {
		return nil, err
	}
	out := kvs[:0]
	for i, kv := range kvs {
		if found[i] {
			out = append(out, kv)
		}
	}
	return out, nil
}

// parallel runs fn(0..n-1) on up to readers goroutines and returns the
// first error.
func parallel(ctx context.Context, n int, fn func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	workers := min(n, readers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		// Our cancel only follows an error, so this is the caller's.
		return ctx.Err()
	}
	return firstErr
}

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte, expect int64) (int64, error) {
	if err := store.ValidKey(key); err != nil {
		return 0, fmt.Errorf("zkstore: put: %w", err)
	}
	if expect < store.Any {
		return 0, fmt.Errorf("zkstore: put %s: invalid expect version %d", key, expect)
	}
	if len(value) > MaxValueSize {
		return 0, fmt.Errorf("zkstore: put %s: value of %d bytes is larger than the %d ZooKeeper can hold", key, len(value), MaxValueSize)
	}
	path := s.lay.leaf(key)
	if w := weight(key, path, len(value), s.lay.log()); w > maxRequest {
		return 0, fmt.Errorf("zkstore: put %s: value of %d bytes with a %d-byte key makes a %d-byte request, over ZooKeeper's %d",
			key, len(value), len(key), w, maxRequest)
	}
	if err := s.usable(); err != nil {
		return 0, fmt.Errorf("zkstore: put %s: %w", key, err)
	}
	value = append([]byte{}, value...) // the caller may reuse its buffer once Put returns, and the committer may still hold it
	if expect != store.Any {
		v, err := s.write(ctx, &op{kind: opPut, key: key, path: path, value: value, expect: expect})
		if err != nil {
			return 0, fmt.Errorf("zkstore: put %s: %w", key, err)
		}
		return v, nil
	}
	for {
		current, err := s.version(ctx, path)
		if err != nil {
			return 0, fmt.Errorf("zkstore: put %s: %w", key, err)
		}
		v, err := s.write(ctx, &op{kind: opPut, key: key, path: path, value: value, expect: current})
		if errors.Is(err, store.ErrConflict) {
			continue // another writer got in between; Any means we win eventually
		}
		if err != nil {
			return 0, fmt.Errorf("zkstore: put %s: %w", key, err)
		}
		return v, nil
	}
}

// Delete implements store.Store. Expect Absent (0) never matches an
// existing key, so it yields ErrConflict, or ErrNotFound when missing.
func (s *Store) Delete(ctx context.Context, key string, expect int64) error {
	if err := store.ValidKey(key); err != nil {
		return fmt.Errorf("zkstore: delete: %w", err)
	}
	if expect < store.Any {
		return fmt.Errorf("zkstore: delete %s: invalid expect version %d", key, expect)
	}
	if err := s.usable(); err != nil {
		return fmt.Errorf("zkstore: delete %s: %w", key, err)
	}
	path := s.lay.leaf(key)
	for {
		want := expect
		if expect == store.Any || expect == store.Absent {
			current, err := s.version(ctx, path)
			if err != nil {
				return fmt.Errorf("zkstore: delete %s: %w", key, err)
			}
			switch {
			case current == 0 && expect == store.Any:
				return nil
			case current == 0:
				return fmt.Errorf("zkstore: delete %s: %w", key, store.ErrNotFound)
			case expect == store.Absent:
				return fmt.Errorf("zkstore: delete %s: %w", key, store.ErrConflict)
			}
			want = current
		}
		_, err := s.write(ctx, &op{kind: opDelete, key: key, path: path, expect: want})
		if expect == store.Any && (errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound)) {
			continue // changed under us: look again
		}
		if err != nil {
			return fmt.Errorf("zkstore: delete %s: %w", key, err)
		}
		return nil
	}
}

// version returns a key's current store version, 0 when it does not exist.
func (s *Store) version(ctx context.Context, path string) (int64, error) {
	var v int64
	err := s.retry(ctx, func() error {
		ok, stat, err := s.conn.Exists(path)
		if err != nil {
			return err
		}
		v = 0
		if ok {
			v = int64(stat.Version) + 1
		}
		return nil
	})
	return v, err
}

// Close closes every watch channel, fails queued writes with ErrClosed,
// waits for the write in flight, and closes the connection. Calling it
// again returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed.Store(true)
		for w := range s.watchers {
			s.dropLocked(w)
		}
		s.mu.Unlock()
		close(s.stop)
		<-s.commitDone
		s.conn.Close()
		s.followWG.Wait()
		s.bg.Wait()
		<-s.eventsDone
	})
	return nil
}

func (s *Store) usable() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// retry runs one ZooKeeper call until it succeeds or fails for a reason
// other than the connection, the store closes, ctx ends, or the connection
// has been failing for s.timeout. Only for calls that are safe to repeat.
func (s *Store) retry(ctx context.Context, call func() error) error {
	var down time.Time // when the connection first failed
	backoff := 50 * time.Millisecond
	for {
		err := s.await(ctx, call)
		if err == nil || !connectionError(err) {
			return err
		}
		if s.closed.Load() {
			return store.ErrClosed
		}
		if down.IsZero() {
			down = time.Now()
		} else if time.Since(down) >= s.timeout {
			return fmt.Errorf("ZooKeeper unreachable for %v: %w", s.timeout, err)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return fmt.Errorf("waiting for ZooKeeper (%v): %w", err, ctx.Err())
		case <-s.stop:
			return store.ErrClosed
		}
		backoff = min(2*backoff, time.Second)
	}
}

// await runs call but returns when ctx ends or the store closes even if
// call is still waiting on the connection (it finishes on its own: the
// client fails requests when the connection drops or closes).
func (s *Store) await(ctx context.Context, call func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return store.ErrClosed
	}
}

// connectionError reports errors that say nothing about the request, only
// that the connection was not there to carry it.
func connectionError(err error) bool {
	return errors.Is(err, zk.ErrNoServer) || errors.Is(err, zk.ErrConnectionClosed) ||
		errors.Is(err, zk.ErrSessionExpired) || errors.Is(err, zk.ErrSessionMoved) ||
		errors.Is(err, zk.ErrClosing)
}

// createDirs creates each path (persistent, empty) unless it exists,
// outermost first.
func (s *Store) createDirs(ctx context.Context, paths []string) error {
	for _, p := range paths {
		err := s.retry(ctx, func() error {
			_, err := s.conn.Create(p, nil, 0, s.acl)
			if errors.Is(err, zk.ErrNodeExists) {
				return nil
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("create %s: %w", p, err)
		}
	}
	return nil
}

// logSessionEvents drains the connection's session events (the client
// drops events nobody reads) and logs state changes worth an operator's eye.
func (s *Store) logSessionEvents(events <-chan zk.Event) {
	defer close(s.eventsDone)
	for ev := range events {
		if ev.Type != zk.EventSession {
			continue
		}
		switch ev.State {
		case zk.StateDisconnected, zk.StateExpired:
			if !s.closed.Load() {
				s.logf("zkstore: %s: ZooKeeper session %s (server %s)", s.lay.root, ev.State, ev.Server)
			}
		case zk.StateHasSession:
			s.logf("zkstore: %s: ZooKeeper session established (server %s)", s.lay.root, ev.Server)
		}
	}
}

// rootDirs lists root and its ancestors, outermost first.
func (s *Store) rootDirs() []string {
	var dirs []string
	for p := s.lay.root; p != ""; p = parentPath(p) {
		dirs = append([]string{p}, dirs...)
	}
	return dirs
}

// parentPath is the parent of an absolute znode path, "" for "/" and for
// top-level paths (whose parent, "/", always exists).
func parentPath(p string) string {
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return ""
}

type zkLogger struct{ logf func(string, ...any) }

func (l zkLogger) Printf(format string, args ...any) { l.logf("zkstore: zk client: "+format, args...) }
