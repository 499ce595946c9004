package acl

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func mustParse(t testing.TB, s string) *ACLs {
	t.Helper()
	a, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse(%s): %v", s, err)
	}
	return a
}

func TestDecisions(t *testing.T) {
	cases := []struct {
		name      string
		acls      string
		principal string
		action    Action
		object    string
		want      bool
	}{
		// SOME subject and SOME object.
		{"some/some match", `{"permissive":false,"register_frameworks":[{"principals":{"values":["team-a"]},"roles":{"values":["team-a"]}}]}`, "team-a", RegisterFrameworks, "team-a", true},
		{"some/some other role falls to permissive false", `{"permissive":false,"register_frameworks":[{"principals":{"values":["team-a"]},"roles":{"values":["team-a"]}}]}`, "team-a", RegisterFrameworks, "team-b", false},
		{"some/some other principal falls to permissive true", `{"register_frameworks":[{"principals":{"values":["team-a"]},"roles":{"values":["team-a"]}}]}`, "team-b", RegisterFrameworks, "team-a", true},
		{"type SOME spelled out", `{"permissive":false,"run_tasks":[{"principals":{"type":"SOME","values":["ci"]},"users":{"values":["nobody"]}}]}`, "ci", RunTasks, "nobody", true},
		// ANY.
		{"ANY subject allows named object", `{"permissive":false,"run_tasks":[{"principals":{"type":"ANY"},"users":{"values":["nobody"]}}]}`, "whoever", RunTasks, "nobody", true},
		{"ANY object allows named principal", `{"permissive":false,"run_tasks":[{"principals":{"values":["ops"]},"users":{"type":"ANY"}}]}`, "ops", RunTasks, "root", true},
		{"omitted object is ANY", `{"permissive":false,"run_tasks":[{"principals":{"values":["ops"]}}]}`, "ops", RunTasks, "root", true},
		{"omitted subject is ANY", `{"permissive":false,"run_tasks":[{"users":{"values":["nobody"]}}]}`, "x", RunTasks, "nobody", true},
		// NONE.
		{"NONE subject denies everybody", `{"run_tasks":[{"principals":{"type":"NONE"},"users":{"values":["root"]}}]}`, "ops", RunTasks, "root", false},
		{"NONE subject leaves other objects to permissive", `{"run_tasks":[{"principals":{"type":"NONE"},"users":{"values":["root"]}}]}`, "ops", RunTasks, "nobody", true},
		{"NONE object denies named principal", `{"teardown_frameworks":[{"principals":{"values":["ci"]},"framework_principals":{"type":"NONE"}}]}`, "ci", TeardownFrameworks, "ops", false},
		{"NONE object does not touch others", `{"teardown_frameworks":[{"principals":{"values":["ci"]},"framework_principals":{"type":"NONE"}}]}`, "ops", TeardownFrameworks, "ops", true},
		// Rule order.
		{"first match wins: allow before deny", `{"run_tasks":[{"principals":{"values":["ops"]},"users":{"values":["root"]}},{"principals":{"type":"NONE"},"users":{"values":["root"]}}]}`, "ops", RunTasks, "root", true},
		{"first match wins: deny before allow", `{"run_tasks":[{"principals":{"type":"NONE"},"users":{"values":["root"]}},{"principals":{"values":["ops"]},"users":{"values":["root"]}}]}`, "ops", RunTasks, "root", false},
		{"non-matching rule is skipped", `{"permissive":false,"run_tasks":[{"principals":{"values":["a"]},"users":{"type":"NONE"}},{"principals":{"values":["b"]},"users":{"type":"ANY"}}]}`, "b", RunTasks, "x", true},
		// Permissive.
		{"no rules, permissive true", `{"permissive":true}`, "x", ViewAgents, "h1", true},
		{"no rules, permissive false", `{"permissive":false}`, "x", ViewAgents, "h1", false},
		{"rules of another action do not apply", `{"permissive":false,"view_tasks":[{"principals":{"type":"ANY"},"users":{"type":"ANY"}}]}`, "x", ViewFrameworks, "u", false},
		// Empty principal.
		{"empty principal not matched by SOME", `{"permissive":false,"view_agents":[{"principals":{"values":["ops"]},"agents":{"type":"ANY"}}]}`, "", ViewAgents, "h1", false},
		{"empty principal matched by ANY", `{"permissive":false,"view_agents":[{"principals":{"type":"ANY"},"agents":{"type":"ANY"}}]}`, "", ViewAgents, "h1", true},
		{"empty principal matched by NONE", `{"view_agents":[{"principals":{"type":"NONE"},"agents":{"values":["h1"]}}]}`, "", ViewAgents, "h1", false},
		// Apps: path prefix on "/" boundaries.
		{"app exact", `{"permissive":false,"manage_apps":[{"principals":{"values":["team-a"]},"apps":{"values":["/team-a"]}}]}`, "team-a", ManageApps, "/team-a", true},
		{"app below", `{"permissive":false,"manage_apps":[{"principals":{"values":["team-a"]},"apps":{"values":["/team-a"]}}]}`, "team-a", ManageApps, "/team-a/web/x", true},
		{"app sibling with same prefix", `{"permissive":false,"manage_apps":[{"principals":{"values":["team-a"]},"apps":{"values":["/team-a"]}}]}`, "team-a", ManageApps, "/team-ab", false},
		{"app parent not covered by child", `{"permissive":false,"manage_apps":[{"principals":{"values":["team-a"]},"apps":{"values":["/team-a/web"]}}]}`, "team-a", ManageApps, "/team-a", false},
		{"app root covers all", `{"permissive":false,"view_apps":[{"principals":{"values":["ops"]},"apps":{"values":["/"]}}]}`, "ops", ViewApps, "/x/y", true},
		{"app prefix not for exact actions", `{"permissive":false,"run_tasks":[{"principals":{"values":["a"]},"users":{"values":["/team-a"]}}]}`, "a", RunTasks, "/team-a/web", false},
		{"principal values match exactly even for apps", `{"permissive":false,"view_apps":[{"principals":{"values":["team"]},"apps":{"type":"ANY"}}]}`, "team/a", ViewApps, "/x", false},
		// Jobs: "." or "/" continue an id.
		{"job exact", `{"permissive":false,"manage_jobs":[{"principals":{"values":["a"]},"jobs":{"values":["team-a"]}}]}`, "a", ManageJobs, "team-a", true},
		{"job dot child", `{"permissive":false,"manage_jobs":[{"principals":{"values":["a"]},"jobs":{"values":["team-a"]}}]}`, "a", ManageJobs, "team-a.nightly", true},
		{"job slash child", `{"permissive":false,"manage_jobs":[{"principals":{"values":["a"]},"jobs":{"values":["team-a"]}}]}`, "a", ManageJobs, "team-a/etl", true},
		{"job sibling with same prefix", `{"permissive":false,"manage_jobs":[{"principals":{"values":["a"]},"jobs":{"values":["team-a"]}}]}`, "a", ManageJobs, "team-ab", false},
		{"job dash is not a boundary", `{"permissive":false,"view_jobs":[{"principals":{"values":["a"]},"jobs":{"values":["team"]}}]}`, "a", ViewJobs, "team-a", false},
		// manage_acls has no object.
		{"manage_acls without object", `{"permissive":false,"manage_acls":[{"principals":{"values":["ops"]}}]}`, "ops", ManageACLs, "*", true},
		{"manage_acls denied to others", `{"manage_acls":[{"principals":{"values":["ops"]}},{"principals":{"type":"NONE"}}]}`, "ci", ManageACLs, "*", false},
		// Unknown action.
		{"unknown action denied", `{"permissive":true}`, "x", Action("launch_rockets"), "moon", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := mustParse(t, c.acls)
			got, why := a.Why(c.principal, c.action, c.object)
			if got != c.want {
				t.Errorf("Why(%q, %s, %q) = %v (%s), want %v", c.principal, c.action, c.object, got, why, c.want)
			}
			if a.Allowed(c.principal, c.action, c.object) != got {
				t.Errorf("Allowed and Why disagree")
			}
			// The decision survives a Marshal/Parse round trip.
			out, err := a.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if b := mustParse(t, string(out)); b.Allowed(c.principal, c.action, c.object) != c.want {
				t.Errorf("after round trip the decision changed; marshalled:\n%s", out)
			}
		})
	}
}

