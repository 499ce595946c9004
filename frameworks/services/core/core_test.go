package core

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"agora/core/mesos"
	"agora/core/resources"
	"agora/frameworks/services/app"
	"agora/frameworks/services/deploy"
	"agora/frameworks/services/state"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func mustApp(t testing.TB, js string) *app.App {
	t.Helper()
	a, err := app.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if errs := a.Validate(); errs != nil {
		t.Fatal(errs)
	}
	return a
}

func offer(id, agent string, cpus, mem float64) mesos.Offer {
	r := resources.Resources{CPUs: cpus, Mem: mem, Disk: 1000, Ports: resources.Ranges{{Begin: 31000, End: 31100}}}
	return mesos.Offer{ID: mesos.OfferID{Value: id}, AgentID: mesos.AgentID{Value: agent}, Hostname: agent + ".example",
		Resources: r.ToMesos("web")}
}

func status(tid, st string, healthy *bool) mesos.TaskStatus {
	return mesos.TaskStatus{TaskID: mesos.TaskID{Value: tid}, State: st, Healthy: healthy}
}

func launched(d Decisions) []mesos.TaskInfo {
	var out []mesos.TaskInfo
	for _, a := range d.Accept {
		out = append(out, a.Tasks...)
	}
	return out
}

// runAll sends RUNNING for every task launched in d.
func runAll(c *Core, d Decisions, now time.Time) Decisions {
	var last Decisions
	for _, ti := range launched(d) {
		last = merge(last, c.Update(status(ti.TaskID.Value, mesos.TaskRunning, nil), now))
	}
	return last
}

// killAll answers every kill in d with TASK_KILLED.
func killAll(c *Core, d Decisions, now time.Time) Decisions {
	var last Decisions
	for _, k := range d.Kill {
		last = merge(last, c.Update(status(k.Value, mesos.TaskKilled, nil), now))
	}
	return last
}

func merge(a, b Decisions) Decisions {
	a.Accept = append(a.Accept, b.Accept...)
	a.Decline = append(a.Decline, b.Decline...)
	a.Kill = append(a.Kill, b.Kill...)
	a.Persist = append(a.Persist, b.Persist...)
	a.Events = append(a.Events, b.Events...)
	a.Suppress = a.Suppress || b.Suppress
	a.Revive = a.Revive || b.Revive
	return a
}

func countRunning(c *Core, id string) (n int) {
	for _, in := range c.Instances(id) {
		if in.State == mesos.TaskRunning && !in.Killing {
			n++
		}
	}
	return n
}

func hasEvent(d Decisions, typ string) bool {
	for _, e := range d.Events {
		if e.Type == typ {
			return true
		}
	}
	return false
}

func TestUniqueHostnamePlacesTwoOfThreeAndSaysWhy(t *testing.T) {
	c := New(Config{Seed: 1})
	if _, err := c.PutApp(mustApp(t, `{"id":"/web","cmd":"sleep 1000","instances":3,"cpus":0.5,"mem":64,"constraints":[["hostname","UNIQUE"]]}`), false, t0); err != nil {
		t.Fatal(err)
	}
	d := c.Offers([]mesos.Offer{offer("o1", "a1", 4, 1024), offer("o2", "a2", 4, 1024)}, t0)
	if n := len(launched(d)); n != 2 {
		t.Fatalf("launched %d, want 2", n)
	}
	if len(d.Decline) != 0 || len(d.Accept) != 2 {
		t.Fatalf("accept %d decline %d, want 2 and 0", len(d.Accept), len(d.Decline))
	}
	q := c.Queue()
	if len(q) != 1 || q[0].Count != 1 || len(q[0].Rejections) == 0 || !strings.Contains(q[0].Rejections[0].Reason, "hostname:UNIQUE") {
		t.Fatalf("queue = %+v, want 1 pending rejected by hostname:UNIQUE", q)
	}
	for _, ti := range launched(d) {
		if !strings.HasPrefix(ti.TaskID.Value, "web.") {
			t.Errorf("task id %q lacks the service name", ti.TaskID.Value)
		}
	}
	// The same offers again: nothing fits, so both are declined briefly.
	d = c.Offers([]mesos.Offer{offer("o3", "a1", 4, 1024)}, t0.Add(time.Second))
	if len(d.Accept) != 0 || len(d.Decline) != 1 || d.Decline[0].RefuseSeconds != 5 {
		t.Fatalf("got %+v, want one decline with refuse 5", d.Decline)
	}
}

