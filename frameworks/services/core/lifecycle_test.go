package core

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"agora/core/mesos"
	"agora/frameworks/services/app"
	"agora/frameworks/services/deploy"
	"agora/frameworks/services/state"
)

// started puts js, places every instance on one big offer and runs them,
// so the app's first deployment has succeeded.
func started(t *testing.T, c *Core, js string, now time.Time) *app.App {
	t.Helper()
	a := mustApp(t, js)
	if _, err := c.PutApp(a, false, now); err != nil {
		t.Fatal(err)
	}
	d := c.Offers([]mesos.Offer{offer("start-"+a.ID(), "a1", 16, 16384)}, now)
	d = runAll(c, d, now)
	if len(c.Deployments()) != 0 {
		t.Fatalf("first deployment of %s did not finish: %+v", a.ID(), c.Deployments())
	}
	return a
}

func taskIDs(c *Core, appID string) map[string]bool {
	out := map[string]bool{}
	for _, in := range c.Instances(appID) {
		out[in.TaskID] = true
	}
	return out
}

func eventsOf(d Decisions, typ string) []Event {
	var out []Event
	for _, e := range d.Events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func killedIDs(d Decisions) []string {
	var out []string
	for _, k := range d.Kill {
		out = append(out, k.Value)
	}
	slices.Sort(out)
	return out
}

func TestLockedWithoutForceAndForceReplacesDeployment(t *testing.T) {
	c := New(Config{Seed: 20})
	a := mustApp(t, `{"id":"/web","cmd":"v1","instances":2,"cpus":0.1,"mem":32}`)
	dep1, err := c.PutApp(a, false, t0)
	if err != nil || dep1 == "" {
		t.Fatalf("put: %q %v", dep1, err)
	}
	a2 := *a
	a2.Cmd = "v2"
	_, err = c.PutApp(&a2, false, t0)
	var le *LockedError
	if !errors.As(err, &le) || le.AppID != "/web" || !slices.Equal(le.DeploymentIDs, []string{dep1}) ||
		!strings.Contains(err.Error(), "locked") {
		t.Fatalf("put while deploying: %v, want LockedError naming %s", err, dep1)
	}
	if _, err := c.Restart("/web", false, t0); !errors.As(err, &le) {
		t.Fatalf("restart while deploying: %v, want LockedError", err)
	}
	if _, err := c.DeleteApp("/web", false, t0); !errors.As(err, &le) {
		t.Fatalf("delete while deploying: %v, want LockedError", err)
	}
	if c.Apps()[0].Cmd != "v1" {
		t.Fatal("a refused change was applied")
	}

	dep2, err := c.PutApp(&a2, true, t0.Add(time.Second))
	if err != nil || dep2 == "" || dep2 == dep1 {
		t.Fatalf("forced put: %q %v", dep2, err)
	}
	d := c.Tick(t0.Add(time.Second))
	failed := eventsOf(d, EventDeploymentFailed)
	if len(failed) != 1 || failed[0].DeploymentID != dep1 {
		t.Fatalf("failed events %+v, want %s", failed, dep1)
	}
	if ds := c.Deployments(); len(ds) != 1 || ds[0].ID != dep2 {
		t.Fatalf("deployments %+v, want only %s", ds, dep2)
	}
	if c.Apps()[0].Cmd != "v2" {
		t.Fatal("forced change not applied")
	}

	for _, call := range []func() error{
		func() error { _, err := c.DeleteApp("/nope", false, t0); return err },
		func() error { _, err := c.Restart("/nope", false, t0); return err },
		func() error { _, err := c.CancelDeployment("nope", false, t0); return err },
		func() error { _, err := c.KillTasks("/nope", nil, false, t0); return err },
		func() error { return c.ResetDelay("/nope", t0) },
	} {
		if err := call(); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown: %v, want ErrNotFound", err)
		}
	}
}

