package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"agora/frameworks/cron/core"
	"agora/frameworks/cron/job"
)

var t0 = time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)

const secretValue = "s3cr3t-db-password"

// nightly is a job with a secret and one schedule.
const nightly = `{"id":"nightly","description":"the nightly report",
 "run":{"cmd":"report --all","cpus":0.1,"mem":32,"disk":0,"user":"alice",
  "env":{"DB_PASS":{"secret":"db"},"MODE":"full"},"secrets":{"db":{"value":"` + secretValue + `"}}},
 "schedules":[{"id":"daily","cron":"0 2 * * *","timezone":"Europe/Berlin"}]}`

// plain is a job without schedules or secrets.
const plain = `{"id":"plain","run":{"cmd":"true","cpus":0.1,"mem":32,"disk":0}}`

type answer struct {
	status int
	body   string
	header http.Header
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(a.body), v); err != nil {
		t.Fatalf("decode %q: %v", a.body, err)
	}
}

// message is a Metronome error body's message.
func (a answer) message(t *testing.T) string {
	t.Helper()
	var m Message
	a.decode(t, &m)
	return m.Message
}

func call(t *testing.T, h http.Handler, method, path, body string) answer {
	t.Helper()
	var req *http.Request
	if body == "" {
		req = httptest.NewRequest(method, path, nil)
	} else {
		req = httptest.NewRequest(method, path, strings.NewReader(body))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return answer{status: rec.Code, body: rec.Body.String(), header: rec.Header()}
}

// want fails unless a has the status.
func want(t *testing.T, a answer, status int, what string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, a.status, status, a.body)
	}
}

// seed creates jobs through the API.
func seed(t *testing.T, h http.Handler, defs ...string) {
	t.Helper()
	for _, d := range defs {
		want(t, call(t, h, http.MethodPost, "/v1/jobs", d), http.StatusCreated, "seed")
	}
}

// details decodes a 422 body and returns path -> messages.
func details(t *testing.T, a answer) map[string]string {
	t.Helper()
	if a.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422; body %s", a.status, a.body)
	}
	var b struct {
		Message string            `json:"message"`
		Details []job.ErrorDetail `json:"details"`
	}
	a.decode(t, &b)
	if b.Message != "Object is not valid" {
		t.Errorf("422 message %q, want Metronome's %q", b.Message, "Object is not valid")
	}
	out := map[string]string{}
	for _, d := range b.Details {
		out[d.Path] = strings.Join(d.Errors, "; ")
	}
	return out
}

func TestCreateGetListDelete(t *testing.T) {
	f := newFake(t0)
	h := New(f, Options{})
	a := call(t, h, http.MethodPost, "/v1/jobs", nightly)
	want(t, a, http.StatusCreated, "create")
	if got := a.header.Get("Location"); got != "/v1/jobs/nightly" {
		t.Errorf("Location %q", got)
	}
	var v JobView
	a.decode(t, &v)
	if v.ID != "nightly" || v.Run.Cmd != "report --all" || len(v.Schedules) != 1 || v.Schedules[0].Timezone != "Europe/Berlin" {
		t.Errorf("created job answered as %+v", v)
	}
	if got := f.Calls(); len(got) != 1 || got[0] != "put nightly" {
		t.Errorf("backend calls %v", got)
	}

	a = call(t, h, http.MethodPost, "/v1/jobs", nightly)
	want(t, a, http.StatusConflict, "create twice")
	if !strings.Contains(a.body, "already exists") {
		t.Errorf("409 body %s", a.body)
	}

	a = call(t, h, http.MethodGet, "/v1/jobs/nightly", "")
	want(t, a, http.StatusOK, "get")
	v = JobView{}
	a.decode(t, &v)
	if len(v.NextRuns) != 5 || !v.NextRuns[0].Equal(time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)) {
		t.Errorf("nextRuns %v, want five from 13:00", v.NextRuns)
	}
	if v.ActiveRuns != nil || v.History != nil {
		t.Errorf("embeds without ?embed: %+v", v)
	}

	seed(t, h, plain)
	a = call(t, h, http.MethodGet, "/v1/jobs", "")
	want(t, a, http.StatusOK, "list")
	var list []JobView
	a.decode(t, &list)
	if len(list) != 2 || list[0].ID != "nightly" || list[1].ID != "plain" {
		t.Fatalf("list %+v", list)
	}
	if list[0].NextRuns != nil {
		t.Error("a list shows nextRuns only with embed=nextRuns")
	}
	a = call(t, h, http.MethodGet, "/v1/jobs?embed=nextRuns", "")
	list = nil
	a.decode(t, &list)
	if len(list[0].NextRuns) != 5 || list[1].NextRuns == nil || len(list[1].NextRuns) != 0 {
		t.Errorf("embed=nextRuns: %v and %v", list[0].NextRuns, list[1].NextRuns)
	}

	a = call(t, h, http.MethodDelete, "/v1/jobs/nightly", "")
	want(t, a, http.StatusOK, "delete")
	want(t, call(t, h, http.MethodGet, "/v1/jobs/nightly", ""), http.StatusNotFound, "get deleted")
	a = call(t, h, http.MethodDelete, "/v1/jobs/nightly", "")
	want(t, a, http.StatusNotFound, "delete twice")
	if !strings.Contains(a.body, "Job 'nightly' does not exist") {
		t.Errorf("404 body %s", a.body)
	}
}

