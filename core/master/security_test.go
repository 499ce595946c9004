package master

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"agora/core/acl"
	"agora/core/agentapi"
	"agora/core/authn"
	"agora/core/mesos"
	"agora/core/store"
)

// teamACLs: team-a and team-b register frameworks in their own roles and
// run tasks as their own users; ops manages ACLs and tears down anything;
// only the "agent" principal registers agents; nobody runs tasks as root.
const teamACLs = `{
  "permissive": false,
  "register_frameworks": [
    {"principals": {"values": ["team-a"]}, "roles": {"values": ["team-a"]}},
    {"principals": {"values": ["team-b"]}, "roles": {"values": ["team-b"]}}],
  "run_tasks": [
    {"principals": {"type": "NONE"}, "users": {"values": ["root"]}},
    {"principals": {"values": ["team-a"]}, "users": {"values": ["team-a"]}},
    {"principals": {"values": ["team-b"]}, "users": {"values": ["team-b"]}}],
  "register_agents": [{"principals": {"values": ["agent"]}, "agents": {"type": "ANY"}}],
  "teardown_frameworks": [{"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}}],
  "view_frameworks": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
    {"principals": {"values": ["team-a"]}, "users": {"values": ["team-a"]}}],
  "view_tasks": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
    {"principals": {"values": ["team-a"]}, "users": {"values": ["team-a"]}}],
  "view_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "ANY"}}],
  "manage_acls": [{"principals": {"values": ["ops"]}}]
}`

// secureMaster is a master behind real bearer-token authentication, with a
// token per principal.
type secureMaster struct {
	*testMaster
	tokens map[string]string
}

