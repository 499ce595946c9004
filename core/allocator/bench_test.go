package allocator

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkCycle measures one full allocation cycle: every agent's whole pool
// is free and every framework wants offers. Agents have cpus, mem, disk and a
// port range, so the whole-pool hand-over with ports is what is measured.
// Frameworks are spread over 10 roles (fewer when there are fewer frameworks)
// so both levels of the hierarchy are exercised.
//
// Between iterations the timer is stopped and every offer is recovered, so
// each timed iteration starts from the same state: all agents free, all
// allocations zero. Only Cycle itself is timed. One untimed warm-up cycle
// first grows the per-agent bookkeeping slices, so allocs/op shows the steady
// state a long-running master sees rather than first-cycle growth.
func BenchmarkCycle(b *testing.B) {
	for _, agents := range []int{1000, 10000, 50000} {
		for _, fws := range []int{10, 100, 1000} {
			b.Run(fmt.Sprintf("agents=%d/frameworks=%d", agents, fws), func(b *testing.B) {
				a := benchCluster(b, agents, fws)
				benchCycles(b, a, agents)
			})
		}
	}
}

// BenchmarkCycleFiltered is the same cycle where every framework has declined
// (and filtered) 1% of the agents, staggered so each agent is filtered for
// about 1% of the frameworks, spread over the roles: candidates are skipped and
// pushed back on the heaps.
func BenchmarkCycleFiltered(b *testing.B) {
	for _, agents := range []int{10000, 50000} {
		fws := 1000
		b.Run(fmt.Sprintf("agents=%d/frameworks=%d", agents, fws), func(b *testing.B) {
			a := benchCluster(b, agents, fws)
			for f := 0; f < fws; f++ {
				for ag := (f * 7) % 100; ag < agents; ag += 100 {
					a.Filter(fmt.Sprintf("fw%04d", f), fmt.Sprintf("agent%05d", ag), benchAgent, t0.Add(time.Hour))
				}
			}
			benchCycles(b, a, agents)
		})
	}
}

var benchAgent = res("cpus:16;mem:65536;disk:100000;ports:[31000-32000]")

func benchCluster(b *testing.B, agents, fws int) *Allocator {
	b.Helper()
	a := newAlloc(b, Config{Seed: 1})
	for i := 0; i < agents; i++ {
		a.AddAgent(fmt.Sprintf("agent%05d", i), benchAgent)
	}
	roles := min(10, fws)
	for i := 0; i < fws; i++ {
		a.AddFramework(fmt.Sprintf("fw%04d", i), []string{fmt.Sprintf("role%d", i%roles)})
	}
	return a
}

func benchCycles(b *testing.B, a *Allocator, agents int) {
	for _, o := range a.Cycle(t0) {
		a.Recover(o.AgentID, o.FrameworkID, o.Role, o.Resources)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var offers int
	for i := 0; i < b.N; i++ {
		out := a.Cycle(t0)
		b.StopTimer()
		if len(out) != agents {
			b.Fatalf("cycle made %d offers, want one per agent (%d)", len(out), agents)
		}
		offers += len(out)
		for _, o := range out {
			a.Recover(o.AgentID, o.FrameworkID, o.Role, o.Resources)
		}
		b.StartTimer()
	}
	elapsed := b.Elapsed().Seconds()
	b.ReportMetric(float64(offers)/elapsed, "offers/s")
	b.ReportMetric(elapsed*1000/float64(b.N), "ms/cycle")
}

// BenchmarkCycleOneAgent measures event-triggered allocation: resources freed
// on one agent are offered at once (Cycle with one agent id) in a cluster of
// 50,000 agents. Each iteration times that Cycle plus the Recover handing the
// offer back; the per-cycle set-up over all frameworks dominates.
func BenchmarkCycleOneAgent(b *testing.B) {
	for _, fws := range []int{10, 1000} {
		b.Run(fmt.Sprintf("agents=50000/frameworks=%d", fws), func(b *testing.B) {
			a := benchCluster(b, 50000, fws)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := fmt.Sprintf("agent%05d", i%50000)
				b.StopTimer()
				ids := []string{id}
				b.StartTimer()
				out := a.Cycle(t0, ids...)
				if len(out) != 1 {
					b.Fatalf("cycle made %d offers, want 1", len(out))
				}
				a.Recover(out[0].AgentID, out[0].FrameworkID, out[0].Role, out[0].Resources)
			}
		})
	}
}