func TestEmptyListIsAnArray(t *testing.T) {
	a := call(t, New(newFake(t0), Options{}), http.MethodGet, "/v1/jobs", "")
	want(t, a, http.StatusOK, "list")
	if strings.TrimSpace(a.body) != "[]" {
		t.Errorf("empty list %q, want []", a.body)
	}
}

func TestBadDefinitionsName422Fields(t *testing.T) {
	f := newFake(t0)
	h := New(f, Options{})
	for _, tc := range []struct {
		name, body, path string
	}{
		{"cpus too small", `{"id":"x","run":{"cmd":"true","cpus":0.001,"mem":32,"disk":0}}`, "/run/cpus"},
		{"unknown field", `{"id":"x","run":{"cmd":"true","cpus":0.1,"mem":32,"disk":0},"colour":"red"}`, ""},
		{"bad id", `{"id":"Not_Valid","run":{"cmd":"true","cpus":0.1,"mem":32,"disk":0}}`, "/id"},
		{"bad cron", `{"id":"x","run":{"cmd":"true","cpus":0.1,"mem":32,"disk":0},"schedules":[{"id":"s","cron":"every tuesday"}]}`, "/schedules/0/cron"},
		{"invalid JSON", `{"id":`, "/"},
		{"not an object", `[1,2]`, "/"},
	} {
		d := details(t, call(t, h, http.MethodPost, "/v1/jobs", tc.body))
		if tc.path == "" {
			if len(d) == 0 {
				t.Errorf("%s: no details", tc.name)
			}
			continue
		}
		if d[tc.path] == "" {
			t.Errorf("%s: details %v lack %s", tc.name, d, tc.path)
		}
	}
	if len(f.Calls()) != 0 {
		t.Errorf("invalid jobs reached the backend: %v", f.Calls())
	}
}

func TestPutReplacesSpecAndKeepsSchedules(t *testing.T) {
	f := newFake(t0)
	h := New(f, Options{})
	seed(t, h, nightly)
	// No schedules in the body: the stored ones stay (Metronome).
	a := call(t, h, http.MethodPut, "/v1/jobs/nightly", `{"run":{"cmd":"report --fast","cpus":0.2,"mem":64,"disk":0}}`)
	want(t, a, http.StatusOK, "put")
	j, _ := f.Job("nightly")
	if j.Run.Cmd != "report --fast" || j.Description != "" || len(j.Schedules) != 1 || j.Schedules[0].ID != "daily" {
		t.Errorf("after PUT without schedules: %+v", j)
	}
	// Explicit schedules replace them; an empty list clears them.
	a = call(t, h, http.MethodPut, "/v1/jobs/nightly", `{"id":"nightly","run":{"cmd":"r","cpus":0.2,"mem":64,"disk":0},"schedules":[{"id":"hourly","cron":"@hourly"}]}`)
	want(t, a, http.StatusOK, "put schedules")
	if j, _ = f.Job("nightly"); len(j.Schedules) != 1 || j.Schedules[0].ID != "hourly" {
		t.Errorf("schedules after PUT with schedules: %+v", j.Schedules)
	}
	want(t, call(t, h, http.MethodPut, "/v1/jobs/nightly", `{"run":{"cmd":"r","cpus":0.2,"mem":64,"disk":0},"schedules":[]}`), http.StatusOK, "clear")
	if j, _ = f.Job("nightly"); len(j.Schedules) != 0 {
		t.Errorf("schedules after PUT with []: %+v", j.Schedules)
	}

	if d := details(t, call(t, h, http.MethodPut, "/v1/jobs/nightly", `{"id":"other","run":{"cmd":"r","cpus":0.2,"mem":64,"disk":0}}`)); !strings.Contains(d["/id"], "does not match") {
		t.Errorf("id mismatch: %v", d)
	}
	a = call(t, h, http.MethodPut, "/v1/jobs/ghost", plain)
	want(t, a, http.StatusNotFound, "put unknown")
	if _, ok := f.Job("ghost"); ok {
		t.Error("PUT of an unknown job created it")
	}
	// A GET's answer sent back is a valid definition.
	got := call(t, h, http.MethodGet, "/v1/jobs/nightly?embed=history,activeRuns", "")
	want(t, call(t, h, http.MethodPut, "/v1/jobs/nightly", got.body), http.StatusOK, "put back a GET")
}