func TestCancelRollsBackToPreviousDefinition(t *testing.T) {
	c := New(Config{Seed: 21})
	a := started(t, c, `{"id":"/web","cmd":"v1","instances":3,"cpus":0.1,"mem":32,"labels":{"tier":"front"}}`, t0)
	old := taskIDs(c, "/web")
	v1 := c.Apps()[0]

	a2 := *a
	a2.Cmd, a2.Labels = "v2", nil
	now := t0.Add(time.Minute)
	dep, err := c.PutApp(&a2, false, now)
	if err != nil {
		t.Fatal(err)
	}
	d := c.Offers([]mesos.Offer{offer("o2", "a1", 16, 16384)}, now)
	if n := len(launched(d)); n != 3 {
		t.Fatalf("upgrade launched %d, want 3", n)
	}
	// One new instance starts; none is healthy yet, so nothing old went.
	c.Update(status(launched(d)[0].TaskID.Value, mesos.TaskStarting, nil), now)

	rid, err := c.CancelDeployment(dep, false, now)
	if err != nil || rid == "" {
		t.Fatalf("cancel: %q %v", rid, err)
	}
	d = c.Tick(now)
	if f := eventsOf(d, EventDeploymentFailed); len(f) != 1 || f[0].DeploymentID != dep {
		t.Fatalf("failed events %+v", f)
	}
	if i := eventsOf(d, EventDeploymentInfo); len(i) != 1 || i[0].DeploymentID != rid {
		t.Fatalf("info events %+v, want the rollback %s", i, rid)
	}
	cur := c.Apps()[0]
	if cur.Cmd != "v1" || cur.Labels["tier"] != "front" || cur.Instances != 3 || configVersion(cur) != configVersion(v1) {
		t.Fatalf("current app %+v, want v1 restored", cur)
	}
	persisted := false
	for _, p := range d.Persist {
		persisted = persisted || (p.Kind == PutApp && p.App.Cmd == "v1")
	}
	if !persisted {
		t.Fatal("restored definition not persisted")
	}
	for _, k := range killedIDs(d) {
		if old[k] {
			t.Fatalf("rollback killed old instance %s", k)
		}
	}
	if len(d.Kill) != 3 {
		t.Fatalf("kills %v, want the 3 new instances", d.Kill)
	}
	d = killAll(c, d, now)
	if !hasEvent(d, EventDeploymentSuccess) || len(c.Deployments()) != 0 {
		t.Fatalf("rollback did not finish: %+v", c.Deployments())
	}
	if got := taskIDs(c, "/web"); fmt.Sprint(got) != fmt.Sprint(old) {
		t.Fatalf("instances %v, want the old %v", got, old)
	}
}

func TestCancelScaleRestoresInstanceCount(t *testing.T) {
	c := New(Config{Seed: 22})
	a := started(t, c, `{"id":"/web","cmd":"v1","instances":2,"cpus":0.1,"mem":32}`, t0)
	old := taskIDs(c, "/web")
	a2 := *a
	a2.Instances, a2.Version = 5, ""
	now := t0.Add(time.Minute)
	dep, _ := c.PutApp(&a2, false, now)
	c.Offers([]mesos.Offer{offer("o2", "a1", 16, 16384)}, now) // 3 staging
	if _, err := c.CancelDeployment(dep, false, now); err != nil {
		t.Fatal(err)
	}
	d := killAll(c, c.Tick(now), now)
	if c.Apps()[0].Instances != 2 || len(c.Deployments()) != 0 || !hasEvent(d, EventDeploymentSuccess) {
		t.Fatalf("instances %d, deployments %+v", c.Apps()[0].Instances, c.Deployments())
	}
	if got := taskIDs(c, "/web"); fmt.Sprint(got) != fmt.Sprint(old) {
		t.Fatalf("instances %v, want the original %v", got, old)
	}
}

