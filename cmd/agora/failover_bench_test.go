package main

import (
	"context"
	"testing"
	"time"

	"agora/core/client"
	"agora/core/mesos"
	"agora/core/zk/zktest"
)

// BenchmarkFailoverToOffers measures, with real processes, the time from
// kill -9 of the leading master to a framework that re-subscribes through
// ZooKeeper receiving offers from the new leader (ZooKeeper session
// timeout 2 s).
func BenchmarkFailoverToOffers(b *testing.B) {
	zk := zktest.Start(b)
	zkURL := zk.URL("/agora")
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		leader := startHAMaster(b, zkURL)
		leaderOf(b, []*haMaster{leader})
		standby := startHAMaster(b, zkURL)
		agent := start(b, "agent", "--authenticate=false", "--switch_user=false", "--master", zkURL, "--listen", freeAddr(b), "--work_dir", b.TempDir(), "--resources", "cpus:1;mem:256;disk:10")
		waitAgents(b, leader.url, 1)
		info := mesos.FrameworkInfo{User: "nobody", Name: "bench", FailoverTimeout: 3600}
		s := subscribe(b, zkURL, info)
		s.offer()
		info.ID = &mesos.FrameworkID{Value: s.c.FrameworkID()}

		b.StartTimer()
		leader.kill9(b)
		// Re-subscribe until the new leader takes the framework, then wait
		// for its first offer.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var events <-chan mesos.Event
		for events == nil {
			c := client.NewScheduler(zkURL, nil)
			ch, err := c.Subscribe(ctx, info)
			if err != nil {
				if ctx.Err() != nil {
					b.Fatalf("no new leader took the framework within a minute: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
				continue
			}
			events = ch
		}
		for ev := range events {
			if ev.Type == mesos.EventOffers {
				break
			}
		}
		b.StopTimer()
		cancel()
		standby.kill9(b)
		agent.cmd.Process.Kill()
		agent.cmd.Wait()
		b.StartTimer()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s-to-offers")
}