func TestSchedulesEndpoints(t *testing.T) {
	f := newFake(t0)
	h := New(f, Options{})
	seed(t, h, nightly)
	a := call(t, h, http.MethodGet, "/v1/jobs/nightly/schedules", "")
	want(t, a, http.StatusOK, "list schedules")
	var scs []job.Schedule
	a.decode(t, &scs)
	if len(scs) != 1 || scs[0].ID != "daily" || scs[0].Cron != "0 2 * * *" {
		t.Errorf("schedules %+v", scs)
	}
	calls := len(f.Calls())

	a = call(t, h, http.MethodPost, "/v1/jobs/nightly/schedules", `{"id":"weekly","cron":"0 3 * * 0","timezone":"UTC","enabled":false}`)
	want(t, a, http.StatusCreated, "create schedule")
	if a.header.Get("Location") != "/v1/jobs/nightly/schedules/weekly" {
		t.Errorf("Location %q", a.header.Get("Location"))
	}
	j, _ := f.Job("nightly")
	if len(j.Schedules) != 2 || j.Schedules[1].ID != "weekly" || j.Schedules[1].IsEnabled() {
		t.Errorf("after POST schedule: %+v", j.Schedules)
	}
	// Secrets survive a schedule write: the stored definition is put back.
	if j.Run.Secrets["db"].Value != secretValue {
		t.Errorf("schedule write lost the secret: %+v", j.Run.Secrets)
	}
	want(t, call(t, h, http.MethodPost, "/v1/jobs/nightly/schedules", `{"id":"weekly","cron":"@daily"}`), http.StatusConflict, "duplicate schedule")
	if d := details(t, call(t, h, http.MethodPost, "/v1/jobs/nightly/schedules", `{"id":"bad","cron":"61 * * * *"}`)); len(d) == 0 {
		t.Error("a bad cron expression was accepted")
	}
	want(t, call(t, h, http.MethodPost, "/v1/jobs/ghost/schedules", `{"id":"s","cron":"@daily"}`), http.StatusNotFound, "schedule of unknown job")

	a = call(t, h, http.MethodGet, "/v1/jobs/nightly/schedules/weekly", "")
	want(t, a, http.StatusOK, "get schedule")
	var sc job.Schedule
	a.decode(t, &sc)
	if sc.Cron != "0 3 * * 0" {
		t.Errorf("schedule %+v", sc)
	}
	a = call(t, h, http.MethodGet, "/v1/jobs/nightly/schedules/nope", "")
	want(t, a, http.StatusNotFound, "get unknown schedule")
	if !strings.Contains(a.body, "Schedule 'nope' of job 'nightly' does not exist") {
		t.Errorf("404 body %s", a.body)
	}

	// PUT takes the id from the URL when the body has none.
	a = call(t, h, http.MethodPut, "/v1/jobs/nightly/schedules/weekly", `{"cron":"0 4 * * 0","enabled":true}`)
	want(t, a, http.StatusOK, "put schedule")
	if j, _ = f.Job("nightly"); j.Schedules[1].Cron != "0 4 * * 0" || !j.Schedules[1].IsEnabled() {
		t.Errorf("after PUT schedule: %+v", j.Schedules[1])
	}
	if d := details(t, call(t, h, http.MethodPut, "/v1/jobs/nightly/schedules/weekly", `{"id":"other","cron":"@daily"}`)); d["/id"] == "" {
		t.Errorf("schedule id mismatch: %v", d)
	}
	want(t, call(t, h, http.MethodPut, "/v1/jobs/nightly/schedules/nope", `{"cron":"@daily"}`), http.StatusNotFound, "put unknown schedule")

	want(t, call(t, h, http.MethodDelete, "/v1/jobs/nightly/schedules/daily", ""), http.StatusOK, "delete schedule")
	if j, _ = f.Job("nightly"); len(j.Schedules) != 1 || j.Schedules[0].ID != "weekly" {
		t.Errorf("after DELETE schedule: %+v", j.Schedules)
	}
	want(t, call(t, h, http.MethodDelete, "/v1/jobs/nightly/schedules/daily", ""), http.StatusNotFound, "delete twice")
	// POST, PUT, DELETE: one PutJob each.
	if got := f.Calls()[calls:]; len(got) != 3 {
		t.Errorf("schedule writes made backend calls %v, want 3 puts", got)
	}
}

