package deploy

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"sort"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// simInst is an instance with its scripted future: when it starts running,
// when it turns healthy and ready (zero: never), when a kill ends it.
type simInst struct {
	Instance
	runAt, goodAt, goneAt time.Time
}

// cluster simulates an app's instances under a fake clock. It plays the
// framework's part: it performs Actions and feeds snapshots back to Step.
type cluster struct {
	now  time.Time
	app  AppSpec
	inst []*simInst
	next int
	// goodAfter says how long a launched instance takes to become healthy
	// and ready; a negative duration means never.
	goodAfter func() time.Duration
	killAfter time.Duration
}

func newCluster(app AppSpec) *cluster {
	return &cluster{now: t0, app: app, goodAfter: func() time.Duration { return 5 * time.Second }, killAfter: 3 * time.Second}
}

// seed adds count running instances of version; healthy ones are good.
func (c *cluster) seed(version string, count int, healthy bool) {
	for range count {
		c.next++
		c.inst = append(c.inst, &simInst{Instance: Instance{
			ID: fmt.Sprintf("i%03d", c.next), Version: version, State: Running,
			Healthy: healthy, Ready: healthy, StartedAt: c.now.Add(-time.Hour + time.Duration(c.next)*time.Second),
		}})
	}
}

func (c *cluster) snapshot() Snapshot {
	s := Snapshot{App: c.app, Instances: make([]Instance, len(c.inst))}
	for i, in := range c.inst {
		s.Instances[i] = in.Instance
	}
	return s
}

func (c *cluster) apply(a Actions) {
	for range a.Launch {
		c.next++
		in := &simInst{Instance: Instance{ID: fmt.Sprintf("i%03d", c.next), Version: c.app.Version, State: Staged, StartedAt: c.now}}
		in.runAt = c.now.Add(time.Second)
		if d := c.goodAfter(); d >= 0 {
			in.goodAt = in.runAt.Add(d)
		}
		c.inst = append(c.inst, in)
	}
	for _, id := range a.Kill {
		for _, in := range c.inst {
			if in.ID == id && in.State != Killing {
				in.State, in.Healthy, in.Ready = Killing, false, false
				in.goneAt = c.now.Add(c.killAfter)
			}
		}
	}
}

// advance moves the clock to the next scripted change, or by idle when
// nothing is scheduled, and applies what is due.
func (c *cluster) advance(idle time.Duration) {
	next := c.now.Add(idle)
	for _, in := range c.inst {
		for _, at := range []time.Time{in.runAt, in.goodAt, in.goneAt} {
			if at.After(c.now) && at.Before(next) {
				next = at
			}
		}
	}
	c.now = next
	kept := c.inst[:0]
	for _, in := range c.inst {
		if in.State == Killing {
			if !in.goneAt.After(c.now) {
				continue
			}
		} else {
			if !in.runAt.IsZero() && !in.runAt.After(c.now) && in.State != Running {
				in.State = Running
			}
			if !in.goodAt.IsZero() && !in.goodAt.After(c.now) {
				in.Healthy, in.Ready = true, true
			}
		}
		kept = append(kept, in)
	}
	c.inst = kept
}

func healthyCount(s Snapshot) int {
	n := 0
	for _, in := range s.Instances {
		if in.good() {
			n++
		}
	}
	return n
}

