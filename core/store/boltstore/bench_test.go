package boltstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"agora/core/store"
)

// value is the size of a typical record: one task or app as JSON.
var value = make([]byte, 512)

func BenchmarkPutSerial(b *testing.B) {
	s := openTemp(b)
	defer s.Close()
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if _, err := s.Put(ctx, fmt.Sprintf("/tasks/t%09d", i), value, store.Any); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPutParallel shows group commit: concurrent writers share fsyncs.
func BenchmarkPutParallel(b *testing.B) {
	s := openTemp(b)
	defer s.Close()
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Put(ctx, fmt.Sprintf("/tasks/t%09d", n.Add(1)), value, store.Any); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkGet(b *testing.B) {
	s := openTemp(b)
	defer s.Close()
	ctx := context.Background()
	fill(b, s, "/tasks", 10_000)
	i := 0
	for b.Loop() {
		if _, err := s.Get(ctx, fmt.Sprintf("/tasks/t%09d", i%10_000)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkList1000 lists 1,000 keys out of 11,000.
func BenchmarkList1000(b *testing.B) {
	s := openTemp(b)
	defer s.Close()
	ctx := context.Background()
	fill(b, s, "/apps", 1_000)
	fill(b, s, "/tasks", 10_000)
	for b.Loop() {
		kvs, err := s.List(ctx, "/apps")
		if err != nil || len(kvs) != 1_000 {
			b.Fatalf("List = %d keys, %v", len(kvs), err)
		}
	}
}

// fill writes n keys under prefix from 64 goroutines, so setup is quick.
func fill(b *testing.B, s *Store, prefix string, n int) {
	b.Helper()
	ctx := context.Background()
	errs := make(chan error, 64)
	for w := range 64 {
		go func() {
			for i := w; i < n; i += 64 {
				if _, err := s.Put(ctx, fmt.Sprintf("%s/t%09d", prefix, i), value, store.Any); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 64 {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
}
