package placement

import (
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"agora/core/resources"
)

func offer(id string, a Agent, res string) Offer {
	r, err := resources.Parse(res)
	if err != nil {
		panic(err)
	}
	return Offer{ID: id, Agent: a, Resources: r}
}

func small() resources.Resources { return resources.Resources{CPUs: 0.5, Mem: 128} }

func mustMatch(t *testing.T, req Request, offers []Offer, placed []Placement) Plan {
	t.Helper()
	p, err := Match(req, offers, placed)
	if err != nil {
		t.Fatalf("Match: %v", err)
	}
	checkNoOvercommit(t, offers, p)
	return p
}

// checkNoOvercommit asserts that what a plan takes from each offer fits in it.
func checkNoOvercommit(t *testing.T, offers []Offer, p Plan) {
	t.Helper()
	used := map[string]resources.Resources{}
	for _, l := range p.Launches {
		u := used[l.OfferID]
		if u.Ports.Contains(l.Resources.Ports) && len(l.Resources.Ports) > 0 {
			t.Errorf("offer %s: ports %s handed out twice", l.OfferID, l.Resources.Ports)
		}
		used[l.OfferID] = u.Add(l.Resources)
		if len(l.Ports) != int(l.Resources.Ports.Size()) {
			t.Errorf("launch ports %v do not match resources %s", l.Ports, l.Resources.Ports)
		}
	}
	for _, o := range offers {
		if u, ok := used[o.ID]; ok && !o.Resources.Contains(u) {
			t.Errorf("offer %s over-committed: offered %s, planned %s", o.ID, o.Resources, u)
		}
	}
}

func hosts(p Plan) []string {
	out := make([]string, len(p.Launches))
	for i, l := range p.Launches {
		out[i] = l.Agent.Hostname
	}
	return out
}