func TestRunsEndpoints(t *testing.T) {
	f := newFake(t0)
	h := New(f, Options{})
	seed(t, h, nightly)
	a := call(t, h, http.MethodPost, "/v1/jobs/nightly/runs", "")
	want(t, a, http.StatusCreated, "run now")
	var run core.Run
	a.decode(t, &run)
	if run.ID == "" || run.JobID != "nightly" || run.Status != core.StatusInitial {
		t.Fatalf("run %+v", run)
	}
	if a.header.Get("Location") != "/v1/jobs/nightly/runs/"+run.ID {
		t.Errorf("Location %q", a.header.Get("Location"))
	}
	want(t, call(t, h, http.MethodPost, "/v1/jobs/ghost/runs", ""), http.StatusNotFound, "run unknown job")

	a = call(t, h, http.MethodGet, "/v1/jobs/nightly/runs", "")
	want(t, a, http.StatusOK, "active runs")
	var runs []core.Run
	a.decode(t, &runs)
	if len(runs) != 1 || runs[0].ID != run.ID {
		t.Errorf("active runs %+v", runs)
	}
	a = call(t, h, http.MethodGet, "/v1/jobs/nightly/runs/"+run.ID, "")
	want(t, a, http.StatusOK, "get run")

	// Deleting a job with an active run is the core's 409 unless its runs
	// are stopped.
	a = call(t, h, http.MethodDelete, "/v1/jobs/nightly", "")
	want(t, a, http.StatusConflict, "delete with active runs")
	if !strings.Contains(a.body, "active runs") {
		t.Errorf("409 body %s", a.body)
	}
	want(t, call(t, h, http.MethodDelete, "/v1/jobs/nightly?stopCurrentJobRuns=maybe", ""), http.StatusBadRequest, "bad flag")

	a = call(t, h, http.MethodPost, "/v1/jobs/nightly/runs/"+run.ID+"/actions/stop", "")
	want(t, a, http.StatusOK, "stop")
	run = core.Run{}
	a.decode(t, &run)
	if run.Status != core.StatusStopped {
		t.Errorf("stopped run answered as %+v", run)
	}
	// A finished run is still found by id; it is no longer active.
	want(t, call(t, h, http.MethodGet, "/v1/jobs/nightly/runs/"+run.ID, ""), http.StatusOK, "get finished run")
	if a = call(t, h, http.MethodGet, "/v1/jobs/nightly/runs", ""); strings.TrimSpace(a.body) != "[]" {
		t.Errorf("active runs after stop: %s", a.body)
	}
	want(t, call(t, h, http.MethodPost, "/v1/jobs/nightly/runs/"+run.ID+"/actions/stop", ""), http.StatusNotFound, "stop a finished run")
	a = call(t, h, http.MethodGet, "/v1/jobs/nightly/runs/nope", "")
	want(t, a, http.StatusNotFound, "unknown run")
	if !strings.Contains(a.body, "Run 'nope' of job 'nightly' does not exist") {
		t.Errorf("404 body %s", a.body)
	}
	want(t, call(t, h, http.MethodGet, "/v1/jobs/nightly/runs/"+run.ID+"/actions/stop", ""), http.StatusMethodNotAllowed, "GET stop")

	f.active["nightly"] = []core.Run{{ID: "r2", JobID: "nightly", Status: core.StatusActive}}
	want(t, call(t, h, http.MethodDelete, "/v1/jobs/nightly?stopCurrentJobRuns=true", ""), http.StatusOK, "delete stopping runs")
	if got := f.Calls(); got[len(got)-1] != "delete nightly stop=true" {
		t.Errorf("backend calls %v", got)
	}
}