func TestDeterministicForSeed(t *testing.T) {
	ids := func() []string {
		c := New(Config{Seed: 42})
		c.PutApp(mustApp(t, `{"id":"/web","cmd":"x","instances":3}`), false, t0)
		var out []string
		for _, ti := range launched(c.Offers([]mesos.Offer{offer("o1", "a1", 8, 4096)}, t0)) {
			out = append(out, ti.TaskID.Value)
		}
		return out
	}
	a, b := ids(), ids()
	if fmt.Sprint(a) != fmt.Sprint(b) || len(a) != 3 {
		t.Fatalf("ids differ for one seed: %v vs %v", a, b)
	}
}

func TestScaleUpAndDown(t *testing.T) {
	c := New(Config{Seed: 2})
	a := mustApp(t, `{"id":"/web","cmd":"x","instances":2,"cpus":0.1,"mem":32}`)
	c.PutApp(a, false, t0)
	d := c.Offers([]mesos.Offer{offer("o1", "a1", 8, 4096)}, t0)
	if !d.Suppress {
		t.Fatal("nothing pending once all are placed: want Suppress")
	}
	d = runAll(c, d, t0)
	if !hasEvent(d, EventDeploymentSuccess) || countRunning(c, "/web") != 2 {
		t.Fatalf("running %d, success event %v", countRunning(c, "/web"), hasEvent(d, EventDeploymentSuccess))
	}

	a2 := *a
	a2.Instances = 5
	a2.Version = ""
	c.PutApp(&a2, false, t0.Add(time.Minute))
	d = c.Tick(t0.Add(time.Minute))
	if !d.Revive {
		t.Fatal("scale up: want Revive")
	}
	d = c.Offers([]mesos.Offer{offer("o2", "a1", 8, 4096)}, t0.Add(time.Minute))
	if n := len(launched(d)); n != 3 {
		t.Fatalf("scale up launched %d, want 3", n)
	}
	runAll(c, d, t0.Add(time.Minute))
	if countRunning(c, "/web") != 5 {
		t.Fatalf("running %d, want 5", countRunning(c, "/web"))
	}
	for _, in := range c.Instances("/web") {
		if in.Killing {
			t.Fatalf("scale-only change killed %s", in.TaskID)
		}
	}

	a3 := a2
	a3.Instances = 1
	a3.Version = ""
	c.PutApp(&a3, false, t0.Add(2*time.Minute))
	d = c.Tick(t0.Add(2 * time.Minute))
	if len(d.Kill) != 4 {
		t.Fatalf("scale down killed %d, want 4", len(d.Kill))
	}
	d = killAll(c, d, t0.Add(2*time.Minute))
	if len(c.Instances("/web")) != 1 || !hasEvent(d, EventDeploymentSuccess) || len(c.Deployments()) != 0 {
		t.Fatalf("after scale down: %d instances, events %+v", len(c.Instances("/web")), d.Events)
	}
}

func TestRollingRestartHonoursUpgradeStrategy(t *testing.T) {
	c := New(Config{Seed: 3})
	// minimumHealthCapacity 1, maximumOverCapacity 0: one extra at a time.
	a := mustApp(t, `{"id":"/web","cmd":"v1","instances":3,"cpus":0.1,"mem":32,
		"upgradeStrategy":{"minimumHealthCapacity":1,"maximumOverCapacity":0}}`)
	c.PutApp(a, false, t0)
	runAll(c, c.Offers([]mesos.Offer{offer("o1", "a1", 8, 4096)}, t0), t0)
	old := map[string]bool{}
	for _, in := range c.Instances("/web") {
		old[in.TaskID] = true
	}

	a2 := *a
	a2.Cmd, a2.Version = "v2", ""
	now := t0.Add(time.Minute)
	if _, err := c.PutApp(&a2, false, now); err != nil {
		t.Fatal(err)
	}
	c.Tick(now)
	for round := 0; round < 10 && len(c.Deployments()) > 0; round++ {
		now = now.Add(time.Second)
		d := c.Offers([]mesos.Offer{offer(fmt.Sprintf("r%d", round), "a1", 8, 4096)}, now)
		if n := len(launched(d)); n > 1 {
			t.Fatalf("round %d launched %d at once, strategy allows 1", round, n)
		}
		if total := len(c.Instances("/web")); total > 4 {
			t.Fatalf("round %d: %d instances exist, max 4", round, total)
		}
		if h := countRunning(c, "/web"); h < 3 {
			t.Fatalf("round %d: only %d running, min healthy 3", round, h)
		}
		d = merge(d, runAll(c, d, now))
		for len(d.Kill) > 0 {
			d = killAll(c, d, now)
		}
	}
	if len(c.Deployments()) != 0 {
		t.Fatal("restart did not finish")
	}
	ins := c.Instances("/web")
	if len(ins) != 3 {
		t.Fatalf("%d instances, want 3", len(ins))
	}
	for _, in := range ins {
		if old[in.TaskID] || in.Version != configVersion(c.Apps()[0]) {
			t.Fatalf("instance %s survived the restart", in.TaskID)
		}
	}
}