func TestMatchResources(t *testing.T) {
	for _, tc := range []struct {
		name      string
		need      resources.Resources
		instances int
		offers    []Offer
		placed    int
		reasons   []Rejection
	}{
		{"fits", resources.Resources{CPUs: 1, Mem: 512}, 1,
			[]Offer{offer("o1", agent("a"), "cpus:1;mem:512")}, 1, nil},
		{"insufficient mem", resources.Resources{CPUs: 1, Mem: 512}, 1,
			[]Offer{offer("o1", agent("a"), "cpus:4;mem:256"), offer("o2", agent("b"), "cpus:4;mem:256")}, 0,
			[]Rejection{{"insufficient mem (need 512, have 256)", 2}}},
		{"insufficient cpus checked first", resources.Resources{CPUs: 2, Mem: 512}, 1,
			[]Offer{offer("o1", agent("a"), "cpus:1;mem:256")}, 0,
			[]Rejection{{"insufficient cpus (need 2, have 1)", 1}}},
		{"disk and gpus", resources.Resources{CPUs: 1, Mem: 1, Disk: 100, GPUs: 1}, 2,
			[]Offer{offer("o1", agent("a"), "cpus:4;mem:256;disk:50;gpus:1"), offer("o2", agent("b"), "cpus:4;mem:256;disk:500")}, 0,
			[]Rejection{{"insufficient disk (need 100, have 50)", 1}, {"insufficient gpus (need 1, have 0)", 1}}},
		{"never over-commits one offer", resources.Resources{CPUs: 0.5, Mem: 100}, 10,
			[]Offer{offer("o1", agent("a"), "cpus:2;mem:1000")}, 4,
			[]Rejection{{"insufficient cpus (need 0.5, have 0)", 1}}},
		{"fractional cpus do not drift", resources.Resources{CPUs: 0.1, Mem: 1}, 11,
			[]Offer{offer("o1", agent("a"), "cpus:1;mem:100")}, 10,
			[]Rejection{{"insufficient cpus (need 0.1, have 0)", 1}}},
		{"several offers of one agent are counted once", resources.Resources{CPUs: 1}, 3,
			[]Offer{offer("o1", agent("a"), "cpus:1"), offer("o2", agent("a"), "cpus:1")}, 2,
			[]Rejection{{"insufficient cpus (need 1, have 0)", 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustMatch(t, Request{Instances: tc.instances, Resources: tc.need}, tc.offers, nil)
			if len(p.Launches) != tc.placed || p.Unplaced != tc.instances-tc.placed {
				t.Fatalf("placed %d, unplaced %d; want %d placed", len(p.Launches), p.Unplaced, tc.placed)
			}
			if !reflect.DeepEqual(p.Rejections, tc.reasons) {
				t.Errorf("rejections = %v, want %v", p.Rejections, tc.reasons)
			}
			for _, l := range p.Launches {
				if l.Resources.CPUs != tc.need.CPUs || l.Resources.Mem != tc.need.Mem {
					t.Errorf("launch resources %s, want %s", l.Resources, tc.need)
				}
			}
		})
	}
}

func TestMatchPorts(t *testing.T) {
	a, b := agent("a"), agent("b")
	for _, tc := range []struct {
		name      string
		hostPorts []uint64
		instances int
		offers    []Offer
		want      [][]uint64 // ports per launch
		reasons   []Rejection
		agentWhy  map[string]string
	}{
		{"any ports take the lowest free", []uint64{0, 0}, 2,
			[]Offer{offer("o1", a, "cpus:4;mem:4096;ports:[31000-31002,31005-31010]")},
			[][]uint64{{31000, 31001}, {31002, 31005}}, nil, nil},
		{"requirePorts on the offer that has them", []uint64{8080, 8081}, 1,
			[]Offer{offer("o1", a, "cpus:4;mem:4096;ports:[31000-32000]"), offer("o2", b, "cpus:4;mem:4096;ports:[8000-9000]")},
			[][]uint64{{8080, 8081}}, nil, nil},
		{"a fixed port is used once per agent", []uint64{8080}, 3,
			[]Offer{offer("o1", a, "cpus:4;mem:4096;ports:[8080-8090]"), offer("o2", b, "cpus:4;mem:4096;ports:[8080-8080]")},
			[][]uint64{{8080}, {8080}},
			[]Rejection{{"host port 8080 is not offered", 2}},
			map[string]string{"id-a": "host port 8080 is not offered (free: [8081-8090])", "id-b": "host port 8080 is not offered (free: [])"}},
		{"fixed host port with any port keeps order and avoids the fixed one", []uint64{0, 31000, 0}, 1,
			[]Offer{offer("o1", a, "cpus:4;mem:4096;ports:[31000-31010]")},
			[][]uint64{{31001, 31000, 31002}}, nil, nil},
		{"insufficient ports", []uint64{0, 0, 0}, 1,
			[]Offer{offer("o1", a, "cpus:4;mem:4096;ports:[31000-31001]"), offer("o2", b, "cpus:4;mem:4096")},
			nil,
			[]Rejection{{"insufficient ports (need 3, have 0)", 1}, {"insufficient ports (need 3, have 2)", 1}}, nil},
		{"no ports needed ignores port ranges", nil, 1,
			[]Offer{offer("o1", a, "cpus:4;mem:4096")}, [][]uint64{nil}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := Request{Instances: tc.instances, Resources: small(), HostPorts: tc.hostPorts}
			p := mustMatch(t, req, tc.offers, nil)
			var got [][]uint64
			for _, l := range p.Launches {
				got = append(got, l.Ports)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ports = %v, want %v", got, tc.want)
			}
			if !reflect.DeepEqual(p.Rejections, tc.reasons) {
				t.Errorf("rejections = %v, want %v", p.Rejections, tc.reasons)
			}
			for id, why := range tc.agentWhy {
				if p.AgentReasons[id] != why {
					t.Errorf("agent %s reason %q, want %q", id, p.AgentReasons[id], why)
				}
			}
		})
	}
}

func TestMatchUniqueAcrossOffers(t *testing.T) {
	var offers []Offer
	for i, h := range []string{"a", "b", "c"} {
		// Two offers per agent: UNIQUE is per agent, not per offer.
		offers = append(offers, offer(fmt.Sprintf("o%d", 2*i), agent(h), "cpus:8;mem:8192"), offer(fmt.Sprintf("o%d", 2*i+1), agent(h), "cpus:8;mem:8192"))
	}
	req := Request{Instances: 5, Resources: small(), Constraints: []Constraint{mustParse(t, "hostname", "UNIQUE")}}
	p := mustMatch(t, req, offers, on(agent("b")))
	if got := hosts(p); !reflect.DeepEqual(got, []string{"a", "c"}) {
		t.Errorf("placed on %v, want [a c] (b already runs one)", got)
	}
	if p.Unplaced != 3 {
		t.Errorf("unplaced = %d, want 3", p.Unplaced)
	}
	want := []Rejection{{"constraint hostname:UNIQUE", 3}}
	if !reflect.DeepEqual(p.Rejections, want) {
		t.Errorf("rejections = %v, want %v", p.Rejections, want)
	}
	if got := p.AgentReasons["id-b"]; got != "hostname:b already has an instance (UNIQUE)" {
		t.Errorf("agent b reason = %q", got)
	}
}