func TestCancelWithForceLeavesBothVersions(t *testing.T) {
	c := New(Config{Seed: 23})
	a := started(t, c, `{"id":"/web","cmd":"v1","instances":2,"cpus":0.1,"mem":32,
		"upgradeStrategy":{"minimumHealthCapacity":1,"maximumOverCapacity":0.5}}`, t0)
	a2 := *a
	a2.Cmd = "v2"
	now := t0.Add(time.Minute)
	dep, _ := c.PutApp(&a2, false, now)
	// One new instance at a time: it runs, one old one is killed.
	d := runAll(c, c.Offers([]mesos.Offer{offer("o2", "a1", 16, 16384)}, now), now)
	killAll(c, d, now)
	rid, err := c.CancelDeployment(dep, true, now)
	if err != nil || rid != "" {
		t.Fatalf("force cancel: %q %v", rid, err)
	}
	d = c.Tick(now)
	if len(c.Deployments()) != 0 || !hasEvent(d, EventDeploymentFailed) || hasEvent(d, EventDeploymentInfo) {
		t.Fatalf("deployments %+v events %+v", c.Deployments(), d.Events)
	}
	d = merge(d, c.Offers([]mesos.Offer{offer("o3", "a1", 16, 16384)}, now.Add(time.Minute)))
	if c.Apps()[0].Cmd != "v2" || len(d.Kill) != 0 || len(d.Accept) != 0 {
		t.Fatalf("force cancel changed the app, killed %v or launched %d", d.Kill, len(d.Accept))
	}
	versions := map[string]int{}
	for _, in := range c.Instances("/web") {
		versions[in.Version]++
	}
	if len(versions) != 2 {
		t.Fatalf("versions %v, want one instance of each", versions)
	}
	if _, err := c.CancelDeployment(dep, true, now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel again: %v, want ErrNotFound", err)
	}
}

func TestCancelNewAppDeletesIt(t *testing.T) {
	c := New(Config{Seed: 24})
	dep, _ := c.PutApp(mustApp(t, `{"id":"/web","cmd":"x","instances":2,"cpus":0.1,"mem":32}`), false, t0)
	d := c.Offers([]mesos.Offer{offer("o1", "a1", 8, 4096)}, t0)
	if len(launched(d)) != 2 {
		t.Fatal("not launched")
	}
	if _, err := c.CancelDeployment(dep, false, t0); err != nil {
		t.Fatal(err)
	}
	d = c.Tick(t0)
	if len(d.Kill) != 2 || len(c.Apps()) != 0 {
		t.Fatalf("kills %v, apps %d: want both killed and the app gone", d.Kill, len(c.Apps()))
	}
	d = killAll(c, d, t0)
	deleted := false
	for _, p := range d.Persist {
		deleted = deleted || p.Kind == DeleteApp
	}
	if !deleted || len(c.Deployments()) != 0 {
		t.Fatal("app not deleted after its instances ended")
	}
}

func TestDeadlineFailureRollsBackAutomatically(t *testing.T) {
	c := New(Config{Seed: 25, ProgressDeadline: time.Minute})
	a := started(t, c, `{"id":"/web","cmd":"v1","instances":2,"cpus":0.1,"mem":32}`, t0)
	old := taskIDs(c, "/web")
	a2 := *a
	a2.Cmd = "v2"
	now := t0.Add(time.Hour)
	dep, _ := c.PutApp(&a2, false, now)
	d := c.Offers([]mesos.Offer{offer("o2", "a1", 16, 16384)}, now)
	if len(launched(d)) != 2 {
		t.Fatal("upgrade not launched")
	}
	// The new instances never start.
	if d = c.Tick(now.Add(59 * time.Second)); hasEvent(d, EventDeploymentFailed) {
		t.Fatal("failed before the deadline")
	}
	d = c.Tick(now.Add(time.Minute))
	f := eventsOf(d, EventDeploymentFailed)
	if len(f) != 1 || f[0].DeploymentID != dep || !strings.Contains(f[0].Message, "no progress") {
		t.Fatalf("failed events %+v, want %s with the reason", f, dep)
	}
	info := eventsOf(d, EventDeploymentInfo)
	if len(info) != 1 || info[0].DeploymentID == dep {
		t.Fatalf("info events %+v, want the rollback", info)
	}
	if c.Apps()[0].Cmd != "v1" {
		t.Fatalf("app %q, want v1 restored", c.Apps()[0].Cmd)
	}
	for _, k := range killedIDs(d) {
		if old[k] {
			t.Fatalf("rollback killed old %s", k)
		}
	}
	d = killAll(c, d, now.Add(time.Minute))
	if !hasEvent(d, EventDeploymentSuccess) || fmt.Sprint(taskIDs(c, "/web")) != fmt.Sprint(old) {
		t.Fatalf("after rollback: %v, want %v", taskIDs(c, "/web"), old)
	}
}

