package core

import (
	"fmt"
	"testing"
	"time"

	"agora/core/mesos"
	"agora/core/resources"
	"agora/frameworks/cron/job"
)

// BenchmarkTick1000Jobs: 1,000 jobs firing every minute; one op is the
// Tick that creates their 1,000 runs. Between ticks (outside the timer)
// every run is launched and finishes, so each Tick sees the steady state
// of a busy minute: a full history to trim and no run left waiting.
func BenchmarkTick1000Jobs(b *testing.B) {
	c := New(Config{})
	for i := range 1000 {
		j := &job.Job{ID: fmt.Sprintf("job-%04d", i), Run: job.Run{Cmd: "true", CPUs: 0.01, Mem: 32},
			Schedules: []job.Schedule{{ID: "m", Cron: "* * * * *"}}}
		j.ApplyDefaults()
		if _, err := c.PutJob(j, t0); err != nil {
			b.Fatal(err)
		}
	}
	offer := []mesos.Offer{{ID: mesos.OfferID{Value: "o"}, AgentID: mesos.AgentID{Value: "a"}, Hostname: "h",
		Resources: resources.Resources{CPUs: 1000, Mem: 1 << 20}.ToMesos("*")}}
	b.ReportAllocs()
	b.ResetTimer()
	now := t0
	for i := 0; i < b.N; i++ {
		now = now.Add(time.Minute)
		d := c.Tick(now)
		b.StopTimer()
		if len(d.PersistRuns) != 1000 {
			b.Fatalf("tick made %d runs, want 1000", len(d.PersistRuns))
		}
		for _, l := range c.Offers(offer, now).Launch {
			c.Update(mesos.TaskStatus{TaskID: l.Task.TaskID, State: mesos.TaskFinished}, now.Add(time.Second))
		}
		b.StartTimer()
	}
}

// BenchmarkOffers: 1,000 INITIAL runs (of 1,000 jobs) against 50 offers
// with room for 8 each; one op is one Offers call. The state is recovered
// afresh outside the timer.
func BenchmarkOffers(b *testing.B) {
	var jobs []*job.Job
	var runs []Run
	for i := range 1000 {
		j := &job.Job{ID: fmt.Sprintf("job-%04d", i), Run: job.Run{Cmd: "true", CPUs: 0.5, Mem: 128}}
		j.ApplyDefaults()
		jobs = append(jobs, j)
		runs = append(runs, Run{ID: fmt.Sprintf("20240301T000000Z-manual-%d", i), JobID: j.ID, Trigger: TriggerManual,
			CreatedAt: t0.Add(time.Duration(i) * time.Millisecond), Status: StatusInitial})
	}
	offers := make([]mesos.Offer, 50)
	for i := range offers {
		offers[i] = mesos.Offer{ID: mesos.OfferID{Value: fmt.Sprintf("o%d", i)}, AgentID: mesos.AgentID{Value: fmt.Sprintf("a%d", i)},
			Hostname: fmt.Sprintf("h%d", i), Resources: resources.Resources{CPUs: 4, Mem: 8192, Disk: 1000}.ToMesos("*")}
	}
	b.ReportAllocs()
	launches := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := New(Config{})
		c.Recover(jobs, nil, runs, t0)
		b.StartTimer()
		launches += len(c.Offers(offers, t0.Add(time.Second)).Launch)
	}
	b.StopTimer()
	if launches != 400*b.N {
		b.Fatalf("%d launches per call, want 400 (8 per offer)", launches/b.N)
	}
}
