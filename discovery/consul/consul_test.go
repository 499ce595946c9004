package consul_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"agora/discovery"
	"agora/discovery/consul"
	"agora/discovery/consul/consultest"
)

// testLogf logs through t while the test runs and drops lines after it
// (Run's and Watch's goroutines may still log while stopping).
func testLogf(t *testing.T) func(string, ...any) {
	var mu sync.Mutex
	done := false
	t.Cleanup(func() { mu.Lock(); done = true; mu.Unlock() })
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Logf(format, args...)
		}
	}
}

func newRegistry(t *testing.T, srv *consultest.Server, change func(*consul.Config)) *consul.Registry {
	t.Helper()
	cfg := consul.Config{Address: srv.Addr, Logf: testLogf(t), Debounce: 20 * time.Millisecond}
	if change != nil {
		change(&cfg)
	}
	r, err := consul.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// eventually polls cond every 50ms until it holds or 20s pass.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s; last: %s", what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// instances is what the catalog holds for a service, by id, with its
// Agora check.
type instance struct {
	svc   *api.AgentService
	check *api.HealthCheck
}

func instances(t *testing.T, c *api.Client, name string) map[string]instance {
	t.Helper()
	entries, _, err := c.Health().Service(name, "", false, nil)
	if err != nil {
		t.Fatalf("reading %s from Consul: %v", name, err)
	}
	out := map[string]instance{}
	for _, e := range entries {
		in := instance{svc: e.Service}
		for _, chk := range e.Checks {
			if chk.CheckID == consul.CheckID(e.Service.ID) {
				in.check = chk
			}
		}
		out[e.Service.ID] = in
	}
	return out
}

func ids(m map[string]instance) []string {
	var out []string
	for id := range m {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func TestSyncRegistersInstances(t *testing.T) {
	srv := consultest.Start(t)
	r := newRegistry(t, srv, nil)
	draining := ep("web.3", 31002, true)
	draining.Draining = true
	set := []discovery.Service{web(ep("web.1", 31000, true), ep("web.2", 31001, false), draining)}
	if err := r.Sync(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	var got map[string]instance
	eventually(t, "three instances in the catalog", func() (bool, string) {
		got = instances(t, r.Client(), "team-web")
		return len(got) == 3, fmt.Sprint(ids(got))
	})
	one := got["agora-web.1-0"]
	if one.svc == nil {
		t.Fatalf("no instance agora-web.1-0 in %v", ids(got))
	}
	if one.svc.Address != "10.0.0.1" || one.svc.Port != 31000 {
		t.Errorf("address %s:%d, want 10.0.0.1:31000", one.svc.Address, one.svc.Port)
	}
	if want := []string{"HAPROXY_GROUP=external", "agora", "canary"}; !slices.Equal(one.svc.Tags, want) {
		t.Errorf("tags %q, want %q", one.svc.Tags, want)
	}
	for k, v := range map[string]string{
		"agora": "1", "app_id": "/team/web", "task_id": "web.1", "agent_id": "agent-1",
		"version": "2024-01-01T00:00:00Z", "service_port": "10000", "port_index": "0",
	} {
		if one.svc.Meta[k] != v {
			t.Errorf("meta %s = %q, want %q", k, one.svc.Meta[k], v)
		}
	}
	if got["agora-web.3-0"].svc.Meta["draining"] != "1" || got["agora-web.1-0"].svc.Meta["draining"] != "" {
		t.Errorf("draining meta: web.3 %q (want 1), web.1 %q (want none)",
			got["agora-web.3-0"].svc.Meta["draining"], got["agora-web.1-0"].svc.Meta["draining"])
	}
	// Status in the catalog; output from the agent (the catalog gets an
	// output change without a status change only minutes later).
	checks, err := r.Client().Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string][2]string{
		"agora-web.1-0": {api.HealthPassing, consul.OutputHealthy},
		"agora-web.2-0": {api.HealthCritical, consul.OutputNotReady},
		"agora-web.3-0": {api.HealthCritical, consul.OutputDraining},
	} {
		if c := got[id].check; c == nil || c.Status != want[0] {
			t.Errorf("%s catalog check %+v, want status %s", id, c, want[0])
		}
		if c := checks[consul.CheckID(id)]; c == nil || c.Status != want[0] || c.Output != want[1] {
			t.Errorf("%s agent check %+v, want status %s output %q", id, c, want[0], want[1])
		}
		if c := checks[consul.AliveCheckID(id)]; c == nil || c.Status != api.HealthPassing {
			t.Errorf("%s alive check %+v, want passing", id, c)
		}
	}
	// Only the healthy, ready, undrained instance is offered to clients.
	passing, _, err := r.Client().Health().Service("team-web", "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(passing) != 1 || passing[0].Service.ID != "agora-web.1-0" {
		t.Errorf("passing instances %d, want only agora-web.1-0", len(passing))
	}
}

func TestSyncChangesAndRemoves(t *testing.T) {
	srv := consultest.Start(t)
	r := newRegistry(t, srv, nil)
	ctx := context.Background()
	if err := r.Sync(ctx, []discovery.Service{web(ep("web.1", 31000, true), ep("web.2", 31001, true))}); err != nil {
		t.Fatal(err)
	}
	relabelled := web(ep("web.1", 31005, true))
	relabelled.Labels = map[string]string{"HAPROXY_GROUP": "internal"}
	if err := r.Sync(ctx, []discovery.Service{relabelled}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "web.2 gone, web.1 moved and relabelled", func() (bool, string) {
		got := instances(t, r.Client(), "team-web")
		one, ok := got["agora-web.1-0"]
		if len(got) != 1 || !ok {
			return false, fmt.Sprint(ids(got))
		}
		ok = one.svc.Port == 31005 && slices.Equal(one.svc.Tags, []string{"HAPROXY_GROUP=internal", "agora"}) &&
			one.check != nil && one.check.Status == api.HealthPassing
		return ok, fmt.Sprintf("port %d tags %q check %+v", one.svc.Port, one.svc.Tags, one.check)
	})
	if err := r.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "everything deregistered", func() (bool, string) {
		got := instances(t, r.Client(), "team-web")
		return len(got) == 0, fmt.Sprint(ids(got))
	})
}

func TestHealthFlips(t *testing.T) {
	srv := consultest.Start(t)
	r := newRegistry(t, srv, nil)
	ctx := context.Background()
	for i, healthy := range []bool{false, true, false, true} {
		if err := r.Sync(ctx, []discovery.Service{web(ep("web.1", 31000, healthy))}); err != nil {
			t.Fatal(err)
		}
		want := api.HealthCritical
		if healthy {
			want = api.HealthPassing
		}
		eventually(t, fmt.Sprintf("flip %d to %s", i, want), func() (bool, string) {
			c := instances(t, r.Client(), "team-web")["agora-web.1-0"].check
			if c == nil {
				return false, "no check"
			}
			return c.Status == want, c.Status
		})
	}
}

func TestChecksGoCriticalWithoutRefresh(t *testing.T) {
	srv := consultest.Start(t)
	// Nobody runs Run: as if the master died.
	r := newRegistry(t, srv, func(c *consul.Config) { c.TTL, c.RefreshInterval = time.Second, 300*time.Millisecond })
	if err := r.Sync(context.Background(), []discovery.Service{web(ep("web.1", 31000, true))}); err != nil {
		t.Fatal(err)
	}
	passingCount := func() (int, error) {
		passing, _, err := r.Client().Health().Service("team-web", "", true, nil)
		return len(passing), err
	}
	eventually(t, "instance passing", func() (bool, string) {
		n, err := passingCount()
		return err == nil && n == 1, fmt.Sprintf("%d passing (%v)", n, err)
	})
	eventually(t, "instance critical after its TTL", func() (bool, string) {
		n, err := passingCount()
		c := instances(t, r.Client(), "team-web")["agora-web.1-0"].check
		return err == nil && n == 0 && c != nil && c.Status == api.HealthCritical,
			fmt.Sprintf("%d passing (%v), health check %+v", n, err, c)
	})
	// The master is back: one refresh makes the instance passing again.
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The agent copies the change to the catalog a moment later.
	eventually(t, "passing again after Refresh", func() (bool, string) {
		n, err := passingCount()
		return err == nil && n == 1, fmt.Sprintf("%d passing (%v)", n, err)
	})
}

func TestRefreshRepopulatesRestartedConsul(t *testing.T) {
	srv := consultest.Start(t)
	r := newRegistry(t, srv, nil)
	ctx := context.Background()
	if err := r.Sync(ctx, []discovery.Service{web(ep("web.1", 31000, true))}); err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	// The refresh finds its checks gone and syncs again at once, without
	// waiting for the anti-entropy interval.
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	// Registered in the agent now; in the catalog a moment later.
	if _, _, err := r.Client().Agent().Service("agora-web.1-0", nil); err != nil {
		t.Fatalf("after restart and refresh: %v", err)
	}
	eventually(t, "instance back in the catalog, passing", func() (bool, string) {
		got := instances(t, r.Client(), "team-web")
		c := got["agora-web.1-0"].check
		return c != nil && c.Status == api.HealthPassing, fmt.Sprintf("instances %v, check %+v", ids(got), c)
	})
}

func TestForeignEntriesUntouched(t *testing.T) {
	srv := consultest.Start(t)
	r := newRegistry(t, srv, nil)
	c := r.Client()
	for _, reg := range []*api.AgentServiceRegistration{
		{ID: "redis-1", Name: "redis", Port: 6379},
		{ID: "agora-manual-0", Name: "team-web", Port: 8080, Tags: []string{"agora"}},            // Agora's prefix and tag, no meta
		{ID: "web-by-hand", Name: "team-web", Port: 8081, Meta: map[string]string{"agora": "1"}}, // meta, no prefix
	} {
		if err := c.Agent().ServiceRegister(reg); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if err := r.Sync(ctx, []discovery.Service{web(ep("web.1", 31000, true))}); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	svcs, err := c.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for id := range svcs {
		left = append(left, id)
	}
	slices.Sort(left)
	if want := []string{"agora-manual-0", "redis-1", "web-by-hand"}; !slices.Equal(left, want) {
		t.Fatalf("services left %q, want %q", left, want)
	}
	// The watch does not report the foreign instances either.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := r.Watch(wctx)
	if err != nil {
		t.Fatal(err)
	}
	if set := recvSet(t, ch); len(set) != 0 {
		t.Fatalf("watch reported %+v, want no Agora services", set)
	}
}

func recvSet(t *testing.T, ch <-chan []discovery.Service) []discovery.Service {
	t.Helper()
	select {
	case set, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return set
	case <-time.After(20 * time.Second):
		t.Fatal("no set from the watch within 20s")
		return nil
	}
}

// waitSet reads sets until one matches want (normalized), failing after
// 20s. Intermediate sets are fine: Consul's agent syncs to its catalog in
// steps.
func waitSet(t *testing.T, ch <-chan []discovery.Service, want []discovery.Service) {
	t.Helper()
	want = discovery.Normalize(want)
	deadline := time.After(20 * time.Second)
	var last []discovery.Service
	for {
		select {
		case set, ok := <-ch:
			if !ok {
				t.Fatal("watch channel closed")
			}
			if discovery.Equal(set, want) {
				return
			}
			last = set
		case <-deadline:
			t.Fatalf("watch never sent the expected set;\nlast %+v\nwant %+v", last, want)
		}
	}
}

func TestWatchFollowsChanges(t *testing.T) {
	srv := consultest.Start(t)
	r := newRegistry(t, srv, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	api2 := discovery.Service{
		Name: "api", AppID: "/api", PortIndex: 1, PortName: "grpc", ServicePort: 10001, Protocol: "tcp",
		Endpoints: []discovery.Endpoint{{TaskID: "api.1", AppID: "/api", AgentID: "a2", Version: "v1", Host: "10.0.0.2", Port: 32000, Healthy: true}},
	}
	first := []discovery.Service{web(ep("web.1", 31000, true), ep("web.2", 31001, false)), api2}
	if err := r.Sync(ctx, first); err != nil {
		t.Fatal(err)
	}
	ch, err := r.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// What was synced comes back whole: names, ports, labels, meta, health.
	waitSet(t, ch, first)

	// Scale web up, drain web.1, drop api.
	draining := ep("web.1", 31000, true)
	draining.Draining = true
	next := []discovery.Service{web(draining, ep("web.2", 31001, true), ep("web.3", 31002, true))}
	if err := r.Sync(ctx, next); err != nil {
		t.Fatal(err)
	}
	// Consul reports a draining instance as not healthy (its check is
	// critical).
	want := []discovery.Service{web(ep("web.1", 31000, false), ep("web.2", 31001, true), ep("web.3", 31002, true))}
	want[0].Endpoints[0].Draining = true
	waitSet(t, ch, want)

	cancel()
	for range ch { // must close
	}
}

func TestRunRepopulatesRestartedConsul(t *testing.T) {
	srv := consultest.Start(t)
	r := newRegistry(t, srv, func(c *consul.Config) { c.SyncInterval = 200 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	set := []discovery.Service{web(ep("web.1", 31000, true), ep("web.2", 31001, false))}
	if err := r.Sync(ctx, set); err != nil {
		t.Fatal(err)
	}
	ch, err := r.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitSet(t, ch, set)
	runDone := make(chan error, 1)
	go func() { runDone <- r.Run(ctx) }()

	srv.Restart(t) // a dev agent forgets everything
	// A stale entry left by an earlier Agora, which the loop must remove.
	stale := &api.AgentServiceRegistration{ID: "agora-old.1-0", Name: "team-web", Port: 1, Tags: []string{"agora"},
		Meta: map[string]string{"agora": "1", "task_id": "old.1"}}
	eventually(t, "stale entry registered in the new Consul", func() (bool, string) {
		err := r.Client().Agent().ServiceRegister(stale)
		return err == nil, fmt.Sprint(err)
	})
	eventually(t, "Run repopulates Consul and removes the stale entry", func() (bool, string) {
		got := instances(t, r.Client(), "team-web")
		return slices.Equal(ids(got), []string{"agora-web.1-0", "agora-web.2-0"}), fmt.Sprint(ids(got))
	})
	// The watch follows the new Consul. (It does not resend a set that
	// ends up as it was before the restart, so make a change.)
	scaled := []discovery.Service{web(ep("web.1", 31000, true), ep("web.2", 31001, false), ep("web.3", 31002, true))}
	if err := r.Sync(ctx, scaled); err != nil {
		t.Fatal(err)
	}
	waitSet(t, ch, scaled)

	cancel()
	select {
	case err := <-runDone:
		if err != context.Canceled {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  consul.Config
		want string
	}{
		{consul.Config{TTL: 10 * time.Millisecond}, "ttl"},
		{consul.Config{TTL: 10 * time.Second, RefreshInterval: 20 * time.Second}, "refresh interval"},
		{consul.Config{DeregisterAfter: time.Second}, "deregister after"},
		{consul.Config{SyncInterval: -1}, "sync interval"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %q", tc.cfg, err, tc.want)
		}
	}
	if err := (consul.Config{}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// BenchmarkSync100 registers 100 new endpoints and deregisters the 100 of
// the previous round, against a real Consul (each op: 100 registrations
// with their check, 100 deregistrations).
func BenchmarkSync100(b *testing.B) {
	srv := consultest.Start(b)
	r, err := consul.New(consul.Config{Address: srv.Addr, Logf: func(string, ...any) {}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	round := 0
	set := func() []discovery.Service {
		round++
		s := benchSet(20, 5)
		for i := range s {
			for j := range s[i].Endpoints {
				s[i].Endpoints[j].TaskID = fmt.Sprintf("r%d-%d.%d", round, i, j)
			}
		}
		return s
	}
	b.ResetTimer()
	for b.Loop() {
		if err := r.Sync(ctx, set()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSyncHealthFlip100 flips the health of 100 endpoints each op
// (status-only updates).
func BenchmarkSyncHealthFlip100(b *testing.B) {
	srv := consultest.Start(b)
	r, err := consul.New(consul.Config{Address: srv.Addr, Logf: func(string, ...any) {}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	s := benchSet(20, 5)
	healthy := true
	b.ResetTimer()
	for b.Loop() {
		healthy = !healthy
		for i := range s {
			for j := range s[i].Endpoints {
				s[i].Endpoints[j].Healthy = healthy
			}
		}
		if err := r.Sync(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}
