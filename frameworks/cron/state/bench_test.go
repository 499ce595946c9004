package state

import (
	"fmt"
	"path/filepath"
	"testing"

	"agora/core/store/boltstore"
	"agora/frameworks/cron/core"
)

// applyBatch is 1,000 finished runs over 100 jobs with their cursors: what
// a master that was away for a while might persist in one catch-up.
func applyBatch() core.Decisions {
	var d core.Decisions
	for j := range 100 {
		jobID := fmt.Sprintf("team-%d.job-%d", j%10, j)
		for i := range 10 {
			d.PersistRuns = append(d.PersistRuns, mkRun(jobID, fmt.Sprintf("20240310T%02d0000Z-nightly", i), t0))
		}
		d.PersistCursors = append(d.PersistCursors, mkCursor(jobID, t0))
	}
	return d
}

// BenchmarkApply1000Runs measures one Apply of 1,000 runs and 100 cursors
// on the embedded store (each write durable).
func BenchmarkApply1000Runs(b *testing.B) { benchApply(b, DefaultParallel) }

// BenchmarkApply1000RunsParallel64 is the same with WithParallel(64).
func BenchmarkApply1000RunsParallel64(b *testing.B) { benchApply(b, 64) }

func benchApply(b *testing.B, parallel int) {
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s := New(st, "").WithParallel(parallel)
	d := applyBatch()
	for b.Loop() {
		if err := s.Apply(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutRun1000Serial is the same 1,000 runs written one PutRun at a
// time, for comparison: what Apply's concurrency buys.
func BenchmarkPutRun1000Serial(b *testing.B) {
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s := New(st, "")
	d := applyBatch()
	for b.Loop() {
		for _, r := range d.PersistRuns {
			if err := s.PutRun(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
	}
}
