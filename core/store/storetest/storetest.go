// Package storetest is the conformance suite for store.Store. Every
// implementation (boltstore, and ZooKeeper later) calls Run from its own tests
// so that the master and the frameworks see the same behaviour whichever
// store a cluster runs on: version numbering, compare-and-set, prefix
// semantics, key rules, watch ordering, Close, and a 100,000-key scale case.
//
// Behaviour that only some implementations have (persistence across reopen,
// file locking, slow-watcher policy) is tested by the implementation itself.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"agora/core/store"
)

// waitFor bounds every wait on a watch channel. It is generous on purpose:
// the suite must not be flaky on a loaded machine or a remote ZooKeeper.
const waitFor = 30 * time.Second

// Run runs the conformance suite. open must return a new, empty store for
// each call; Run closes every store it opens (open may register cleanups for
// files or servers with t.Cleanup, which run after that Close).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetMissing", testGetMissing},
		{"PutAbsentCreatesVersion1", testPutAbsent},
		{"PutWithVersion", testPutWithVersion},
		{"PutAny", testPutAny},
		{"Delete", testDelete},
		{"ValuesAreCopied", testValuesAreCopied},
		{"List", testList},
		{"InvalidKeys", testInvalidKeys},
		{"InvalidExpect", testInvalidExpect},
		{"WatchOrderAndPrefix", testWatchOrderAndPrefix},
		{"WatchCancel", testWatchCancel},
		{"ConcurrentCAS", testConcurrentCAS},
		{"Scale", testScale},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
	// Close is tested on its own because it closes the store itself.
	t.Run("Close", func(t *testing.T) { testClose(t, open(t)) })
}

func mustPut(t *testing.T, s store.Store, key, value string, expect int64) int64 {
	t.Helper()
	v, err := s.Put(context.Background(), key, []byte(value), expect)
	if err != nil {
		t.Fatalf("Put(%q, %q, expect %d): %v", key, value, expect, err)
	}
	return v
}

// wantKV fails unless key holds value at version.
func wantKV(t *testing.T, s store.Store, key, value string, version int64) {
	t.Helper()
	kv, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if kv.Key != key || string(kv.Value) != value || kv.Version != version {
		t.Fatalf("Get(%q) = {%q %q v%d}, want {%q %q v%d}",
			key, kv.Key, kv.Value, kv.Version, key, value, version)
	}
}

func wantMissing(t *testing.T, s store.Store, key string) {
	t.Helper()
	if kv, err := s.Get(context.Background(), key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%q) = %+v, %v; want ErrNotFound", key, kv, err)
	}
}

func testGetMissing(t *testing.T, s store.Store) {
	wantMissing(t, s, "/missing")
}

func testPutAbsent(t *testing.T, s store.Store) {
	if v := mustPut(t, s, "/k", "one", store.Absent); v != 1 {
		t.Fatalf("first Put returned version %d, want 1", v)
	}
	wantKV(t, s, "/k", "one", 1)

	_, err := s.Put(context.Background(), "/k", []byte("two"), store.Absent)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Put Absent on existing key: err = %v, want ErrConflict", err)
	}
	wantKV(t, s, "/k", "one", 1)
}

func testPutWithVersion(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustPut(t, s, "/k", "one", store.Absent)
	if v := mustPut(t, s, "/k", "two", 1); v != 2 {
		t.Fatalf("Put expect 1 returned version %d, want 2", v)
	}
	wantKV(t, s, "/k", "two", 2)

	for _, stale := range []int64{1, 3, 100} {
		if _, err := s.Put(ctx, "/k", []byte("lost"), stale); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Put expect %d at version 2: err = %v, want ErrConflict", stale, err)
		}
	}
	wantKV(t, s, "/k", "two", 2)

	// A key that does not exist has version 0, so any positive expectation
	// conflicts and must not create it.
	if _, err := s.Put(ctx, "/nokey", []byte("x"), 3); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Put expect 3 on missing key: err = %v, want ErrConflict", err)
	}
	wantMissing(t, s, "/nokey")
}

func testPutAny(t *testing.T, s store.Store) {
	if v := mustPut(t, s, "/k", "one", store.Any); v != 1 {
		t.Fatalf("Put Any on missing key returned version %d, want 1", v)
	}
	if v := mustPut(t, s, "/k", "two", store.Any); v != 2 {
		t.Fatalf("Put Any on existing key returned version %d, want 2", v)
	}
	wantKV(t, s, "/k", "two", 2)
}

func testDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustPut(t, s, "/k", "one", store.Absent)
	mustPut(t, s, "/k", "two", 1)

	for _, stale := range []int64{1, 3, store.Absent} {
		if err := s.Delete(ctx, "/k", stale); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Delete expect %d at version 2: err = %v, want ErrConflict", stale, err)
		}
	}
	wantKV(t, s, "/k", "two", 2)

	if err := s.Delete(ctx, "/k", 2); err != nil {
		t.Fatalf("Delete with the right version: %v", err)
	}
	wantMissing(t, s, "/k")

	if err := s.Delete(ctx, "/k", store.Any); err != nil {
		t.Fatalf("Delete Any on missing key: %v, want nil", err)
	}
	if err := s.Delete(ctx, "/k", 2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Delete expect 2 on missing key: err = %v, want ErrNotFound", err)
	}

	// A re-created key starts again at version 1.
	if v := mustPut(t, s, "/k", "again", store.Absent); v != 1 {
		t.Fatalf("re-created key has version %d, want 1", v)
	}
	if err := s.Delete(ctx, "/k", store.Any); err != nil {
		t.Fatalf("Delete Any on existing key: %v", err)
	}
	wantMissing(t, s, "/k")
}

// testValuesAreCopied: neither the caller's buffer nor a returned value may
// alias what the store holds.
func testValuesAreCopied(t *testing.T, s store.Store) {
	ctx := context.Background()
	buf := []byte("original")
	if _, err := s.Put(ctx, "/k", buf, store.Absent); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXXXXX")
	kv, err := s.Get(ctx, "/k")
	if err != nil {
		t.Fatal(err)
	}
	copy(kv.Value, "YYYYYYYY")
	wantKV(t, s, "/k", "original", 1)

	list, err := s.List(ctx, "/")
	if err != nil || len(list) != 1 {
		t.Fatalf("List(/) = %v, %v; want one key", list, err)
	}
	copy(list[0].Value, "ZZZZZZZZ")
	wantKV(t, s, "/k", "original", 1)
}

func testList(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Written out of order so that sorting is the store's work.
	all := []string{"/b/c", "/a/x/y", "/ab", "/a", "/a/y", "/a/x", "/a/b", "/a-", "/a0"}
	for _, k := range all {
		mustPut(t, s, k, "v"+k, store.Absent)
	}
	mustPut(t, s, "/a/x", "second", 1)

	cases := []struct {
		prefix string
		want   []string
	}{
		{"/a", []string{"/a/b", "/a/x", "/a/x/y", "/a/y"}},
		{"/a/x", []string{"/a/x/y"}},
		{"/a/x/y", nil},
		{"/nothing", nil},
		{"/", slices.Sorted(slices.Values(all))},
	}
	for _, c := range cases {
		got, err := s.List(ctx, c.prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", c.prefix, err)
		}
		if keys := keysOf(got); !slices.Equal(keys, c.want) {
			t.Fatalf("List(%q) = %q, want %q", c.prefix, keys, c.want)
		}
		for _, kv := range got {
			want, version := "v"+kv.Key, int64(1)
			if kv.Key == "/a/x" {
				want, version = "second", 2
			}
			if string(kv.Value) != want || kv.Version != version {
				t.Fatalf("List(%q): %s = %q v%d, want %q v%d",
					c.prefix, kv.Key, kv.Value, kv.Version, want, version)
			}
		}
	}
}

// badKeys breaks each key rule once. The rules are those ZooKeeper imposes
// on paths, so one key means the same thing on every implementation.
var badKeys = []string{"", "a", "a/b", "/a/", "/", "//a", "/a//b", "/a/./b", "/a/..", "/a\x00b"}

func testInvalidKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	names := func(t *testing.T, op, key string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s(%q) succeeded, want an invalid-key error", op, key)
		}
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
			t.Fatalf("%s(%q) = %v, want an invalid-key error", op, key, err)
		}
		// The error must name the key; %q quoting is accepted.
		if !strings.Contains(err.Error(), key) && !strings.Contains(err.Error(), strconv.Quote(key)) {
			t.Fatalf("%s(%q) error %q does not name the key", op, key, err)
		}
	}
	for _, key := range badKeys {
		_, err := s.Get(ctx, key)
		names(t, "Get", key, err)
		_, err = s.Put(ctx, key, []byte("x"), store.Any)
		names(t, "Put", key, err)
		names(t, "Delete", key, s.Delete(ctx, key, store.Any))
		if key == "/" {
			continue // the root is a valid prefix
		}
		_, err = s.List(ctx, key)
		names(t, "List", key, err)
		_, err = s.Watch(ctx, key)
		names(t, "Watch", key, err)
	}
	if got, err := s.List(ctx, "/"); err != nil || len(got) != 0 {
		t.Fatalf("after invalid writes List(/) = %v, %v; want nothing stored", keysOf(got), err)
	}
}