func TestFailedInstanceReplacedAfterGrowingBackoff(t *testing.T) {
	c := New(Config{Seed: 4})
	c.PutApp(mustApp(t, `{"id":"/web","cmd":"x","instances":1,"cpus":0.1,"mem":32,"backoffSeconds":10,"backoffFactor":2,"maxLaunchDelaySeconds":25}`), false, t0)
	d := c.Offers([]mesos.Offer{offer("o0", "a1", 8, 4096)}, t0)
	now := t0
	for i, wantDelay := range []time.Duration{10 * time.Second, 20 * time.Second, 25 * time.Second} {
		tid := launched(d)[0].TaskID.Value
		c.Update(status(tid, mesos.TaskRunning, nil), now)
		c.Update(status(tid, mesos.TaskFailed, nil), now)
		q := c.Queue()
		if len(q) != 1 || q[0].DelayUntil != now.Add(wantDelay) {
			t.Fatalf("failure %d: queue %+v, want delay %v", i+1, q, wantDelay)
		}
		d = c.Offers([]mesos.Offer{offer(fmt.Sprintf("early%d", i), "a1", 8, 4096)}, now.Add(wantDelay-time.Second))
		if len(d.Accept) != 0 {
			t.Fatalf("failure %d: launched during backoff", i+1)
		}
		now = now.Add(wantDelay)
		c.Tick(now)
		d = c.Offers([]mesos.Offer{offer(fmt.Sprintf("late%d", i), "a1", 8, 4096)}, now)
		if len(launched(d)) != 1 {
			t.Fatalf("failure %d: not replaced after backoff", i+1)
		}
	}
	// Healthy long enough: the delay resets.
	tid := launched(d)[0].TaskID.Value
	c.Update(status(tid, mesos.TaskRunning, nil), now)
	now = now.Add(6 * time.Minute)
	c.Tick(now)
	c.Update(status(tid, mesos.TaskFailed, nil), now)
	if q := c.Queue(); len(q) != 1 || q[0].DelayUntil != now.Add(10*time.Second) {
		t.Fatalf("after healthy run: queue %+v, want delay reset to 10s", q)
	}
}

func TestUnreachableReplacedAfterInactiveAndExpunged(t *testing.T) {
	c := New(Config{Seed: 5})
	c.PutApp(mustApp(t, `{"id":"/web","cmd":"x","instances":1,"cpus":0.1,"mem":32,
		"unreachableStrategy":{"inactiveAfterSeconds":60,"expungeAfterSeconds":120}}`), false, t0)
	d := c.Offers([]mesos.Offer{offer("o0", "a1", 8, 4096)}, t0)
	tid := launched(d)[0].TaskID.Value
	c.Update(status(tid, mesos.TaskRunning, nil), t0)
	c.Update(status(tid, mesos.TaskUnreachable, nil), t0)
	if d := c.Offers([]mesos.Offer{offer("o1", "a2", 8, 4096)}, t0.Add(59*time.Second)); len(d.Accept) != 0 {
		t.Fatal("replaced before inactiveAfterSeconds")
	}
	c.Tick(t0.Add(60 * time.Second))
	d = c.Offers([]mesos.Offer{offer("o2", "a2", 8, 4096)}, t0.Add(60*time.Second))
	if len(launched(d)) != 1 {
		t.Fatal("not replaced after inactiveAfterSeconds")
	}
	d = c.Tick(t0.Add(120 * time.Second))
	if len(d.Kill) != 1 || d.Kill[0].Value != tid {
		t.Fatalf("expunge: kills %v, want %s", d.Kill, tid)
	}
	for _, in := range c.Instances("/web") {
		if in.TaskID == tid {
			t.Fatal("expunged instance still known")
		}
	}
}

