package zkstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"

	"agora/core/store"
)

// ErrUnknownOutcome is wrapped by a write's error when the connection
// dropped after the write was sent: it may or may not have been applied.
var ErrUnknownOutcome = errors.New("zkstore: connection lost with the write in flight; it may or may not have been applied")

type opKind int

const (
	opPut opKind = iota + 1
	opDelete
)

// op is one compare-and-set write on its way through the committer. expect
// is an exact store version: Absent (create) or a version >= 1.
type op struct {
	kind   opKind
	key    string
	path   string
	value  []byte
	expect int64

	abandoned atomic.Bool // the caller stopped waiting: do not send it any more

	// Set by the committer before done is closed.
	version int64
	err     error
	done    chan struct{}
}

// write hands o to the committer and waits for its result or ctx.
func (s *Store) write(ctx context.Context, o *op) (int64, error) {
	o.done = make(chan struct{})
	select {
	case s.writes <- o:
	case <-s.stop:
		return 0, store.ErrClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case <-o.done:
		return o.version, o.err
	case <-ctx.Done():
		o.abandoned.Store(true)
		return 0, fmt.Errorf("%w (the write may still be applied)", ctx.Err())
	}
}

func (o *op) finish(version int64, err error) {
	o.version, o.err = version, err
	close(o.done)
}

// request is the op as a ZooKeeper multi-op operation.
func (o *op) request(acl []zk.ACL) any {
	switch {
	case o.kind == opDelete:
		return &zk.DeleteRequest{Path: o.path, Version: zkVersion(o.expect)}
	case o.expect == store.Absent:
		return &zk.CreateRequest{Path: o.path, Data: o.value, Acl: acl}
	default:
		return &zk.SetDataRequest{Path: o.path, Data: o.value, Version: zkVersion(o.expect)}
	}
}

// zkVersion maps an expected store version (>= 1) to the data version
// ZooKeeper compares. A version beyond int32 can never match, and MaxInt32
// is a data version no znode reaches in practice.
func zkVersion(expect int64) int32 {
	if expect-1 > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(expect - 1)
}

// event is the change the op makes when it succeeds.
func (o *op) event() store.Event {
	if o.kind == opDelete {
		return store.Event{Type: store.Delete, KV: store.KV{Key: o.key, Version: o.expect}}
	}
	return store.Event{Type: store.Put, KV: store.KV{Key: o.key, Value: o.value, Version: o.expect + 1}}
}

// weight estimates the bytes an op adds to a multi-op, its log record
// included.
func weight(key, path string, valueLen int, logDir string) int {
	w := len(path) + valueLen + opOverhead + len(key) + recordOverhead
	if valueLen <= InlineValue {
		w += valueLen
	}
	return w + len(logDir) + opOverhead // an op alone also carries the log entry's create
}

func (o *op) weight() int {
	w := len(o.path) + len(o.value) + opOverhead + len(o.key) + recordOverhead
	if o.kind == opPut && len(o.value) <= InlineValue {
		w += len(o.value)
	}
	return w
}

// commitLoop is the only writer: it sends the writes queued while the last
// multi-op was in flight as the next multi-op.
func (s *Store) commitLoop() {
	defer close(s.commitDone)
	var carry []*op // taken but held back: their key was already in the batch
	for {
		var batch []*op
		batch, carry = s.nextBatch(carry)
		if batch == nil {
			for _, o := range carry {
				o.finish(0, store.ErrClosed)
			}
			s.failQueued()
			return
		}
		s.commit(batch)
	}
}

// nextBatch builds the next multi-op from the held-back writes and the
// queue: in arrival order, at most one write per key (a second write to a
// key must see the first's result), within maxBatch and maxRequest. It
// blocks only when there is nothing to do; nil means the store closed.
func (s *Store) nextBatch(carry []*op) (batch, held []*op) {
	budget := maxRequest - len(s.lay.log()) - opOverhead
	keys := make(map[string]bool)
	add := func(o *op) {
		w := o.weight()
		if keys[o.key] || len(batch) >= maxBatch || (len(batch) > 0 && w > budget) {
			held = append(held, o)
			return
		}
		keys[o.key] = true
		batch = append(batch, o)
		budget -= w
	}
	for _, o := range carry {
		add(o)
	}
	if len(batch) == 0 {
		select {
		case o := <-s.writes:
			add(o)
		case <-s.stop:
			return nil, carry
		}
	}
	for len(batch) < maxBatch && budget > 0 && len(held) < maxBatch {
		select {
		case o := <-s.writes:
			add(o)
		default:
			return batch, held
		}
	}
	return batch, held
}