func testInvalidExpect(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Put(ctx, "/k", []byte("x"), -2); err == nil || errors.Is(err, store.ErrConflict) {
		t.Fatalf("Put expect -2: err = %v, want an invalid-version error", err)
	}
	wantMissing(t, s, "/k")
	mustPut(t, s, "/k", "x", store.Absent)
	if err := s.Delete(ctx, "/k", -7); err == nil || errors.Is(err, store.ErrConflict) {
		t.Fatalf("Delete expect -7: err = %v, want an invalid-version error", err)
	}
	wantKV(t, s, "/k", "x", 1)
}

func testWatchOrderAndPrefix(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watchW, err := s.Watch(ctx, "/w")
	if err != nil {
		t.Fatalf("Watch(/w): %v", err)
	}
	watchX, err := s.Watch(ctx, "/x")
	if err != nil {
		t.Fatalf("Watch(/x): %v", err)
	}
	watchRoot, err := s.Watch(ctx, "/")
	if err != nil {
		t.Fatalf("Watch(/): %v", err)
	}

	mustPut(t, s, "/w/a", "1", store.Absent)
	mustPut(t, s, "/x/out", "x", store.Absent)
	mustPut(t, s, "/w/b", "2", store.Absent)
	mustPut(t, s, "/w/a", "3", 1)
	mustPut(t, s, "/wz", "outside", store.Absent) // shares the prefix's bytes, not its path
	mustPut(t, s, "/w", "self", store.Absent)     // the prefix itself is not under it
	if err := s.Delete(ctx, "/w/b", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "/w/never", store.Any); err != nil { // no change, no event
		t.Fatal(err)
	}
	mustPut(t, s, "/w/c/d", "4", store.Absent) // last: anything stray arrives before it

	put := func(key, value string, version int64) store.Event {
		return store.Event{Type: store.Put, KV: store.KV{Key: key, Value: []byte(value), Version: version}}
	}
	del := func(key string) store.Event {
		return store.Event{Type: store.Delete, KV: store.KV{Key: key}}
	}
	wantEvents(t, "/w", watchW, []store.Event{
		put("/w/a", "1", 1), put("/w/b", "2", 1), put("/w/a", "3", 2), del("/w/b"), put("/w/c/d", "4", 1),
	})
	wantEvents(t, "/x", watchX, []store.Event{put("/x/out", "x", 1)})
	wantEvents(t, "/", watchRoot, []store.Event{
		put("/w/a", "1", 1), put("/x/out", "x", 1), put("/w/b", "2", 1), put("/w/a", "3", 2),
		put("/wz", "outside", 1), put("/w", "self", 1), del("/w/b"), put("/w/c/d", "4", 1),
	})

	// Nothing further may be pending on /x: a later write under /x is the
	// next thing it sees.
	mustPut(t, s, "/x/out", "y", 1)
	wantEvents(t, "/x", watchX, []store.Event{put("/x/out", "y", 2)})
}

// wantEvents reads len(want) events and compares type, key and, for Put,
// value and version. A Delete's version is implementation-defined.
func wantEvents(t *testing.T, prefix string, ch <-chan store.Event, want []store.Event) {
	t.Helper()
	timeout := time.After(waitFor)
	for i, w := range want {
		var got store.Event
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("Watch(%q): channel closed after %d events, want %d", prefix, i, len(want))
			}
			got = ev
		case <-timeout:
			t.Fatalf("Watch(%q): got %d events within %v, want %d", prefix, i, waitFor, len(want))
		}
		same := got.Type == w.Type && got.KV.Key == w.KV.Key
		if w.Type == store.Put {
			same = same && bytes.Equal(got.KV.Value, w.KV.Value) && got.KV.Version == w.KV.Version
		} else {
			same = same && got.KV.Value == nil
		}
		if !same {
			t.Fatalf("Watch(%q) event %d = %s, want %s", prefix, i, describe(got), describe(w))
		}
	}
}

