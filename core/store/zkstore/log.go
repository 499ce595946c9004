package zkstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"

	"agora/core/store"
)

// The change log: each multi-op creates one sequential znode
// %log/e-<seq> listing its changes in order. ZooKeeper numbers a
// directory's sequential children from the directory's child version, in
// commit order, so the log's order is the commit order of every store on
// the root. The log directory's own data is the trim mark: entries below it
// may have been deleted.

const (
	entryPrefix = "e-"
	entryFormat = 1

	recPut    = 'P' // value inline
	recPutRef = 'R' // value too large to copy: read it from the key
	recDelete = 'D'

	// recordOverhead bounds a record's bytes besides its key and value.
	recordOverhead = 1 + 2*binary.MaxVarintLen64
)

// encodeEntry lays out: format byte, then per event: kind byte, uvarint
// version, uvarint key length, key, and for recPut uvarint value length,
// value.
func encodeEntry(events []store.Event) []byte {
	size := 1
	for _, ev := range events {
		size += recordOverhead + binary.MaxVarintLen64 + len(ev.KV.Key) + len(ev.KV.Value)
	}
	b := make([]byte, 0, size)
	b = append(b, entryFormat)
	for _, ev := range events {
		kind := byte(recDelete)
		if ev.Type == store.Put {
			kind = recPut
			if len(ev.KV.Value) > InlineValue {
				kind = recPutRef
			}
		}
		b = append(b, kind)
		b = binary.AppendUvarint(b, uint64(ev.KV.Version))
		b = binary.AppendUvarint(b, uint64(len(ev.KV.Key)))
		b = append(b, ev.KV.Key...)
		if kind == recPut {
			b = binary.AppendUvarint(b, uint64(len(ev.KV.Value)))
			b = append(b, ev.KV.Value...)
		}
	}
	return b
}

// record is one decoded change; ref is set for a value to read from the key.
type record struct {
	ev  store.Event
	ref bool
}

func decodeEntry(b []byte) ([]record, error) {
	if len(b) == 0 || b[0] != entryFormat {
		return nil, errors.New("unknown log entry format")
	}
	b = b[1:]
	var out []record
	uvarint := func(what string) (uint64, error) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, fmt.Errorf("log entry: bad %s", what)
		}
		b = b[n:]
		return v, nil
	}
	bytesOf := func(what string) ([]byte, error) {
		n, err := uvarint(what + " length")
		if err != nil {
			return nil, err
		}
		if n > uint64(len(b)) {
			return nil, fmt.Errorf("log entry: %s runs past the end", what)
		}
		v := b[:n:n]
		b = b[n:]
		return v, nil
	}
	for len(b) > 0 {
		kind := b[0]
		b = b[1:]
		version, err := uvarint("version")
		if err != nil {
			return nil, err
		}
		key, err := bytesOf("key")
		if err != nil {
			return nil, err
		}
		r := record{ev: store.Event{KV: store.KV{Key: string(key), Version: int64(version)}}}
		switch kind {
		case recPut:
			r.ev.Type = store.Put
			if r.ev.KV.Value, err = bytesOf("value"); err != nil {
				return nil, err
			}
		case recPutRef:
			r.ev.Type, r.ref = store.Put, true
		case recDelete:
			r.ev.Type = store.Delete
		default:
			return nil, fmt.Errorf("log entry: unknown record kind %q", kind)
		}
		out = append(out, r)
	}
	return out, nil
}