func TestWhyNamesTheRule(t *testing.T) {
	a := mustParse(t, `{"permissive":false,
		"run_tasks":[{"principals":{"type":"NONE"},"users":{"values":["root"]}},
		             {"principals":{"values":["ci"]},"users":{"values":["nobody"]}}],
		"manage_acls":[{"principals":{"values":["ops"]}}]}`)
	cases := []struct {
		principal string
		action    Action
		object    string
		allowed   bool
		reason    string
	}{
		{"ops", RunTasks, "root", false, `run_tasks[0] denies user "root" to every principal`},
		{"ci", RunTasks, "nobody", true, `run_tasks[1] allows user "nobody" to principal "ci"`},
		{"ops", RunTasks, "nobody", false, `no rule matches; permissive is false`},
		{"ops", ManageACLs, "*", true, `manage_acls[0] allows managing ACLs to principal "ops"`},
		{"ops", Action("x"), "y", false, `unknown action "x"`},
	}
	for _, c := range cases {
		ok, why := a.Why(c.principal, c.action, c.object)
		if ok != c.allowed || why != c.reason {
			t.Errorf("Why(%q, %s, %q) = %v, %q; want %v, %q", c.principal, c.action, c.object, ok, why, c.allowed, c.reason)
		}
	}
}

func TestDefaultDeniesRootOnly(t *testing.T) {
	d := Default()
	for _, p := range []string{"", "ops", "root"} {
		if ok, why := d.Why(p, RunTasks, "root"); ok || !strings.Contains(why, `denies user "root"`) {
			t.Errorf("Default lets %q run as root (%s)", p, why)
		}
		for _, u := range []string{"nobody", "www-data", "rooty"} {
			if !d.Allowed(p, RunTasks, u) {
				t.Errorf("Default denies %q running as %q", p, u)
			}
		}
		if !d.Allowed(p, RegisterFrameworks, "*") || !d.Allowed(p, ManageACLs, "*") || !d.Allowed(p, ManageApps, "/a") {
			t.Errorf("Default denies %q something other than root tasks", p)
		}
	}
}

