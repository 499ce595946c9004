package allocator

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"agora/core/resources"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func res(s string) resources.Resources {
	r, err := resources.Parse(s)
	if err != nil {
		panic(err)
	}
	return r
}

func newAlloc(t testing.TB, cfg Config) *Allocator {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// byFramework counts offers per framework.
func byFramework(offers []Offer) map[string]int {
	n := map[string]int{}
	for _, o := range offers {
		n[o.FrameworkID]++
	}
	return n
}

func TestConfigValidate(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" means valid
	}{
		{"empty", Config{}, ""},
		{"weights", Config{Weights: map[string]float64{"prod": 2, "dev": 0.5}}, ""},
		{"zero weight", Config{Weights: map[string]float64{"prod": 0}}, `"prod"`},
		{"negative weight", Config{Weights: map[string]float64{"dev": -1}}, `"dev"`},
		{"NaN weight", Config{Weights: map[string]float64{"batch": nan}}, `"batch"`},
		{"infinite weight", Config{Weights: map[string]float64{"web": math.Inf(1)}}, `"web"`},
		{"negative min cpus", Config{MinCPUs: -1}, "min_cpus"},
		{"NaN min mem", Config{MinMem: nan}, "min_mem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate error = %v, want it to name %s", err, tt.wantErr)
			}
			if _, err := New(tt.cfg); err == nil {
				t.Fatalf("New accepted an invalid config")
			}
		})
	}
}

// TestDRFPaperExample replays the example of the DRF paper (Ghodsi et al.,
// NSDI 2011): 9 cpus and 18 GB, user A runs <1 cpu, 4 GB> tasks and user B
// <3 cpus, 1 GB>. Each framework launches one task per offer it can fit and
// hands the rest back; one it cannot fit it declines with a long filter. DRF
// ends with A running 3 tasks and B 2, both at a dominant share of 2/3.
func TestDRFPaperExample(t *testing.T) {
	tests := []struct {
		name   string
		roleA  string
		roleB  string
		weight map[string]float64
	}{
		{"frameworks in one role", "users", "users", nil},
		{"one framework per role", "ra", "rb", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAlloc(t, Config{Seed: 1, Weights: tt.weight})
			a.AddAgent("agent1", res("cpus:9;mem:18432"))
			a.AddFramework("A", []string{tt.roleA})
			a.AddFramework("B", []string{tt.roleB})
			demand := map[string]resources.Resources{
				"A": res("cpus:1;mem:4096"),
				"B": res("cpus:3;mem:1024"),
			}
			tasks := map[string]int{}
			now := t0
			for step := 0; ; step++ {
				if step > 100 {
					t.Fatalf("allocation did not settle after 100 cycles")
				}
				offers := a.Cycle(now)
				if len(offers) == 0 {
					break
				}
				for _, o := range offers {
					d := demand[o.FrameworkID]
					if o.Resources.Contains(d) {
						tasks[o.FrameworkID]++
						a.Recover(o.AgentID, o.FrameworkID, o.Role, o.Resources.Sub(d))
						continue
					}
					a.Recover(o.AgentID, o.FrameworkID, o.Role, o.Resources)
					a.Filter(o.FrameworkID, o.AgentID, o.Resources, now.Add(time.Hour))
				}
				now = now.Add(time.Second)
			}
			if tasks["A"] != 3 || tasks["B"] != 2 {
				t.Fatalf("tasks = %v, want A:3 B:2", tasks)
			}
			sa, sb := a.FrameworkShare("A"), a.FrameworkShare("B")
			if math.Abs(sa-2.0/3) > 1e-3 || math.Abs(sb-2.0/3) > 1e-3 {
				t.Fatalf("dominant shares A=%.4f B=%.4f, want both 2/3", sa, sb)
			}
		})
	}
}

