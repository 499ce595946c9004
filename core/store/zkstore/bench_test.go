package zkstore

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"agora/core/store"
	"agora/core/zk/zktest"
)

// benchStore opens a store on its own ZooKeeper, closed when b ends.
func benchStore(b *testing.B) *Store {
	b.Helper()
	z := zktest.Start(b)
	s, err := Open(z.Servers(), "/bench", testTimeout, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkPut: one writer, each Put its own multi-op (the latency of a
// write).
func BenchmarkPut(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	value := make([]byte, 256)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Put(ctx, "/b/k"+strconv.Itoa(i), value, store.Absent); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutParallel: 64 writers share multi-ops (group commit).
func BenchmarkPutParallel(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	value := make([]byte, 256)
	var n atomic.Int64
	b.SetParallelism(32) // x GOMAXPROCS (2 here) = 64 writers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Put(ctx, "/b/k"+strconv.FormatInt(n.Add(1), 10), value, store.Absent); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGetParallel: 64 readers.
func BenchmarkGetParallel(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	for i := range 100 {
		if _, err := s.Put(ctx, fmt.Sprintf("/b/k%d", i), make([]byte, 256), store.Absent); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Get(ctx, fmt.Sprintf("/b/k%d", n.Add(1)%100)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkList10k lists 10,000 keys.
func BenchmarkList10k(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	const keys = 10_000
	value := make([]byte, 256)
	errs := make(chan error, keys)
	for i := range keys {
		go func() {
			_, err := s.Put(ctx, fmt.Sprintf("/l/k%05d", i), value, store.Absent)
			errs <- err
		}()
	}
	for range keys {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		kvs, err := s.List(ctx, "/l")
		if err != nil || len(kvs) != keys {
			b.Fatalf("List = %d keys, %v", len(kvs), err)
		}
	}
}