// run steps d to its end, checking at every step that the deployment never
// drops healthy instances below the floor nor grows the app above the
// ceiling. Floor and ceiling start from the strategy and give way only to
// what already was (an app that starts unhealthy or oversized).
func (c *cluster) run(t *testing.T, d *Deployment, maxSteps int) (Actions, []Actions) {
	t.Helper()
	minHealthy, maxTotal := Limits(d.Target)
	first := c.snapshot()
	floor := min(minHealthy, healthyCount(first))
	ceiling := max(maxTotal, len(first.Instances))
	var history []Actions
	for range maxSteps {
		s := c.snapshot()
		if h := healthyCount(s); h < floor {
			t.Fatalf("at %s: %d healthy instances, below the floor of %d", c.now.Sub(t0), h, floor)
		}
		if len(s.Instances) > ceiling {
			t.Fatalf("at %s: %d instances, above the ceiling of %d", c.now.Sub(t0), len(s.Instances), ceiling)
		}
		a := Step(d, s, c.now)
		history = append(history, a)
		if a.Launch > 0 && len(s.Instances)+a.Launch > maxTotal {
			t.Fatalf("at %s: launching %d on top of %d exceeds maxTotal %d", c.now.Sub(t0), a.Launch, len(s.Instances), maxTotal)
		}
		if a.Phase != PhaseWaiting {
			return a, history
		}
		c.apply(a)
		c.advance(10 * time.Second)
	}
	t.Fatalf("deployment %s did not end in %d steps; last: %+v", d.ID, maxSteps, history[len(history)-1])
	return Actions{}, nil
}

// assertAt checks the app ended with exactly n healthy instances of version.
func (c *cluster) assertAt(t *testing.T, version string, n int) {
	t.Helper()
	if len(c.inst) != n {
		t.Fatalf("want %d instances, have %d", n, len(c.inst))
	}
	for _, in := range c.inst {
		if in.Version != version || !in.good() {
			t.Fatalf("instance %s: version %q good=%v, want %q and healthy", in.ID, in.Version, in.good(), version)
		}
	}
}

func spec(version string, n int, minHC, maxOC float64) AppSpec {
	return AppSpec{ID: "/web", Version: version, Instances: n,
		UpgradeStrategy: UpgradeStrategy{MinimumHealthCapacity: minHC, MaximumOverCapacity: maxOC}}
}

func mustNew(t testing.TB, prev, next AppSpec, deadline time.Duration) *Deployment {
	t.Helper()
	d, err := New("d1", prev, next, deadline)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRollingUpgradeKeepsBoundsForManyStrategies(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 5, 10} {
		for _, minHC := range []float64{0, 0.5, 0.9, 1} {
			for _, maxOC := range []float64{0, 0.2, 0.5, 1} {
				t.Run(fmt.Sprintf("%d/%v/%v", n, minHC, maxOC), func(t *testing.T) {
					prev, next := spec("v1", n, minHC, maxOC), spec("v2", n, minHC, maxOC)
					c := newCluster(next)
					c.seed("v1", n, true)
					end, _ := c.run(t, mustNew(t, prev, next, 0), 1000)
					if end.Phase != PhaseDone {
						t.Fatalf("ended %s: %s", end.Phase, end.Reason)
					}
					c.assertAt(t, "v2", n)
				})
			}
		}
	}
}

func TestMinHealth1MaxOver0RunsOneExtraInstance(t *testing.T) {
	prev, next := spec("v1", 1, 1, 0), spec("v2", 1, 1, 0)
	c := newCluster(next)
	c.seed("v1", 1, true)
	d := mustNew(t, prev, next, 0)
	a := Step(d, c.snapshot(), c.now)
	if a.Launch != 1 || len(a.Kill) != 0 {
		t.Fatalf("first step: want launch 1 and no kill (one temporary extra instance), got %+v", a)
	}
	end, _ := c.run(t, d, 100) // run asserts 1 healthy at every step
	if end.Phase != PhaseDone {
		t.Fatalf("ended %s", end.Phase)
	}
	c.assertAt(t, "v2", 1)
}

func TestMinHealth0MaxOver0KillsAllThenStartsAll(t *testing.T) {
	prev, next := spec("v1", 4, 0, 0), spec("v2", 4, 0, 0)
	c := newCluster(next)
	c.seed("v1", 4, true)
	d := mustNew(t, prev, next, 0)
	a := Step(d, c.snapshot(), c.now)
	if a.Launch != 0 || len(a.Kill) != 4 {
		t.Fatalf("first step: want all 4 killed and nothing launched, got launch %d kill %v", a.Launch, a.Kill)
	}
	_, history := c.run(t, d, 100)
	launched := 0
	for _, h := range history {
		if h.Launch > 0 && h.Progress.Old+h.Progress.Killing > 0 {
			t.Fatalf("launched while old instances remain: %+v", h.Progress)
		}
		launched += h.Launch
	}
	if launched != 4 {
		t.Fatalf("launched %d, want 4", launched)
	}
	c.assertAt(t, "v2", 4)
}