func exit(n int) *int { return &n }

// withHistory gives nightly one active run and three finished ones.
func withHistory(f *fake) {
	f.active["nightly"] = []core.Run{{ID: "r4", JobID: "nightly", Status: core.StatusActive, CreatedAt: t0,
		Tasks: []core.Task{{ID: "nightly.r4.1", State: "TASK_RUNNING"}}}}
	f.finished["nightly"] = []core.Run{
		{ID: "r3", JobID: "nightly", Status: core.StatusFailed, CreatedAt: t0.Add(-3 * time.Hour), FinishedAt: t0.Add(-2 * time.Hour),
			Tasks: []core.Task{{ID: "nightly.r3.1", State: "TASK_FAILED", ExitCode: exit(1)}, {ID: "nightly.r3.2", State: "TASK_FAILED", ExitCode: exit(3)}}},
		{ID: "r2", JobID: "nightly", Status: core.StatusSuccess, CreatedAt: t0.Add(-27 * time.Hour), FinishedAt: t0.Add(-26 * time.Hour),
			Tasks: []core.Task{{ID: "nightly.r2.1", State: "TASK_FINISHED", ExitCode: exit(0)}}},
		{ID: "r1", JobID: "nightly", Status: core.StatusMissed, CreatedAt: t0.Add(-51 * time.Hour), FinishedAt: t0.Add(-51 * time.Hour), Missed: 2},
	}
	f.summary["nightly"] = core.History{SuccessCount: 1, FailureCount: 2, LastSuccessAt: t0.Add(-26 * time.Hour), LastFailureAt: t0.Add(-2 * time.Hour)}
}

func TestEmbeds(t *testing.T) {
	f := newFake(t0)
	h := New(f, Options{})
	seed(t, h, nightly, plain)
	withHistory(f)

	a := call(t, h, http.MethodGet, "/v1/jobs/nightly?embed=history&embed=activeRuns", "")
	want(t, a, http.StatusOK, "get with embeds")
	var raw map[string]json.RawMessage
	a.decode(t, &raw)
	for _, k := range []string{"id", "run", "schedules", "history", "activeRuns", "nextRuns"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("answer lacks %q: %s", k, a.body)
		}
	}
	var v JobView
	a.decode(t, &v)
	if len(v.ActiveRuns) != 1 || v.ActiveRuns[0].ID != "r4" {
		t.Errorf("activeRuns %+v", v.ActiveRuns)
	}
	hv := v.History
	if hv == nil || hv.SuccessCount != 1 || hv.FailureCount != 2 || hv.LastSuccessAt == nil || !hv.LastFailureAt.Equal(t0.Add(-2*time.Hour)) {
		t.Fatalf("history %+v", hv)
	}
	if len(hv.SuccessfulFinishedRuns) != 1 || hv.SuccessfulFinishedRuns[0].ID != "r2" ||
		hv.SuccessfulFinishedRuns[0].Tasks[0].ID != "nightly.r2.1" || *hv.SuccessfulFinishedRuns[0].Tasks[0].ExitCode != 0 {
		t.Errorf("successfulFinishedRuns %+v", hv.SuccessfulFinishedRuns)
	}
	if len(hv.FailedFinishedRuns) != 2 || hv.FailedFinishedRuns[0].ID != "r3" || hv.FailedFinishedRuns[1].Status != core.StatusMissed {
		t.Fatalf("failedFinishedRuns %+v", hv.FailedFinishedRuns)
	}
	if tasks := hv.FailedFinishedRuns[0].Tasks; len(tasks) != 2 || tasks[1].ID != "nightly.r3.2" || *tasks[1].ExitCode != 3 {
		t.Errorf("failed run's tasks %+v", tasks)
	}
	if !strings.Contains(a.body, `"finishedAt"`) || !strings.Contains(a.body, `"createdAt"`) {
		t.Errorf("history lacks Metronome's times: %s", a.body)
	}

	// historySummary: only the counts; null times for what never happened.
	a = call(t, h, http.MethodGet, "/v1/jobs?embed=historySummary,schedules", "")
	want(t, a, http.StatusOK, "list with summary")
	var list []map[string]json.RawMessage
	a.decode(t, &list)
	var sum map[string]any
	if err := json.Unmarshal(list[0]["historySummary"], &sum); err != nil {
		t.Fatal(err)
	}
	if sum["successCount"] != 1.0 || sum["failureCount"] != 2.0 || len(sum) != 4 {
		t.Errorf("historySummary %v", sum)
	}
	if string(list[1]["historySummary"]) != `{"successCount":0,"failureCount":0,"lastSuccessAt":null,"lastFailureAt":null}` {
		t.Errorf("empty summary %s", list[1]["historySummary"])
	}
	if _, ok := list[0]["history"]; ok {
		t.Error("historySummary embedded the runs")
	}

	a = call(t, h, http.MethodGet, "/v1/jobs?embed=tasks", "")
	want(t, a, http.StatusBadRequest, "bad embed")
	if !strings.Contains(a.body, "embed") || !strings.Contains(a.body, "activeRuns") {
		t.Errorf("400 body %s", a.body)
	}
}