func describe(e store.Event) string {
	switch e.Type {
	case store.Put:
		return fmt.Sprintf("Put %s=%q v%d", e.KV.Key, e.KV.Value, e.KV.Version)
	case store.Delete:
		return fmt.Sprintf("Delete %s", e.KV.Key)
	}
	return fmt.Sprintf("event type %d %s", e.Type, e.KV.Key)
}

// waitClosed drains ch until it is closed, failing if that takes too long.
func waitClosed(t *testing.T, what string, ch <-chan store.Event) {
	t.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatalf("%s: watch channel still open after %v", what, waitFor)
		}
	}
}

func testWatchCancel(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := s.Watch(ctx, "/w")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Watch(context.Background(), "/w")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	waitClosed(t, "after cancel", ch)

	// Cancelling one watch leaves the others and the store working.
	mustPut(t, s, "/w/k", "v", store.Absent)
	wantEvents(t, "/w", other, []store.Event{{Type: store.Put, KV: store.KV{Key: "/w/k", Value: []byte("v"), Version: 1}}})
}

func testClose(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustPut(t, s, "/k", "v", store.Absent)
	ch, err := s.Watch(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitClosed(t, "after Close", ch)

	if _, err := s.Get(ctx, "/k"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close: err = %v, want ErrClosed", err)
	}
	if _, err := s.List(ctx, "/"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("List after Close: err = %v, want ErrClosed", err)
	}
	if _, err := s.Put(ctx, "/k", []byte("x"), store.Any); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Put after Close: err = %v, want ErrClosed", err)
	}
	if err := s.Delete(ctx, "/k", store.Any); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Delete after Close: err = %v, want ErrClosed", err)
	}
	if _, err := s.Watch(ctx, "/"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Watch after Close: err = %v, want ErrClosed", err)
	}
}

// testConcurrentCAS is the read-modify-write loop every framework runs: lost
// updates would show as a count below 400.
func testConcurrentCAS(t *testing.T, s store.Store) {
	const workers, each = 8, 50
	ctx := context.Background()
	increment := func() error {
		for {
			kv, err := s.Get(ctx, "/counter")
			n := 0
			switch {
			case errors.Is(err, store.ErrNotFound):
				kv.Version = store.Absent
			case err != nil:
				return err
			default:
				if n, err = strconv.Atoi(string(kv.Value)); err != nil {
					return fmt.Errorf("counter value %q: %w", kv.Value, err)
				}
			}
			_, err = s.Put(ctx, "/counter", []byte(strconv.Itoa(n+1)), kv.Version)
			if !errors.Is(err, store.ErrConflict) {
				return err
			}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := increment(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("increment: %v", err)
	}
	// Each successful write adds one to both the value and the version.
	wantKV(t, s, "/counter", strconv.Itoa(workers*each), workers*each)
}

// testScale writes 100,000 keys (10,000 under -short) from many goroutines
// and lists them back.
func testScale(t *testing.T, s store.Store) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	const workers = 64
	ctx := context.Background()
	key := func(i int) string { return fmt.Sprintf("/scale/k%06d", i) }
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if _, err := s.Put(ctx, key(i), []byte(strconv.Itoa(i)), store.Absent); err != nil {
					errs <- fmt.Errorf("Put(%s): %w", key(i), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	wrote := time.Since(start)
	mustPut(t, s, "/scalex", "not under /scale", store.Absent)

	start = time.Now()
	got, err := s.List(ctx, "/scale")
	if err != nil {
		t.Fatalf("List(/scale): %v", err)
	}
	listed := time.Since(start)
	if len(got) != n {
		t.Fatalf("List(/scale) returned %d keys, want %d", len(got), n)
	}
	for i, kv := range got {
		if kv.Key != key(i) || string(kv.Value) != strconv.Itoa(i) || kv.Version != 1 {
			t.Fatalf("List(/scale)[%d] = %s=%q v%d, want %s=%q v1", i, kv.Key, kv.Value, kv.Version, key(i), strconv.Itoa(i))
		}
	}
	t.Logf("%d keys: written by %d goroutines in %v, listed in %v", n, workers, wrote, listed)
}

func keysOf(kvs []store.KV) []string {
	var keys []string
	for _, kv := range kvs {
		keys = append(keys, kv.Key)
	}
	return keys
}