func TestHalfHealthFifthOverFirstStep(t *testing.T) {
	prev, next := spec("v1", 5, 0.5, 0.2), spec("v2", 5, 0.5, 0.2)
	c := newCluster(next)
	c.seed("v1", 5, true)
	d := mustNew(t, prev, next, 0)
	a := Step(d, c.snapshot(), c.now)
	// Keep ceil(2.5)=3 healthy, at most 6 in all.
	if len(a.Kill) != 2 || a.Launch != 1 {
		t.Fatalf("want 2 old killed and 1 launched, got kill %v launch %d", a.Kill, a.Launch)
	}
	if end, _ := c.run(t, d, 200); end.Phase != PhaseDone {
		t.Fatalf("ended %s", end.Phase)
	}
	c.assertAt(t, "v2", 5)
}

func TestUnhealthyOldInstancesAreReplacedFirst(t *testing.T) {
	prev, next := spec("v1", 4, 1, 0), spec("v2", 4, 1, 0)
	c := newCluster(next)
	c.seed("v1", 2, true)
	c.seed("v1", 2, false)
	d := mustNew(t, prev, next, 0)
	a := Step(d, c.snapshot(), c.now)
	if want := []string{"i003", "i004"}; fmt.Sprint(a.Kill) != fmt.Sprint(want) {
		t.Fatalf("kill %v, want the unhealthy %v", a.Kill, want)
	}
	if end, _ := c.run(t, d, 200); end.Phase != PhaseDone {
		t.Fatalf("ended %s", end.Phase)
	}
	c.assertAt(t, "v2", 4)
}

func TestScaleUpLaunchesOnlyTheDifference(t *testing.T) {
	prev, next := spec("v1", 2, 1, 0), spec("v1", 5, 1, 0)
	c := newCluster(next)
	c.seed("v1", 2, true)
	d := mustNew(t, prev, next, 0)
	a := Step(d, c.snapshot(), c.now)
	if a.Launch != 3 || len(a.Kill) != 0 {
		t.Fatalf("want launch 3, no kills; got %+v", a)
	}
	end, _ := c.run(t, d, 100)
	if end.Phase != PhaseDone {
		t.Fatalf("ended %s", end.Phase)
	}
	c.assertAt(t, "v1", 5)
}

func TestScaleDownFollowsKillSelection(t *testing.T) {
	cases := []struct {
		sel       KillSelection
		unhealthy string // one instance made unhealthy, or ""
		want      []string
	}{
		// seeded i001 (oldest) .. i005 (youngest)
		{YoungestFirst, "", []string{"i005", "i004", "i003"}},
		{"", "", []string{"i005", "i004", "i003"}},
		{OldestFirst, "", []string{"i001", "i002", "i003"}},
		{YoungestFirst, "i001", []string{"i001", "i005", "i004"}},
		{OldestFirst, "i005", []string{"i005", "i001", "i002"}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%s", tc.sel, tc.unhealthy), func(t *testing.T) {
			prev, next := spec("v1", 5, 1, 0), spec("v1", 2, 1, 0)
			prev.KillSelection, next.KillSelection = tc.sel, tc.sel
			c := newCluster(next)
			c.seed("v1", 5, true)
			for _, in := range c.inst {
				if in.ID == tc.unhealthy {
					in.Healthy = false
				}
			}
			d := mustNew(t, prev, next, 0)
			a := Step(d, c.snapshot(), c.now)
			if fmt.Sprint(a.Kill) != fmt.Sprint(tc.want) || a.Launch != 0 {
				t.Fatalf("kill %v launch %d, want kill %v", a.Kill, a.Launch, tc.want)
			}
			if got := Plan(prev, next, c.snapshot().Instances); len(got) != 1 || fmt.Sprint(got[0].KillIDs) != fmt.Sprint(tc.want) {
				t.Fatalf("plan %+v disagrees with step's kills %v", got, tc.want)
			}
			c.run(t, d, 100)
			if len(c.inst) != 2 {
				t.Fatalf("%d instances left, want 2", len(c.inst))
			}
		})
	}
}

