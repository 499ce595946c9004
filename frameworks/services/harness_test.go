package services

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	agentpkg "agora/core/agent"
	"agora/core/containerizer/process"
	"agora/core/master"
	"agora/core/resources"
	"agora/core/store"
	"agora/core/store/boltstore"
	"agora/frameworks/services/app"
)

type handlerBox struct{ http.Handler }

// cluster is a real master and real agents running process tasks, in
// this process, on loopback.
type cluster struct {
	t       testing.TB
	st      store.Store
	master  *master.Master
	srv     *httptest.Server
	stopM   func()
	fast    bool
	handler atomic.Value      // handlerBox: the current master's API
	agents  map[string]func() // hostname -> stop
}

// newCluster starts a master: fast has it allocate every 50 ms and notice a
// lost agent within a second, for tests; otherwise it runs with the
// defaults of `agora master`, for benchmarks.
func newCluster(t testing.TB, fast bool) *cluster {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	c := &cluster{t: t, st: st, fast: fast, agents: map[string]func(){}}
	c.startMaster()
	t.Cleanup(func() {
		for _, stop := range c.agents {
			stop()
		}
		c.stopM()
	})
	return c
}

func (c *cluster) startMaster() {
	cfg := master.Config{Store: c.st, Listen: "127.0.0.1:5050", Seed: 1, Logf: c.t.Logf}
	if c.fast {
		cfg.AllocationInterval, cfg.HeartbeatInterval = 50*time.Millisecond, 2*time.Second
		cfg.AgentPingTimeout, cfg.MaxAgentPingTimeouts = 200*time.Millisecond, 3
	}
	m, err := master.New(cfg)
	if err != nil {
		c.t.Fatalf("master: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	c.master = m
	c.handler.Store(handlerBox{m.Handler()})
	if c.srv == nil {
		c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.handler.Load().(handlerBox).ServeHTTP(w, r)
		}))
		c.t.Cleanup(c.srv.Close)
	}
	c.stopM = func() {
		cancel()
		<-done
		c.srv.CloseClientConnections()
	}
}

// restartMaster stops the master and starts a new one on the same
// address and registry, as after a crash.
func (c *cluster) restartMaster() {
	// Like a dead process: calls fail while no master runs.
	c.handler.Store(handlerBox{http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "master restarting", http.StatusServiceUnavailable)
	})})
	c.stopM()
	c.startMaster()
}

// addAgent starts an agent advertising hostname (each agent its own).
func (c *cluster) addAgent(hostname, res string) {
	c.t.Helper()
	r, err := resources.Parse(res)
	if err != nil {
		c.t.Fatal(err)
	}
	pc, err := process.New(process.Config{RuntimeDir: c.t.TempDir(), DisableCgroups: true})
	if err != nil {
		c.t.Fatal(err)
	}
	a, err := agentpkg.New(agentpkg.Config{Master: c.srv.URL, Listen: "127.0.0.1:0", Hostname: hostname, WorkDir: c.t.TempDir(),
		Resources: r, UpdateRetryInterval: 100 * time.Millisecond, KillTasksOnExit: true, Logf: c.t.Logf}, pc)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	c.agents[hostname] = func() { cancel(); <-done }
}

// stopAgent stops an agent; its tasks keep running but the agent is gone.
func (c *cluster) stopAgent(hostname string) {
	c.agents[hostname]()
	delete(c.agents, hostname)
}

// startFramework runs a services framework against the cluster's master
// with its state in the cluster's store.
func (c *cluster) startFramework(cfg Config) (*Framework, func()) {
	c.t.Helper()
	cfg.Master, cfg.Store = c.srv.URL, c.st
	cfg.Logf = c.t.Logf
	if cfg.Tick == 0 {
		cfg.Tick = 50 * time.Millisecond
	}
	f, err := New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	c.t.Cleanup(stop)
	waitFor(c.t, 20*time.Second, "the framework to register", func() (bool, string) { return f.Ready(), "not ready" })
	return f, stop
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last: %s", d, what, last)
}

func mustParse(t testing.TB, js string) *app.App {
	t.Helper()
	a, err := app.Parse([]byte(js))
	if err != nil {
		t.Fatalf("app.Parse: %v", err)
	}
	if errs := a.Validate(); len(errs) > 0 {
		t.Fatalf("app.Validate: %v", errs)
	}
	return a
}

// running counts an app's running, healthy, live instances.
func running(f *Framework, appID string) int {
	n := 0
	for _, in := range f.Instances(appID) {
		if in.State == "TASK_RUNNING" && !in.Killing && in.Healthy != nil && *in.Healthy {
			n++
		}
	}
	return n
}

// describe lists an app's instances for failure messages.
func describe(f *Framework, appID string) string {
	var b strings.Builder
	for _, in := range f.Instances(appID) {
		fmt.Fprintf(&b, "%s@%s:%s healthy=%v killing=%v; ", in.TaskID, in.Host, in.State, in.Healthy != nil && *in.Healthy, in.Killing)
	}
	return b.String()
}