func TestKillTasksWithAndWithoutScale(t *testing.T) {
	c := New(Config{Seed: 26})
	started(t, c, `{"id":"/web","cmd":"x","instances":3,"cpus":0.1,"mem":32}`, t0)
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range taskIDs(c, "/web") {
			if !yield(id) {
				return
			}
		}
	})
	if _, err := c.KillTasks("/web", []string{"web.nope"}, false, t0); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "web.nope") {
		t.Fatalf("unknown task: %v", err)
	}

	now := t0.Add(time.Minute)
	dep, err := c.KillTasks("/web", ids[:1], false, now)
	if err != nil || dep != "" {
		t.Fatalf("kill: %q %v", dep, err)
	}
	d := c.Tick(now)
	if fmt.Sprint(killedIDs(d)) != fmt.Sprint(ids[:1]) {
		t.Fatalf("kills %v, want %v", d.Kill, ids[:1])
	}
	killAll(c, d, now)
	if q := c.Queue(); len(q) != 1 || q[0].Count != 1 || !q[0].DelayUntil.IsZero() {
		t.Fatalf("queue %+v: a killed instance is replaced without backoff", q)
	}
	d = runAll(c, c.Offers([]mesos.Offer{offer("o2", "a1", 8, 4096)}, now), now)
	if countRunning(c, "/web") != 3 || c.Apps()[0].Instances != 3 {
		t.Fatal("not replaced")
	}

	now = now.Add(time.Minute)
	ids = nil
	for id := range taskIDs(c, "/web") {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	dep, err = c.KillTasks("/web", ids[:2], true, now)
	if err != nil || dep == "" {
		t.Fatalf("kill and scale: %q %v", dep, err)
	}
	cur := c.Apps()[0]
	if cur.Instances != 1 || cur.VersionInfo.LastScalingAt != cur.Version || cur.VersionInfo.LastConfigChangeAt == cur.Version {
		t.Fatalf("app %d instances, versionInfo %+v, want a scale-only version with 1", cur.Instances, cur.VersionInfo)
	}
	d = c.Tick(now)
	if fmt.Sprint(killedIDs(d)) != fmt.Sprint(ids[:2]) {
		t.Fatalf("kills %v, want %v", d.Kill, ids[:2])
	}
	persisted := false
	for _, p := range d.Persist {
		persisted = persisted || (p.Kind == PutApp && p.App.Instances == 1)
	}
	d = killAll(c, d, now)
	if !persisted || !hasEvent(d, EventDeploymentSuccess) || len(c.Instances("/web")) != 1 || len(c.Queue()) != 0 {
		t.Fatalf("persisted %v, instances %d, queue %+v", persisted, len(c.Instances("/web")), c.Queue())
	}
}

func TestResetDelayLaunchesAtNextOffers(t *testing.T) {
	c := New(Config{Seed: 27})
	c.PutApp(mustApp(t, `{"id":"/web","cmd":"x","instances":1,"cpus":0.1,"mem":32,"backoffSeconds":300}`), false, t0)
	tid := launched(c.Offers([]mesos.Offer{offer("o1", "a1", 8, 4096)}, t0))[0].TaskID.Value
	c.Update(status(tid, mesos.TaskFailed, nil), t0)
	now := t0.Add(time.Second)
	if d := c.Offers([]mesos.Offer{offer("o2", "a1", 8, 4096)}, now); len(d.Accept) != 0 {
		t.Fatal("launched during backoff")
	}
	if err := c.ResetDelay("/web", now); err != nil {
		t.Fatal(err)
	}
	if d := c.Tick(now); !d.Revive {
		t.Fatal("no revive after the delay was reset")
	}
	if q := c.Queue(); len(q) != 1 || !q[0].DelayUntil.IsZero() {
		t.Fatalf("queue %+v, want no delay", q)
	}
	if d := c.Offers([]mesos.Offer{offer("o3", "a1", 8, 4096)}, now); len(launched(d)) != 1 {
		t.Fatal("not launched at the next offers")
	}
}