func TestSuppressReviveAndIdleDecline(t *testing.T) {
	c := New(Config{Seed: 6})
	d := c.Tick(t0)
	if !d.Suppress {
		t.Fatal("empty core: want Suppress")
	}
	d = c.Offers([]mesos.Offer{offer("o1", "a1", 8, 4096)}, t0)
	if len(d.Decline) != 1 || d.Decline[0].RefuseSeconds != 120 || d.Suppress || d.Revive {
		t.Fatalf("idle offer: %+v, want one long decline", d)
	}
	c.PutApp(mustApp(t, `{"id":"/web","cmd":"x","instances":1}`), false, t0)
	if d = c.Tick(t0); !d.Revive {
		t.Fatal("pending app: want Revive")
	}
	d = c.Offers([]mesos.Offer{offer("o2", "a1", 8, 4096), offer("o3", "a2", 8, 4096)}, t0)
	if len(d.Accept) != 1 || len(d.Decline) != 1 || !d.Suppress {
		t.Fatalf("want one accept, one decline and Suppress: %+v", d)
	}
}

func TestRecoverAdoptsWithoutDuplicates(t *testing.T) {
	a := mustApp(t, `{"id":"/web","cmd":"x","instances":2,"version":"2026-01-01T00:00:00Z"}`)
	a.VersionInfo = &app.VersionInfo{LastConfigChangeAt: a.Version}
	ins := []state.Instance{
		{TaskID: "web.1", AppID: "/web", Version: a.Version, AgentID: "a1", State: mesos.TaskRunning},
		{TaskID: "web.2", AppID: "/web", Version: a.Version, AgentID: "a1", State: mesos.TaskStaging},
		{TaskID: "gone.1", AppID: "/gone", Version: "v", State: mesos.TaskRunning},
	}
	c := New(Config{Seed: 7})
	d := c.Recover([]*app.App{a}, ins, map[string]*deploy.Deployment{}, nil, t0)
	if len(d.Reconcile) != 2 || len(d.Kill) != 1 || d.Kill[0].Value != "gone.1" {
		t.Fatalf("recover: reconcile %v kill %v", d.Reconcile, d.Kill)
	}
	if d = c.Offers([]mesos.Offer{offer("o1", "a1", 8, 4096)}, t0.Add(time.Second)); len(d.Accept) != 0 {
		t.Fatal("launched before reconciliation answered")
	}
	c.Update(status("web.1", mesos.TaskRunning, nil), t0.Add(2*time.Second))
	c.Update(status("web.2", mesos.TaskRunning, nil), t0.Add(2*time.Second))
	if d = c.Offers([]mesos.Offer{offer("o2", "a1", 8, 4096)}, t0.Add(3*time.Second)); len(d.Accept) != 0 {
		t.Fatal("launched a duplicate of adopted instances")
	}
	// One was lost while we were away: it is replaced (no backoff: it was
	// lost, not failed... Marathon counts both; we only check it comes back).
	c.Update(status("web.2", mesos.TaskLost, nil), t0.Add(4*time.Second))
	now := t0.Add(time.Minute)
	c.Tick(now)
	if d = c.Offers([]mesos.Offer{offer("o3", "a1", 8, 4096)}, now); len(launched(d)) != 1 {
		t.Fatalf("lost instance not replaced: %+v", d)
	}
}

func TestRecoverTimeoutAllowsLaunch(t *testing.T) {
	a := mustApp(t, `{"id":"/web","cmd":"x","instances":2,"version":"2026-01-01T00:00:00Z"}`)
	c := New(Config{Seed: 8, ReconcileTimeout: 10 * time.Second})
	c.Recover([]*app.App{a}, []state.Instance{{TaskID: "web.1", AppID: "/web", Version: a.Version, State: mesos.TaskRunning}}, nil, nil, t0)
	if d := c.Offers([]mesos.Offer{offer("o1", "a1", 8, 4096)}, t0.Add(9*time.Second)); len(d.Accept) != 0 {
		t.Fatal("launched before the reconcile timeout")
	}
	d := c.Tick(t0.Add(10 * time.Second))
	if len(d.Reconcile) != 1 {
		t.Fatalf("unanswered task not asked again: %v", d.Reconcile)
	}
	// The unanswered one still counts: only the missing second launches.
	if d = c.Offers([]mesos.Offer{offer("o2", "a1", 8, 4096)}, t0.Add(10*time.Second)); len(launched(d)) != 1 {
		t.Fatalf("after timeout launched %d, want 1", len(launched(d)))
	}
}