func TestMatchConstraints(t *testing.T) {
	racks := []Offer{
		offer("o1", agent("a1", "rack", "r1"), "cpus:8;mem:8192"),
		offer("o2", agent("a2", "rack", "r1"), "cpus:8;mem:8192"),
		offer("o3", agent("b1", "rack", "r2"), "cpus:8;mem:8192"),
		offer("o4", agent("c1", "rack", "r3"), "cpus:8;mem:8192"),
		offer("o5", agent("bare"), "cpus:8;mem:8192"),
	}
	for _, tc := range []struct {
		name      string
		c         [][]string
		instances int
		placed    []Placement
		perRack   map[string]int
		reasons   []Rejection
	}{
		{"group_by spreads evenly over visible racks", [][]string{{"rack", "GROUP_BY"}}, 6, nil,
			map[string]int{"r1": 2, "r2": 2, "r3": 2}, nil},
		{"group_by with count fills the emptier racks first", [][]string{{"rack", "GROUP_BY", "3"}}, 3, on(agent("a1", "rack", "r1"), agent("a1", "rack", "r1")),
			map[string]int{"r2": 2, "r3": 1}, nil},
		{"max_per caps each rack", [][]string{{"rack", "MAX_PER", "2"}}, 7, nil,
			map[string]int{"r1": 2, "r2": 2, "r3": 2},
			[]Rejection{{"constraint rack:MAX_PER:2", 5}}},
		{"cluster with value", [][]string{{"rack", "CLUSTER", "r2"}}, 3, nil,
			map[string]int{"r2": 3}, nil},
		{"cluster without value follows the running instances", [][]string{{"rack", "CLUSTER"}}, 2, on(agent("c1", "rack", "r3")),
			map[string]int{"r3": 2}, nil},
		{"like", [][]string{{"rack", "LIKE", "r[23]"}, {"hostname", "UNIQUE"}}, 3, nil,
			map[string]int{"r2": 1, "r3": 1},
			[]Rejection{{"constraint rack:LIKE:r[23]", 3}, {"constraint hostname:UNIQUE", 2}}},
		{"unlike accepts agents without the attribute", [][]string{{"rack", "UNLIKE", "r1"}, {"hostname", "UNIQUE"}}, 3, nil,
			map[string]int{"r2": 1, "r3": 1, "": 1}, nil},
		{"unique rack with one instance left over", [][]string{{"rack", "UNIQUE"}}, 4, nil,
			map[string]int{"r1": 1, "r2": 1, "r3": 1},
			[]Rejection{{"constraint rack:UNIQUE", 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := ParseAll(tc.c)
			if err != nil {
				t.Fatal(err)
			}
			p := mustMatch(t, Request{Instances: tc.instances, Resources: small(), Constraints: cs}, racks, tc.placed)
			got := map[string]int{}
			for _, l := range p.Launches {
				got[l.Agent.Attributes["rack"]]++
			}
			if !reflect.DeepEqual(got, tc.perRack) {
				t.Errorf("instances per rack = %v, want %v", got, tc.perRack)
			}
			if !reflect.DeepEqual(p.Rejections, tc.reasons) {
				t.Errorf("rejections = %v, want %v", p.Rejections, tc.reasons)
			}
			if p.Unplaced > 0 && p.AgentReasons["id-bare"] == "" {
				t.Errorf("no reason for the agent without a rack: %v", p.AgentReasons)
			}
		})
	}
}

// The example of the brief: hosts that already run the app and hosts that
// are too small are reported separately, and every agent has its own line.
func TestMatchRejectionSummary(t *testing.T) {
	var offers []Offer
	var placed []Placement
	for i := range 12 {
		a := agent(fmt.Sprintf("busy%02d", i))
		offers = append(offers, offer("b"+a.Hostname, a, "cpus:4;mem:4096"))
		placed = append(placed, Placement{Agent: a})
	}
	for i := range 3 {
		a := agent(fmt.Sprintf("small%d", i))
		offers = append(offers, offer("s"+a.Hostname, a, "cpus:4;mem:256"))
	}
	req := Request{Instances: 2, Resources: resources.Resources{CPUs: 1, Mem: 512}, Constraints: []Constraint{mustParse(t, "hostname", "UNIQUE")}}
	p := mustMatch(t, req, offers, placed)
	want := []Rejection{{"constraint hostname:UNIQUE", 12}, {"insufficient mem (need 512, have 256)", 3}}
	if p.Unplaced != 2 || !reflect.DeepEqual(p.Rejections, want) {
		t.Fatalf("unplaced %d, rejections %v; want 2, %v", p.Unplaced, p.Rejections, want)
	}
	if len(p.AgentReasons) != 15 || p.AgentReasons["id-busy03"] != "hostname:busy03 already has an instance (UNIQUE)" ||
		p.AgentReasons["id-small1"] != "insufficient mem (need 512, have 256)" {
		t.Errorf("agent reasons = %v", p.AgentReasons)
	}
}

func TestMatchPacking(t *testing.T) {
	t.Run("fills the partly used agent before breaking into an empty one", func(t *testing.T) {
		offers := []Offer{
			offer("empty", agent("e"), "cpus:8;mem:8192"),
			offer("partly", agent("p"), "cpus:2;mem:2048"),
			offer("empty2", agent("e2"), "cpus:8;mem:8192"),
		}
		p := mustMatch(t, Request{Instances: 5, Resources: resources.Resources{CPUs: 1, Mem: 1024}}, offers, nil)
		if got := hosts(p); !reflect.DeepEqual(got, []string{"p", "p", "e", "e", "e"}) {
			t.Errorf("placed on %v, want the partly used agent filled first, then one empty agent", got)
		}
	})
	t.Run("keeps GPU agents for apps that need GPUs", func(t *testing.T) {
		offers := []Offer{
			offer("gpu", agent("g"), "cpus:2;mem:1024;gpus:1"),
			offer("plain", agent("c"), "cpus:8;mem:8192"),
		}
		p := mustMatch(t, Request{Instances: 1, Resources: resources.Resources{CPUs: 1, Mem: 512}}, offers, nil)
		if got := hosts(p); !reflect.DeepEqual(got, []string{"c"}) {
			t.Errorf("placed on %v, want the plain agent", got)
		}
		p = mustMatch(t, Request{Instances: 1, Resources: resources.Resources{CPUs: 1, Mem: 512, GPUs: 1}}, offers, nil)
		if got := hosts(p); !reflect.DeepEqual(got, []string{"g"}) {
			t.Errorf("GPU app placed on %v, want g", got)
		}
	})
}

type noHost string

func (n noHost) Name() string { return "not:" + string(n) }
func (n noHost) Check(a Agent, _ []Placement) Result {
	if a.Hostname == string(n) {
		return Result{Reason: "agent " + string(n) + " is excluded"}
	}
	return Result{OK: true}
}

func TestMatchCustomConstraint(t *testing.T) {
	offers := []Offer{offer("o1", agent("a"), "cpus:8;mem:4096"), offer("o2", agent("b"), "cpus:8;mem:4096")}
	p := mustMatch(t, Request{Instances: 1, Resources: small(), Constraints: []Constraint{noHost("a")}}, offers, nil)
	if got := hosts(p); !reflect.DeepEqual(got, []string{"b"}) {
		t.Errorf("placed on %v, want b", got)
	}
	p = mustMatch(t, Request{Instances: 1, Resources: small(), Constraints: []Constraint{noHost("a"), noHost("b")}}, offers, nil)
	want := []Rejection{{"constraint not:a", 1}, {"constraint not:b", 1}}
	if !reflect.DeepEqual(p.Rejections, want) || p.AgentReasons["id-a"] != "agent a is excluded" {
		t.Errorf("rejections %v, reasons %v", p.Rejections, p.AgentReasons)
	}
}

func TestMatchLeavesInputsAlone(t *testing.T) {
	offers := []Offer{offer("o1", agent("a"), "cpus:4;mem:4096;ports:[31000-31010]")}
	before := offers[0].Resources.Ports.String()
	placed := on(agent("z"))
	p := mustMatch(t, Request{Instances: 3, Resources: small(), HostPorts: []uint64{0}}, offers, placed)
	if len(p.Launches) != 3 || offers[0].Resources.Ports.String() != before || offers[0].Resources.CPUs != 4 || len(placed) != 1 {
		t.Errorf("inputs changed: %+v", offers[0])
	}
	p2 := mustMatch(t, Request{Instances: 3, Resources: small(), HostPorts: []uint64{0}}, offers, placed)
	if !reflect.DeepEqual(p, p2) {
		t.Error("the same inputs gave different plans")
	}
}

func TestMatchValidates(t *testing.T) {
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Instances: -1}, "instances: -1 is negative"},
		{Request{Resources: resources.Resources{Mem: -1}}, "resources.mem"},
		{Request{Resources: resources.Resources{Ports: resources.Ranges{{Begin: 1, End: 2}}}}, "resources.ports"},
		{Request{HostPorts: []uint64{8080, 0, 8080}}, "hostPorts[2]: port 8080 is already hostPorts[0]"},
		{Request{HostPorts: []uint64{70000}}, "hostPorts[0]: 70000 is above 65535"},
		{Request{Constraints: []Constraint{nil}}, "constraints[0]: is nil"},
	} {
		if _, err := Match(tc.req, nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Match(%+v) error = %v, want %q", tc.req, err, tc.want)
		}
	}
	p, err := Match(Request{Instances: 2, Resources: small()}, nil, nil)
	if err != nil || p.Unplaced != 2 || len(p.Rejections) != 0 {
		t.Errorf("no offers: plan %+v, err %v", p, err)
	}
}

