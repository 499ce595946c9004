package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"agora/core/mesos"
	"agora/frameworks/services/app"
	"agora/frameworks/services/core"
	"agora/frameworks/services/deploy"
	"agora/frameworks/services/placement"
	"agora/frameworks/services/state"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newServer(t *testing.T, opts Options) (*fake, *httptest.Server) {
	t.Helper()
	f := newFake(t0)
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	srv := httptest.NewServer(New(f, opts))
	t.Cleanup(srv.Close)
	return f, srv
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
}

func call(t *testing.T, srv *httptest.Server, method, path, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, data}
}

func expect(t *testing.T, a answer, status int) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d; body %s", a.status, status, a.body)
	}
}

// errorPaths returns the paths a 422 body names.
func errorPaths(t *testing.T, a answer) []string {
	t.Helper()
	expect(t, a, http.StatusUnprocessableEntity)
	var b app.ErrorBody
	a.decode(t, &b)
	var out []string
	for _, d := range b.Details {
		out = append(out, d.Path)
	}
	return out
}

func TestMarathonDocumentedAppsAreCreated(t *testing.T) {
	files, _ := filepath.Glob("../app/testdata/valid/*.json")
	if len(files) == 0 {
		t.Fatal("no example apps in ../app/testdata/valid")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, srv := newServer(t, Options{})
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			a := call(t, srv, "POST", "/v2/apps", string(data))
			expect(t, a, http.StatusCreated)
			var v AppView
			a.decode(t, &v)
			if v.ID() == "" || v.Version == "" {
				t.Fatalf("created app lacks id or version: %s", a.body)
			}
			if loc := a.header.Get("Location"); loc != appPath(v.ID()) {
				t.Errorf("Location %q, want %q", loc, appPath(v.ID()))
			}
			dep := a.header.Get("Marathon-Deployment-Id")
			if dep == "" || len(v.Deployments) != 1 || v.Deployments[0].ID != dep {
				t.Errorf("deployment header %q and body %+v should name the same deployment", dep, v.Deployments)
			}
			if len(f.Apps()) != 1 {
				t.Fatalf("backend has %d apps", len(f.Apps()))
			}
			// Marathon's read-only fields are present.
			var raw map[string]any
			a.decode(t, &raw)
			for _, k := range []string{"tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy", "deployments", "version"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("created app JSON lacks %s", k)
				}
			}
			// Posting it again is a conflict.
			expect(t, call(t, srv, "POST", "/v2/apps", string(data)), http.StatusConflict)
		})
	}
}

func TestBadDefinitionsName422Fields(t *testing.T) {
	_, srv := newServer(t, Options{})
	cases := []struct {
		name, method, path, body, field string
	}{
		{"unknown field", "POST", "/v2/apps", `{"id":"/web","cmd":"x","colour":"blue"}`, "/colour"},
		{"bad value", "POST", "/v2/apps", `{"id":"/web","cmd":"x","cpus":-1}`, "/cpus"},
		{"wrong type", "POST", "/v2/apps", `{"id":"/web","cmd":"x","instances":"three"}`, "/instances"},
		{"nested unknown", "POST", "/v2/apps", `{"id":"/web","cmd":"x","upgradeStrategy":{"minimumHealth":1}}`, "/upgradeStrategy/minimumHealth"},
		{"bad JSON", "POST", "/v2/apps", `{"id":`, "/"},
		{"not an object", "POST", "/v2/apps", `[1,2]`, "/"},
		{"id differs from path", "PUT", "/v2/apps/web", `{"id":"/other","cmd":"x"}`, "/id"},
		{"bad id", "PUT", "/v2/apps/Web_1", `{"cmd":"x"}`, "/id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			paths := errorPaths(t, call(t, srv, c.method, c.path, c.body))
			found := false
			for _, p := range paths {
				found = found || p == c.field
			}
			if !found {
				t.Errorf("422 names %v, want %s", paths, c.field)
			}
		})
	}
}