// entrySeq parses "e-0000000042"; ok is false for anything else.
func entrySeq(name string) (int64, bool) {
	digits, ok := strings.CutPrefix(name, entryPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, err == nil
}

// watcher is one Watch. from is the first log sequence it wants; until the
// Watch call has read it, events are kept in pending.
type watcher struct {
	prefix  string
	ch      chan store.Event
	gone    chan struct{} // closed when dropped, ending its ctx goroutine
	from    int64         // -1 while Watch is still reading its start
	pending []seqEvent
}

type seqEvent struct {
	seq int64
	ev  store.Event
}

// Watch implements store.Store; see the package comment for what a channel
// closing early means.
func (s *Store) Watch(ctx context.Context, prefix string) (<-chan store.Event, error) {
	if err := store.ValidPrefix(prefix); err != nil {
		return nil, fmt.Errorf("zkstore: watch: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("zkstore: watch %s: %w", prefix, err)
	}
	w := &watcher{prefix: prefix, ch: make(chan store.Event, WatchBuffer), gone: make(chan struct{}), from: -1}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil, fmt.Errorf("zkstore: watch %s: %w", prefix, store.ErrClosed)
	}
	s.watchers[w] = struct{}{}
	s.mu.Unlock()

	// Registered first, then the log's position read: every entry at or
	// after that position is committed after the read, so the follower
	// handles it after w was registered.
	var start int64
	err := s.retry(ctx, func() error {
		ok, stat, err := s.conn.Exists(s.lay.log())
		if err == nil && !ok {
			err = fmt.Errorf("log directory %s is missing", s.lay.log())
		}
		if err == nil {
			start = int64(stat.Cversion)
		}
		return err
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.dropLocked(w)
		return nil, fmt.Errorf("zkstore: watch %s: %w", prefix, err)
	}
	if _, ok := s.watchers[w]; ok {
		w.from = start
		for _, se := range w.pending {
			if se.seq >= start {
				s.sendLocked(w, se.ev)
			}
		}
		w.pending = nil
	}
	if !s.following && !s.closed.Load() {
		s.following = true
		s.followWG.Add(1)
		go s.follow(start)
	}
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

// dropLocked removes and closes a watcher once; s.mu must be held.
func (s *Store) dropLocked(w *watcher) {
	if _, ok := s.watchers[w]; !ok {
		return
	}
	delete(s.watchers, w)
	close(w.ch)
	close(w.gone)
	select {
	case s.wake <- struct{}{}: // the follower may no longer be needed
	default:
	}
}

// sendLocked delivers a copy of ev to w, or drops w if it is full.
func (s *Store) sendLocked(w *watcher, ev store.Event) {
	if !store.Under(ev.KV.Key, w.prefix) {
		return
	}
	if ev.Type == store.Put {
		ev.KV.Value = append([]byte{}, ev.KV.Value...)
	}
	select {
	case w.ch <- ev:
	default:
		s.dropLocked(w) // too far behind: it must resynchronise
	}
}

// deliver hands the changes of log entry seq to every watcher.
func (s *Store) deliver(seq int64, events []store.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers {
		for _, ev := range events {
			if w.from < 0 {
				w.pending = append(w.pending, seqEvent{seq, ev})
			} else if seq >= w.from {
				s.sendLocked(w, ev)
			}
		}
	}
}

// lose drops every watcher: the log no longer holds what they missed.
func (s *Store) lose(why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.watchers) > 0 {
		s.logf("zkstore: %s: closing %d watches: %s", s.lay.root, len(s.watchers), why)
	}
	for w := range s.watchers {
		s.dropLocked(w)
	}
}

// needed reports whether the follower should go on, and if not marks it
// stopped, atomically with Watch's check so that one follower runs at most.
func (s *Store) needed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.watchers) == 0 || s.closed.Load() {
		s.following = false
		return false
	}
	return true
}

// follow reads the log from sequence next on, delivering each entry's
// changes in order, while anyone watches. It waits for the log with a
// ZooKeeper child watch, and after a disconnection or a session expiry it
// simply reads on from where it was.
func (s *Store) follow(next int64) {
	defer s.followWG.Done()
	backoff := 50 * time.Millisecond
	pause := func() bool {
		select {
		case <-time.After(backoff):
			backoff = min(2*backoff, time.Second)
			return true
		case <-s.stop:
			return false
		}
	}
	for s.needed() {
		names, _, changed, err := s.conn.ChildrenW(s.lay.log())
		if err != nil {
			if !s.closed.Load() && !connectionError(err) {
				s.logf("zkstore: %s: reading the change log: %v", s.lay.root, err)
			}
			if !pause() {
				return
			}
			continue
		}
		next, err = s.catchUp(next, names)
		if err != nil {
			if !s.closed.Load() && !connectionError(err) {
				s.logf("zkstore: %s: reading the change log: %v", s.lay.root, err)
			}
			if !pause() {
				return
			}
			continue
		}
		backoff = 50 * time.Millisecond
		select {
		case <-changed:
		case <-s.wake:
		case <-s.stop:
			return
		}
	}
}