// Match's incremental bookkeeping must agree with each constraint's own
// Check over the instances placed so far, on random clusters.
func TestMatchAgreesWithCheck(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	specs := [][]string{
		{"hostname", "UNIQUE"}, {"rack", "UNIQUE"}, {"rack", "CLUSTER"}, {"rack", "CLUSTER", "r1"},
		{"rack", "GROUP_BY"}, {"rack", "GROUP_BY", "3"}, {"zone", "GROUP_BY", "2"}, {"rack", "LIKE", "r[0-2]"},
		{"zone", "UNLIKE", "z1"}, {"rack", "MAX_PER", "2"}, {"hostname", "MAX_PER", "3"}, {"zone", "IS", "z0"},
	}
	for iter := range 300 {
		var pool []Agent
		for h := range 10 {
			attrs := []string{"rack", fmt.Sprintf("r%d", rng.Intn(5))}
			if rng.Intn(4) > 0 {
				attrs = append(attrs, "zone", fmt.Sprintf("z%d", rng.Intn(3)))
			}
			pool = append(pool, agent(fmt.Sprintf("h%d", h), attrs...))
		}
		var offers []Offer
		for i := range 1 + rng.Intn(12) {
			a := pool[rng.Intn(len(pool))]
			offers = append(offers, offer(fmt.Sprintf("o%d", i), a, fmt.Sprintf("cpus:%d;mem:4096", 1+rng.Intn(4))))
		}
		var placed []Placement
		for range rng.Intn(4) {
			placed = append(placed, Placement{Agent: offers[rng.Intn(len(offers))].Agent})
		}
		var cs []Constraint
		for range 1 + rng.Intn(2) {
			cs = append(cs, mustParse(t, specs[rng.Intn(len(specs))]...))
		}
		req := Request{Instances: 1 + rng.Intn(10), Resources: resources.Resources{CPUs: 1, Mem: 64}, Constraints: cs}
		p := mustMatch(t, req, offers, placed)
		all := append([]Placement(nil), placed...)
		for _, l := range p.Launches {
			for _, c := range cs {
				if r := c.Check(l.Agent, all); !r.OK {
					t.Fatalf("iter %d: placed on %s although %s says %q", iter, l.Agent.Hostname, c.Name(), r.Reason)
				}
			}
			all = append(all, Placement{Agent: l.Agent})
		}
		if p.Unplaced == 0 {
			continue
		}
		// Every agent with room must be refused by some constraint, with the
		// reason Check gives.
		left := map[string]float64{}
		for _, o := range offers {
			left[o.ID] = o.Resources.CPUs
		}
		for _, l := range p.Launches {
			left[l.OfferID] -= 1
		}
		for _, o := range offers {
			if left[o.ID] < 1 {
				continue
			}
			refused := false
			for _, c := range cs {
				if r := c.Check(o.Agent, all); !r.OK {
					refused = true
				}
			}
			if !refused {
				t.Fatalf("iter %d: %d unplaced but offer %s on %s takes another", iter, p.Unplaced, o.ID, o.Agent.Hostname)
			}
		}
	}
}