func TestDeleteAppKillsThenForgets(t *testing.T) {
	c := New(Config{Seed: 9})
	c.PutApp(mustApp(t, `{"id":"/web","cmd":"x","instances":2}`), false, t0)
	runAll(c, c.Offers([]mesos.Offer{offer("o1", "a1", 8, 4096)}, t0), t0)
	c.DeleteApp("/web", false, t0)
	d := c.Tick(t0)
	if len(d.Kill) != 2 {
		t.Fatalf("kills %v, want 2", d.Kill)
	}
	d = killAll(c, d, t0)
	if len(c.Apps()) != 0 {
		t.Fatal("app still listed")
	}
	found := false
	for _, p := range d.Persist {
		found = found || p.Kind == DeleteApp
	}
	if !found {
		t.Fatal("no DeleteApp persisted")
	}
}

func TestReplacedUnreachableInstanceKilledWhenBack(t *testing.T) {
	c := New(Config{Seed: 14})
	c.PutApp(mustApp(t, `{"id":"/web","cmd":"x","instances":1,"cpus":0.1,"mem":32,
		"unreachableStrategy":{"inactiveAfterSeconds":60,"expungeAfterSeconds":600}}`), false, t0)
	tid := launched(c.Offers([]mesos.Offer{offer("o0", "a1", 8, 4096)}, t0))[0].TaskID.Value
	c.Update(status(tid, mesos.TaskRunning, nil), t0)
	c.Update(status(tid, mesos.TaskUnreachable, nil), t0)
	c.Tick(t0.Add(time.Minute))
	repl := launched(c.Offers([]mesos.Offer{offer("o1", "a2", 8, 4096)}, t0.Add(time.Minute)))
	if len(repl) != 1 {
		t.Fatal("not replaced")
	}
	c.Update(status(repl[0].TaskID.Value, mesos.TaskRunning, nil), t0.Add(time.Minute))
	d := c.Update(status(tid, mesos.TaskRunning, nil), t0.Add(2*time.Minute))
	if len(d.Kill) != 1 || d.Kill[0].Value != tid {
		t.Fatalf("kills %v, want the returned %s", d.Kill, tid)
	}
	c.Update(status(tid, mesos.TaskKilled, nil), t0.Add(2*time.Minute))
	if ins := c.Instances("/web"); len(ins) != 1 || ins[0].TaskID != repl[0].TaskID.Value {
		t.Fatalf("instances %+v, want only the replacement", ins)
	}
	if q := c.Queue(); len(q) != 0 {
		t.Fatalf("queue %+v: killing the returner must not queue a launch or backoff", q)
	}
}

func TestPeriodicImplicitReconciliation(t *testing.T) {
	c := New(Config{Seed: 15, ReconcileInterval: time.Minute})
	if c.Tick(t0).ReconcileAll {
		t.Fatal("reconciled on the first tick")
	}
	if c.Tick(t0.Add(59 * time.Second)).ReconcileAll {
		t.Fatal("reconciled before the interval")
	}
	if !c.Tick(t0.Add(time.Minute)).ReconcileAll {
		t.Fatal("no implicit reconciliation after the interval")
	}
}

func TestUnknownTaskIsKilled(t *testing.T) {
	c := New(Config{Seed: 16})
	d := c.Update(status("stray.1", mesos.TaskRunning, nil), t0)
	if len(d.Kill) != 1 || d.Kill[0].Value != "stray.1" {
		t.Fatalf("kills %v, want the stray task", d.Kill)
	}
}

// A resent TASK_STARTING overtaken by the TASK_RUNNING after it is stale:
// the instance stays running.
func TestStaleStatusIgnored(t *testing.T) {
	c := New(Config{Seed: 7})
	a := mustApp(t, `{"id":"/web","cmd":"x","instances":1,"cpus":0.1,"mem":32}`)
	if _, err := c.PutApp(a, false, t0); err != nil {
		t.Fatal(err)
	}
	d := c.Offers([]mesos.Offer{offer("o1", "a1", 1, 1024)}, t0)
	tid := launched(d)[0].TaskID.Value
	starting, running := status(tid, mesos.TaskStarting, nil), status(tid, mesos.TaskRunning, nil)
	starting.Timestamp, running.Timestamp = 100, 101
	c.Update(starting, t0)
	c.Update(running, t0)
	c.Update(starting, t0) // the resend arrives last
	if in := c.Instances("/web"); len(in) != 1 || in[0].State != mesos.TaskRunning {
		t.Fatalf("instances %+v, want one TASK_RUNNING", in)
	}
}
