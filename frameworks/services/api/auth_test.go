package api

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"agora/core/mesos"
	"agora/frameworks/services/app"
	"agora/frameworks/services/core"
	"agora/frameworks/services/deploy"
	"agora/frameworks/services/state"
)

// rules is an Authorizer from "principal action object" triples; anything
// not listed is refused with a reason naming the triple.
type rules map[string]bool

func (r rules) Allowed(principal, action, object string) (bool, string) {
	if r[principal+" "+action+" "+object] || r[principal+" "+action+" *"] {
		return true, ""
	}
	return false, "no grant of " + action + " on " + object
}

// newAuthServer serves two apps: /team/web (runs as the framework's user,
// "agora") and /ops/db (runs as root), each with an instance, a deployment
// and a queue entry. The principal is the X-Principal header.
func newAuthServer(t *testing.T, r Authorizer) (*fake, func(method, path, principal, body string) answer) {
	t.Helper()
	f, srv := newServer(t, Options{Authorizer: r, Principal: func(req *http.Request) string { return req.Header.Get("X-Principal") }})
	for _, def := range []string{`{"id": "/team/web", "cmd": "httpd", "instances": 2}`, `{"id": "/ops/db", "cmd": "db", "user": "root", "instances": 2}`} {
		a, err := app.Parse([]byte(def))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.PutApp(context.Background(), a, false); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	f.ins = []core.Instance{
		{Instance: state.Instance{TaskID: "web.1", AppID: "/team/web", Host: "h1", State: mesos.TaskRunning}},
		{Instance: state.Instance{TaskID: "db.1", AppID: "/ops/db", Host: "h1", State: mesos.TaskRunning}},
	}
	f.queue = []core.QueueEntry{{AppID: "/team/web", Count: 1}, {AppID: "/ops/db", Count: 1}}
	f.calls = nil
	f.mu.Unlock()
	do := func(method, path, principal, body string) answer {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Principal", principal)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf strings.Builder
		_, _ = io.Copy(&buf, resp.Body)
		return answer{resp.StatusCode, resp.Header, []byte(buf.String())}
	}
	return f, do
}

var webTeam = rules{
	"alice view_apps /team/web": true, "alice manage_apps /team/web": true, "alice run_tasks agora": true,
	"alice manage_apps /team/new": true, "alice manage_apps /team/rooted": true,
}

func TestReadsShowOnlyViewableApps(t *testing.T) {
	_, do := newAuthServer(t, webTeam)
	lists := map[string]string{
		"/v2/apps": "/team/web", "/v2/tasks": "web.1", "/v2/queue": "/team/web",
		"/v2/deployments": "/team/web", "/v2/groups": "/team/web",
	}
	for path, mine := range lists {
		a := do("GET", path, "alice", "")
		expect(t, a, http.StatusOK)
		if !strings.Contains(string(a.body), mine) {
			t.Errorf("GET %s lacks alice's %s: %s", path, mine, a.body)
		}
		if strings.Contains(string(a.body), "/ops/db") || strings.Contains(string(a.body), "db.1") {
			t.Errorf("GET %s shows /ops/db to alice: %s", path, a.body)
		}
	}
	expect(t, do("GET", "/v2/groups/ops", "alice", ""), http.StatusNotFound)
	for _, path := range []string{"/v2/apps/ops/db", "/v2/apps/ops/db/tasks", "/v2/apps/ops/db/versions"} {
		a := do("GET", path, "alice", "")
		expect(t, a, http.StatusForbidden)
		if msg := message(t, a); !strings.Contains(msg, "/ops/db") || !strings.Contains(msg, "view_apps") || !strings.Contains(msg, "no grant") {
			t.Errorf("GET %s: 403 message %q must name the app, the action and the reason", path, msg)
		}
	}
	expect(t, do("GET", "/v2/apps/team/web", "alice", ""), http.StatusOK)
	// Without an Authorizer everything is visible to everyone.
	_, open := newAuthServer(t, nil)
	if a := open("GET", "/v2/apps", "", ""); !strings.Contains(string(a.body), "/ops/db") {
		t.Fatalf("without an Authorizer all apps are listed: %s", a.body)
	}
}

func TestEventsShowOnlyViewableApps(t *testing.T) {
	f, srv := newServer(t, Options{Authorizer: rules{"alice view_apps /team/web": true}, Principal: func(*http.Request) string { return "alice" }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := openStream(t, ctx, srv.URL+"/v2/events?event_type=status_update_event")
	waitFor(t, "the stream to subscribe", func() bool { return f.subscribers() == 1 })
	f.publish(core.Event{Type: core.EventStatusUpdate, Time: t0, AppID: "/ops/db", TaskID: "db.1", State: mesos.TaskRunning})
	f.publish(core.Event{Type: core.EventStatusUpdate, Time: t0, AppID: "/team/web", TaskID: "web.1", State: mesos.TaskRunning})
	if _, data := r.next(); !strings.Contains(data, "web.1") {
		t.Fatalf("first event alice sees is %s; /ops/db's must not reach her", data)
	}
}

func message(t *testing.T, a answer) string {
	t.Helper()
	var m Message
	a.decode(t, &m)
	return m.Message
}

// snapshot is what a refused write must leave untouched.
func snapshot(f *fake) (map[string]app.App, []deploy.Deployment, []core.Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	apps := map[string]app.App{}
	for k, v := range f.apps {
		apps[k] = *v
	}
	return apps, append([]deploy.Deployment(nil), f.deps...), append([]core.Instance(nil), f.ins...)
}

func TestRefusedWritesChangeNothing(t *testing.T) {
	f, do := newAuthServer(t, webTeam)
	dbDep := ""
	for _, d := range f.Deployments() {
		if d.Target.ID == "/ops/db" {
			dbDep = d.ID
		}
	}
	cases := []struct {
		name, method, path, body, principal string
		action, app                         string
	}{
		{"create elsewhere", "POST", "/v2/apps", `{"id": "/ops/new", "cmd": "x"}`, "alice", "manage_apps", "/ops/new"},
		{"create as root", "POST", "/v2/apps", `{"id": "/team/rooted", "cmd": "x", "user": "root"}`, "alice", "run_tasks", "/team/rooted"},
		{"put other's", "PUT", "/v2/apps/ops/db", `{"cmd": "y"}`, "alice", "manage_apps", "/ops/db"},
		{"put own to root", "PUT", "/v2/apps/team/web", `{"cmd": "httpd", "user": "root"}`, "alice", "run_tasks", "/team/web"},
		{"patch other's", "PATCH", "/v2/apps/ops/db", `{"instances": 5}`, "alice", "manage_apps", "/ops/db"},
		{"dry run other's", "PUT", "/v2/apps/ops/db?dryRun=true", `{"cmd": "y"}`, "alice", "manage_apps", "/ops/db"},
		{"rollback other's", "PUT", "/v2/apps/ops/db", `{"version": "x"}`, "alice", "manage_apps", "/ops/db"},
		{"delete other's", "DELETE", "/v2/apps/ops/db", "", "alice", "manage_apps", "/ops/db"},
		{"restart other's", "POST", "/v2/apps/ops/db/restart", "", "alice", "manage_apps", "/ops/db"},
		{"kill other's", "DELETE", "/v2/apps/ops/db/tasks/db.1", "", "alice", "manage_apps", "/ops/db"},
		{"scale other's", "DELETE", "/v2/apps/ops/db/tasks/db.1?scale=true", "", "alice", "manage_apps", "/ops/db"},
		{"kill other's on host", "DELETE", "/v2/apps/ops/db/tasks?host=h1", "", "alice", "manage_apps", "/ops/db"},
		{"cancel other's deployment", "DELETE", "/v2/deployments/" + dbDep, "", "alice", "manage_apps", "/ops/db"},
		{"reset other's delay", "DELETE", "/v2/queue/ops/db/delay", "", "alice", "manage_apps", "/ops/db"},
		{"anonymous", "DELETE", "/v2/apps/team/web", "", "", "manage_apps", "/team/web"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			apps, deps, ins := snapshot(f)
			a := do(tc.method, tc.path, tc.principal, tc.body)
			expect(t, a, http.StatusForbidden)
			msg := message(t, a)
			if !strings.Contains(msg, "'"+tc.app+"'") || !strings.Contains(msg, tc.action) || !strings.Contains(msg, "no grant") {
				t.Errorf("403 message %q must name the app %s, the action %s and the reason", msg, tc.app, tc.action)
			}
			if calls := f.Calls(); len(calls) != 0 {
				t.Errorf("a refused write reached the backend: %v", calls)
			}
			a2, d2, i2 := snapshot(f)
			if !reflect.DeepEqual(apps, a2) || !reflect.DeepEqual(deps, d2) || !reflect.DeepEqual(ins, i2) {
				t.Errorf("a refused write changed the state")
			}
		})
	}
	// The same principal may write what it is granted.
	expect(t, do("PUT", "/v2/apps/team/web", "alice", `{"cmd": "httpd -v"}`), http.StatusOK)
	expect(t, do("POST", "/v2/apps", "alice", `{"id": "/team/new", "cmd": "x"}`), http.StatusCreated)
	expect(t, do("DELETE", "/v2/apps/team/web/tasks/web.1", "alice", ""), http.StatusOK)
}
