package placement

import (
	"strings"
	"testing"

	"agora/core/mesos"
)

func agent(host string, attrs ...string) Agent {
	a := Agent{ID: "id-" + host, Hostname: host}
	if len(attrs) > 0 {
		a.Attributes = map[string]string{}
		for i := 0; i+1 < len(attrs); i += 2 {
			a.Attributes[attrs[i]] = attrs[i+1]
		}
	}
	return a
}

func on(agents ...Agent) []Placement {
	out := make([]Placement, len(agents))
	for i, a := range agents {
		out[i] = Placement{Agent: a}
	}
	return out
}

func mustParse(t testing.TB, c ...string) Constraint {
	t.Helper()
	k, err := Parse(c)
	if err != nil {
		t.Fatalf("Parse(%q): %v", c, err)
	}
	return k
}

func TestParseErrorsNameTheProblem(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"hostname"}, "want [field, operator]"},
		{[]string{"a", "UNIQUE", "b", "c"}, "want [field, operator]"},
		{[]string{"", "UNIQUE"}, "field is empty"},
		{[]string{"rack", "SPREAD"}, `operator "SPREAD" is unknown; use one of CLUSTER, GROUP_BY, IS, LIKE, MAX_PER, UNIQUE, UNLIKE`},
		{[]string{"rack", "unique"}, `operator "unique" is unknown`},
		{[]string{"hostname", "UNIQUE", "x"}, `UNIQUE takes no value, got "x"`},
		{[]string{"rack", "MAX_PER"}, `MAX_PER value "": want the most instances per rack value`},
		{[]string{"rack", "MAX_PER", "two"}, `MAX_PER value "two"`},
		{[]string{"rack", "MAX_PER", "0"}, `MAX_PER value "0"`},
		{[]string{"rack", "GROUP_BY", "x"}, `GROUP_BY value "x": want the number of rack values`},
		{[]string{"rack", "GROUP_BY", "-1"}, `GROUP_BY value "-1"`},
		{[]string{"rack", "LIKE"}, "LIKE needs a regular expression value"},
		{[]string{"rack", "UNLIKE", ""}, "UNLIKE needs a regular expression value"},
		{[]string{"rack", "LIKE", "r[1-"}, `LIKE value "r[1-" is not a valid regular expression`},
		{[]string{"rack", "IS"}, "IS needs a value"},
	} {
		_, err := Parse(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", tc.in, err, tc.want)
		}
	}
	_, err := ParseAll([][]string{{"hostname", "UNIQUE"}, {"rack", "MAX_PER", "x"}})
	if err == nil || !strings.HasPrefix(err.Error(), "constraints[1]: ") {
		t.Errorf("ParseAll error = %v, want it to name constraints[1]", err)
	}
}