// naiveMatch is the documented preference order written as a plain scan of
// every offer for every instance, with constraints asked through Check.
func naiveMatch(req Request, offers []Offer, placed []Placement) []string {
	free := make([]resources.Resources, len(offers))
	for i, o := range offers {
		free[i] = o.Resources
	}
	all := append([]Placement(nil), placed...)
	var out []string
	for range req.Instances {
		best, bestKey := -1, key{}
		for i, o := range offers {
			f := free[i]
			if f.CPUs < req.Resources.CPUs || f.Mem < req.Resources.Mem || f.Disk < req.Resources.Disk || f.GPUs < req.Resources.GPUs {
				continue
			}
			ok := true
			for _, c := range req.Constraints {
				ok = ok && c.Check(o.Agent, all).OK
			}
			if !ok {
				continue
			}
			k := key{gpu: req.Resources.GPUs == 0 && o.Resources.GPUs > 0}
			for _, c := range req.Constraints {
				if g, isGroup := c.(groupBy); isGroup {
					v, _ := o.Agent.Field(g.f)
					for _, p := range all {
						if pv, has := p.Agent.Field(g.f); has && pv == v {
							k.spread++
						}
					}
				}
			}
			need := [4]float64{req.Resources.CPUs, req.Resources.Mem, req.Resources.Disk, req.Resources.GPUs}
			for j, d := range [][2]float64{{f.CPUs, o.Resources.CPUs}, {f.Mem, o.Resources.Mem}, {f.Disk, o.Resources.Disk}, {f.GPUs, o.Resources.GPUs}} {
				if d[1] > 0 {
					k.fit += (d[0] - need[j]) / d[1] // free after placing, as a share of the offer
				}
			}
			if best < 0 || k.less(bestKey) {
				best, bestKey = i, k
			}
		}
		if best < 0 {
			break
		}
		free[best] = free[best].Sub(req.Resources)
		all = append(all, Placement{Agent: offers[best].Agent})
		out = append(out, offers[best].ID)
	}
	return out
}