// TestWeights: a role of weight w gets w times the agents of a weight-1 role
// when both want everything.
func TestWeights(t *testing.T) {
	tests := []struct {
		name              string
		cfgWeights        map[string]float64
		update            map[string]float64 // applied with UpdateWeights before the cycle
		agents            int
		wantHeavy, wantLo int
	}{
		{"equal weights", nil, nil, 30, 15, 15},
		{"weight 2", map[string]float64{"heavy": 2}, nil, 30, 20, 10},
		{"weight 4", map[string]float64{"heavy": 4}, nil, 25, 20, 5},
		{"updated to 2", nil, map[string]float64{"heavy": 2}, 30, 20, 10},
		{"light role weighted up", map[string]float64{"heavy": 2}, map[string]float64{"light": 2}, 30, 15, 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAlloc(t, Config{Seed: 7, Weights: tt.cfgWeights})
			for i := 0; i < tt.agents; i++ {
				a.AddAgent(fmt.Sprintf("agent%02d", i), res("cpus:1;mem:1024"))
			}
			a.AddFramework("h", []string{"heavy"})
			a.AddFramework("l", []string{"light"})
			if tt.update != nil {
				if err := a.UpdateWeights(tt.update); err != nil {
					t.Fatalf("UpdateWeights: %v", err)
				}
			}
			got := byFramework(a.Cycle(t0))
			if got["h"] != tt.wantHeavy || got["l"] != tt.wantLo {
				t.Fatalf("agents offered = %v, want h:%d l:%d", got, tt.wantHeavy, tt.wantLo)
			}
		})
	}
}

func TestUpdateWeightsRejectsInvalidAtomically(t *testing.T) {
	a := newAlloc(t, Config{})
	a.AddFramework("f", []string{"web"})
	err := a.UpdateWeights(map[string]float64{"web": 3, "batch": -2})
	if err == nil || !strings.Contains(err.Error(), `"batch"`) {
		t.Fatalf("UpdateWeights error = %v, want it to name \"batch\"", err)
	}
	for _, r := range a.Roles() {
		if r.Name == "web" && r.Weight != 1 {
			t.Fatalf("web weight = %v after a rejected update, want 1", r.Weight)
		}
	}
}

func TestEachAgentGoesWholeToOneFramework(t *testing.T) {
	a := newAlloc(t, Config{Seed: 3})
	totals := map[string]resources.Resources{}
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("agent%d", i)
		totals[id] = res(fmt.Sprintf("cpus:%d;mem:4096;disk:1000;ports:[31000-31099]", i+1))
		a.AddAgent(id, totals[id])
	}
	for _, f := range []string{"f1", "f2", "f3"} {
		a.AddFramework(f, nil)
	}
	offers := a.Cycle(t0)
	if len(offers) != 5 {
		t.Fatalf("got %d offers, want one per agent (5)", len(offers))
	}
	seen := map[string]bool{}
	for _, o := range offers {
		if seen[o.AgentID] {
			t.Fatalf("agent %s offered twice in one cycle", o.AgentID)
		}
		seen[o.AgentID] = true
		if !o.Resources.Equal(totals[o.AgentID]) {
			t.Fatalf("offer of %s = %v, want the whole pool %v", o.AgentID, o.Resources, totals[o.AgentID])
		}
		if o.Role != DefaultRole {
			t.Fatalf("offer role = %q, want %q for a framework without roles", o.Role, DefaultRole)
		}
		if !a.Free(o.AgentID).IsEmpty() {
			t.Fatalf("agent %s still has free %v after its pool was offered", o.AgentID, a.Free(o.AgentID))
		}
	}
	if n := byFramework(offers); len(n) != 3 {
		t.Fatalf("offers went to %v, want all three frameworks served", n)
	}
	if again := a.Cycle(t0); len(again) != 0 {
		t.Fatalf("second cycle offered %v although nothing was recovered", again)
	}
	if st := a.LastCycle(); st.BelowMinimum != 5 {
		t.Fatalf("LastCycle = %+v, want 5 agents below minimum", st)
	}
}

