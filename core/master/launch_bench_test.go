package master

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	agentpkg "agora/core/agent"
	"agora/core/containerizer"
	"agora/core/containerizer/docker"
	"agora/core/containerizer/docker/dockertest"
	"agora/core/containerizer/process"
	"agora/core/mesos"
	"agora/core/resources"
)

// BenchmarkLaunchToRunning launches 100 tasks on one real agent in one
// ACCEPT and measures, per task, the time from the ACCEPT call to its
// TASK_RUNNING update at the framework; then the time until all 100 run
// (throughput). Tasks are killed between iterations, outside the timer.
func BenchmarkLaunchToRunning(b *testing.B) {
	const n = 100
	for _, kind := range []string{"process", "docker"} {
		b.Run("containerizer="+kind, func(b *testing.B) {
			var cz containerizer.Containerizer
			var image string
			workDir := b.TempDir()
			switch kind {
			case "process":
				pc, err := process.New(process.Config{RuntimeDir: workDir + "/runtime"})
				if err != nil {
					b.Fatal(err)
				}
				cz = pc
			case "docker":
				cli := dockertest.Daemon(b)
				image = dockertest.BusyboxImage(b, cli)
				dc, err := docker.New(context.Background(), docker.Config{HostIP: "127.0.0.1"})
				if err != nil {
					b.Fatal(err)
				}
				cz = dc
			}
			cfg := fastConfig(openStore(b, b.TempDir()))
			cfg.AgentPingTimeout = 5 * time.Second // a launch storm must not look like a dead agent
			tm := startMaster(b, cfg)
			res, _ := resources.Parse(fmt.Sprintf("cpus:%d;mem:%d;disk:1000", n, n*64))
			a, err := agentpkg.New(agentpkg.Config{Master: tm.srv.URL, Listen: "127.0.0.1:0", WorkDir: workDir, Resources: res,
				KillTasksOnExit: true, Logf: func(string, ...any) {}}, cz)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { a.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			fw := tm.framework(b, mesos.FrameworkInfo{User: "root", Name: "bench"})
			fw.timeout = 5 * time.Minute // 100 containers take Docker a while
			taskRes, _ := resources.Parse("cpus:0.5;mem:32")
			var lat []time.Duration
			var allRunning time.Duration
			b.ResetTimer()
			for it := 0; it < b.N; it++ {
				b.StopTimer()
				var o mesos.Offer
				for {
					o = fw.next(mesos.EventOffers).Offers.Offers[0]
					if offerRes(b, o).CPUs >= n*0.5 {
						break
					}
					fw.mustCall(mesos.Call{Type: mesos.CallDecline, Decline: &mesos.CallDeclineBody{OfferIDs: []mesos.OfferID{o.ID}, Filters: &mesos.Filters{RefuseSeconds: ptr(0.0)}}})
				}
				tasks := make([]mesos.TaskInfo, n)
				for i := range tasks {
					id := fmt.Sprintf("t%d-%d", it, i)
					tasks[i] = mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, Resources: taskRes.ToMesos(""), Command: &mesos.CommandInfo{Value: "sleep 600"}}
					if kind == "docker" {
						tasks[i].Container = &mesos.ContainerInfo{Type: "DOCKER", Docker: &mesos.DockerInfo{Image: image, Network: "NONE"}}
					}
				}
				b.StartTimer()
				start := time.Now()
				fw.mustCall(launchCall(o, tasks...))
				for running := 0; running < n; {
					ev := fw.next(mesos.EventUpdate)
					s := ev.Update.Status
					if len(s.UUID) > 0 {
						fw.mustCall(mesos.Call{Type: mesos.CallAcknowledge, Acknowledge: &mesos.CallAcknowledgeBody{AgentID: *s.AgentID, TaskID: s.TaskID, UUID: s.UUID}})
					}
					switch s.State {
					case mesos.TaskRunning:
						running++
						lat = append(lat, time.Since(start))
					case mesos.TaskFailed, mesos.TaskError, mesos.TaskLost:
						b.Fatalf("task %s: %s %s", s.TaskID.Value, s.State, s.Message)
					}
				}
				allRunning += time.Since(start)
				b.StopTimer()
				for _, ti := range tasks {
					fw.mustCall(mesos.Call{Type: mesos.CallKill, Kill: &mesos.CallKillBody{TaskID: ti.TaskID}})
				}
				for killed := 0; killed < n; {
					s := fw.next(mesos.EventUpdate).Update.Status
					if len(s.UUID) > 0 {
						fw.mustCall(mesos.Call{Type: mesos.CallAcknowledge, Acknowledge: &mesos.CallAcknowledgeBody{AgentID: *s.AgentID, TaskID: s.TaskID, UUID: s.UUID}})
					}
					if mesos.IsTerminal(s.State) {
						killed++
					}
				}
				b.StartTimer()
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(n*b.N)/allRunning.Seconds(), "tasks/s")
		})
	}
}