func TestReadinessGatesRollingUpgrade(t *testing.T) {
	c := New(Config{Seed: 28})
	js := `{"id":"/web","cmd":"v1","instances":2,"cpus":0.1,"mem":32,
		"portDefinitions":[{"port":0,"name":"http"}],
		"readinessChecks":[{"name":"ready","protocol":"HTTP","path":"/ready","portName":"http"}]}`
	a := mustApp(t, js)
	c.PutApp(a, false, t0)
	d := runAll(c, c.Offers([]mesos.Offer{offer("o1", "a1", 8, 4096)}, t0), t0)
	if len(c.Deployments()) != 1 || hasEvent(d, EventDeploymentSuccess) {
		t.Fatal("first deployment finished before readiness")
	}
	for _, in := range c.Instances("/web") {
		if !in.NeedsReadiness || in.Ready {
			t.Fatalf("%s: NeedsReadiness %v Ready %v, want a probe wanted", in.TaskID, in.NeedsReadiness, in.Ready)
		}
		d = merge(d, c.SetReady(in.TaskID, true, t0))
	}
	if !hasEvent(d, EventDeploymentSuccess) {
		t.Fatal("first deployment did not finish once ready")
	}
	old := taskIDs(c, "/web")

	a2 := *a
	a2.Cmd = "v2"
	now := t0.Add(time.Minute)
	c.PutApp(&a2, false, now)
	d = c.Offers([]mesos.Offer{offer("o2", "a1", 8, 4096)}, now)
	fresh := launched(d)
	if len(fresh) != 2 {
		t.Fatalf("launched %d, want 2", len(fresh))
	}
	d = runAll(c, d, now)
	d = merge(d, c.Tick(now.Add(time.Minute)))
	if len(d.Kill) != 0 {
		t.Fatalf("killed %v before any new instance was ready", d.Kill)
	}
	// Reported not ready: still nothing; ready: one old instance goes.
	d = c.SetReady(fresh[0].TaskID.Value, false, now)
	if len(d.Kill) != 0 {
		t.Fatal("killed on a failed readiness check")
	}
	d = c.SetReady(fresh[0].TaskID.Value, true, now)
	if k := killedIDs(d); len(k) != 1 || !old[k[0]] {
		t.Fatalf("kills %v, want one old instance", k)
	}
	// Once ready, always ready.
	if d = c.SetReady(fresh[0].TaskID.Value, false, now); len(d.Kill) != 0 {
		t.Fatalf("readiness taken back: kills %v", d.Kill)
	}
	d = c.SetReady(fresh[1].TaskID.Value, true, now)
	if k := killedIDs(d); len(k) != 1 || !old[k[0]] {
		t.Fatalf("kills %v, want the other old instance", k)
	}
	for _, in := range c.Instances("/web") {
		if !old[in.TaskID] && (!in.Ready || in.NeedsReadiness) {
			t.Fatalf("new %s: Ready %v NeedsReadiness %v", in.TaskID, in.Ready, in.NeedsReadiness)
		}
	}
}

func TestServicePortsAssignedUniqueAndKept(t *testing.T) {
	c := New(Config{Seed: 29})
	a := mustApp(t, `{"id":"/a","cmd":"x","instances":0,"portDefinitions":[{"port":0},{"port":0}]}`)
	if _, err := c.PutApp(a, false, t0); err != nil {
		t.Fatal(err)
	}
	if a.PortDefinitions[0].Port != 0 {
		t.Fatal("PutApp changed the caller's app")
	}
	got := c.Apps()[0].PortDefinitions
	if got[0].Port != 10000 || got[1].Port != 10001 {
		t.Fatalf("service ports %+v, want 10000 and 10001", got)
	}
	b := mustApp(t, `{"id":"/b","instances":0,"container":{"type":"DOCKER","docker":{"image":"busybox"},
		"portMappings":[{"containerPort":80,"hostPort":0},{"containerPort":81,"hostPort":0,"servicePort":10005}]},
		"networks":[{"mode":"container/bridge"}]}`)
	if _, err := c.PutApp(b, false, t0); err != nil {
		t.Fatal(err)
	}
	pm := c.Apps()[1].Container.PortMappings
	if pm[0].ServicePort != 10002 || pm[1].ServicePort != 10005 {
		t.Fatalf("bridge service ports %+v, want 10002 and the given 10005", pm)
	}
	// The same definition again (ports 0) keeps its ports: nothing changes.
	if dep, err := c.PutApp(a, false, t0.Add(time.Second)); err != nil || dep != "" {
		t.Fatalf("re-put: %q %v, want no change", dep, err)
	}
	clash := mustApp(t, `{"id":"/c","cmd":"x","instances":0,"portDefinitions":[{"port":10001}]}`)
	_, err := c.PutApp(clash, false, t0)
	var fe app.FieldErrors
	if !errors.As(err, &fe) || !fe.Has("portDefinitions[0].port") || !strings.Contains(err.Error(), "/a") {
		t.Fatalf("clash: %v, want a field error naming portDefinitions[0].port and /a", err)
	}
	if _, err := c.Preview(clash); !errors.As(err, &fe) {
		t.Fatalf("preview clash: %v", err)
	}

	// Assignment comes from the stored apps after a failover.
	r := New(Config{Seed: 30})
	r.Recover(c.Apps(), nil, nil, nil, t0)
	if _, err := r.PutApp(mustApp(t, `{"id":"/d","cmd":"x","instances":0}`), false, t0); err != nil {
		t.Fatal(err)
	}
	for _, x := range r.Apps() {
		if x.ID() == "/d" && x.PortDefinitions[0].Port != 10003 {
			t.Fatalf("/d got %d after recover, want 10003", x.PortDefinitions[0].Port)
		}
	}

	small := New(Config{Seed: 31, ServicePorts: [2]int{20000, 20000}})
	_, err = small.PutApp(a, false, t0)
	if !errors.As(err, &fe) || !fe.Has("portDefinitions[1].port") {
		t.Fatalf("exhausted range: %v, want portDefinitions[1].port", err)
	}
}

