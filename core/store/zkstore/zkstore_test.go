package zkstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"agora/core/store"
	"agora/core/store/storetest"
	"agora/core/zk/zktest"
)

// testTimeout is the session timeout of test stores: long enough for a
// loaded machine, short enough that outage tests finish.
const testTimeout = 10 * time.Second

// opener opens stores on one ZooKeeper, each under a root of its own.
type opener struct {
	zk *zktest.Server
	n  atomic.Int64
}

func (o *opener) open(t *testing.T) *Store {
	t.Helper()
	root := fmt.Sprintf("/test/s%d", o.n.Add(1))
	s, err := Open(o.zk.Servers(), root, testTimeout, t.Logf)
	if err != nil {
		t.Fatalf("Open(%s): %v", root, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	o := &opener{zk: zktest.Start(t)}
	storetest.Run(t, func(t *testing.T) store.Store { return o.open(t) })
}

// rawConn is a plain ZooKeeper session for looking at what the store wrote.
func rawConn(t *testing.T, z *zktest.Server) *zk.Conn {
	t.Helper()
	c, _, err := zk.Connect(z.Servers(), testTimeout, zk.WithLogger(quiet{}), zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}

func mustPut(t *testing.T, s store.Store, key, value string, expect int64) int64 {
	t.Helper()
	v, err := s.Put(context.Background(), key, []byte(value), expect)
	if err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
	return v
}

// TestLayout: an operator browsing ZooKeeper finds one znode per key, with
// the store's version = the znode's data version + 1, and a key that is
// also a prefix does not share its znode with the keys below it.
func TestLayout(t *testing.T) {
	o := &opener{zk: zktest.Start(t)}
	s := o.open(t)
	defer s.Close()
	raw := rawConn(t, o.zk)
	root := s.Root()

	mustPut(t, s, "/frameworks/fw-1", "a", store.Absent)
	mustPut(t, s, "/frameworks/fw-1", "b", 1)
	mustPut(t, s, "/frameworks/fw-1", "c", 2)
	mustPut(t, s, "/frameworks", "parent", store.Absent)
	mustPut(t, s, "/+odd/%x", "escaped", store.Absent)

	cases := []struct {
		znode, value string
		dataVersion  int32
	}{
		{root + "/+frameworks/fw-1", "c", 2},
		{root + "/frameworks", "parent", 0},
		{root + "/+%2Bodd/%25x", "escaped", 0},
	}
	for _, c := range cases {
		data, stat, err := raw.Get(c.znode)
		if err != nil {
			t.Fatalf("znode %s: %v", c.znode, err)
		}
		if string(data) != c.value || stat.Version != c.dataVersion {
			t.Fatalf("znode %s = %q data version %d, want %q data version %d", c.znode, data, stat.Version, c.value, c.dataVersion)
		}
	}
	kvs, err := s.List(context.Background(), "/")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, kv := range kvs {
		got = append(got, fmt.Sprintf("%s=%s v%d", kv.Key, kv.Value, kv.Version))
	}
	want := []string{"/+odd/%x=escaped v1", "/frameworks=parent v1", "/frameworks/fw-1=c v3"}
	if !slices.Equal(got, want) {
		t.Fatalf("List(/) = %q, want %q", got, want)
	}

	// Deleting the parent key leaves the keys below it alone.
	if err := s.Delete(context.Background(), "/frameworks", 1); err != nil {
		t.Fatal(err)
	}
	kv, err := s.Get(context.Background(), "/frameworks/fw-1")
	if err != nil || string(kv.Value) != "c" || kv.Version != 3 {
		t.Fatalf("after deleting /frameworks, Get(/frameworks/fw-1) = %+v, %v", kv, err)
	}
}

// TestEphemeralZnodesAreNotKeys: an election sharing the root (as when the
// master's zk URL and the store's root are the same path) does not show up
// in List or Get.
func TestEphemeralZnodesAreNotKeys(t *testing.T) {
	o := &opener{zk: zktest.Start(t)}
	s := o.open(t)
	defer s.Close()
	raw := rawConn(t, o.zk)
	if _, err := raw.Create(s.Root()+"/json.info_0000000001", []byte(`{"id":"m1"}`), zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "/k", "v", store.Absent)
	kvs, err := s.List(context.Background(), "/")
	if err != nil || len(kvs) != 1 || kvs[0].Key != "/k" {
		t.Fatalf("List(/) = %+v, %v; want only /k", kvs, err)
	}
	if _, err := s.Get(context.Background(), "/json.info_0000000001"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(election znode) err = %v, want ErrNotFound", err)
	}
}

// TestTwoStoresOneRoot is two masters on one registry: each sees the other's
// writes, in order, and compare-and-set works across them.
func TestTwoStoresOneRoot(t *testing.T) {
	z := zktest.Start(t)
	open := func() *Store {
		s, err := Open(z.Servers(), "/shared", testTimeout, t.Logf)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b := open(), open()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := a.Watch(ctx, "/apps")
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, b, "/apps/web", "v1", store.Absent)
	mustPut(t, a, "/apps/web", "v2", 1)
	if _, err := b.Put(ctx, "/apps/web", []byte("stale"), 1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale Put through the other store: err = %v, want ErrConflict", err)
	}
	if err := b.Delete(ctx, "/apps/web", 2); err != nil {
		t.Fatal(err)
	}
	wantEvents(t, events, "Put /apps/web=v1 v1", "Put /apps/web=v2 v2", "Delete /apps/web v2")
}

// TestLargeValues: values up to MaxValueSize are stored and seen by
// watches; a larger one is refused with an error naming key and size.
func TestLargeValues(t *testing.T) {
	o := &opener{zk: zktest.Start(t)}
	s := o.open(t)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := s.Watch(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), MaxValueSize)
	if _, err := s.Put(ctx, "/big", big, store.Absent); err != nil {
		t.Fatalf("Put of %d bytes: %v", len(big), err)
	}
	mid := bytes.Repeat([]byte("m"), InlineValue)
	mustPut(t, s, "/mid", string(mid), store.Absent)
	kv, err := s.Get(ctx, "/big")
	if err != nil || !bytes.Equal(kv.Value, big) {
		t.Fatalf("Get(/big): %d bytes, %v", len(kv.Value), err)
	}
	for _, want := range []store.KV{{Key: "/big", Value: big}, {Key: "/mid", Value: mid}} {
		select {
		case ev := <-events:
			if ev.KV.Key != want.Key || !bytes.Equal(ev.KV.Value, want.Value) {
				t.Fatalf("event %s with %d bytes, want %s with %d bytes", ev.KV.Key, len(ev.KV.Value), want.Key, len(want.Value))
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no event for %s", want.Key)
		}
	}

	_, err = s.Put(ctx, "/too-big", make([]byte, MaxValueSize+1), store.Any)
	if err == nil || !strings.Contains(err.Error(), "/too-big") || !strings.Contains(err.Error(), strconv.Itoa(MaxValueSize+1)) {
		t.Fatalf("Put of %d bytes: err = %v, want one naming the key and the size", MaxValueSize+1, err)
	}
	// The refused write did not break the connection for others.
	mustPut(t, s, "/after", "ok", store.Absent)
}

// TestZooKeeperOutage: while ZooKeeper is down calls fail once their
// context ends rather than hang; when it is back the store works again and
// a watch opened before the outage sees writes made after it.
func TestZooKeeperOutage(t *testing.T) {
	z := zktest.Start(t)
	s, err := Open(z.Servers(), "/outage", testTimeout, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := s.Watch(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "/before", "1", store.Absent)

	z.Stop()
	calls := map[string]func(ctx context.Context) error{
		"Get":  func(ctx context.Context) error { _, err := s.Get(ctx, "/before"); return err },
		"List": func(ctx context.Context) error { _, err := s.List(ctx, "/"); return err },
		"Put": func(ctx context.Context) error {
			_, err := s.Put(ctx, "/during", []byte("x"), store.Absent)
			return err
		},
		"Delete": func(ctx context.Context) error { return s.Delete(ctx, "/before", store.Any) },
	}
	for name, call := range calls {
		callCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		done := make(chan error, 1)
		go func() { done <- call(callCtx) }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("%s with ZooKeeper down succeeded", name)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s with ZooKeeper down and a 2s context still blocked after 30s", name)
		}
		cancel()
	}
	// Without a deadline of its own, a call gives up after the session
	// timeout.
	done := make(chan error, len(calls))
	for _, call := range calls {
		go func() { done <- call(context.Background()) }()
	}
	timeout := time.After(testTimeout + 30*time.Second)
	for range calls {
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("a call with ZooKeeper down succeeded")
			}
		case <-timeout:
			t.Fatalf("calls with ZooKeeper down and no deadline still blocked after %v", testTimeout+30*time.Second)
		}
	}

	z.Restart()
	// The first calls may still see the old connection failing.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.Put(ctx, "/after", []byte("2"), store.Any)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Put after ZooKeeper restart still failing after 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wantKV(t, s, "/before", "1", 1)
	// The watch saw /before, and now /after; /during never happened.
	wantEvents(t, events, "Put /before=1 v1", "Put /after=2 v1")
}

// TestLogTrimmed: the change log keeps a bounded number of entries however
// many writes are made.
func TestLogTrimmed(t *testing.T) {
	o := &opener{zk: zktest.Start(t)}
	s := o.open(t)
	defer s.Close()
	raw := rawConn(t, o.zk)
	for i := range LogRetention + 3*trimEvery {
		mustPut(t, s, "/k", strconv.Itoa(i), int64(i))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		names, _, err := raw.Children(s.Root() + "/" + logName)
		if err != nil {
			t.Fatal(err)
		}
		if len(names) <= LogRetention+trimEvery {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("change log holds %d entries after %d writes, want at most %d", len(names), LogRetention+3*trimEvery, LogRetention+trimEvery)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestWatchClosedWhenLogTrimmedPastIt: a watch whose position was trimmed
// away is closed, telling the watcher to resynchronise, and later watches
// work.
func TestWatchClosedWhenLogTrimmedPastIt(t *testing.T) {
	o := &opener{zk: zktest.Start(t)}
	s := o.open(t)
	defer s.Close()
	raw := rawConn(t, o.zk)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := s.Watch(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	// As another store's trim would: raise the mark past the watch's
	// position (the next entry is numbered from the directory's child
	// version).
	_, stat, err := raw.Exists(s.Root() + "/" + logName)
	if err != nil {
		t.Fatal(err)
	}
	mark := strconv.Itoa(int(stat.Cversion) + 1)
	if _, err := raw.Set(s.Root()+"/"+logName, []byte(mark), -1); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "/k", "v", store.Absent)
	timeout := time.After(30 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-events:
		case <-timeout:
			t.Fatal("watch still open 30s after the log was trimmed past it")
		}
	}
	again, err := s.Watch(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "/k", "w", 1)
	wantEvents(t, again, "Put /k=w v2")
}

func wantKV(t *testing.T, s store.Store, key, value string, version int64) {
	t.Helper()
	kv, err := s.Get(context.Background(), key)
	if err != nil || string(kv.Value) != value || kv.Version != version {
		t.Fatalf("Get(%s) = %q v%d, %v; want %q v%d", key, kv.Value, kv.Version, err, value, version)
	}
}

// wantEvents reads len(want) events, each written as "Put key=value vN" or
// "Delete key vN".
func wantEvents(t *testing.T, ch <-chan store.Event, want ...string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for i, w := range want {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %d events, want %q", i, want)
			}
			got := fmt.Sprintf("Delete %s v%d", ev.KV.Key, ev.KV.Version)
			if ev.Type == store.Put {
				got = fmt.Sprintf("Put %s=%s v%d", ev.KV.Key, ev.KV.Value, ev.KV.Version)
			}
			if got != w {
				t.Fatalf("event %d = %q, want %q", i, got, w)
			}
		case <-timeout:
			t.Fatalf("got %d events in 30s, want %q", i, want)
		}
	}
}

// TestWatchSeesBurst: a watch on a store that many writers hammer sees
// every change exactly once, each key's changes in order.
func TestWatchSeesBurst(t *testing.T) {
	o := &opener{zk: zktest.Start(t)}
	s := o.open(t)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := s.Watch(ctx, "/burst")
	if err != nil {
		t.Fatal(err)
	}
	const writers, keys, versions = 32, 500, 4
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for k := w; k < keys; k += writers {
				for v := range int64(versions) {
					if _, err := s.Put(ctx, fmt.Sprintf("/burst/k%d", k), []byte(strconv.FormatInt(v+1, 10)), v); err != nil {
						errs <- err
						return
					}
				}
			}
			errs <- nil
		}()
	}
	seen := make(map[string]int64)
	timeout := time.After(2 * time.Minute)
	for n := 0; n < keys*versions; n++ {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("watch closed after %d of %d events", n, keys*versions)
			}
			if ev.KV.Version != seen[ev.KV.Key]+1 || string(ev.KV.Value) != strconv.FormatInt(ev.KV.Version, 10) {
				t.Fatalf("event %s=%s v%d after v%d", ev.KV.Key, ev.KV.Value, ev.KV.Version, seen[ev.KV.Key])
			}
			seen[ev.KV.Key] = ev.KV.Version
		case <-timeout:
			t.Fatalf("saw %d of %d events in 2 minutes", n, keys*versions)
		}
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