// Match's heap must choose exactly what a full scan in the documented order
// chooses.
func TestMatchEqualsFullScan(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	specs := [][]string{
		{"hostname", "UNIQUE"}, {"rack", "GROUP_BY"}, {"rack", "GROUP_BY", "3"}, {"zone", "GROUP_BY"},
		{"rack", "MAX_PER", "3"}, {"zone", "UNLIKE", "z1"}, {"rack", "CLUSTER"},
	}
	for iter := range 300 {
		var pool []Agent
		for h := range 12 {
			pool = append(pool, agent(fmt.Sprintf("h%d", h), "rack", fmt.Sprintf("r%d", rng.Intn(4)), "zone", fmt.Sprintf("z%d", rng.Intn(3))))
		}
		var offers []Offer
		for i := range 1 + rng.Intn(15) {
			res := fmt.Sprintf("cpus:%d;mem:%d", 1+rng.Intn(6), 512*(1+rng.Intn(6)))
			if rng.Intn(5) == 0 {
				res += ";gpus:1"
			}
			offers = append(offers, offer(fmt.Sprintf("o%d", i), pool[rng.Intn(len(pool))], res))
		}
		var placed []Placement
		for range rng.Intn(3) {
			placed = append(placed, Placement{Agent: pool[rng.Intn(len(pool))]})
		}
		var cs []Constraint
		for range rng.Intn(3) {
			cs = append(cs, mustParse(t, specs[rng.Intn(len(specs))]...))
		}
		req := Request{Instances: 1 + rng.Intn(20), Resources: resources.Resources{CPUs: 0.5 * float64(1+rng.Intn(3)), Mem: 256}, Constraints: cs}
		p := mustMatch(t, req, offers, placed)
		var got []string
		for _, l := range p.Launches {
			got = append(got, l.OfferID)
		}
		if want := naiveMatch(req, offers, placed); !reflect.DeepEqual(got, want) {
			t.Fatalf("iter %d: Match chose %v, a full scan chooses %v (constraints %v)", iter, got, want, cs)
		}
	}
}
