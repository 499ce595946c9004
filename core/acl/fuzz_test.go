package acl

import (
	"bytes"
	"testing"
)

// FuzzParseACLs checks that Parse never panics, that an accepted file
// survives Marshal -> Parse unchanged (same bytes on the second Marshal),
// and that deciding with it never panics and agrees with Why.
func FuzzParseACLs(f *testing.F) {
	for _, s := range []string{
		`{"permissive": true}`,
		`{"permissive": false, "run_tasks": [{"principals": {"type": "NONE"}, "users": {"values": ["root"]}}]}`,
		`{"register_frameworks": [{"principals": {"values": ["team-a"]}, "roles": {"values": ["team-a"]}}]}`,
		`{"manage_apps": [{"principals": {"values": ["team-a"]}, "apps": {"values": ["/team-a", "/"]}}]}`,
		`{"view_jobs": [{"jobs": {"values": ["team-a"]}}], "manage_acls": [{"principals": {"type": "ANY"}}]}`,
		`{"run_tasks": [{"users": {"type": "SOMETIMES"}}]}`,
		`{"run_tasks": [], "run_tasks": []}`,
		`{"permissive": true} x`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Parse(data)
		if err != nil {
			if a != nil {
				t.Fatalf("Parse returned ACLs and an error %v", err)
			}
			return
		}
		out, err := a.Marshal()
		if err != nil {
			t.Fatalf("Marshal of accepted ACLs: %v", err)
		}
		b, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal()) = %v\n%s", err, out)
		}
		again, err := b.Marshal()
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("round trip changed the ACLs (%v):\n%s\nthen\n%s", err, out, again)
		}
		for _, act := range Actions() {
			for _, p := range []string{"", "team-a", "root"} {
				for _, o := range []string{"", "root", "/team-a/web", "team-a.nightly", "*"} {
					ok, why := a.Why(p, act, o)
					if ok != a.Allowed(p, act, o) || why == "" {
						t.Fatalf("Why/Allowed disagree or no reason for %q %s %q", p, act, o)
					}
					if ok != b.Allowed(p, act, o) {
						t.Fatalf("decision changed over the round trip for %q %s %q", p, act, o)
					}
				}
			}
		}
	})
}