func TestPreviewChangesNothing(t *testing.T) {
	run := func(preview bool) (string, []string, [][]deploy.PlanStep) {
		c := New(Config{Seed: 32})
		a := started(t, c, `{"id":"/web","cmd":"v1","instances":2,"cpus":0.1,"mem":32}`, t0)
		a2 := *a
		a2.Cmd = "v2"
		a3 := *a
		a3.Instances = 4
		var plans [][]deploy.PlanStep
		if preview {
			for _, x := range []*app.App{&a2, &a3, mustApp(t, `{"id":"/new","cmd":"x","instances":1}`)} {
				plan, err := c.Preview(x)
				if err != nil {
					t.Fatal(err)
				}
				if plan.Restart != (x == &a2) {
					t.Fatalf("preview of %s: restart %v", x.Cmd, plan.Restart)
				}
				plans = append(plans, plan.Steps)
			}
		}
		dep, _ := c.PutApp(&a2, false, t0.Add(time.Minute))
		if preview {
			if _, err := c.Preview(&a3); !errors.As(err, new(*LockedError)) {
				t.Fatalf("preview while locked: %v", err)
			}
		}
		var tasks []string
		for _, ti := range launched(c.Offers([]mesos.Offer{offer("o2", "a1", 8, 4096)}, t0.Add(time.Minute))) {
			tasks = append(tasks, ti.TaskID.Value)
		}
		return dep, tasks, plans
	}
	dep1, tasks1, _ := run(false)
	dep2, tasks2, plans := run(true)
	if dep1 != dep2 || fmt.Sprint(tasks1) != fmt.Sprint(tasks2) {
		t.Fatalf("Preview changed the core: %s %v vs %s %v", dep1, tasks1, dep2, tasks2)
	}
	if len(plans[0]) != 1 || plans[0][0].Action != deploy.RestartApplication || plans[0][0].Launch != 2 {
		t.Fatalf("restart plan %+v", plans[0])
	}
	if len(plans[1]) != 1 || plans[1][0].Action != deploy.ScaleApplication || plans[1][0].Launch != 2 {
		t.Fatalf("scale plan %+v", plans[1])
	}
	if len(plans[2]) != 2 || plans[2][0].Action != deploy.StartApplication {
		t.Fatalf("new app plan %+v", plans[2])
	}
}