func TestParseNames(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"hostname", "UNIQUE"}, "hostname:UNIQUE"},
		{[]string{"hostname", "UNIQUE", ""}, "hostname:UNIQUE"},
		{[]string{"rack", "CLUSTER"}, "rack:CLUSTER"},
		{[]string{"rack", "CLUSTER", "r1"}, "rack:CLUSTER:r1"},
		{[]string{"rack", "GROUP_BY"}, "rack:GROUP_BY"},
		{[]string{"rack", "GROUP_BY", "3"}, "rack:GROUP_BY:3"},
		{[]string{"rack", "LIKE", "r[1-3]"}, "rack:LIKE:r[1-3]"},
		{[]string{"rack", "UNLIKE", "r9"}, "rack:UNLIKE:r9"},
		{[]string{"rack", "MAX_PER", "2"}, "rack:MAX_PER:2"},
		{[]string{"rack", "IS", "r1"}, "rack:IS:r1"},
	} {
		if got := mustParse(t, tc.in...).Name(); got != tc.want {
			t.Errorf("Parse(%q).Name() = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestOperators(t *testing.T) {
	a1 := agent("a1", "rack", "r1")
	a2 := agent("a2", "rack", "r1")
	b1 := agent("b1", "rack", "r2")
	c1 := agent("c1", "rack", "r3")
	bare := agent("bare")
	r10 := agent("x", "rack", "r10")
	xr1 := agent("y", "rack", "xr1")

	for _, tc := range []struct {
		name   string
		c      []string
		agent  Agent
		placed []Placement
		reason string // empty: allowed
	}{
		{"unique hostname free", []string{"hostname", "UNIQUE"}, a2, on(a1), ""},
		{"unique hostname taken", []string{"hostname", "UNIQUE"}, a1, on(a1), "hostname:a1 already has an instance (UNIQUE)"},
		{"unique attribute taken by another host", []string{"rack", "UNIQUE"}, a2, on(a1), "rack:r1 already has an instance (UNIQUE)"},
		{"unique attribute free", []string{"rack", "UNIQUE"}, b1, on(a1), ""},
		{"unique attribute missing", []string{"rack", "UNIQUE"}, bare, nil, "agent has no attribute rack (rack:UNIQUE)"},

		{"cluster value matches", []string{"rack", "CLUSTER", "r1"}, a2, nil, ""},
		{"cluster value differs", []string{"rack", "CLUSTER", "r1"}, b1, nil, "rack:r2 is not rack:r1 (CLUSTER)"},
		{"cluster value missing attribute", []string{"rack", "CLUSTER", "r1"}, bare, nil, "agent has no attribute rack (rack:CLUSTER:r1)"},
		{"cluster hostname value", []string{"hostname", "CLUSTER", "a1"}, a2, nil, "hostname:a2 is not hostname:a1 (CLUSTER)"},
		{"cluster no value first instance anywhere", []string{"rack", "CLUSTER"}, b1, nil, ""},
		{"cluster no value follows first", []string{"rack", "CLUSTER"}, a2, on(a1), ""},
		{"cluster no value elsewhere", []string{"rack", "CLUSTER"}, b1, on(a1, a2), "instances run on rack:r1, not rack:r2 (CLUSTER)"},
		{"cluster no value missing attribute", []string{"rack", "CLUSTER"}, bare, nil, "agent has no attribute rack (rack:CLUSTER)"},
		{"cluster hostname no value", []string{"hostname", "CLUSTER"}, a2, on(a1), "instances run on hostname:a1, not hostname:a2 (CLUSTER)"},

		{"group_by new value", []string{"rack", "GROUP_BY"}, b1, on(a1, a2), ""},
		{"group_by no count allows the only used value", []string{"rack", "GROUP_BY"}, a2, on(a1), ""},
		{"group_by fuller value refused", []string{"rack", "GROUP_BY"}, a2, on(a1, a2, b1), "rack:r1 has 2 instances, more than the least used rack value with 1 (GROUP_BY)"},
		{"group_by least used allowed", []string{"rack", "GROUP_BY"}, b1, on(a1, a2, b1), ""},
		{"group_by count waits for more values", []string{"rack", "GROUP_BY", "3"}, a2, on(a1), "rack:r1 already has an instance and only 1 of 3 rack values are used (GROUP_BY 3)"},
		{"group_by count new value", []string{"rack", "GROUP_BY", "3"}, b1, on(a1), ""},
		{"group_by count reached", []string{"rack", "GROUP_BY", "3"}, a2, on(a1, b1, c1), ""},
		{"group_by missing attribute", []string{"rack", "GROUP_BY"}, bare, nil, "agent has no attribute rack (rack:GROUP_BY)"},

		{"like full match", []string{"rack", "LIKE", "r[1-3]"}, a1, nil, ""},
		{"like is not a substring match", []string{"rack", "LIKE", "r[1-3]"}, r10, nil, "rack:r10 does not match r[1-3] (LIKE)"},
		{"like anchored at start", []string{"rack", "LIKE", "r[1-3]"}, xr1, nil, "rack:xr1 does not match r[1-3] (LIKE)"},
		{"like alternation is anchored as a whole", []string{"rack", "LIKE", "r1|r2"}, r10, nil, "rack:r10 does not match r1|r2 (LIKE)"},
		{"like any value", []string{"rack", "LIKE", ".*"}, a1, nil, ""},
		{"like missing attribute", []string{"rack", "LIKE", ".*"}, bare, nil, "agent has no attribute rack (rack:LIKE:.*)"},
		{"like hostname", []string{"hostname", "LIKE", "a[0-9]+"}, a2, nil, ""},
		{"unlike match refused", []string{"rack", "UNLIKE", "r[1-2]"}, b1, nil, "rack:r2 matches r[1-2] (UNLIKE)"},
		{"unlike partial match allowed", []string{"rack", "UNLIKE", "r1"}, r10, nil, ""},
		{"unlike missing attribute allowed", []string{"rack", "UNLIKE", "r1"}, bare, nil, ""},

		{"max_per under", []string{"rack", "MAX_PER", "2"}, a2, on(a1), ""},
		{"max_per reached", []string{"rack", "MAX_PER", "2"}, a2, on(a1, a1, b1), "rack:r1 already has 2 instances (MAX_PER 2)"},
		{"max_per hostname", []string{"hostname", "MAX_PER", "1"}, a1, on(a1), "hostname:a1 already has an instance (MAX_PER 1)"},
		{"max_per missing attribute", []string{"rack", "MAX_PER", "2"}, bare, nil, "agent has no attribute rack (rack:MAX_PER:2)"},

		{"is equal", []string{"rack", "IS", "r1"}, a1, nil, ""},
		{"is differs", []string{"rack", "IS", "r1"}, r10, nil, "rack:r10 is not r1 (IS)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustParse(t, tc.c...).Check(tc.agent, tc.placed)
			if got.OK != (tc.reason == "") || got.Reason != tc.reason {
				t.Errorf("Check = %+v, want reason %q", got, tc.reason)
			}
		})
	}
}

func TestOfferFromMesosRendersAttributesAsMarathonCompares(t *testing.T) {
	attrs, err := mesos.ParseAttributes("rack:r1;level:3;weight:2.5")
	if err != nil {
		t.Fatal(err)
	}
	attrs = append(attrs,
		mesos.Attribute{Name: "ports", Type: mesos.Ranges, Ranges: &mesos.ValueRanges{Range: []mesos.ValueRange{{Begin: 100, End: 200}, {Begin: 300, End: 300}}}},
		mesos.Attribute{Name: "disks", Type: mesos.Set, Set: &mesos.ValueSet{Item: []string{"a", "b"}}})
	o, err := OfferFromMesos(mesos.Offer{
		ID: mesos.OfferID{Value: "o1"}, AgentID: mesos.AgentID{Value: "ag1"}, Hostname: "h1",
		Resources: []mesos.Resource{
			{Name: "cpus", Type: mesos.Scalar, Scalar: &mesos.ValueScalar{Value: 2}},
			{Name: "ports", Type: mesos.Ranges, Ranges: &mesos.ValueRanges{Range: []mesos.ValueRange{{Begin: 31000, End: 31009}}}},
		},
		Attributes: attrs,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"rack": "r1", "level": "3", "weight": "2.5", "ports": "[100-200,300-300]", "disks": "{a,b}"}
	for k, v := range want {
		if o.Agent.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, o.Agent.Attributes[k], v)
		}
	}
	if o.ID != "o1" || o.Agent.ID != "ag1" || o.Agent.Hostname != "h1" || o.Resources.CPUs != 2 || o.Resources.Ports.Size() != 10 {
		t.Errorf("offer = %+v", o)
	}
	if !mustParse(t, "level", "LIKE", "[0-9]+").Check(o.Agent, nil).OK {
		t.Error("level:3 should match [0-9]+")
	}

	_, err = OfferFromMesos(mesos.Offer{ID: mesos.OfferID{Value: "o2"}, Resources: []mesos.Resource{{Name: "cpus", Type: mesos.Scalar}}})
	if err == nil || !strings.Contains(err.Error(), "offer o2 resources[0]") {
		t.Errorf("bad offer error = %v, want it to name offer o2 resources[0]", err)
	}
}