func TestNilAndAllowAll(t *testing.T) {
	var a *ACLs
	if ok, why := a.Why("", RunTasks, "root"); !ok || why == "" {
		t.Errorf("nil ACLs: %v %q, want allowed with a reason", ok, why)
	}
	if !AllowAll().Allowed("", RunTasks, "root") {
		t.Error("AllowAll denies root tasks")
	}
	var z *Authorizer
	if !z.Allowed("x", ManageACLs, "*") {
		t.Error("nil Authorizer denies")
	}
	if !(&Authorizer{}).Allowed("x", ManageACLs, "*") {
		t.Error("zero Authorizer denies")
	}
}

func TestAuthorizerSwap(t *testing.T) {
	z := NewAuthorizer(Default())
	if z.Allowed("ops", RunTasks, "root") {
		t.Fatal("Default allowed root")
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				z.Why("ops", RunTasks, "root")
			}
		}()
	}
	z.Set(AllowAll())
	wg.Wait()
	if ok, why := z.Why("ops", RunTasks, "root"); !ok {
		t.Errorf("after Set(AllowAll) root denied: %s", why)
	}
	if z.ACLs() == nil || !z.ACLs().Permissive() {
		t.Error("ACLs() does not return what was Set")
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	cases := []struct {
		in   string
		want string // the error starts with this
	}{
		{`[]`, `acls: want a JSON object`},
		{`null`, `acls: want a JSON object`},
		{`{"permissive": tru}`, `acls: invalid JSON at byte`},
		{`{"permissive": "yes"}`, `permissive: want true or false`},
		{`{"permissive": null}`, `permissive: want true or false`},
		{`{"bogus": []}`, `bogus: unknown field`},
		{`{"run_tasks": {}}`, `run_tasks: want a list of rules`},
		{`{"run_tasks": null}`, `run_tasks: want a list of rules`},
		{`{"run_tasks": [], "run_tasks": []}`, `run_tasks: given twice`},
		{`{"run_tasks": ["x"]}`, `run_tasks[0]: want an object with principals and users`},
		{`{"run_tasks": [{}, {"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}]}`, `run_tasks[1].roles: unknown field; run_tasks rules take principals and users`},
		{`{"run_tasks": [{"principals": {"type":"ANY"}, "principals": {"type":"ANY"}}]}`, `run_tasks[0].principals: given twice`},
		{`{"run_tasks": [{}, {"users": {"type": "SOMETIMES"}}]}`, `run_tasks[1].users.type: "SOMETIMES" is not ANY or NONE; give values or type`},
		{`{"run_tasks": [{"users": {"type": "any"}}]}`, `run_tasks[0].users.type: "any" is not ANY or NONE`},
		{`{"run_tasks": [{"users": {"type": 1}}]}`, `run_tasks[0].users.type: want "ANY" or "NONE"`},
		{`{"run_tasks": [{"users": {"type": "ANY", "values": ["a"]}}]}`, `run_tasks[0].users.values: not allowed with type ANY`},
		{`{"run_tasks": [{"principals": {"type": "NONE", "values": ["a"]}}]}`, `run_tasks[0].principals.values: not allowed with type NONE`},
		{`{"run_tasks": [{"users": {"type": "SOME"}}]}`, `run_tasks[0].users.values: missing; type SOME needs values`},
		{`{"run_tasks": [{"users": {}}]}`, `run_tasks[0].users: empty; give values or type`},
		{`{"run_tasks": [{"users": {"values": []}}]}`, `run_tasks[0].users.values: empty`},
		{`{"run_tasks": [{"users": {"values": "root"}}]}`, `run_tasks[0].users.values: want a list of strings`},
		{`{"run_tasks": [{"users": {"values": ["a", 1]}}]}`, `run_tasks[0].users.values: want a list of strings`},
		{`{"run_tasks": [{"users": {"values": ["a", ""]}}]}`, `run_tasks[0].users.values[1]: empty`},
		{`{"run_tasks": [{"users": "root"}]}`, `run_tasks[0].users: want {"values": [...]}`},
		{`{"run_tasks": [{"users": {"value": ["root"]}}]}`, `run_tasks[0].users.value: unknown field; an entity takes values or type`},
		{`{"manage_apps": [{"apps": {"values": ["team-a"]}}]}`, `manage_apps[0].apps.values[0]: "team-a" is not an app id`},
		{`{"view_apps": [{"apps": {"values": ["/", "/team-a/"]}}]}`, `view_apps[0].apps.values[1]: "/team-a/" ends with "/"; write "/team-a"`},
		{`{"view_jobs": [{"jobs": {"values": ["team-a."]}}]}`, `view_jobs[0].jobs.values[0]: "team-a." ends with a separator`},
		{`{"manage_acls": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}]}`, `manage_acls[0].users: unknown field; manage_acls rules take principals and acls`},
		{`{"permissive": true} {}`, `acls: invalid JSON`},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.in))
		if err == nil {
			t.Errorf("Parse(%s) accepted it; want error %q", c.in, c.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Parse(%s) error\n  %v\nwant prefix\n  %s", c.in, err, c.want)
		}
	}
}