func TestInstancesCarryPortsAndStartedAt(t *testing.T) {
	c := New(Config{Seed: 33})
	c.PutApp(mustApp(t, `{"id":"/web","cmd":"x","instances":1,"cpus":0.1,"mem":32,"portDefinitions":[{"port":0},{"port":0}]}`), false, t0)
	d := c.Offers([]mesos.Offer{offer("o1", "a1", 8, 4096)}, t0)
	var put []uint64
	for _, p := range d.Persist {
		if p.Kind == PutInstance {
			put = p.Instance.Ports
		}
	}
	ins := c.Instances("/web")
	if len(ins) != 1 || len(ins[0].Ports) != 2 || fmt.Sprint(ins[0].Ports) != fmt.Sprint(put) {
		t.Fatalf("instance ports %v, persisted %v, want 2 host ports", ins, put)
	}
	for _, p := range ins[0].Ports {
		if p < 31000 || p > 31100 {
			t.Fatalf("port %d not from the offer", p)
		}
	}
	env := map[string]string{}
	for _, v := range launched(d)[0].Command.Environment.Variables {
		env[v.Name] = v.Value
	}
	if env["PORT0"] != fmt.Sprint(ins[0].Ports[0]) {
		t.Fatalf("PORT0 %s, instance ports %v", env["PORT0"], ins[0].Ports)
	}
	if !ins[0].StartedAt.IsZero() {
		t.Fatal("StartedAt before running")
	}
	c.Update(status(ins[0].TaskID, mesos.TaskRunning, nil), t0.Add(3*time.Second))
	c.Update(status(ins[0].TaskID, mesos.TaskRunning, nil), t0.Add(9*time.Second))
	if got := c.Instances("/web")[0].StartedAt; !got.Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("StartedAt %v, want the first RUNNING", got)
	}
}

func TestDeleteAppDeploymentAndRecover(t *testing.T) {
	c := New(Config{Seed: 34})
	started(t, c, `{"id":"/web","cmd":"x","instances":2,"cpus":0.1,"mem":32}`, t0)
	dep, err := c.DeleteApp("/web", false, t0)
	if err != nil || dep == "" {
		t.Fatalf("delete: %q %v", dep, err)
	}
	d := c.Tick(t0)
	if i := eventsOf(d, EventDeploymentInfo); len(i) != 1 || i[0].DeploymentID != dep || len(d.Kill) != 2 {
		t.Fatalf("events %+v kills %v", d.Events, d.Kill)
	}
	var stored *deploy.Deployment
	for _, p := range d.Persist {
		if p.Kind == PutDeployment {
			stored = p.Deployment
		}
	}
	if stored == nil {
		t.Fatal("delete deployment not persisted")
	}
	// A failover before the kills are answered: the deletion carries on.
	r := New(Config{Seed: 35})
	var recs []Instance
	recs = append(recs, c.Instances("/web")...)
	a := mustApp(t, `{"id":"/web","cmd":"x","instances":2,"cpus":0.1,"mem":32}`)
	rd := r.Recover([]*app.App{a}, []state.Instance{recs[0].Instance, recs[1].Instance}, map[string]*deploy.Deployment{"/web": stored}, nil, t0)
	if len(rd.Kill) != 2 || len(r.Apps()) != 0 {
		t.Fatalf("recovered deletion: kills %v apps %d", rd.Kill, len(r.Apps()))
	}
	d = killAll(c, d, t0)
	if s := eventsOf(d, EventDeploymentSuccess); len(s) != 1 || s[0].DeploymentID != dep || len(c.Deployments()) != 0 {
		t.Fatalf("success %+v", s)
	}
}

func TestCancelDeleteRestoresApp(t *testing.T) {
	c := New(Config{Seed: 36})
	started(t, c, `{"id":"/web","cmd":"x","instances":2,"cpus":0.1,"mem":32}`, t0)
	dep, _ := c.DeleteApp("/web", false, t0)
	d := c.Tick(t0)
	if len(d.Kill) != 2 || len(c.Apps()) != 0 {
		t.Fatal("delete did not start")
	}
	rid, err := c.CancelDeployment(dep, false, t0)
	if err != nil || rid == "" {
		t.Fatalf("cancel delete: %q %v", rid, err)
	}
	killAll(c, d, t0)
	if apps := c.Apps(); len(apps) != 1 || apps[0].Instances != 2 {
		t.Fatalf("apps %+v, want /web back", apps)
	}
	d = runAll(c, c.Offers([]mesos.Offer{offer("o2", "a1", 8, 4096)}, t0.Add(time.Second)), t0.Add(time.Second))
	if countRunning(c, "/web") != 2 || !hasEvent(d, EventDeploymentSuccess) {
		t.Fatalf("running %d after the rollback", countRunning(c, "/web"))
	}
}

