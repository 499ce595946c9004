package placement

import (
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors quote the
// constraint, and that an accepted constraint has a name and can be
// checked against agents with and without the field.
func FuzzParse(f *testing.F) {
	f.Add("hostname", "UNIQUE", "", false)
	f.Add("rack", "CLUSTER", "r1", true)
	f.Add("rack", "GROUP_BY", "3", true)
	f.Add("rack", "GROUP_BY", "", false)
	f.Add("hostname", "LIKE", "web-[0-9]+", true)
	f.Add("hostname", "UNLIKE", "(", true)
	f.Add("rack", "MAX_PER", "2", true)
	f.Add("rack", "MAX_PER", "-1", true)
	f.Add("os", "IS", "linux", true)
	f.Add("", "UNIQUE", "", false)
	f.Add("rack", "NOPE", "", false)
	f.Fuzz(func(t *testing.T, field, op, value string, hasValue bool) {
		c := []string{field, op}
		if hasValue {
			c = append(c, value)
		}
		k, err := Parse(c)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "constraint ") {
				t.Fatalf("Parse(%q) error %q does not quote the constraint", c, err)
			}
			return
		}
		if k.Name() == "" {
			t.Fatalf("Parse(%q) gave a constraint without a name", c)
		}
		with := Agent{ID: "a1", Hostname: value, Attributes: map[string]string{field: value}}
		without := Agent{ID: "a2", Hostname: "h2"}
		for _, placed := range [][]Placement{nil, {{Agent: with}}, {{Agent: with}, {Agent: without}}} {
			for _, a := range []Agent{with, without} {
				if r := k.Check(a, placed); !r.OK && r.Reason == "" {
					t.Fatalf("%s refused agent %+v without a reason", k.Name(), a)
				}
			}
		}
	})
}
