package boltstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"agora/core/store"
	"agora/core/store/storetest"
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "agora.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestReopenKeepsKeysAndVersions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "agora.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Path() != path {
		t.Fatalf("Path() = %q, want %q", s.Path(), path)
	}
	for _, k := range []string{"/apps/web", "/apps/db", "/gone"} {
		if _, err := s.Put(ctx, k, []byte("v1 "+k), store.Absent); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put(ctx, "/apps/web", []byte("v2"), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "/gone", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.List(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/apps/db=v1 /apps/db@1", "/apps/web=v2@2"}
	if len(got) != len(want) {
		t.Fatalf("after reopen List(/) has %d keys, want %d", len(got), len(want))
	}
	for i, kv := range got {
		if s := fmt.Sprintf("%s=%s@%d", kv.Key, kv.Value, kv.Version); s != want[i] {
			t.Fatalf("after reopen key %d = %s, want %s", i, s, want[i])
		}
	}
	// Versions continue from what was persisted, so a stale writer from
	// before the restart still conflicts.
	if _, err := s.Put(ctx, "/apps/web", []byte("stale"), 1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale Put after reopen: err = %v, want ErrConflict", err)
	}
	if v, err := s.Put(ctx, "/apps/web", []byte("v3"), 2); err != nil || v != 3 {
		t.Fatalf("Put expect 2 after reopen = v%d, %v; want v3", v, err)
	}
}

func TestSecondOpenFailsWhileLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agora.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Open(path)
	if err == nil {
		second.Close()
		t.Fatal("second Open of a held file succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("second Open error = %q, want ErrLocked naming %s", err, path)
	}
	// Once the holder closes, the file opens again with its data.
	if _, err := s.Put(context.Background(), "/k", []byte("v"), store.Absent); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	defer s.Close()
	if _, err := s.Get(context.Background(), "/k"); err != nil {
		t.Fatal(err)
	}
}

func TestOpenBadPath(t *testing.T) {
	if _, err := Open(""); err == nil || !strings.Contains(err.Error(), "path") {
		t.Fatalf("Open(\"\") error = %v, want one naming the path", err)
	}
	bad := filepath.Join(t.TempDir(), "no", "such", "dir", "agora.db")
	if _, err := Open(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("Open(%s) error = %v, want one naming the path", bad, err)
	}
}

// A watcher that never reads must not hold writers up: its channel is
// closed once its buffer is full, and the other watchers keep working.
func TestSlowWatcherIsDroppedNotBlocking(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	slow, err := s.Watch(ctx, "/k")
	if err != nil {
		t.Fatal(err)
	}
	fast, err := s.Watch(ctx, "/k")
	if err != nil {
		t.Fatal(err)
	}
	// One writer, and the reading watcher takes each event before the next
	// write, so only the slow watcher can fall behind.
	const writes = WatchBuffer + 10
	for i := range writes {
		key := fmt.Sprintf("/k/%05d", i)
		if _, err := s.Put(ctx, key, nil, store.Absent); err != nil {
			t.Fatalf("Put %s with a stalled watcher: %v", key, err)
		}
		select {
		case ev := <-fast:
			if ev.KV.Key != key {
				t.Fatalf("reading watcher got %s, want %s", ev.KV.Key, key)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("reading watcher did not see %s", key)
		}
	}
	got := 0
	for range slow {
		got++
	}
	if got != WatchBuffer {
		t.Fatalf("slow watcher got %d events before its channel closed, want the %d buffered", got, WatchBuffer)
	}
}

// Concurrent writes reach a watcher in commit order: the counter's versions
// arrive as 1, 2, 3, ... with none missing or reordered.
func TestWatchSeesConcurrentWritesInCommitOrder(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	ch, err := s.Watch(ctx, "/c")
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				for {
					kv, err := s.Get(ctx, "/c/n")
					if errors.Is(err, store.ErrNotFound) {
						kv.Version = store.Absent
					} else if err != nil {
						t.Error(err)
						return
					}
					_, err = s.Put(ctx, "/c/n", []byte(strconv.FormatInt(kv.Version+1, 10)), kv.Version)
					if err == nil {
						break
					}
					if !errors.Is(err, store.ErrConflict) {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for want := int64(1); want <= workers*each; want++ {
		select {
		case ev := <-ch:
			if ev.KV.Version != want || string(ev.KV.Value) != strconv.FormatInt(want, 10) {
				t.Fatalf("event %d = v%d %q, want v%d", want, ev.KV.Version, ev.KV.Value, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("waited for event v%d", want)
		}
	}
}

func TestDecideCompareAndSet(t *testing.T) {
	puts := []struct {
		current, expect, next int64
		err                   error
	}{
		{0, store.Absent, 1, nil},
		{0, store.Any, 1, nil},
		{0, 2, 0, store.ErrConflict},
		{3, 3, 4, nil},
		{3, store.Any, 4, nil},
		{3, store.Absent, 0, store.ErrConflict},
		{3, 2, 0, store.ErrConflict},
	}
	for _, c := range puts {
		next, err := checkPut(c.current, c.expect)
		if next != c.next || !errors.Is(err, c.err) {
			t.Errorf("checkPut(current %d, expect %d) = %d, %v; want %d, %v", c.current, c.expect, next, err, c.next, c.err)
		}
	}
	dels := []struct {
		current, expect int64
		remove          bool
		err             error
	}{
		{0, store.Any, false, nil},
		{0, 1, false, store.ErrNotFound},
		{0, store.Absent, false, store.ErrNotFound},
		{2, store.Any, true, nil},
		{2, 2, true, nil},
		{2, 1, false, store.ErrConflict},
		{2, store.Absent, false, store.ErrConflict},
	}
	for _, c := range dels {
		remove, err := checkDelete(c.current, c.expect)
		if remove != c.remove || !errors.Is(err, c.err) {
			t.Errorf("checkDelete(current %d, expect %d) = %v, %v; want %v, %v", c.current, c.expect, remove, err, c.remove, c.err)
		}
	}
}

// The lock holds across processes too: a second master started on the same
// file fails at once with ErrLocked.
func TestOpenFailsWhileAnotherProcessHoldsTheFile(t *testing.T) {
	if path := os.Getenv("BOLTSTORE_TEST_HOLD"); path != "" {
		s, err := Open(path)
		if err != nil {
			fmt.Println("open failed:", err)
			os.Exit(1)
		}
		fmt.Println("holding")
		_, _ = io.Copy(io.Discard, os.Stdin) // hold until the parent closes stdin
		s.Close()
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "agora.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenFailsWhileAnotherProcessHoldsTheFile$")
	cmd.Env = append(os.Environ(), "BOLTSTORE_TEST_HOLD="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "holding\n" {
		t.Fatalf("holder process said %q, %v", line, err)
	}
	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded while another process holds the file")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open error = %v, want ErrLocked", err)
	}
}