func TestScaleToZeroStopsEverything(t *testing.T) {
	prev, next := spec("v1", 3, 1, 0), spec("v1", 0, 1, 0)
	c := newCluster(next)
	c.seed("v1", 3, true)
	end, _ := c.run(t, mustNew(t, prev, next, 0), 100)
	if end.Phase != PhaseDone || len(c.inst) != 0 {
		t.Fatalf("ended %s with %d instances", end.Phase, len(c.inst))
	}
}

func TestRestartReplacesEveryInstanceOneByOne(t *testing.T) {
	// A restart is a new version id with an unchanged definition.
	prev, next := spec("v1", 3, 1, 0), spec("v1-restart", 3, 1, 0)
	c := newCluster(next)
	c.seed("v1", 3, true)
	d := mustNew(t, prev, next, 0)
	_, history := c.run(t, d, 200)
	for _, h := range history {
		if h.Launch > 1 {
			t.Fatalf("launched %d at once, want one by one with minimumHealthCapacity 1", h.Launch)
		}
	}
	c.assertAt(t, "v1-restart", 3)
	if d.Status != StatusSucceeded || d.FinishedAt.IsZero() {
		t.Fatalf("deployment status %s finished %v", d.Status, d.FinishedAt)
	}
}

func TestNoProgressFailsAtDeadlineAndRollsBack(t *testing.T) {
	prev, next := spec("v1", 3, 1, 0), spec("v2", 3, 1, 0)
	c := newCluster(next)
	c.seed("v1", 3, true)
	c.goodAfter = func() time.Duration { return -1 } // v2 never turns healthy
	d := mustNew(t, prev, next, 5*time.Minute)
	end, _ := c.run(t, d, 1000)
	if end.Phase != PhaseFailed || d.Status != StatusFailed {
		t.Fatalf("want failed, got phase %s status %s", end.Phase, d.Status)
	}
	if got := c.now.Sub(d.LastProgress); got < 5*time.Minute {
		t.Fatalf("failed after only %s without progress", got)
	}
	if end.Reason == "" || d.Reason != end.Reason {
		t.Fatalf("failure reason %q / %q", end.Reason, d.Reason)
	}
	t.Logf("reason: %s", end.Reason)
	// A failed deployment acts no more.
	if a := Step(d, c.snapshot(), c.now.Add(time.Hour)); a.Phase != PhaseFailed || a.Launch != 0 || len(a.Kill) != 0 {
		t.Fatalf("failed deployment still acts: %+v", a)
	}

	r := Rollback(d)
	if r.Target.Version != "v1" || r.RollbackOf != d.ID {
		t.Fatalf("rollback targets %q of %q", r.Target.Version, r.RollbackOf)
	}
	c.app = r.Target
	c.goodAfter = func() time.Duration { return 5 * time.Second }
	if end, _ := c.run(t, r, 200); end.Phase != PhaseDone {
		t.Fatalf("rollback ended %s: %s", end.Phase, end.Reason)
	}
	c.assertAt(t, "v1", 3)
}

