package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// rules is an Authorizer: principal -> "action object" pairs it may do;
// object "*" is any.
type rules map[string][]string

func (r rules) Allowed(principal, action, object string) (bool, string) {
	for _, g := range r[principal] {
		a, o, _ := strings.Cut(g, " ")
		if a == action && (o == "*" || o == object) {
			return true, ""
		}
	}
	return false, "no ACL grants it"
}

// asPrincipal reads the principal from a test header.
func asPrincipal(r *http.Request) string { return r.Header.Get("X-Principal") }

func callAs(t *testing.T, h http.Handler, principal, method, path, body string) answer {
	t.Helper()
	var req *http.Request
	if body == "" {
		req = httptest.NewRequest(method, path, nil)
	} else {
		req = httptest.NewRequest(method, path, strings.NewReader(body))
	}
	req.Header.Set("X-Principal", principal)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return answer{status: rec.Code, body: rec.Body.String(), header: rec.Header()}
}

var acl = rules{
	"admin": {"view_jobs *", "manage_jobs *", "run_tasks *"},
	// ops sees and manages nightly, may run tasks as alice only.
	"ops": {"view_jobs nightly", "manage_jobs nightly", "run_tasks alice"},
	// viewer sees everything and changes nothing.
	"viewer": {"view_jobs *"},
	// runner manages every job but runs tasks only as the framework's
	// default user.
	"runner": {"view_jobs *", "manage_jobs *", "run_tasks nobody"},
}

func authServer(t *testing.T) (*fake, http.Handler) {
	f := newFake(t0)
	h := New(f, Options{Authorizer: acl, Principal: asPrincipal, DefaultUser: "nobody"})
	for _, d := range []string{nightly, plain} {
		want(t, callAs(t, h, "admin", http.MethodPost, "/v1/jobs", d), http.StatusCreated, "seed")
	}
	withHistory(f)
	return f, h
}

func TestReadsShowOnlyViewableJobs(t *testing.T) {
	_, h := authServer(t)
	a := callAs(t, h, "ops", http.MethodGet, "/v1/jobs?embed=activeRuns", "")
	var list []JobView
	a.decode(t, &list)
	if len(list) != 1 || list[0].ID != "nightly" {
		t.Errorf("ops lists %+v, want nightly only", list)
	}
	a = callAs(t, h, "stranger", http.MethodGet, "/v1/jobs", "")
	if a.status != http.StatusOK || strings.TrimSpace(a.body) != "[]" {
		t.Errorf("stranger lists %d %s", a.status, a.body)
	}
	for _, path := range []string{
		"/v1/jobs/plain", "/v1/jobs/plain/schedules", "/v1/jobs/plain/schedules/x",
		"/v1/jobs/plain/runs", "/v1/jobs/plain/runs/r1",
	} {
		a := callAs(t, h, "ops", http.MethodGet, path, "")
		if a.status != http.StatusForbidden || !strings.Contains(a.message(t), `principal "ops" may not view_jobs on job 'plain'`) {
			t.Errorf("ops GET %s: %d %s", path, a.status, a.body)
		}
	}
	want(t, callAs(t, h, "ops", http.MethodGet, "/v1/jobs/nightly/runs/r3", ""), http.StatusOK, "ops reads its run")
}

func TestRefusedWritesChangeNothing(t *testing.T) {
	f, h := authServer(t)
	before := len(f.Calls())
	rootJob := `{"id":"nightly","run":{"cmd":"x","cpus":0.1,"mem":32,"disk":0,"user":"root"}}`
	for _, tc := range []struct {
		who, method, path, body, why string
	}{
		{"viewer", http.MethodPost, "/v1/jobs", `{"id":"new","run":{"cmd":"x","cpus":0.1,"mem":32,"disk":0}}`, "manage_jobs on job 'new'"},
		{"ops", http.MethodPost, "/v1/jobs", `{"id":"new","run":{"cmd":"x","cpus":0.1,"mem":32,"disk":0,"user":"alice"}}`, "manage_jobs on job 'new'"},
		// The new definition's user: ops may not run tasks as root.
		{"ops", http.MethodPut, "/v1/jobs/nightly", rootJob, `run_tasks as user "root" for job 'nightly'`},
		// The current definition's user: runner may run tasks as nobody
		// only, and nightly's run as alice.
		{"runner", http.MethodPut, "/v1/jobs/nightly", `{"id":"nightly","run":{"cmd":"x","cpus":0.1,"mem":32,"disk":0}}`, `run_tasks as user "alice" for job 'nightly'`},
		{"ops", http.MethodPut, "/v1/jobs/plain", plain, "manage_jobs on job 'plain'"},
		// plain has no user: its tasks run as the default user.
		{"ops", http.MethodDelete, "/v1/jobs/plain", "", "manage_jobs on job 'plain'"},
		{"viewer", http.MethodDelete, "/v1/jobs/nightly?stopCurrentJobRuns=true", "", "manage_jobs on job 'nightly'"},
		{"viewer", http.MethodPost, "/v1/jobs/nightly/runs", "", "manage_jobs"},
		{"runner", http.MethodPost, "/v1/jobs/nightly/runs", "", `run_tasks as user "alice"`},
		{"viewer", http.MethodPost, "/v1/jobs/nightly/runs/r4/actions/stop", "", "manage_jobs"},
		{"viewer", http.MethodPost, "/v1/jobs/nightly/schedules", `{"id":"s2","cron":"@daily"}`, "manage_jobs"},
		{"viewer", http.MethodPut, "/v1/jobs/nightly/schedules/daily", `{"cron":"@daily"}`, "manage_jobs"},
		{"runner", http.MethodDelete, "/v1/jobs/nightly/schedules/daily", "", `run_tasks as user "alice"`},
		{"", http.MethodPost, "/v1/jobs/nightly/runs", "", "the anonymous principal may not manage_jobs"},
	} {
		a := callAs(t, h, tc.who, tc.method, tc.path, tc.body)
		if a.status != http.StatusForbidden || !strings.Contains(a.message(t), tc.why) {
			t.Errorf("%s %s %s: %d %s, want 403 naming %s", tc.who, tc.method, tc.path, a.status, a.body, tc.why)
		}
	}
	if got := f.Calls()[before:]; len(got) != 0 {
		t.Errorf("refused writes reached the backend: %v", got)
	}
	if j, _ := f.Job("nightly"); j.Run.User != "alice" || len(j.Schedules) != 1 {
		t.Errorf("nightly changed: %+v", j)
	}

	// What the rules allow goes through.
	want(t, callAs(t, h, "ops", http.MethodPost, "/v1/jobs/nightly/runs", ""), http.StatusCreated, "ops runs nightly")
	want(t, callAs(t, h, "runner", http.MethodPost, "/v1/jobs/plain/runs", ""), http.StatusCreated, "runner runs plain as nobody")
	want(t, callAs(t, h, "ops", http.MethodPut, "/v1/jobs/nightly/schedules/daily", `{"cron":"@daily"}`), http.StatusOK, "ops edits a schedule")
}