func TestBackendErrorsChooseTheStatus(t *testing.T) {
	f := newFake(t0)
	h := New(f, Options{})
	seed(t, h, nightly)
	for _, tc := range []struct {
		err    error
		status int
		body   string
	}{
		{job.FieldErrors{{Path: "/dependencies", Errors: []string{"cycle: a -> b -> a"}}}, http.StatusUnprocessableEntity, "cycle: a"},
		{fmt.Errorf("put: %w", &core.ConflictError{Msg: "run r1 is still active"}), http.StatusConflict, "run r1 is still active"},
		{fmt.Errorf("%w: job nightly", core.ErrNotFound), http.StatusNotFound, "does not exist"},
		{fmt.Errorf("%w: not subscribed", ErrUnavailable), http.StatusServiceUnavailable, "not available yet"},
		{errors.New("disk on fire"), http.StatusInternalServerError, "disk on fire"},
	} {
		f.fail = tc.err
		for _, r := range []struct{ method, path, body string }{
			{http.MethodPut, "/v1/jobs/nightly", nightly},
			{http.MethodPost, "/v1/jobs/nightly/runs", ""},
			{http.MethodDelete, "/v1/jobs/nightly", ""},
			{http.MethodPost, "/v1/jobs/nightly/schedules", `{"id":"s2","cron":"@daily"}`},
		} {
			a := call(t, h, r.method, r.path, r.body)
			if a.status != tc.status || !strings.Contains(a.body, tc.body) {
				t.Errorf("%v on %s %s: %d %s", tc.err, r.method, r.path, a.status, a.body)
			}
		}
	}
}

func TestInfoPingMethodsAndLimits(t *testing.T) {
	f := newFake(t0)
	h := New(f, Options{MaxBodyBytes: 512})
	a := call(t, h, http.MethodGet, "/v1/info", "")
	want(t, a, http.StatusOK, "info")
	var info Info
	a.decode(t, &info)
	if info.FrameworkID != "fw-1" || !info.Elected || info.Leader == "" {
		t.Errorf("info %+v", info)
	}
	if a = call(t, h, http.MethodGet, "/v1/ping", ""); a.status != http.StatusOK || a.body != "pong\n" {
		t.Errorf("ping %d %q", a.status, a.body)
	}
	a = call(t, h, http.MethodPatch, "/v1/jobs", "{}")
	want(t, a, http.StatusMethodNotAllowed, "PATCH /v1/jobs")
	if a.header.Get("Allow") != "GET, POST" {
		t.Errorf("Allow %q", a.header.Get("Allow"))
	}
	want(t, call(t, h, http.MethodPost, "/v1/jobs/x/runs/y", ""), http.StatusMethodNotAllowed, "POST run")
	want(t, call(t, h, http.MethodGet, "/v1/nothing", ""), http.StatusNotFound, "unknown path")
	big := `{"id":"x","description":"` + strings.Repeat("a", 600) + `","run":{"cmd":"true","cpus":0.1,"mem":32,"disk":0}}`
	want(t, call(t, h, http.MethodPost, "/v1/jobs", big), http.StatusRequestEntityTooLarge, "big body")
	if len(f.Calls()) != 0 {
		t.Errorf("calls %v", f.Calls())
	}
}