func TestSlowButSteadyProgressDoesNotFail(t *testing.T) {
	prev, next := spec("v1", 5, 1, 0), spec("v2", 5, 1, 0)
	c := newCluster(next)
	c.seed("v1", 5, true)
	// Each instance takes 4 minutes; the whole upgrade far exceeds the
	// 5 minute deadline, but something improves within every 5 minutes.
	c.goodAfter = func() time.Duration { return 4 * time.Minute }
	if end, _ := c.run(t, mustNew(t, prev, next, 5*time.Minute), 1000); end.Phase != PhaseDone {
		t.Fatalf("ended %s: %s", end.Phase, end.Reason)
	}
	if c.now.Sub(t0) < 20*time.Minute {
		t.Fatalf("took only %s; the test does not exercise the deadline", c.now.Sub(t0))
	}
}

func TestCancelRollsBackWithoutForce(t *testing.T) {
	prev, next := spec("v1", 4, 0.5, 0.5), spec("v2", 4, 0.5, 0.5)
	c := newCluster(next)
	c.seed("v1", 4, true)
	d := mustNew(t, prev, next, 0)
	for range 3 { // part way through: both versions exist
		c.apply(Step(d, c.snapshot(), c.now))
		c.advance(10 * time.Second)
	}
	r, err := Cancel(d, false)
	if err != nil || r == nil {
		t.Fatalf("cancel: %v, rollback %v", err, r)
	}
	if a := Step(d, c.snapshot(), c.now); a.Phase != PhaseCancelled || a.Launch != 0 || len(a.Kill) != 0 {
		t.Fatalf("cancelled deployment still acts: %+v", a)
	}
	c.app = r.Target
	if end, _ := c.run(t, r, 200); end.Phase != PhaseDone {
		t.Fatalf("rollback ended %s", end.Phase)
	}
	c.assertAt(t, "v1", 4)
	if _, err := Cancel(d, false); err == nil {
		t.Fatal("cancelling a cancelled deployment succeeded")
	}
}

func TestForceCancelLeavesInstancesAsTheyAre(t *testing.T) {
	prev, next := spec("v1", 4, 0.5, 0.5), spec("v2", 4, 0.5, 0.5)
	c := newCluster(next)
	c.seed("v1", 4, true)
	d := mustNew(t, prev, next, 0)
	for range 3 {
		c.apply(Step(d, c.snapshot(), c.now))
		c.advance(10 * time.Second)
	}
	before := c.snapshot()
	r, err := Cancel(d, true)
	if err != nil || r != nil {
		t.Fatalf("force cancel: rollback %v, err %v", r, err)
	}
	a := Step(d, c.snapshot(), c.now)
	if a.Phase != PhaseCancelled || a.Launch != 0 || len(a.Kill) != 0 {
		t.Fatalf("force-cancelled deployment acts: %+v", a)
	}
	versions := map[string]int{}
	for _, in := range before.Instances {
		versions[in.Version]++
	}
	if versions["v1"] == 0 || versions["v2"] == 0 {
		t.Fatalf("test setup: want a mix of versions, got %v", versions)
	}
}

func TestRedefinedAppSupersedesDeployment(t *testing.T) {
	prev, next := spec("v1", 2, 1, 0), spec("v2", 2, 1, 0)
	c := newCluster(spec("v3", 2, 1, 0))
	c.seed("v1", 2, true)
	d := mustNew(t, prev, next, 0)
	if a := Step(d, c.snapshot(), c.now); a.Phase != PhaseFailed || a.Launch != 0 {
		t.Fatalf("want failed without acting, got %+v", a)
	}
}

func TestRollingBackANewAppStopsIt(t *testing.T) {
	next := spec("v1", 3, 1, 1)
	c := newCluster(next)
	d := mustNew(t, AppSpec{}, next, time.Minute)
	c.goodAfter = func() time.Duration { return -1 }
	if end, _ := c.run(t, d, 100); end.Phase != PhaseFailed {
		t.Fatalf("ended %s", end.Phase)
	}
	r := Rollback(d)
	c.app = r.Target
	if end, _ := c.run(t, r, 100); end.Phase != PhaseDone || len(c.inst) != 0 {
		t.Fatalf("rollback ended %s with %d instances", end.Phase, len(c.inst))
	}
}