// failQueued refuses writes still being offered after Close.
func (s *Store) failQueued() {
	for {
		select {
		case o := <-s.writes:
			o.finish(0, store.ErrClosed)
		default:
			return
		}
	}
}

// commit sends the batch as one multi-op, with its log entry as the last
// operation. A write that fails its compare-and-set fails the whole
// multi-op; ZooKeeper names the first failing operation, which gets its
// answer and is taken out before the rest are sent again.
func (s *Store) commit(batch []*op) {
	backoff := 50 * time.Millisecond
	var down time.Time // when ZooKeeper was first found unreachable
	logCreated := false
	dirsMade := make(map[*op]int)
	for {
		live := batch[:0]
		for _, o := range batch {
			if o.abandoned.Load() {
				o.finish(0, context.Canceled) // nobody reads it; never sent
				continue
			}
			live = append(live, o)
		}
		batch = live
		if len(batch) == 0 {
			return
		}
		reqs := make([]any, 0, len(batch)+1)
		events := make([]store.Event, 0, len(batch))
		for _, o := range batch {
			reqs = append(reqs, o.request(s.acl))
			events = append(events, o.event())
		}
		reqs = append(reqs, &zk.CreateRequest{
			Path:  s.lay.log() + "/" + entryPrefix,
			Data:  encodeEntry(events),
			Acl:   s.acl,
			Flags: zk.FlagSequence,
		})
		res, err := s.conn.Multi(reqs...)
		if err == nil {
			for _, o := range batch {
				o.finish(o.expect+1, nil)
			}
			s.wroteLog()
			return
		}
		failed := -1
		for i := range res {
			if res[i].Error != nil {
				failed = i
				break
			}
		}
		switch {
		case failed >= 0 && failed < len(batch):
			o := batch[failed]
			opErr := res[failed].Error
			if o.kind == opPut && o.expect == store.Absent && errors.Is(opErr, zk.ErrNoNode) && dirsMade[o] < 2 {
				// The key's directories do not exist yet: make them and
				// send the write again. The second time, the root itself
				// may have been removed: make it too.
				dirs := s.lay.parents(o.key)
				if dirsMade[o] > 0 {
					dirs = append(s.rootDirs(), dirs...)
				}
				dirsMade[o]++
				ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
				err := s.createDirs(ctx, dirs)
				cancel()
				if err == nil {
					continue
				}
				opErr = err
			}
			o.finish(0, casError(o, opErr))
			batch = append(batch[:failed], batch[failed+1:]...)
		case failed == len(batch) && errors.Is(res[failed].Error, zk.ErrNoNode) && !logCreated:
			// Someone removed the log directory: put it back once.
			logCreated = true
			ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
			err := s.createDirs(ctx, []string{s.lay.log()})
			cancel()
			if err != nil {
				s.failAll(batch, err)
				return
			}
		case errors.Is(err, zk.ErrNoServer):
			// Never sent: wait for the connection, as long as the callers
			// wait and at most the session timeout.
			if down.IsZero() {
				down = time.Now()
			} else if time.Since(down) >= s.timeout {
				s.failAll(batch, fmt.Errorf("ZooKeeper unreachable for %v: %w", s.timeout, err))
				return
			}
			select {
			case <-time.After(backoff):
			case <-s.stop:
				s.failAll(batch, store.ErrClosed)
				return
			}
			backoff = min(2*backoff, time.Second)
		case errors.Is(err, zk.ErrClosing):
			s.failAll(batch, store.ErrClosed)
			return
		case connectionError(err):
			s.failAll(batch, fmt.Errorf("%w: %v", ErrUnknownOutcome, err))
			return
		default:
			s.failAll(batch, err)
			return
		}
	}
}

func (s *Store) failAll(batch []*op, err error) {
	for _, o := range batch {
		o.finish(0, err)
	}
}

// casError turns ZooKeeper's answer to one write into the store's.
func casError(o *op, err error) error {
	switch {
	case errors.Is(err, zk.ErrBadVersion), errors.Is(err, zk.ErrNodeExists):
		return store.ErrConflict
	case errors.Is(err, zk.ErrNoNode) && o.kind == opDelete:
		return store.ErrNotFound
	case errors.Is(err, zk.ErrNoNode):
		return store.ErrConflict // a missing key has version 0, not the one expected
	}
	return err
}

// wroteLog counts this store's log entries and trims the log every
// trimEvery of them, in the background, one trim at a time.
func (s *Store) wroteLog() {
	if s.logWrites.Add(1)%trimEvery != 0 || !s.trimming.CompareAndSwap(false, true) {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer s.trimming.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		if err := s.trim(ctx); err != nil && !s.closed.Load() {
			s.logf("zkstore: %s: trimming the change log: %v", s.lay.root, err)
		}
	}()
}