func TestMarshalRoundTripAndOrder(t *testing.T) {
	in := `{"manage_jobs":[{"principals":{"values":["b","a"]},"jobs":{"values":["team-a"]}}],
		"permissive":false,
		"register_frameworks":[{"roles":{"values":["r"]}},{"principals":{"type":"NONE"}}]}`
	a := mustParse(t, in)
	out, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "permissive": false,
  "register_frameworks": [
    {
      "principals": {
        "type": "ANY"
      },
      "roles": {
        "values": [
          "r"
        ]
      }
    },
    {
      "principals": {
        "type": "NONE"
      },
      "roles": {
        "type": "ANY"
      }
    }
  ],
  "manage_jobs": [
    {
      "principals": {
        "values": [
          "b",
          "a"
        ]
      },
      "jobs": {
        "values": [
          "team-a"
        ]
      }
    }
  ]
}
`
	if string(out) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", out, want)
	}
	again, err := mustParse(t, string(out)).Marshal()
	if err != nil || string(again) != string(out) {
		t.Errorf("second Marshal differs (%v):\n%s", err, again)
	}
	d, _ := Default().Marshal()
	if !Equal(mustParse(t, string(d)), Default()) {
		t.Errorf("Default does not round-trip:\n%s", d)
	}
}

func TestLoadNamesThePath(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "acls.json")
	if err := os.WriteFile(p, []byte(`{"run_tasks":[{"users":{"type":"SOMETIMES"}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "run_tasks[0].users.type") {
		t.Errorf("Load error %v does not name the path and field", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("Load of a missing file: %v", err)
	}
	if err := os.WriteFile(p, []byte(`{"permissive":false}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if a, err := Load(p); err != nil || a.Permissive() {
		t.Errorf("Load = %v, %v", a, err)
	}
}
