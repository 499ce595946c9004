package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"agora/core/mesos"
	"agora/frameworks/services/app"
	"agora/frameworks/services/core"
	"agora/frameworks/services/state"
)

const (
	secretValue = "s3cr3t-XYZZY"
	secretDef   = `{"id": "/db/client", "cmd": "run", "instances": 2,
		"env": {"MODE": "prod", "DB_PASSWORD": {"secret": "db"}},
		"secrets": {"db": {"value": "s3cr3t-XYZZY"}},
		"readinessChecks": [{"portName": "http"}], "portDefinitions": [{"port": 0, "name": "http"}]}`
)

// leaks reports whether an answer shows the secret's value, as text or as
// the base64 a []byte would marshal to.
func leaks(data []byte) bool {
	b64 := base64.StdEncoding.EncodeToString([]byte(secretValue))
	return strings.Contains(string(data), secretValue) || strings.Contains(string(data), b64[:len(b64)-4])
}

// TestSecretValueInNoAnswer walks every GET endpoint, the answers of every
// kind of write (dry runs and 422s included) and every event type, and
// finds the secret's value in no byte of any of them.
func TestSecretValueInNoAnswer(t *testing.T) {
	f, srv := newServer(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := openStream(t, ctx, srv.URL+"/v2/events")
	waitFor(t, "the stream to subscribe", func() bool { return f.subscribers() == 1 })

	check := func(what string, a answer) {
		t.Helper()
		if leaks(a.body) {
			t.Errorf("%s shows the secret: %s", what, a.body)
		}
		for k, vs := range a.header {
			if leaks([]byte(k + strings.Join(vs, ","))) {
				t.Errorf("%s shows the secret in header %s", what, k)
			}
		}
	}
	write := func(method, path, body string, status int) answer {
		t.Helper()
		a := call(t, srv, method, path, body)
		expect(t, a, status)
		check(method+" "+path, a)
		return a
	}

	// Writes, each answering something that could carry the definition.
	write("POST", "/v2/apps?dryRun=true", secretDef, http.StatusOK)
	created := write("POST", "/v2/apps", secretDef, http.StatusCreated)
	var v AppView
	created.decode(t, &v)
	if v.Secrets["db"].Value != mesos.SecretMask || v.SecretEnv["DB_PASSWORD"] != "db" {
		t.Fatalf("created app shows secrets %+v env %+v, want the mask and the reference", v.Secrets, v.SecretEnv)
	}
	write("POST", "/v2/apps", strings.Replace(secretDef, `"cmd": "run"`, `"cmd": "run", "cpus": -1`, 1), http.StatusUnprocessableEntity)
	write("POST", "/v2/apps", strings.Replace(secretDef, `{"value": "s3cr3t-XYZZY"}`, `{"value": "s3cr3t-XYZZY", "source": "vault"}`, 1), http.StatusUnprocessableEntity)
	write("POST", "/v2/apps", strings.Replace(secretDef, `"secret": "db"`, `"secret": "nope"`, 1), http.StatusUnprocessableEntity)
	write("POST", "/v2/apps", secretDef, http.StatusConflict)
	write("PUT", "/v2/apps/db/client?dryRun=true", strings.Replace(secretDef, "XYZZY", "XYZZY2", 1), http.StatusOK)
	write("PATCH", "/v2/apps/db/client", `{"instances": 3}`, http.StatusOK)
	write("PUT", "/v2/apps/db/client", strings.Replace(secretDef, `"instances": 2`, `"instances": 4`, 1), http.StatusOK)
	write("PUT", "/v2/apps/other", strings.Replace(secretDef, "/db/client", "/other", 1), http.StatusCreated)
	write("DELETE", "/v2/apps/other", "", http.StatusOK)

	a := f.Apps()[0]
	f.mu.Lock()
	f.ins = []core.Instance{
		{Instance: state.Instance{TaskID: "db.1", AppID: "/db/client", AgentID: "s1", Host: "h1", Ports: []uint64{31001}, Version: a.Version, State: mesos.TaskRunning}, Ready: true},
		{Instance: state.Instance{TaskID: "db.2", AppID: "/db/client", AgentID: "s2", Host: "h2", Version: a.Version}},
	}
	f.queue = []core.QueueEntry{{AppID: "/db/client", Count: 1, AgentReasons: map[string]string{"s3": "insufficient mem"}}}
	depID := f.deps[len(f.deps)-1].ID
	f.mu.Unlock()
	write("POST", "/v2/apps/db/client/restart", "", http.StatusOK)
	write("DELETE", "/v2/apps/db/client/tasks/db.2?scale=true", "", http.StatusOK)
	write("DELETE", "/v2/apps/db/client/tasks/db.1", "", http.StatusOK)
	write("DELETE", "/v2/apps/db/client/tasks?host=h1", "", http.StatusOK)

	vs := f.versions["/db/client"]
	gets := []string{
		"/v2/apps", "/v2/apps?embed=apps.tasks&embed=apps.readiness&embed=apps.deployments",
		"/v2/apps?id=/db", "/v2/apps?label=x", "/v2/apps?cmd=run",
		"/v2/apps/db/client", "/v2/apps/db/client?embed=app.tasks",
		"/v2/apps/db/client/tasks", "/v2/apps/db/client/versions",
		"/v2/tasks", "/v2/tasks?status=running",
		"/v2/groups", "/v2/groups/db",
		"/v2/deployments", "/v2/deployments/" + url.PathEscape(depID),
		"/v2/queue", "/v2/queue?embed=lastUnusedOffers",
		"/v2/info", "/v2/ping",
	}
	for _, old := range vs {
		gets = append(gets, "/v2/apps/db/client/versions/"+url.PathEscape(old.Version))
	}
	for _, p := range gets {
		a := call(t, srv, "GET", p, "")
		if a.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, a.status, a.body)
		}
		check("GET "+p, a)
	}

	// Every event type the framework emits, then a marker to read up to.
	yes := true
	for _, e := range []core.Event{
		{Type: core.EventDeploymentInfo, AppID: "/db/client", DeploymentID: depID},
		{Type: core.EventDeploymentSuccess, AppID: "/db/client", DeploymentID: depID},
		{Type: core.EventDeploymentFailed, AppID: "/db/client", DeploymentID: depID, Message: "failed"},
		{Type: core.EventStatusUpdate, AppID: "/db/client", TaskID: "db.1", State: mesos.TaskRunning},
		{Type: core.EventHealthChanged, AppID: "/db/client", TaskID: "db.1", Healthy: &yes},
		{Type: core.EventStatusUpdate, AppID: "/db/client", TaskID: "db.1", State: mesos.TaskRunning, Message: "END"},
	} {
		e.Time = t0
		f.publish(e)
	}
	seen := map[string]bool{}
	for {
		typ, data := stream.next()
		seen[typ] = true
		if leaks([]byte(data)) {
			t.Errorf("event %s shows the secret: %s", typ, data)
		}
		if strings.Contains(data, `"message":"END"`) {
			break
		}
	}
	for _, typ := range []string{EventAPIPost, EventStreamAttached, core.EventDeploymentInfo, core.EventDeploymentSuccess,
		core.EventDeploymentFailed, core.EventStatusUpdate, core.EventHealthChanged} {
		if !seen[typ] {
			t.Errorf("no %s event was checked", typ)
		}
	}

	// The stored definition still has the value: masking is for answers.
	if got := f.Apps()[0].Secrets["db"].Value; got != secretValue {
		t.Fatalf("stored secret = %q", got)
	}
}