// catchUp delivers the entries among names at or after next and returns
// the sequence after the last one delivered.
func (s *Store) catchUp(next int64, names []string) (int64, error) {
	var seqs []int64
	for _, n := range names {
		if seq, ok := entrySeq(n); ok && seq >= next {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	// Read the trim mark after listing: if it passed next, entries we
	// have not delivered may have been deleted before the listing.
	data, _, err := s.conn.Get(s.lay.log())
	if err != nil {
		return next, err
	}
	if mark, _ := strconv.ParseInt(string(data), 10, 64); mark > next {
		s.lose(fmt.Sprintf("the change log was trimmed to %d past their position %d", mark, next))
		next = mark
		seqs = slices.DeleteFunc(seqs, func(q int64) bool { return q < mark })
	}
	// Read entries in chunks with the chunk's reads in flight together.
	const chunk = 32
	for len(seqs) > 0 {
		n := min(chunk, len(seqs))
		type got struct {
			data []byte
			stat *zk.Stat
			err  error
		}
		results := make([]got, n)
		done := make(chan struct{}, n)
		for i := range n {
			go func() {
				d, st, err := s.conn.Get(fmt.Sprintf("%s/%s%010d", s.lay.log(), entryPrefix, seqs[i]))
				results[i] = got{d, st, err}
				done <- struct{}{}
			}()
		}
		for range n {
			<-done
		}
		for i := range n {
			r := results[i]
			if errors.Is(r.err, zk.ErrNoNode) {
				s.lose(fmt.Sprintf("change log entry %d was trimmed before it was read", seqs[i]))
				next = seqs[i] + 1
				continue
			}
			if r.err != nil {
				return next, r.err
			}
			events, err := s.resolve(seqs[i], r.data, r.stat.Czxid)
			if err != nil {
				return next, err
			}
			s.deliver(seqs[i], events)
			next = seqs[i] + 1
		}
		seqs = seqs[n:]
	}
	return next, nil
}

// resolve decodes an entry, reading values that were too large to copy
// from their keys. zxid is the entry's commit, which also wrote those keys.
func (s *Store) resolve(seq int64, data []byte, zxid int64) ([]store.Event, error) {
	recs, err := decodeEntry(data)
	if err != nil {
		// Not something a store writes: skip it rather than stall.
		s.logf("zkstore: %s: skipping change log entry %d: %v", s.lay.root, seq, err)
		return nil, nil
	}
	events := make([]store.Event, 0, len(recs))
	for _, r := range recs {
		if r.ref {
			value, stat, err := s.conn.Get(s.lay.leaf(r.ev.KV.Key))
			switch {
			case errors.Is(err, zk.ErrNoNode) || (err == nil && stat.Mzxid != zxid):
				s.lose(fmt.Sprintf("the %s value of %s in change log entry %d was replaced before it was read", "large", r.ev.KV.Key, seq))
				continue
			case err != nil:
				return nil, err
			}
			r.ev.KV.Value = value
		}
		events = append(events, r.ev)
	}
	return events, nil
}

// trim deletes all but the last LogRetention entries, raising the trim
// mark first so that followers can tell they missed entries.
func (s *Store) trim(ctx context.Context) error {
	dir := s.lay.log()
	data, stat, err := s.conn.Get(dir)
	if err != nil {
		return err
	}
	mark, _ := strconv.ParseInt(string(data), 10, 64)
	names, _, err := s.conn.Children(dir)
	if err != nil {
		return err
	}
	var seqs []int64
	for _, n := range names {
		if seq, ok := entrySeq(n); ok {
			seqs = append(seqs, seq)
		}
	}
	if len(seqs) <= LogRetention {
		return nil
	}
	slices.Sort(seqs)
	cut := seqs[len(seqs)-LogRetention]
	if cut > mark {
		if _, err := s.conn.Set(dir, []byte(strconv.FormatInt(cut, 10)), stat.Version); err != nil {
			if errors.Is(err, zk.ErrBadVersion) {
				return nil // another store is trimming
			}
			return err
		}
		mark = cut
	}
	var doomed []any
	for _, q := range seqs {
		if q < mark {
			doomed = append(doomed, &zk.DeleteRequest{Path: fmt.Sprintf("%s/%s%010d", dir, entryPrefix, q), Version: -1})
		}
	}
	const perMulti = 256
	for len(doomed) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(perMulti, len(doomed))
		if _, err := s.conn.Multi(doomed[:n]...); err != nil {
			if !errors.Is(err, zk.ErrNoNode) {
				return err
			}
			// Another store deleted some of them: delete the rest singly.
			for _, d := range doomed[:n] {
				if err := s.conn.Delete(d.(*zk.DeleteRequest).Path, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
					return err
				}
			}
		}
		doomed = doomed[n:]
	}
	return nil
}