// TestRandomStrategiesAndTimings is a seeded property test: for random
// strategies, sizes, starting states and health timings, the bounds hold
// at every step and every deployment completes.
func TestRandomStrategiesAndTimings(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	fractions := []float64{0, 0.1, 0.25, 0.5, 0.75, 0.9, 1}
	frac := func() float64 {
		if rng.Intn(3) == 0 {
			return rng.Float64()
		}
		return fractions[rng.Intn(len(fractions))]
	}
	for i := range 400 {
		minHC, maxOC := frac(), frac()
		n, had := rng.Intn(13), rng.Intn(16)
		prevVersion := "v1"
		if rng.Intn(4) == 0 {
			prevVersion = "v2" // a pure scale
		}
		prev, next := spec(prevVersion, had, minHC, maxOC), spec("v2", n, minHC, maxOC)
		sels := []KillSelection{YoungestFirst, OldestFirst}
		next.KillSelection = sels[rng.Intn(2)]
		name := fmt.Sprintf("%d:%d->%d/%.2f/%.2f/%s", i, had, n, minHC, maxOC, prevVersion)
		t.Run(name, func(t *testing.T) {
			c := newCluster(next)
			healthy := rng.Intn(had + 1)
			c.seed(prevVersion, healthy, true)
			c.seed(prevVersion, had-healthy, false)
			// Unhealthy instances of the target version recover in time;
			// ones that never do are the deadline test's business.
			for _, in := range c.inst {
				if !in.good() {
					in.goodAt = c.now.Add(time.Duration(1+rng.Intn(300)) * time.Second)
				}
			}
			c.goodAfter = func() time.Duration { return time.Duration(1+rng.Intn(120)) * time.Second }
			c.killAfter = time.Duration(1+rng.Intn(30)) * time.Second
			end, _ := c.run(t, mustNew(t, prev, next, 10*time.Minute), 5000)
			if end.Phase != PhaseDone {
				t.Fatalf("ended %s: %s", end.Phase, end.Reason)
			}
			c.assertAt(t, "v2", n)
		})
	}
}

func TestKillOrderIsDeterministic(t *testing.T) {
	insts := []*Instance{
		{ID: "b", State: Running, Healthy: true, Ready: true, StartedAt: t0},
		{ID: "a", State: Running, Healthy: true, Ready: true, StartedAt: t0},
		{ID: "c", State: Staged, StartedAt: t0.Add(-time.Hour)},
		{ID: "d", State: Running, Healthy: true, Ready: false, StartedAt: t0.Add(time.Hour)},
	}
	sortForKill(insts, OldestFirst)
	var ids []string
	for _, in := range insts {
		ids = append(ids, in.ID)
	}
	if !sort.SliceIsSorted(ids, func(i, j int) bool { return false }) || fmt.Sprint(ids) != "[c d a b]" {
		t.Fatalf("order %v, want [c d a b]: staged, then not ready, then by age and id", ids)
	}
}

// A deployment saved and loaded (a framework failover) keeps its deadline
// clock: the new leader does not grant a stuck deployment a fresh deadline.
func TestPersistedDeploymentKeepsItsDeadline(t *testing.T) {
	prev, next := spec("v1", 2, 1, 0), spec("v2", 2, 1, 0)
	c := newCluster(next)
	c.seed("v1", 2, true)
	c.goodAfter = func() time.Duration { return -1 }
	d := mustNew(t, prev, next, 5*time.Minute)
	c.apply(Step(d, c.snapshot(), c.now))
	c.advance(4 * time.Minute)
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var loaded Deployment
	if err := json.Unmarshal(raw, &loaded); err != nil {
		t.Fatal(err)
	}
	if a := Step(&loaded, c.snapshot(), t0.Add(5*time.Minute)); a.Phase != PhaseFailed {
		t.Fatalf("after reload at the deadline: %s (%s)", a.Phase, a.Reason)
	}
}