func TestGetThenPutKeepsTheSecret(t *testing.T) {
	f, srv := newServer(t, Options{})
	expect(t, call(t, srv, "POST", "/v2/apps", secretDef), http.StatusCreated)

	got := call(t, srv, "GET", "/v2/apps/db/client", "")
	expect(t, got, http.StatusOK)
	var body struct {
		App json.RawMessage `json:"app"`
	}
	got.decode(t, &body)
	put := call(t, srv, "PUT", "/v2/apps/db/client", string(body.App))
	expect(t, put, http.StatusOK)
	var res WriteResult
	put.decode(t, &res)
	if res.DeploymentID != "" {
		t.Fatalf("PUT of the app as GET showed it started deployment %s; nothing changed", res.DeploymentID)
	}
	if v := f.Apps()[0].Secrets["db"].Value; v != secretValue {
		t.Fatalf("stored secret = %q after GET-then-PUT, want it kept", v)
	}

	// A new value is a change that restarts.
	changed := strings.Replace(string(body.App), mesos.SecretMask, "n3w", 1)
	plan := call(t, srv, "PUT", "/v2/apps/db/client?dryRun=true", changed)
	expect(t, plan, http.StatusOK)
	var pv PlanView
	plan.decode(t, &pv)
	if !pv.Restart || len(pv.ChangedFields) != 1 || pv.ChangedFields[0] != "secrets" {
		t.Fatalf("dry run of a new secret value: %+v, want a restart changing secrets", pv)
	}
	put = call(t, srv, "PUT", "/v2/apps/db/client", changed)
	expect(t, put, http.StatusOK)
	put.decode(t, &res)
	if res.DeploymentID == "" || f.Apps()[0].Secrets["db"].Value != "n3w" {
		t.Fatalf("a new secret value must deploy and be stored: %+v %q", res, f.Apps()[0].Secrets["db"].Value)
	}
}

func TestSecretRefusalsName422Fields(t *testing.T) {
	_, srv := newServer(t, Options{})
	cases := map[string]struct{ body, path, says string }{
		"source":     {strings.Replace(secretDef, `{"value": "s3cr3t-XYZZY"}`, `{"source": "vault/db"}`, 1), "/secrets/db/source", "value"},
		"both":       {strings.Replace(secretDef, `{"value": "s3cr3t-XYZZY"}`, `{"value": "x", "source": "vault/db"}`, 1), "/secrets/db/source", "value"},
		"empty":      {strings.Replace(secretDef, `"s3cr3t-XYZZY"`, `""`, 1), "/secrets/db/value", "empty"},
		"undeclared": {strings.Replace(secretDef, `"secret": "db"`, `"secret": "nope"`, 1), "/env/DB_PASSWORD/secret", "not declared"},
		"mask":       {strings.Replace(secretDef, secretValue, mesos.SecretMask, 1), "/secrets/db/value", "no stored value"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			a := call(t, srv, "POST", "/v2/apps", tc.body)
			expect(t, a, http.StatusUnprocessableEntity)
			var b app.ErrorBody
			a.decode(t, &b)
			found := false
			for _, d := range b.Details {
				if d.Path == tc.path && strings.Contains(strings.Join(d.Errors, " "), tc.says) {
					found = true
				}
			}
			if !found {
				t.Fatalf("want %q at %s, got %s", tc.says, tc.path, a.body)
			}
			if leaks(a.body) {
				t.Fatalf("422 shows the secret: %s", a.body)
			}
		})
	}
	// An unused secret is allowed, as in Marathon.
	expect(t, call(t, srv, "POST", "/v2/apps", `{"id": "/spare", "cmd": "x", "secrets": {"s": {"value": "v"}}}`), http.StatusCreated)
}