func TestSuppressRevive(t *testing.T) {
	type step struct {
		do   func(a *Allocator)
		want string // "framework/role" offered the agent, "" for none
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"suppressed framework gets nothing, other one does", []step{
			{func(a *Allocator) { a.Suppress("a", nil) }, "b/*"},
		}},
		{"all suppressed: no offer, revive restores", []step{
			{func(a *Allocator) { a.Suppress("a", nil); a.Suppress("b", nil) }, ""},
			{func(a *Allocator) { a.Revive("b", nil) }, "b/*"},
		}},
		{"suppress one role of a multi-role framework", []step{
			{func(a *Allocator) {
				a.AddFramework("m", []string{"x", "y"})
				a.Suppress("a", nil)
				a.Suppress("b", nil)
				a.Suppress("m", []string{"x"})
			}, "m/y"},
		}},
		{"revive one role", []step{
			{func(a *Allocator) {
				a.AddFramework("m", []string{"x", "y"})
				a.Suppress("a", nil)
				a.Suppress("b", nil)
				a.Suppress("m", nil)
			}, ""},
			{func(a *Allocator) { a.Revive("m", []string{"x"}) }, "m/x"},
		}},
		{"revive clears filters", []step{
			{func(a *Allocator) {
				a.Suppress("b", nil)
				a.Filter("a", "agent", res("cpus:4;mem:4096"), t0.Add(time.Hour))
			}, ""},
			{func(a *Allocator) { a.Revive("a", nil) }, "a/*"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAlloc(t, Config{Seed: 1})
			a.AddAgent("agent", res("cpus:4;mem:4096"))
			a.AddFramework("a", nil)
			a.AddFramework("b", nil)
			for i, s := range tt.steps {
				s.do(a)
				offers := a.Cycle(t0)
				got := ""
				if len(offers) == 1 {
					got = offers[0].FrameworkID + "/" + offers[0].Role
					a.Recover(offers[0].AgentID, offers[0].FrameworkID, offers[0].Role, offers[0].Resources)
				} else if len(offers) > 1 {
					t.Fatalf("step %d: %d offers for one agent", i, len(offers))
				}
				if got != s.want {
					t.Fatalf("step %d: offered to %q, want %q", i, got, s.want)
				}
			}
		})
	}
}