// After a failover, a config change can still be cancelled: the driver
// hands Recover the definition the deployment started from.
func TestCancelConfigChangeAfterFailover(t *testing.T) {
	c := New(Config{Seed: 40})
	v1 := started(t, c, `{"id":"/web","cmd":"old","instances":2,"cpus":0.1,"mem":32}`, t0)
	v2 := mustApp(t, `{"id":"/web","cmd":"new","instances":2,"cpus":0.1,"mem":32}`)
	dep, err := c.PutApp(v2, false, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Tick(t0.Add(time.Second))
	var stored *deploy.Deployment
	var current *app.App
	for _, p := range d.Persist {
		switch p.Kind {
		case PutDeployment:
			stored = p.Deployment
		case PutApp:
			current = p.App
		}
	}
	if stored == nil || current == nil {
		t.Fatal("deployment or app not persisted")
	}
	var recs []state.Instance
	for _, in := range c.Instances("/web") {
		recs = append(recs, in.Instance)
	}
	// v1 as stored under its version: the driver reads it back by
	// stored.Previous.Version.
	old := c.apps["/web"].prevApp
	if old == nil || old.Cmd != v1.Cmd {
		t.Fatalf("previous definition %+v", old)
	}
	r := New(Config{Seed: 41})
	r.Recover([]*app.App{current}, recs, map[string]*deploy.Deployment{"/web": stored}, map[string]*app.App{"/web": old}, t0.Add(2*time.Second))
	rid, err := r.CancelDeployment(dep, false, t0.Add(3*time.Second))
	if err != nil || rid == "" {
		t.Fatalf("cancel after failover: %q %v", rid, err)
	}
	if apps := r.Apps(); len(apps) != 1 || apps[0].Cmd != "old" || apps[0].Instances != 2 {
		t.Fatalf("after the rollback the app is %+v, want cmd old with 2 instances", apps[0])
	}
}

// Deleting an app with an unreachable instance does not wait for the
// agent: the instance is expunged with its kill.
func TestDeleteExpungesUnreachableInstances(t *testing.T) {
	c := New(Config{Seed: 42})
	started(t, c, `{"id":"/web","cmd":"x","instances":2,"cpus":0.1,"mem":32,
		"unreachableStrategy":{"inactiveAfterSeconds":60,"expungeAfterSeconds":600}}`, t0)
	ins := c.Instances("/web")
	c.Update(status(ins[0].TaskID, mesos.TaskUnreachable, nil), t0)
	if _, err := c.DeleteApp("/web", false, t0); err != nil {
		t.Fatal(err)
	}
	d := c.Tick(t0)
	if len(d.Kill) != 2 {
		t.Fatalf("kills %v, want both instances", d.Kill)
	}
	// Only the reachable instance answers.
	d = c.Update(status(ins[1].TaskID, mesos.TaskKilled, nil), t0)
	if len(c.Apps()) != 0 || len(c.Instances("/web")) != 0 || len(eventsOf(d, EventDeploymentSuccess)) != 1 {
		t.Fatalf("apps %d instances %+v events %+v: want the app gone", len(c.Apps()), c.Instances("/web"), d.Events)
	}
}

// A planned kill drains first: the instance is marked Draining and the
// kill goes out only after the drain delay.
func TestPlannedKillDrainsFirst(t *testing.T) {
	c := New(Config{Seed: 43, DrainDelay: 2 * time.Second})
	a := started(t, c, `{"id":"/web","cmd":"x","instances":2,"cpus":0.1,"mem":32}`, t0)
	b := *a
	b.Instances = 1
	if _, err := c.PutApp(&b, false, t0); err != nil {
		t.Fatal(err)
	}
	if d := c.Tick(t0); len(d.Kill) != 0 {
		t.Fatalf("killed %v at once; want a drain first", d.Kill)
	}
	draining := 0
	for _, in := range c.Instances("/web") {
		if in.Draining && in.Killing {
			draining++
		}
	}
	if draining != 1 {
		t.Fatalf("instances %+v, want one draining", c.Instances("/web"))
	}
	if d := c.Tick(t0.Add(time.Second)); len(d.Kill) != 0 {
		t.Fatalf("killed %v before the drain delay", d.Kill)
	}
	d := c.Tick(t0.Add(2 * time.Second))
	if len(d.Kill) != 1 {
		t.Fatalf("kills after the drain delay: %v, want 1", d.Kill)
	}
	killAll(c, d, t0.Add(3*time.Second))
	if n := len(c.Instances("/web")); n != 1 || len(c.Deployments()) != 0 {
		t.Fatalf("%d instances, deployments %+v; want 1 and none", n, c.Deployments())
	}
}