func TestUnknownAppIs404WithMarathonMessage(t *testing.T) {
	_, srv := newServer(t, Options{})
	for _, c := range []struct{ method, path string }{
		{"GET", "/v2/apps/x"}, {"DELETE", "/v2/apps/x"}, {"PATCH", "/v2/apps/x"}, {"POST", "/v2/apps/x/restart"},
		{"GET", "/v2/apps/x/tasks"}, {"GET", "/v2/apps/x/versions"}, {"DELETE", "/v2/queue/x/delay"},
	} {
		body := ""
		if c.method == "PATCH" {
			body = `{"instances":2}`
		}
		a := call(t, srv, c.method, c.path, body)
		expect(t, a, http.StatusNotFound)
		var m Message
		a.decode(t, &m)
		if m.Message != "App '/x' does not exist" {
			t.Errorf("%s %s: message %q", c.method, c.path, m.Message)
		}
	}
	var m Message
	a := call(t, srv, "DELETE", "/v2/deployments/nope", "")
	expect(t, a, http.StatusNotFound)
	a.decode(t, &m)
	if !strings.Contains(m.Message, "nope") {
		t.Errorf("deployment 404 does not name it: %q", m.Message)
	}
}

func TestPutCreatesReplacesAndHonoursLocks(t *testing.T) {
	f, srv := newServer(t, Options{})
	a := call(t, srv, "PUT", "/v2/apps/team/web", `{"cmd":"httpd","instances":2}`)
	expect(t, a, http.StatusCreated)
	var w WriteResult
	a.decode(t, &w)
	if w.DeploymentID == "" || w.Version == "" || a.header.Get("Marathon-Deployment-Id") != w.DeploymentID {
		t.Fatalf("PUT answer %s, header %q", a.body, a.header.Get("Marathon-Deployment-Id"))
	}
	a = call(t, srv, "PUT", "/v2/apps/team/web", `{"id":"/team/web","cmd":"httpd","instances":3}`)
	expect(t, a, http.StatusOK)

	f.mu.Lock()
	f.locked["/team/web"] = "dep-running"
	f.mu.Unlock()
	a = call(t, srv, "PUT", "/v2/apps/team/web", `{"cmd":"httpd","instances":4}`)
	expect(t, a, http.StatusConflict)
	var m Message
	a.decode(t, &m)
	if len(m.Deployments) != 1 || m.Deployments[0].ID != "dep-running" {
		t.Errorf("409 body %s does not list the locking deployment", a.body)
	}
	expect(t, call(t, srv, "DELETE", "/v2/apps/team/web", ""), http.StatusConflict)
	expect(t, call(t, srv, "POST", "/v2/apps/team/web/restart", ""), http.StatusConflict)

	expect(t, call(t, srv, "PUT", "/v2/apps/team/web?force=true", `{"cmd":"httpd","instances":4}`), http.StatusOK)
	if got := f.apps["/team/web"].Instances; got != 4 {
		t.Errorf("forced PUT left %d instances, want 4", got)
	}
	expect(t, call(t, srv, "POST", "/v2/apps/team/web/restart?force=true", ""), http.StatusOK)
	expect(t, call(t, srv, "PUT", "/v2/apps/team/web?force=maybe", `{"cmd":"x"}`), http.StatusBadRequest)
	a = call(t, srv, "DELETE", "/v2/apps/team/web?force=true", "")
	expect(t, a, http.StatusOK)
	if len(f.Apps()) != 0 {
		t.Error("forced DELETE left the app")
	}
}

