package election

import (
	"context"
	"fmt"
	"testing"
	"time"

	"agora/core/zk/zktest"
)

// failoverTimeout is the session timeout the failover benchmarks use.
const failoverTimeout = 2 * time.Second

// BenchmarkFailover measures, with a 2s session timeout, the time from the
// leader's end to the next candidate's Leadership true:
//
//   - close: the leader closes its session (a clean shutdown); its znode
//     goes at once.
//   - crash: the leader's connection is cut (its machine is gone); ZooKeeper
//     expires its session after the timeout and then deletes its znode.
//     after-expiry-ms is the part of the failover beyond the session
//     timeout: expiry detection by the server (its session ticks) plus the
//     election.
func BenchmarkFailover(b *testing.B) {
	z := zktest.Start(b)
	for _, mode := range []string{"close", "crash"} {
		b.Run(mode, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				path := fmt.Sprintf("/bench/%s%d", mode, i)
				p := z.Proxy(b)
				old := benchJoin(b, p.Servers(), path, "old")
				waitLeading(b, old)
				next := benchJoin(b, z.Servers(), path, "next")
				b.StartTimer()

				start := time.Now()
				if mode == "close" {
					old.Close()
				} else {
					p.Cut()
				}
				waitLeading(b, next)
				total += time.Since(start)

				b.StopTimer()
				old.Close()
				next.Close()
				b.StartTimer()
			}
			if mode == "crash" {
				b.ReportMetric(float64((total/time.Duration(b.N) - failoverTimeout).Milliseconds()), "after-expiry-ms")
			}
		})
	}
}

func benchJoin(b *testing.B, servers []string, path, id string) *Election {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	e, err := Join(ctx, servers, path, failoverTimeout, Candidate{ID: id, Address: "http://127.0.0.1:5050"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Close)
	return e
}

func waitLeading(b *testing.B, e *Election) {
	b.Helper()
	select {
	case v := <-e.Leadership():
		if !v {
			b.Fatal("Leadership reported false before true")
		}
	case <-time.After(wait):
		b.Fatalf("no leader within %v", wait)
	}
}
