package agent

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"agora/core/agentapi"
	"agora/core/mesos"
)

// BenchmarkLaunchStorm is the agent's own share of a launch storm: 100
// RUN_TASKs arrive at once from a master that acknowledges every update at
// once; containers start instantly (a fake containerizer), while the
// checkpoints go to the real disk. It reports per task the time from the
// first RUN_TASK to the master receiving TASK_RUNNING (p50, p99), tasks/s,
// and the slowest PONG to a PING sent during the storm (the master pings
// every 100ms). Tasks are killed between iterations, outside the timer.
func BenchmarkLaunchStorm(b *testing.B) {
	const n = 100
	m := newFakeMaster(b, 100*time.Millisecond)
	m.autoAck.Store(true)
	cfg := testConfig(b, m)
	cfg.WorkDir = b.TempDir()
	cfg.UpdateRetryInterval = DefaultUpdateRetryInterval
	a := startAgent(b, cfg, newFakeProcess())
	m.waitSubs(b, 1)
	fw := framework("fw")

	var lat []time.Duration
	var total time.Duration
	var slowestPong time.Duration
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		m.mu.Lock()
		seen := len(m.updates)
		pings := len(m.pingAt)
		m.mu.Unlock()
		b.StartTimer()

		start := time.Now()
		for i := range n {
			m.send(runTask(fw, fmt.Sprintf("t%d-%d", it, i)))
		}
		running := map[string]bool{}
		eventually(b, "100 tasks running", func() bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, u := range m.updates[seen:] {
				if u.Status.State == mesos.TaskRunning && !running[u.Status.TaskID.Value] {
					running[u.Status.TaskID.Value] = true
					lat = append(lat, time.Since(start))
				}
			}
			seen = len(m.updates)
			return len(running) == n
		})
		elapsed := time.Since(start)
		total += elapsed

		b.StopTimer()
		m.mu.Lock()
		stormPings := m.pingAt[pings:]
		for i, at := range stormPings {
			if at.Sub(start) > elapsed {
				break
			}
			// PONGs answer PINGs in order; one still missing counts until now.
			pong := time.Now()
			if pings+i < len(m.pongAt) {
				pong = m.pongAt[pings+i]
			}
			slowestPong = max(slowestPong, pong.Sub(at))
		}
		m.mu.Unlock()
		for i := range n {
			m.send(agentapi.Event{Type: agentapi.EventKillTask, KillTask: &agentapi.KillTask{
				FrameworkID: *fw.ID, TaskID: mesos.TaskID{Value: fmt.Sprintf("t%d-%d", it, i)}}})
		}
		eventually(b, "100 tasks killed", func() bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			return len(a.tasks) == 0
		})
		b.StartTimer()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "tasks/s")
	b.ReportMetric(float64(slowestPong.Microseconds())/1000, "max-pong-ms")
}
