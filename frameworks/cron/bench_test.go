package cron

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	agentpkg "agora/core/agent"
	"agora/core/containerizer"
	"agora/core/master"
	"agora/core/resources"
	"agora/core/store/boltstore"
	"agora/frameworks/cron/core"
	"agora/frameworks/cron/job"
)

// memContainerizer "runs" a task for a moment and lets it succeed: the
// benchmark measures Agora, not process start-up.
type memContainerizer struct{}

func (memContainerizer) Name() string { return "process" }

func (memContainerizer) Launch(ctx context.Context, spec containerizer.Spec) (containerizer.Container, error) {
	c := &memContainer{done: make(chan struct{})}
	time.AfterFunc(500*time.Millisecond, func() { c.end(containerizer.Exit{Code: 0, Message: "Command exited with status 0"}) })
	return c, nil
}

type memContainer struct {
	once sync.Once
	done chan struct{}
	exit containerizer.Exit
}

func (c *memContainer) end(e containerizer.Exit) {
	c.once.Do(func() { c.exit = e; close(c.done) })
}
func (c *memContainer) PID() int                 { return 0 }
func (c *memContainer) Done() <-chan struct{}    { return c.done }
func (c *memContainer) Exit() containerizer.Exit { return c.exit }
func (c *memContainer) Kill(grace time.Duration) {
	c.end(containerizer.Exit{Code: -1, Signal: 15, Killed: true, Message: "killed"})
}

// BenchmarkFireJitter: 200 or 1,000 jobs fire each minute, at second 0,
// on 50 agents (a real master with its default 1 s allocation interval, agents
// with checkpointing, tasks in memory). Fire jitter is the delay from each
// run's scheduled time to its TASK_RUNNING at the framework; p50, p99 and
// max over the runs of each iteration are reported.
func BenchmarkFireJitter(b *testing.B) {
	for _, jobs := range []int{200, 1000} {
		b.Run(fmt.Sprintf("jobs=%d", jobs), func(b *testing.B) { fireJitter(b, jobs, 50) })
	}
}

func fireJitter(b *testing.B, jobs, agents int) {
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "registry.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	m, err := master.New(master.Config{Store: st, Listen: "127.0.0.1:5050", Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); m.Run(ctx) }()
	srv := httptest.NewServer(m.Handler())
	defer func() {
		// Event streams end with the master; then the server can close.
		cancel()
		srv.CloseClientConnections()
		wg.Wait()
		srv.Close()
	}()
	res, _ := resources.Parse("cpus:8;mem:16384;disk:10000;ports:[31000-32000]")
	// Fifty agents share this machine's one disk, where each would have its
	// own: their checkpoints live in memory (tmpfs) when the host has one,
	// so the figure is Agora's pipeline, not one disk's fsync queue.
	agentRoot := b.TempDir()
	if d, err := os.MkdirTemp("/dev/shm", "agora-bench-"); err == nil {
		agentRoot = d
		defer os.RemoveAll(d)
	}
	for i := range agents {
		a, err := agentpkg.New(agentpkg.Config{Master: srv.URL, Listen: "127.0.0.1:0", Hostname: fmt.Sprintf("agent-%02d", i),
			WorkDir: filepath.Join(agentRoot, fmt.Sprint(i)), Resources: res, Logf: func(string, ...any) {}}, memContainerizer{})
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); a.Run(ctx) }()
	}
	f, err := New(Config{Master: srv.URL, Store: st, User: "nobody"})
	if err != nil {
		b.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); f.Run(ctx) }()
	for !f.Ready() {
		time.Sleep(20 * time.Millisecond)
	}
	var p50s, p99s, maxes []time.Duration
	b.ResetTimer()
	for it := range b.N {
		// Every job fires each minute at second 0; the first fire after all
		// of them exist is measured (each job's first run).
		created := time.Now()
		for j := range jobs {
			jb := &job.Job{ID: fmt.Sprintf("bench%d.job%d", it, j), Run: job.Run{Cmd: "true", CPUs: 0.1, Mem: 32},
				Schedules: []job.Schedule{{ID: "s", Cron: "0 * * * * *", Timezone: "UTC"}}}
			jb.ApplyDefaults()
			if err := f.PutJob(context.Background(), jb); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("created %d jobs in %s", jobs, time.Since(created))
		var jitter, created2, offered, started []time.Duration
		deadline := time.Now().Add(3 * time.Minute)
		for len(jitter) < jobs {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d jobs had a run start within 3 minutes", len(jitter), jobs)
			}
			time.Sleep(time.Second)
			jitter, created2, offered, started = jitter[:0], created2[:0], offered[:0], started[:0]
			// One visit to the framework's loop per poll: polling must not
			// hold up the work it measures.
			f.read(func(time.Time) {
				for j := range jobs {
					id := fmt.Sprintf("bench%d.job%d", it, j)
					_, done := f.core.History(id)
					runs := append(f.core.Runs(id), done...)
					sort.Slice(runs, func(i, j int) bool { return runs[i].ScheduledAt.Before(runs[j].ScheduledAt) })
					for _, r := range runs {
						if !r.StartedAt.IsZero() && r.Status != core.StatusMissed {
							jitter = append(jitter, r.StartedAt.Sub(r.ScheduledAt))
							created2 = append(created2, r.CreatedAt.Sub(r.ScheduledAt))
							offered = append(offered, r.Tasks[0].LaunchedAt.Sub(r.CreatedAt))
							started = append(started, r.StartedAt.Sub(r.Tasks[0].LaunchedAt))
							break // the job's first fire only
						}
					}
				}
			})
		}
		for _, ds := range [][]time.Duration{jitter, created2, offered, started} {
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		}
		p50, p99, mx := jitter[len(jitter)/2], jitter[len(jitter)*99/100], jitter[len(jitter)-1]
		b.Logf("iteration %d: fire jitter p50 %s, p99 %s, max %s", it, p50, p99, mx)
		b.Logf("  of which fire -> run stored p99 %s, stored -> launched p99 %s, launched -> TASK_RUNNING p99 %s",
			created2[len(created2)*99/100], offered[len(offered)*99/100], started[len(started)*99/100])
		p50s, p99s, maxes = append(p50s, p50), append(p99s, p99), append(maxes, mx)
	}
	b.StopTimer()
	mean := func(ds []time.Duration) float64 {
		var s time.Duration
		for _, d := range ds {
			s += d
		}
		return float64(s.Milliseconds()) / float64(len(ds))
	}
	b.ReportMetric(mean(p50s), "p50-ms")
	b.ReportMetric(mean(p99s), "p99-ms")
	b.ReportMetric(mean(maxes), "max-ms")
}
