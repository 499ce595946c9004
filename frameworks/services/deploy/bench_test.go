package deploy

import (
	"fmt"
	"testing"
	"time"
)

// benchSnapshot is an app of n instances mid rolling upgrade: 40% old and
// healthy, 50% new and healthy, 10% new and starting. With
// minimumHealthCapacity 0.8, a tenth of the app's old instances may go:
// Step must pick them by killSelection.
func benchSnapshot(n int) (AppSpec, AppSpec, Snapshot) {
	prev, next := spec("v1", n, 0.8, 0.1), spec("v2", n, 0.8, 0.1)
	s := Snapshot{App: next, Instances: make([]Instance, 0, n)}
	for i := range n {
		in := Instance{ID: fmt.Sprintf("web.%06d", i), State: Running, Healthy: true, Ready: true, StartedAt: t0.Add(time.Duration(i) * time.Second)}
		switch {
		case i < n*4/10:
			in.Version = "v1"
		case i < n*9/10:
			in.Version = "v2"
		default:
			in.Version, in.State, in.Healthy, in.Ready = "v2", Starting, false, false
		}
		s.Instances = append(s.Instances, in)
	}
	return prev, next, s
}

func BenchmarkStep1000(b *testing.B) {
	prev, next, s := benchSnapshot(1000)
	d := mustNew(b, prev, next, 10*time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		a := Step(d, s, t0)
		if a.Phase != PhaseWaiting || len(a.Kill) != 100 {
			b.Fatalf("want 100 kills, got %d: %+v", len(a.Kill), a.Progress)
		}
	}
}

func BenchmarkStep1000Steady(b *testing.B) {
	// Nothing to kill: the common case while new instances start.
	prev, next, s := benchSnapshot(1000)
	next.UpgradeStrategy.MinimumHealthCapacity = 1
	s.App = next
	d := mustNew(b, prev, next, 10*time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		Step(d, s, t0)
	}
}

func BenchmarkPlan1000(b *testing.B) {
	prev, next, s := benchSnapshot(1000)
	b.ReportAllocs()
	for b.Loop() {
		Plan(prev, next, s.Instances)
	}
}
