package services

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	agentpkg "agora/core/agent"
	"agora/core/client"
	"agora/core/containerizer"
	"agora/core/mesos"
	"agora/core/resources"
)

// memContainerizer "runs" a task at once and until it is killed: the
// benchmark measures Agora, not process start-up.
type memContainerizer struct{}

func (memContainerizer) Name() string { return "process" } // stands in for it

func (memContainerizer) Launch(ctx context.Context, spec containerizer.Spec) (containerizer.Container, error) {
	return &memContainer{done: make(chan struct{})}, nil
}

type memContainer struct {
	once sync.Once
	done chan struct{}
}

func (c *memContainer) PID() int              { return 0 }
func (c *memContainer) Done() <-chan struct{} { return c.done }
func (c *memContainer) Exit() containerizer.Exit {
	return containerizer.Exit{Code: -1, Signal: 15, Killed: true, Message: "killed"}
}
func (c *memContainer) Kill(grace time.Duration) { c.once.Do(func() { close(c.done) }) }

// addMemAgent starts an agent whose tasks run in memory.
func (c *cluster) addMemAgent(hostname, res string) {
	tb := c.t
	r, err := resources.Parse(res)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := agentpkg.New(agentpkg.Config{Master: c.srv.URL, Listen: "127.0.0.1:0", Hostname: hostname, WorkDir: tb.TempDir(),
		Resources: r, UpdateRetryInterval: time.Second, Logf: tb.Logf}, memContainerizer{})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	c.agents[hostname] = func() { cancel(); <-done }
}

// BenchmarkDeploy1000On50Agents deploys an app of 1,000 instances on 50
// agents through the whole stack (framework, master over HTTP with its
// default 1 s allocation interval, agents with checkpointing) and reports
// the time until all of them run; each iteration then deletes the app.
func BenchmarkDeploy1000On50Agents(b *testing.B) {
	c := newCluster(b, false)
	for i := range 50 {
		c.addMemAgent(fmt.Sprintf("agent-%02d", i), "cpus:8;mem:16384;disk:10000;ports:[31000-32000]")
	}
	f, _ := c.startFramework(Config{})
	ctx := context.Background()
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("/bench/app-%d", i)
		a := mustParse(b, fmt.Sprintf(`{"id":%q,"cmd":"sleep 1000","cpus":0.1,"mem":16,"instances":1000}`, id))
		start := time.Now()
		if _, err := f.PutApp(ctx, a, false); err != nil {
			b.Fatal(err)
		}
		var placed time.Duration
		for {
			if placed == 0 && len(f.Instances(id)) == 1000 {
				placed = time.Since(start)
				b.Logf("all 1000 placed after %s", placed)
			}
			n := running(f, id)
			if n == 1000 {
				break
			}
			if time.Since(start) > 2*time.Minute {
				var stuck []string
				for _, in := range f.Instances(id) {
					if in.State != "TASK_RUNNING" {
						stuck = append(stuck, fmt.Sprintf("%s on %s: %s", in.TaskID, in.Host, in.State))
					}
				}
				resp, _ := client.NewOperator(c.srv.URL, nil).Call(context.Background(), mesos.GetTasks)
				for _, t := range resp.GetTasks.Tasks {
					if t.State != mesos.TaskRunning {
						stuck = append(stuck, fmt.Sprintf("master: %s %s statuses=%d", t.TaskID.Value, t.State, len(t.Statuses)))
					}
				}
				b.Fatalf("only %d of 1000 instances running after 2 minutes; %v", n, stuck)
			}
			time.Sleep(10 * time.Millisecond)
		}
		took := time.Since(start)
		total += took
		b.Logf("all 1000 running after %s", took)
		b.StopTimer()
		if _, err := f.DeleteApp(ctx, id, true); err != nil {
			b.Fatal(err)
		}
		for len(f.Instances(id)) > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-to-all-running")
}