func TestFilters(t *testing.T) {
	tests := []struct {
		name  string
		setup func(a *Allocator) // agent "agent1" cpus:4;mem:4096 and framework "a" exist
		at    time.Duration      // cycle time after t0
		want  string             // framework offered agent1, "" for none
	}{
		{"filtered before expiry", func(a *Allocator) {
			a.Filter("a", "agent1", res("cpus:4;mem:4096"), t0.Add(10*time.Second))
		}, 5 * time.Second, ""},
		{"offered again at expiry", func(a *Allocator) {
			a.Filter("a", "agent1", res("cpus:4;mem:4096"), t0.Add(10*time.Second))
		}, 10 * time.Second, "a"},
		{"more free than refused: offered again", func(a *Allocator) {
			a.Allocate("agent1", "a", "*", res("cpus:2;mem:2048"))
			a.Filter("a", "agent1", res("cpus:2;mem:2048"), t0.Add(time.Hour))
			a.Recover("agent1", "a", "*", res("cpus:2;mem:2048")) // the task finished
		}, time.Second, "a"},
		{"less free than refused: still filtered", func(a *Allocator) {
			a.Filter("a", "agent1", res("cpus:4;mem:4096"), t0.Add(time.Hour))
			a.Allocate("agent1", "a", "*", res("cpus:1;mem:1024"))
		}, time.Second, ""},
		{"filter on another agent does not apply", func(a *Allocator) {
			a.AddAgent("agent2", res("cpus:4;mem:4096"))
			a.Suppress("a", nil) // keep agent2 out of the picture
			a.Revive("a", nil)
			a.Filter("a", "agent2", res("cpus:4;mem:4096"), t0.Add(time.Hour))
		}, time.Second, "a"},
		{"filtered framework falls through to the next in DRF order", func(a *Allocator) {
			a.AddFramework("b", nil)
			a.Allocate("agent1", "b", "*", res("cpus:1;mem:1024")) // b's share is higher
			a.Filter("a", "agent1", res("cpus:4;mem:4096"), t0.Add(time.Hour))
		}, time.Second, "b"},
		{"role whose frameworks are all filtered yields to the next role", func(a *Allocator) {
			a.AddFramework("z", []string{"zeta"})
			a.Allocate("agent1", "z", "zeta", res("cpus:1;mem:1024"))
			a.Filter("a", "agent1", res("cpus:4;mem:4096"), t0.Add(time.Hour))
		}, time.Second, "z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAlloc(t, Config{Seed: 1})
			a.AddAgent("agent1", res("cpus:4;mem:4096"))
			a.AddFramework("a", nil)
			tt.setup(a)
			got := ""
			for _, o := range a.Cycle(t0.Add(tt.at)) {
				if o.AgentID == "agent1" {
					got = o.FrameworkID
				}
			}
			if got != tt.want {
				t.Fatalf("agent1 offered to %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFilterCountedInStats(t *testing.T) {
	a := newAlloc(t, Config{})
	a.AddAgent("agent1", res("cpus:4;mem:4096"))
	a.AddFramework("a", nil)
	a.Filter("a", "agent1", res("cpus:4;mem:4096"), t0.Add(time.Minute))
	a.Cycle(t0)
	if st := a.LastCycle(); st.Filtered != 1 || st.Unwanted != 1 || st.Offers != 0 {
		t.Fatalf("LastCycle = %+v, want 1 filtered, 1 unwanted, 0 offers", st)
	}
}

func TestInactiveSkipped(t *testing.T) {
	a := newAlloc(t, Config{Seed: 1})
	a.AddAgent("agent1", res("cpus:4;mem:4096"))
	a.AddAgent("agent2", res("cpus:4;mem:4096"))
	a.AddFramework("a", nil)
	a.AddFramework("b", nil)

	a.DeactivateAgent("agent2")
	a.DeactivateFramework("a")
	offers := a.Cycle(t0)
	if len(offers) != 1 || offers[0].AgentID != "agent1" || offers[0].FrameworkID != "b" {
		t.Fatalf("offers = %+v, want only agent1 to b", offers)
	}
	if a.Total().CPUs != 8 {
		t.Fatalf("total cpus = %v, want 8: an inactive agent still counts", a.Total().CPUs)
	}

	a.ActivateAgent("agent2")
	a.ActivateFramework("a")
	offers = a.Cycle(t0)
	if len(offers) != 1 || offers[0].AgentID != "agent2" || offers[0].FrameworkID != "a" {
		t.Fatalf("after reactivation offers = %+v, want agent2 to a (lowest share)", offers)
	}

	// Deactivating keeps allocations: agent2 stays fully allocated to a.
	a.DeactivateFramework("a")
	a.DeactivateAgent("agent2")
	if !a.Free("agent2").IsEmpty() || a.FrameworkShare("a") != 0.5 {
		t.Fatalf("deactivation dropped allocations: free=%v share(a)=%v", a.Free("agent2"), a.FrameworkShare("a"))
	}
}

func TestPlaceholderFrameworkFromAllocate(t *testing.T) {
	a := newAlloc(t, Config{})
	a.AddAgent("agent1", res("cpus:4;mem:4096"))
	a.AddAgent("agent2", res("cpus:4;mem:4096"))
	// After a master failover the agent reports tasks of a framework that has
	// not re-subscribed yet.
	a.Allocate("agent1", "old", "web", res("cpus:3;mem:3072"))
	if got := a.Cycle(t0); len(got) != 0 {
		t.Fatalf("offers %+v to a framework that never subscribed", got)
	}
	if f := a.Free("agent1"); f.CPUs != 1 || f.Mem != 1024 {
		t.Fatalf("agent1 free = %v, want cpus:1;mem:1024", f)
	}
	a.AddFramework("old", []string{"web"})
	a.AddFramework("new", []string{"web"})
	// old already holds 3/8 cpus, so the newcomer is served first.
	offers := a.Cycle(t0, "agent2")
	if len(offers) != 1 || offers[0].FrameworkID != "new" {
		t.Fatalf("offers = %+v, want agent2 to the newcomer", offers)
	}
}

func TestRecoverMakesOfferable(t *testing.T) {
	a := newAlloc(t, Config{})
	total := res("cpus:4;mem:4096;ports:[31000-31010]")
	a.AddAgent("agent1", total)
	a.AddFramework("a", nil)
	o := a.Cycle(t0)
	if len(o) != 1 {
		t.Fatalf("first cycle: %d offers, want 1", len(o))
	}
	if got := a.Cycle(t0); len(got) != 0 {
		t.Fatalf("offered again before recovery: %+v", got)
	}
	// A task keeps 1 cpu, 1 GB and a port; the rest comes back.
	used := res("cpus:1;mem:1024;ports:[31000-31000]")
	a.Recover("agent1", "a", "*", o[0].Resources.Sub(used))
	o2 := a.Cycle(t0, "agent1")
	if len(o2) != 1 || !o2[0].Resources.Equal(total.Sub(used)) {
		t.Fatalf("after partial recovery offers = %+v, want %v", o2, total.Sub(used))
	}
	a.Recover("agent1", "a", "*", o2[0].Resources)
	a.Recover("agent1", "a", "*", used) // the task finished
	if f := a.Free("agent1"); !f.Equal(total) {
		t.Fatalf("free = %v after all was recovered, want %v", f, total)
	}
	// Recovering more than is held changes nothing.
	a.Recover("agent1", "a", "*", used)
	if f := a.Free("agent1"); !f.Equal(total) {
		t.Fatalf("free = %v after over-recovery, want %v", f, total)
	}
	if s := a.FrameworkShare("a"); s != 0 {
		t.Fatalf("share = %v after everything was recovered, want 0", s)
	}
}

func TestMinAllocatable(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		free string
		want bool
	}{
		{"tiny cpus and mem", Config{}, "cpus:0.005;mem:16", false},
		{"enough mem alone", Config{}, "mem:64", true},
		{"enough cpus alone", Config{}, "cpus:0.01", true},
		{"only disk", Config{}, "disk:1000", false},
		{"custom minimum not met", Config{MinCPUs: 1, MinMem: 1024}, "cpus:0.5;mem:512", false},
		{"custom minimum met by mem", Config{MinCPUs: 1, MinMem: 1024}, "cpus:0.5;mem:1024", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAlloc(t, tt.cfg)
			a.AddAgent("agent1", res(tt.free))
			a.AddFramework("a", nil)
			got := len(a.Cycle(t0)) == 1
			if got != tt.want {
				t.Fatalf("offered = %v, want %v for free %s", got, tt.want, tt.free)
			}
		})
	}
}

func TestDeterministicForSeed(t *testing.T) {
	run := func(seed int64) [][]Offer {
		a := newAlloc(t, Config{Seed: seed})
		for i := 0; i < 200; i++ {
			a.AddAgent(fmt.Sprintf("agent%03d", i), res(fmt.Sprintf("cpus:%d;mem:%d", 1+i%4, 1024*(1+i%3))))
		}
		for i := 0; i < 7; i++ {
			a.AddFramework(fmt.Sprintf("fw%d", i), []string{fmt.Sprintf("role%d", i%3)})
		}
		var cycles [][]Offer
		for c := 0; c < 3; c++ {
			offers := a.Cycle(t0.Add(time.Duration(c) * time.Second))
			cycles = append(cycles, offers)
			for k, o := range offers {
				if k%2 == 0 { // frameworks hand back every other offer
					a.Recover(o.AgentID, o.FrameworkID, o.Role, o.Resources)
				}
			}
		}
		return cycles
	}
	first, again := run(42), run(42)
	if !reflect.DeepEqual(first, again) {
		t.Fatalf("same seed, different decisions")
	}
	other := run(43)
	if reflect.DeepEqual(first, other) {
		t.Fatalf("seeds 42 and 43 gave identical decisions; the agent order is not shuffled")
	}
}

func TestRemoveFrameworkFrees(t *testing.T) {
	a := newAlloc(t, Config{})
	for i := 0; i < 4; i++ {
		a.AddAgent(fmt.Sprintf("agent%d", i), res("cpus:2;mem:2048"))
	}
	a.AddFramework("a", []string{"web"})
	if n := len(a.Cycle(t0)); n != 4 {
		t.Fatalf("%d offers, want 4", n)
	}
	a.AddFramework("b", []string{"web"})
	if n := len(a.Cycle(t0)); n != 0 {
		t.Fatalf("%d offers while a holds everything, want 0", n)
	}
	a.RemoveFramework("a")
	if s := a.FrameworkShare("a"); s != 0 {
		t.Fatalf("removed framework share = %v", s)
	}
	for _, r := range a.Roles() {
		if r.Name == "web" && (!r.Allocated.IsEmpty() || !reflect.DeepEqual(r.Frameworks, []string{"b"})) {
			t.Fatalf("role web = %+v, want nothing allocated and only b", r)
		}
	}
	got := byFramework(a.Cycle(t0))
	if got["b"] != 4 {
		t.Fatalf("offers after removal = %v, want all 4 agents to b", got)
	}
}

func TestRemoveAndUpdateAgent(t *testing.T) {
	a := newAlloc(t, Config{})
	a.AddAgent("agent1", res("cpus:4;mem:4096"))
	a.AddAgent("agent2", res("cpus:4;mem:4096"))
	a.AddFramework("a", nil)
	a.Allocate("agent1", "a", "*", res("cpus:2;mem:1024"))
	a.Filter("a", "agent2", res("cpus:4;mem:4096"), t0.Add(time.Hour))

	a.RemoveAgent("agent1")
	if s := a.FrameworkShare("a"); s != 0 {
		t.Fatalf("share after removing the agent holding a's tasks = %v, want 0", s)
	}
	if tot := a.Total(); tot.CPUs != 4 || tot.Mem != 4096 {
		t.Fatalf("total = %v, want cpus:4;mem:4096", tot)
	}
	// The freed slot is reused; the new agent must not inherit filters.
	a.RemoveAgent("agent2")
	a.AddAgent("agent3", res("cpus:8;mem:8192"))
	if o := a.Cycle(t0); len(o) != 1 || o[0].AgentID != "agent3" {
		t.Fatalf("offers = %+v, want agent3 to a", o)
	}
	a.UpdateAgentTotal("agent3", res("cpus:16;mem:8192"))
	if f := a.Free("agent3"); f.CPUs != 8 || f.Mem != 0 {
		t.Fatalf("free after growing the total = %v, want cpus:8 (the rest is offered)", f)
	}
	if tot := a.Total(); tot.CPUs != 16 {
		t.Fatalf("total cpus = %v, want 16", tot.CPUs)
	}
}

func TestRoles(t *testing.T) {
	a := newAlloc(t, Config{Weights: map[string]float64{"prod": 3, "idle": 2}})
	a.AddAgent("agent1", res("cpus:10;mem:1000"))
	a.AddFramework("web2", []string{"prod"})
	a.AddFramework("web1", []string{"prod", "dev"})
	a.Allocate("agent1", "web1", "prod", res("cpus:5;mem:100"))
	got := a.Roles()
	want := []RoleInfo{
		{Name: "dev", Weight: 1, Frameworks: []string{"web1"}},
		{Name: "idle", Weight: 2},
		{Name: "prod", Weight: 3, Allocated: res("cpus:5;mem:100"), Frameworks: []string{"web1", "web2"}, Share: 0.5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Roles() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestFiltersDieWithTheirFramework(t *testing.T) {
	a := newAlloc(t, Config{})
	a.AddAgent("agent1", res("cpus:4;mem:4096"))
	a.AddFramework("a", nil)
	a.Filter("a", "agent1", res("cpus:4;mem:4096"), t0.Add(time.Hour))
	a.RemoveFramework("a")
	// "c" reuses a's slot; "a" re-subscribes later. Neither inherits the filter.
	a.AddFramework("c", nil)
	if o := a.Cycle(t0); len(o) != 1 || o[0].FrameworkID != "c" {
		t.Fatalf("offers = %+v, want agent1 to c", o)
	}
	a.RemoveFramework("c")
	a.AddFramework("a", nil)
	if o := a.Cycle(t0); len(o) != 1 || o[0].FrameworkID != "a" {
		t.Fatalf("offers = %+v, want agent1 to the re-subscribed a", o)
	}
}