func TestReadOnlyFieldsFromGetArePutBack(t *testing.T) {
	f, srv := newServer(t, Options{})
	expect(t, call(t, srv, "PUT", "/v2/apps/web", `{"cmd":"httpd","instances":2}`), http.StatusCreated)
	f.mu.Lock()
	f.ins = []core.Instance{{Instance: state.Instance{TaskID: "web.1", AppID: "/web", State: mesos.TaskRunning}}}
	f.mu.Unlock()
	a := call(t, srv, "GET", "/v2/apps/web", "")
	expect(t, a, http.StatusOK)
	var got struct {
		App json.RawMessage `json:"app"`
	}
	a.decode(t, &got)
	// Edit the instance count in what GET returned, then PUT it back.
	edited := bytes.Replace(got.App, []byte(`"instances":2`), []byte(`"instances":3`), 1)
	expect(t, call(t, srv, "PUT", "/v2/apps/web", string(edited)), http.StatusOK)
	if n := f.apps["/web"].Instances; n != 3 {
		t.Errorf("instances %d after PUT of an edited GET, want 3", n)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	f, srv := newServer(t, Options{})
	a := call(t, srv, "POST", "/v2/apps?dryRun=true", `{"id":"/web","cmd":"httpd","instances":2}`)
	expect(t, a, http.StatusOK)
	var p PlanView
	a.decode(t, &p)
	if !p.Create || len(p.Steps) != 1 || p.Steps[0].Action != deploy.StartApplication {
		t.Errorf("dry-run POST plan %s", a.body)
	}
	if len(f.Apps()) != 0 {
		t.Fatal("dry-run POST created the app")
	}
	expect(t, call(t, srv, "PUT", "/v2/apps/web", `{"cmd":"httpd","instances":2}`), http.StatusCreated)
	before := f.apps["/web"].Version
	a = call(t, srv, "PUT", "/v2/apps/web?dryRun=true", `{"cmd":"httpd -v","instances":2}`)
	expect(t, a, http.StatusOK)
	p = PlanView{}
	a.decode(t, &p)
	if p.Create || !p.Restart || strings.Join(p.ChangedFields, ",") != "cmd" {
		t.Errorf("dry-run PUT plan %s, want a restart changing cmd", a.body)
	}
	if f.apps["/web"].Version != before || f.apps["/web"].Cmd != "httpd" {
		t.Error("dry-run PUT changed the app")
	}
}

func TestPatchMergesIntoTheStoredDefinition(t *testing.T) {
	f, srv := newServer(t, Options{})
	expect(t, call(t, srv, "PUT", "/v2/apps/web", `{"cmd":"httpd","instances":2,"labels":{"tier":"front"},"mem":64}`), http.StatusCreated)
	a := call(t, srv, "PATCH", "/v2/apps/web", `{"instances":5}`)
	expect(t, a, http.StatusOK)
	got := f.apps["/web"]
	if got.Instances != 5 || got.Cmd != "httpd" || got.Mem != 64 || got.Labels["tier"] != "front" {
		t.Errorf("after PATCH: instances %d cmd %q mem %v labels %v", got.Instances, got.Cmd, got.Mem, got.Labels)
	}
	// A bad merged value is refused naming the field, and changes nothing.
	if p := errorPaths(t, call(t, srv, "PATCH", "/v2/apps/web", `{"mem":"lots"}`)); len(p) == 0 || p[0] != "/mem" {
		t.Errorf("bad PATCH names %v", p)
	}
	if f.apps["/web"].Mem != 64 {
		t.Error("refused PATCH changed the app")
	}
}

func TestRollbackByVersion(t *testing.T) {
	f, srv := newServer(t, Options{})
	expect(t, call(t, srv, "PUT", "/v2/apps/web", `{"cmd":"v1"}`), http.StatusCreated)
	expect(t, call(t, srv, "PUT", "/v2/apps/web", `{"cmd":"v2"}`), http.StatusOK)
	a := call(t, srv, "GET", "/v2/apps/web/versions", "")
	expect(t, a, http.StatusOK)
	var vs struct{ Versions []string }
	a.decode(t, &vs)
	if len(vs.Versions) != 2 {
		t.Fatalf("versions %v", vs.Versions)
	}
	a = call(t, srv, "GET", "/v2/apps/web/versions/"+vs.Versions[1], "")
	expect(t, a, http.StatusOK)
	var old app.App
	a.decode(t, &old)
	if old.Cmd != "v1" {
		t.Errorf("oldest version has cmd %q", old.Cmd)
	}
	expect(t, call(t, srv, "GET", "/v2/apps/web/versions/nope", ""), http.StatusNotFound)
	expect(t, call(t, srv, "PUT", "/v2/apps/web", `{"version":"`+vs.Versions[1]+`"}`), http.StatusOK)
	if f.apps["/web"].Cmd != "v1" {
		t.Errorf("rollback left cmd %q", f.apps["/web"].Cmd)
	}
}

func TestListFiltersGroupsAndAmbiguousPaths(t *testing.T) {
	f, srv := newServer(t, Options{})
	for _, d := range []string{
		`{"id":"/team/web","cmd":"x","labels":{"tier":"front"}}`,
		`{"id":"/team/db/primary","cmd":"x","labels":{"tier":"back"}}`,
		`{"id":"/teamx/web","cmd":"x"}`,
		`{"id":"/solo/tasks","cmd":"x"}`,
	} {
		expect(t, call(t, srv, "POST", "/v2/apps", d), http.StatusCreated)
	}
	ids := func(path string) string {
		a := call(t, srv, "GET", path, "")
		expect(t, a, http.StatusOK)
		var l struct{ Apps []AppView }
		a.decode(t, &l)
		var out []string
		for _, v := range l.Apps {
			out = append(out, v.ID())
		}
		return strings.Join(out, ",")
	}
	if got := ids("/v2/apps?id=/team"); got != "/team/db/primary,/team/web" {
		t.Errorf("?id=/team lists %s", got)
	}
	if got := ids("/v2/apps?label=tier==front"); got != "/team/web" {
		t.Errorf("?label=tier==front lists %s", got)
	}
	if got := ids("/v2/apps?label=tier,tier!=front"); got != "/team/db/primary" {
		t.Errorf("?label=tier,tier!=front lists %s", got)
	}
	expect(t, call(t, srv, "GET", "/v2/apps?label===front", ""), http.StatusBadRequest)
	expect(t, call(t, srv, "GET", "/v2/apps?embed=apps.everything", ""), http.StatusBadRequest)

	f.mu.Lock()
	f.ins = []core.Instance{{Instance: state.Instance{TaskID: "t1", AppID: "/team/web", State: mesos.TaskRunning}}}
	f.mu.Unlock()
	a := call(t, srv, "GET", "/v2/apps?embed=apps.tasks&id=/team/web", "")
	var l struct{ Apps []AppView }
	a.decode(t, &l)
	if len(l.Apps) != 1 || len(l.Apps[0].Tasks) != 1 || l.Apps[0].TasksRunning != 1 {
		t.Errorf("embed=apps.tasks: %s", a.body)
	}

	// /solo does not exist, so /v2/apps/solo/tasks is the app /solo/tasks.
	a = call(t, srv, "GET", "/v2/apps/solo/tasks", "")
	expect(t, a, http.StatusOK)
	var one struct{ App AppView }
	a.decode(t, &one)
	if one.App.ID() != "/solo/tasks" {
		t.Errorf("GET /v2/apps/solo/tasks answered %s", a.body)
	}

	a = call(t, srv, "GET", "/v2/groups", "")
	expect(t, a, http.StatusOK)
	var root GroupView
	a.decode(t, &root)
	if root.ID != "/" || len(root.Apps) != 0 || len(root.Groups) != 3 {
		t.Fatalf("root group %s", a.body)
	}
	team := root.Groups[1]
	if team.ID != "/team" || len(team.Apps) != 1 || team.Apps[0].ID() != "/team/web" ||
		len(team.Groups) != 1 || team.Groups[0].ID != "/team/db" || team.Groups[0].Apps[0].ID() != "/team/db/primary" {
		t.Errorf("group /team: %+v", team)
	}
	a = call(t, srv, "GET", "/v2/groups/team/db", "")
	expect(t, a, http.StatusOK)
	expect(t, call(t, srv, "GET", "/v2/groups/nobody", ""), http.StatusNotFound)
}

func TestTasksAndKills(t *testing.T) {
	f, srv := newServer(t, Options{})
	expect(t, call(t, srv, "PUT", "/v2/apps/web", `{"cmd":"x","instances":3,"portDefinitions":[{"port":10001}]}`), http.StatusCreated)
	yes, no := true, false
	f.mu.Lock()
	f.ins = []core.Instance{
		{Instance: state.Instance{TaskID: "web.a", AppID: "/web", Host: "h1", AgentID: "s1", State: mesos.TaskRunning, Healthy: &yes, Ports: []uint64{31000}, LaunchedAt: t0, StartedAt: t0.Add(time.Second), Version: "v1"}},
		{Instance: state.Instance{TaskID: "web.b", AppID: "/web", Host: "h2", AgentID: "s2", State: mesos.TaskRunning, Healthy: &no}},
		{Instance: state.Instance{TaskID: "web.c", AppID: "/web", Host: "h2"}},
	}
	f.mu.Unlock()

	a := call(t, srv, "GET", "/v2/apps/web", "")
	var one struct{ App AppView }
	a.decode(t, &one)
	v := one.App
	if v.TasksRunning != 2 || v.TasksStaged != 1 || v.TasksHealthy != 1 || v.TasksUnhealthy != 1 || len(v.Tasks) != 3 {
		t.Errorf("counts running %d staged %d healthy %d unhealthy %d tasks %d", v.TasksRunning, v.TasksStaged, v.TasksHealthy, v.TasksUnhealthy, len(v.Tasks))
	}
	tk := v.Tasks[0]
	if tk.ID != "web.a" || tk.Host != "h1" || tk.SlaveID != "s1" || tk.Ports[0] != 31000 || tk.ServicePorts[0] != 10001 ||
		tk.StartedAt == nil || !tk.StartedAt.Equal(t0.Add(time.Second)) || len(tk.HealthCheckResults) != 1 || !tk.HealthCheckResults[0].Alive {
		t.Errorf("task JSON %+v", tk)
	}
	if v.Tasks[2].State != mesos.TaskStaging {
		t.Errorf("an unlaunched instance shows as %q", v.Tasks[2].State)
	}

	a = call(t, srv, "GET", "/v2/tasks?status=running", "")
	expect(t, a, http.StatusOK)
	var ts struct{ Tasks []Task }
	a.decode(t, &ts)
	if len(ts.Tasks) != 2 {
		t.Errorf("?status=running lists %d tasks", len(ts.Tasks))
	}
	expect(t, call(t, srv, "GET", "/v2/tasks?status=sleepy", ""), http.StatusBadRequest)

	a = call(t, srv, "DELETE", "/v2/apps/web/tasks/web.b", "")
	expect(t, a, http.StatusOK)
	var killed struct{ Task Task }
	a.decode(t, &killed)
	if killed.Task.ID != "web.b" {
		t.Errorf("kill answered %s", a.body)
	}
	expect(t, call(t, srv, "DELETE", "/v2/apps/web/tasks/web.zzz", ""), http.StatusNotFound)
	a = call(t, srv, "DELETE", "/v2/apps/web/tasks/web.a?scale=true", "")
	expect(t, a, http.StatusOK)
	var w WriteResult
	a.decode(t, &w)
	if w.DeploymentID == "" {
		t.Errorf("scaling kill answered %s", a.body)
	}
	expect(t, call(t, srv, "DELETE", "/v2/apps/web/tasks?host=h2", ""), http.StatusOK)
	calls := strings.Join(f.Calls(), "\n")
	for _, want := range []string{"KillTasks /web [web.b] scale=false", "KillTasks /web [web.a] scale=true", "KillTasks /web [web.b web.c] scale=false"} {
		if !strings.Contains(calls, want) {
			t.Errorf("backend calls lack %q:\n%s", want, calls)
		}
	}
}

func TestDeploymentsShapeAndCancel(t *testing.T) {
	f, srv := newServer(t, Options{})
	f.mu.Lock()
	f.apps["/web"] = &app.App{AppID: "/web", Instances: 2}
	f.deps = []deploy.Deployment{
		{ID: "d1", Previous: deploy.AppSpec{ID: "/web", Version: "v1", Instances: 2}, Target: deploy.AppSpec{ID: "/web", Version: "v2", Instances: 2}, Status: deploy.StatusRunning, StartedAt: t0},
		{ID: "d2", Previous: deploy.AppSpec{ID: "/old", Version: "v1", Instances: 1}, Target: deploy.AppSpec{ID: "/old"}, Status: deploy.StatusRunning},
	}
	f.mu.Unlock()
	a := call(t, srv, "GET", "/v2/deployments", "")
	expect(t, a, http.StatusOK)
	var ds []DeploymentView
	a.decode(t, &ds)
	if len(ds) != 2 {
		t.Fatalf("deployments %s", a.body)
	}
	d := ds[0]
	if d.ID != "d1" || d.Version != "v2" || d.AffectedApps[0] != "/web" || d.TotalSteps != 1 || d.CurrentStep != 1 ||
		d.Steps[0].Actions[0].Action != deploy.RestartApplication || d.CurrentActions[0].App != "/web" {
		t.Errorf("deployment %s", a.body)
	}
	if ds[1].Steps[0].Actions[0].Action != deploy.StopApplication {
		t.Errorf("a deletion shows as %s", ds[1].Steps[0].Actions[0].Action)
	}
	// The app lists its deployment.
	a = call(t, srv, "GET", "/v2/apps/web", "")
	var one struct{ App AppView }
	a.decode(t, &one)
	if len(one.App.Deployments) != 1 || one.App.Deployments[0].ID != "d1" {
		t.Errorf("app deployments %+v", one.App.Deployments)
	}
	expect(t, call(t, srv, "GET", "/v2/deployments/d1", ""), http.StatusOK)

	a = call(t, srv, "DELETE", "/v2/deployments/d1", "")
	expect(t, a, http.StatusOK)
	var w WriteResult
	a.decode(t, &w)
	if w.DeploymentID != "rollback-of-d1" {
		t.Errorf("cancel answered %s", a.body)
	}
	expect(t, call(t, srv, "DELETE", "/v2/deployments/d2?force=true", ""), http.StatusAccepted)
	expect(t, call(t, srv, "DELETE", "/v2/deployments/d2", ""), http.StatusNotFound)
}

func TestQueueExplainsPendingInstances(t *testing.T) {
	f, srv := newServer(t, Options{})
	f.mu.Lock()
	f.apps["/web"] = &app.App{AppID: "/web", Instances: 5}
	f.queue = []core.QueueEntry{{
		AppID: "/web", Count: 3, DelayUntil: t0.Add(12500 * time.Millisecond),
		Rejections: []placement.Rejection{
			{Reason: "constraint hostname:UNIQUE", Agents: 2},
			{Reason: "insufficient mem (need 512, have 256)", Agents: 1},
		},
		AgentReasons: map[string]string{"a1": "hostname:h1 already has 1 instance (UNIQUE)", "a2": "hostname:h2 already has 1 instance (UNIQUE)", "a3": "insufficient mem (need 512, have 256)"},
	}}
	f.mu.Unlock()
	a := call(t, srv, "GET", "/v2/queue?embed=lastUnusedOffers", "")
	expect(t, a, http.StatusOK)
	var q struct{ Queue []QueueItem }
	a.decode(t, &q)
	if len(q.Queue) != 1 {
		t.Fatalf("queue %s", a.body)
	}
	it := q.Queue[0]
	if it.App.ID() != "/web" || it.Count != 3 || it.Delay.TimeLeftSeconds != 13 || it.Delay.Overdue {
		t.Errorf("queue item %s", a.body)
	}
	if it.Reasons.Constraints["hostname:UNIQUE"] != 2 || it.Reasons.Agents["a3"] != "insufficient mem (need 512, have 256)" {
		t.Errorf("reasons %+v", it.Reasons)
	}
	declined := map[string]int{}
	for _, r := range it.ProcessedOffersSummary.RejectSummaryLastOffers {
		declined[r.Reason] = r.Declined
	}
	if declined["UnfulfilledConstraint"] != 2 || declined["InsufficientMemory"] != 1 || it.ProcessedOffersSummary.ProcessedOffersCount != 3 {
		t.Errorf("processedOffersSummary %+v", it.ProcessedOffersSummary)
	}
	if len(it.LastUnusedOffers) != 3 || it.LastUnusedOffers[2].Reason[0] != "InsufficientMemory" {
		t.Errorf("lastUnusedOffers %+v", it.LastUnusedOffers)
	}
	expect(t, call(t, srv, "GET", "/v2/queue?embed=everything", ""), http.StatusBadRequest)
	expect(t, call(t, srv, "DELETE", "/v2/queue/web/delay", ""), http.StatusNoContent)
	if !strings.Contains(strings.Join(f.Calls(), "\n"), "ResetDelay /web") {
		t.Error("DELETE delay did not reach the backend")
	}
}

func TestInfoPingLimitsAndUnavailable(t *testing.T) {
	f, srv := newServer(t, Options{MaxBodyBytes: 1024})
	a := call(t, srv, "GET", "/v2/info", "")
	expect(t, a, http.StatusOK)
	var info map[string]any
	a.decode(t, &info)
	if info["frameworkId"] != "fw-1" || info["leader"] != "127.0.0.1:5050" || info["http_config"] == nil || info["marathon_config"] == nil {
		t.Errorf("info %s", a.body)
	}
	a = call(t, srv, "GET", "/v2/ping", "")
	expect(t, a, http.StatusOK)
	if strings.TrimSpace(string(a.body)) != "pong" {
		t.Errorf("ping answered %q", a.body)
	}
	big := `{"id":"/web","cmd":"` + strings.Repeat("x", 2048) + `"}`
	expect(t, call(t, srv, "POST", "/v2/apps", big), http.StatusRequestEntityTooLarge)
	expect(t, call(t, srv, "PATCH", "/v2/apps", ""), http.StatusMethodNotAllowed)

	f.mu.Lock()
	f.fail = errors.Join(ErrUnavailable)
	f.mu.Unlock()
	expect(t, call(t, srv, "POST", "/v2/apps", `{"id":"/web","cmd":"x"}`), http.StatusServiceUnavailable)
	f.mu.Lock()
	f.fail = errors.New("disk on fire")
	f.mu.Unlock()
	expect(t, call(t, srv, "POST", "/v2/apps", `{"id":"/web","cmd":"x"}`), http.StatusInternalServerError)
	// A field error from the backend (a taken service port) is a 422.
	f.mu.Lock()
	f.fail = app.FieldErrors{{Path: "portDefinitions[0].port", Message: "service port 10000 is taken by /db"}}
	f.mu.Unlock()
	if p := errorPaths(t, call(t, srv, "POST", "/v2/apps", `{"id":"/web","cmd":"x"}`)); len(p) != 1 || p[0] != "/portDefinitions(0)/port" {
		t.Errorf("backend field error names %v", p)
	}
}