func startSecureMaster(t *testing.T, st store.Store, aclFile string) *secureMaster {
	t.Helper()
	creds, err := authn.ParseCredentials([]byte(`{"credentials": []}`))
	if err != nil {
		t.Fatal(err)
	}
	sm := &secureMaster{tokens: map[string]string{}}
	for _, p := range []string{"team-a", "team-b", "ops", "agent"} {
		tok, hash, err := authn.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if err := creds.Set(p, "", hash); err != nil {
			t.Fatal(err)
		}
		sm.tokens[p] = tok
	}
	cfg := fastConfig(st)
	cfg.Authenticated = true
	cfg.ACLs = acl.NewAuthorizer(acl.Default())
	if aclFile != "" {
		cfg.ACLFile = []byte(aclFile)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := authn.NewAuthenticator(creds).Middleware(m.Handler(), "/health")
	tm := &testMaster{Master: m, srv: httptest.NewServer(h), st: st, cancel: cancel, done: make(chan struct{})}
	go func() { m.Run(ctx); close(tm.done) }()
	t.Cleanup(tm.stop)
	sm.testMaster = tm
	return sm
}

func (sm *secureMaster) as(p string) *testMaster { return sm.testMaster.as(sm.tokens[p]) }

// operator makes one operator call as principal p.
func (sm *secureMaster) operator(t *testing.T, p string, call any) (int, string) {
	t.Helper()
	resp, body := post(t, sm.srv.URL+"/api/v1", call, sm.as(p).hdr())
	return resp.StatusCode, body
}

func (sm *secureMaster) frameworkCount(t *testing.T, p string) int {
	t.Helper()
	code, body := sm.operator(t, p, map[string]string{"type": "GET_FRAMEWORKS"})
	if code != 200 {
		t.Fatalf("GET_FRAMEWORKS as %s: %d %s", p, code, body)
	}
	var r mesos.OperatorResponse
	json.Unmarshal([]byte(body), &r)
	return len(r.GetFrameworks.Frameworks)
}

func TestUnauthenticatedCallsAre401AndChangeNothing(t *testing.T) {
	sm := startSecureMaster(t, openStore(t, t.TempDir()), teamACLs)
	calls := []struct{ path, body string }{
		{"/api/v1/scheduler", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"team-a","name":"x","roles":["team-a"],"principal":"team-a"}}}`},
		{"/api/v1", `{"type":"GET_STATE"}`},
		{"/api/v1", `{"type":"UPDATE_ACLS","update_acls":{"acls":{}}}`},
		{agentapi.Path, `{"type":"SUBSCRIBE","subscribe":{"agent_info":{"hostname":"h","resources":[]}}}`},
	}
	for _, auth := range []string{"", "Bearer wrong", "Basic dGVhbS1hOm5vcGU="} {
		for _, c := range calls {
			hdr := map[string]string{}
			if auth != "" {
				hdr["Authorization"] = auth
			}
			resp, body := post(t, sm.srv.URL+c.path, c.body, hdr)
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s with %q: %d %q, want 401 with WWW-Authenticate", c.path, c.body[:20], auth, resp.StatusCode, body)
			}
		}
	}
	if n := sm.frameworkCount(t, "ops"); n != 0 {
		t.Fatalf("%d frameworks registered by unauthenticated calls", n)
	}
	// /health stays open for probes.
	resp, err := http.Get(sm.srv.URL + "/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /health without credentials: %v %v", resp, err)
	}
}

func TestFrameworkPrincipalAndRolesAreEnforced(t *testing.T) {
	sm := startSecureMaster(t, openStore(t, t.TempDir()), teamACLs)
	cases := []struct {
		as   string
		info string
		want string
	}{
		{"team-a", `{"user":"team-a","name":"x","roles":["team-a"]}`, "framework_info.principal: empty"},
		{"team-a", `{"user":"team-a","name":"x","roles":["team-a"],"principal":"team-b"}`, `"team-b" is not the principal you authenticated as`},
		{"team-a", `{"user":"team-a","name":"x","roles":["team-b"],"principal":"team-a"}`, `may not register_frameworks "team-b"`},
		{"ops", `{"user":"ops","name":"x","roles":["team-a"],"principal":"ops"}`, `may not register_frameworks`},
	}
	for _, c := range cases {
		resp, body := post(t, sm.srv.URL+"/api/v1/scheduler", `{"type":"SUBSCRIBE","subscribe":{"framework_info":`+c.info+`}}`, sm.as(c.as).hdr())
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, c.want) {
			t.Errorf("SUBSCRIBE as %s with %s: %d %q, want 403 containing %q", c.as, c.info, resp.StatusCode, body, c.want)
		}
	}
	if n := sm.frameworkCount(t, "ops"); n != 0 {
		t.Fatalf("%d frameworks registered by refused subscriptions", n)
	}

	// team-a registers; team-b can neither call for it nor take it over.
	fw := sm.as("team-a").framework(t, mesos.FrameworkInfo{User: "team-a", Roles: []string{"team-a"}, Principal: "team-a", Capabilities: []mesos.FrameworkCapability{{Type: "MULTI_ROLE"}}})
	resp, body := post(t, sm.srv.URL+"/api/v1/scheduler", mesos.Call{Type: mesos.CallTeardown, FrameworkID: &mesos.FrameworkID{Value: fw.id}},
		sm.as("team-b").hdr("Mesos-Stream-Id", fw.streamID))
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `belongs to principal "team-a"`) {
		t.Fatalf("TEARDOWN of team-a's framework by team-b: %d %q, want 403", resp.StatusCode, body)
	}
	info := `{"id":{"value":"` + fw.id + `"},"user":"team-b","name":"x","roles":["team-b"],"principal":"team-b"}`
	resp, body = post(t, sm.srv.URL+"/api/v1/scheduler", `{"type":"SUBSCRIBE","subscribe":{"framework_info":`+info+`}}`, sm.as("team-b").hdr())
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("team-b re-subscribing team-a's framework: %d %q, want 403", resp.StatusCode, body)
	}
	if n := sm.frameworkCount(t, "ops"); n != 1 {
		t.Fatalf("frameworks after refused calls = %d, want team-a's only", n)
	}
}

func TestTasksRunOnlyAsAllowedUsers(t *testing.T) {
	sm := startSecureMaster(t, openStore(t, t.TempDir()), teamACLs)
	sm.as("agent").agent(t, "cpus:4;mem:4096", nil)
	fw := sm.as("team-a").framework(t, mesos.FrameworkInfo{User: "team-a", Roles: []string{"team-a"}, Principal: "team-a", Capabilities: []mesos.FrameworkCapability{{Type: "MULTI_ROLE"}}})
	o := fw.next(mesos.EventOffers).Offers.Offers[0]
	asRoot := taskInfo("root", "cpus:1;mem:128")
	asRoot.Command.User = "root"
	asB := taskInfo("b", "cpus:1;mem:128")
	asB.Command.User = "team-b"
	fw.mustCall(launchCall(o, asRoot, asB, taskInfo("ok", "cpus:1;mem:128")))
	denied := map[string]string{}
	for len(denied) < 2 {
		s := fw.update(mesos.TaskError)
		if s.Reason != mesos.ReasonTaskUnauthorized {
			t.Fatalf("TASK_ERROR for %s has reason %s, want %s", s.TaskID.Value, s.Reason, mesos.ReasonTaskUnauthorized)
		}
		denied[s.TaskID.Value] = s.Message
	}
	if !strings.Contains(denied["root"], `user "root"`) || !strings.Contains(denied["b"], `user "team-b"`) {
		t.Fatalf("denials = %v", denied)
	}
	code, body := sm.operator(t, "ops", map[string]string{"type": "GET_TASKS"})
	var r mesos.OperatorResponse
	json.Unmarshal([]byte(body), &r)
	if code != 200 || len(r.GetTasks.Tasks) != 1 || r.GetTasks.Tasks[0].TaskID.Value != "ok" || r.GetTasks.Tasks[0].User != "team-a" {
		t.Fatalf("tasks after the launch = %d %s, want only ok as team-a", code, body)
	}
}

func TestAgentsNeedRegisterAgents(t *testing.T) {
	sm := startSecureMaster(t, openStore(t, t.TempDir()), teamACLs)
	sub := agentapi.Call{Type: agentapi.CallSubscribe, Subscribe: &agentapi.Subscribe{AgentInfo: mesos.AgentInfo{Hostname: "h1", Port: 5051}, Containerizers: []string{"process"}}}
	resp, body := post(t, sm.srv.URL+agentapi.Path, sub, sm.as("team-a").hdr())
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "register_agents") {
		t.Fatalf("agent SUBSCRIBE as team-a: %d %q, want 403 naming register_agents", resp.StatusCode, body)
	}
	code, out := sm.operator(t, "ops", map[string]string{"type": "GET_AGENTS"})
	if code != 200 || strings.Contains(out, `"h1"`) {
		t.Fatalf("agents after a refused registration: %d %s", code, out)
	}
	ag := sm.as("agent").agent(t, "cpus:1;mem:128", nil)
	// Another principal cannot speak for a registered agent.
	resp, body = post(t, sm.srv.URL+agentapi.Path, agentapi.Call{Type: agentapi.CallPong, AgentID: &mesos.AgentID{Value: ag.id}},
		sm.as("team-a").hdr(agentapi.StreamHeader, ag.streamID))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("PONG for agent %s as team-a: %d %q, want 403", ag.id, resp.StatusCode, body)
	}
}

func TestOperatorViewsAndTeardownFollowACLs(t *testing.T) {
	sm := startSecureMaster(t, openStore(t, t.TempDir()), teamACLs)
	a := sm.as("team-a").framework(t, mesos.FrameworkInfo{User: "team-a", Roles: []string{"team-a"}, Principal: "team-a", Capabilities: []mesos.FrameworkCapability{{Type: "MULTI_ROLE"}}})
	sm.as("team-b").framework(t, mesos.FrameworkInfo{User: "team-b", Roles: []string{"team-b"}, Principal: "team-b", Capabilities: []mesos.FrameworkCapability{{Type: "MULTI_ROLE"}}})
	for p, want := range map[string]int{"ops": 2, "team-a": 1, "team-b": 0} {
		if n := sm.frameworkCount(t, p); n != want {
			t.Errorf("GET_FRAMEWORKS as %s shows %d frameworks, want %d", p, n, want)
		}
	}
	teardown := map[string]any{"type": "TEARDOWN", "teardown": map[string]any{"framework_id": map[string]string{"value": a.id}}}
	if code, body := sm.operator(t, "team-b", teardown); code != http.StatusForbidden {
		t.Fatalf("TEARDOWN as team-b: %d %s, want 403", code, body)
	}
	if n := sm.frameworkCount(t, "ops"); n != 2 {
		t.Fatalf("frameworks after a refused TEARDOWN = %d, want 2", n)
	}
	if code, body := sm.operator(t, "ops", teardown); code != 200 {
		t.Fatalf("TEARDOWN as ops: %d %s", code, body)
	}
	if n := sm.frameworkCount(t, "ops"); n != 1 {
		t.Fatalf("frameworks after TEARDOWN = %d, want 1", n)
	}
}

func TestACLsChangeThroughTheAPIAndSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	sm := startSecureMaster(t, st, teamACLs)
	update := func(acls string) map[string]any {
		return map[string]any{"type": "UPDATE_ACLS", "update_acls": map[string]any{"acls": json.RawMessage(acls)}}
	}
	opened := `{"permissive": true, "manage_acls": [{"principals": {"values": ["ops"]}}, {"principals": {"type": "NONE"}}]}`
	if code, body := sm.operator(t, "team-a", update(opened)); code != http.StatusForbidden {
		t.Fatalf("UPDATE_ACLS as team-a: %d %s, want 403", code, body)
	}
	if code, body := sm.operator(t, "ops", update(`{"run_taks": []}`)); code != http.StatusUnprocessableEntity || !strings.Contains(body, "run_taks") {
		t.Fatalf("UPDATE_ACLS with a misspelt action: %d %s, want 422 naming it", code, body)
	}
	// Nothing changed yet: team-b still sees nothing.
	sm.as("team-b").framework(t, mesos.FrameworkInfo{User: "team-b", Roles: []string{"team-b"}, Principal: "team-b", Capabilities: []mesos.FrameworkCapability{{Type: "MULTI_ROLE"}}})
	if n := sm.frameworkCount(t, "team-b"); n != 0 {
		t.Fatalf("team-b sees %d frameworks under the file's ACLs, want 0", n)
	}
	if code, body := sm.operator(t, "ops", update(opened)); code != 200 {
		t.Fatalf("UPDATE_ACLS as ops: %d %s", code, body)
	}
	if n := sm.frameworkCount(t, "team-b"); n != 1 {
		t.Fatalf("team-b sees %d frameworks after the ACLs opened views, want 1", n)
	}
	code, body := sm.operator(t, "ops", map[string]string{"type": "GET_ACLS"})
	if code != 200 || !strings.Contains(body, `"permissive": true`) && !strings.Contains(body, `"permissive":true`) {
		t.Fatalf("GET_ACLS: %d %s", code, body)
	}

	// A restart with the same --acls file keeps the API's change...
	sm.stop()
	sm2 := startSecureMaster(t, st, teamACLs)
	if n := sm2.frameworkCount(t, "team-b"); n != 1 {
		t.Fatalf("after a restart with the unchanged file team-b sees %d frameworks, want the API's ACLs (1)", n)
	}
	// ...and a changed file wins.
	sm2.stop()
	sm3 := startSecureMaster(t, st, strings.Replace(teamACLs, `"permissive": false`, `"permissive": false `, 1))
	if n := sm3.frameworkCount(t, "team-b"); n != 0 {
		t.Fatalf("after a restart with a changed file team-b sees %d frameworks, want the file's ACLs (0)", n)
	}
}
