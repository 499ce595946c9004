package deploy

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLimits(t *testing.T) {
	cases := []struct {
		n                  int
		minHC, maxOC       float64
		minHealthy, maxTot int
	}{
		{1, 1, 0, 1, 2}, // equal bounds: one temporary extra instance
		{5, 0.5, 0.2, 3, 6},
		{0, 1, 1, 0, 0},
		{0, 0, 0, 0, 0},
		{4, 0, 0, 0, 4},
		{4, 0.5, 0, 2, 4},
		{3, 1, 1, 3, 6},
		{10, 0.95, 0, 10, 11}, // ceil(9.5) meets floor(10)
		{10, 0.9, 0.05, 9, 10},
		{3, 0.7, 0.3, 3, 4}, // ceil(2.1)=3, floor(3.9)=3 -> 4
	}
	for _, tc := range cases {
		mh, mt := Limits(spec("v", tc.n, tc.minHC, tc.maxOC))
		if mh != tc.minHealthy || mt != tc.maxTot {
			t.Errorf("Limits(%d, %v, %v) = %d, %d; want %d, %d", tc.n, tc.minHC, tc.maxOC, mh, mt, tc.minHealthy, tc.maxTot)
		}
	}
}

func TestValidateNamesTheBadField(t *testing.T) {
	cases := []struct {
		mutate func(*AppSpec)
		field  string
	}{
		{func(s *AppSpec) { s.ID = "" }, "id"},
		{func(s *AppSpec) { s.Instances = -1 }, "instances"},
		{func(s *AppSpec) { s.Version = "" }, "version"},
		{func(s *AppSpec) { s.UpgradeStrategy.MinimumHealthCapacity = 1.5 }, "upgradeStrategy.minimumHealthCapacity"},
		{func(s *AppSpec) { s.UpgradeStrategy.MaximumOverCapacity = -0.1 }, "upgradeStrategy.maximumOverCapacity"},
		{func(s *AppSpec) { s.KillSelection = "RANDOM" }, "killSelection"},
	}
	for _, tc := range cases {
		s := spec("v1", 2, 1, 1)
		tc.mutate(&s)
		err := s.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
			t.Errorf("want error on %s, got %v", tc.field, err)
		}
		if _, err := New("d", AppSpec{}, s, time.Minute); err == nil {
			t.Errorf("New accepted a target with bad %s", tc.field)
		}
	}
	if err := spec("v1", 2, 1, 1).Validate(); err != nil {
		t.Fatalf("valid spec rejected: %v", err)
	}
	if _, err := New("d", spec("v1", 1, 1, 1), spec("v2", 1, 1, 1), -time.Second); err == nil {
		t.Fatal("negative deadline accepted")
	}
}

func running(version string, ids ...string) []Instance {
	var out []Instance
	for i, id := range ids {
		out = append(out, Instance{ID: id, Version: version, State: Running, Healthy: true, Ready: true, StartedAt: t0.Add(time.Duration(i) * time.Minute)})
	}
	return out
}

func TestPlan(t *testing.T) {
	web1, web2 := spec("v1", 3, 1, 0), spec("v2", 3, 1, 0)
	cases := []struct {
		name       string
		prev, next AppSpec
		current    []Instance
		want       []PlanStep
	}{
		{"new app", AppSpec{}, web1, nil, []PlanStep{
			{Action: StartApplication, App: "/web", Version: "v1"},
			{Action: ScaleApplication, App: "/web", Version: "v1", Instances: 3, Launch: 3},
		}},
		{"no change", web1, web1, running("v1", "a", "b", "c"), nil},
		{"scale up", web1, spec("v1", 5, 1, 0), running("v1", "a", "b", "c"), []PlanStep{
			{Action: ScaleApplication, App: "/web", Version: "v1", Instances: 5, Launch: 2},
		}},
		{"scale down youngest first", web1, spec("v1", 1, 1, 0), running("v1", "a", "b", "c"), []PlanStep{
			{Action: ScaleApplication, App: "/web", Version: "v1", Instances: 1, Kill: 2, KillIDs: []string{"c", "b"}},
		}},
		{"upgrade", web1, web2, running("v1", "a", "b", "c"), []PlanStep{
			{Action: RestartApplication, App: "/web", Version: "v2", Instances: 3, Launch: 3, Kill: 3, MinHealthy: 3, MaxTotal: 4},
		}},
		{"upgrade and scale down, half done", web1, spec("v2", 2, 0.5, 0), append(running("v1", "a", "b"), running("v2", "c")...), []PlanStep{
			{Action: RestartApplication, App: "/web", Version: "v2", Instances: 2, Launch: 1, Kill: 2, MinHealthy: 1, MaxTotal: 2},
		}},
		{"delete", web1, AppSpec{}, running("v1", "a", "b"), []PlanStep{
			{Action: StopApplication, App: "/web", Version: "v1", Kill: 2},
		}},
		{"instances being killed are not counted", web1, spec("v1", 2, 1, 0),
			append(running("v1", "a", "b"), Instance{ID: "z", Version: "v1", State: Killing}), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Plan(tc.prev, tc.next, tc.current)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("plan\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestPlanMatchesWhatStepDoes runs the planned deployment and checks the
// plan's launch and kill counts were what actually happened.
func TestPlanMatchesWhatStepDoes(t *testing.T) {
	for _, tc := range []struct{ prev, next AppSpec }{
		{spec("v1", 3, 1, 0), spec("v2", 3, 1, 0)},
		{spec("v1", 3, 0.5, 0.5), spec("v2", 6, 0.5, 0.5)},
		{spec("v1", 6, 0, 0), spec("v2", 2, 0, 0)},
		{spec("v1", 6, 1, 0), spec("v1", 2, 1, 0)},
	} {
		t.Run(fmt.Sprintf("%d%s->%d%s", tc.prev.Instances, tc.prev.Version, tc.next.Instances, tc.next.Version), func(t *testing.T) {
			c := newCluster(tc.next)
			c.seed(tc.prev.Version, tc.prev.Instances, true)
			plan := Plan(tc.prev, tc.next, c.snapshot().Instances)
			if len(plan) != 1 {
				t.Fatalf("plan %+v", plan)
			}
			_, history := c.run(t, mustNew(t, tc.prev, tc.next, 0), 500)
			launched, killed := 0, 0
			for _, h := range history {
				launched += h.Launch
				killed += len(h.Kill)
			}
			if launched != plan[0].Launch || killed != plan[0].Kill {
				t.Fatalf("plan said launch %d kill %d; deployment launched %d killed %d", plan[0].Launch, plan[0].Kill, launched, killed)
			}
		})
	}
}
