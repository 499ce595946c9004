package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"agora/core/mesos"
)

func TestSecretValueInNoAnswer(t *testing.T) {
	f := newFake(t0)
	h := New(f, Options{})
	a := call(t, h, http.MethodPost, "/v1/jobs", nightly)
	want(t, a, http.StatusCreated, "create")
	answers := []answer{a}
	withHistory(f)
	for _, path := range []string{
		"/v1/jobs", "/v1/jobs?embed=activeRuns,schedules,history,historySummary,nextRuns",
		"/v1/jobs/nightly", "/v1/jobs/nightly?embed=activeRuns&embed=history",
		"/v1/jobs/nightly/schedules", "/v1/jobs/nightly/schedules/daily",
		"/v1/jobs/nightly/runs", "/v1/jobs/nightly/runs/r3", "/v1/info",
	} {
		a := call(t, h, http.MethodGet, path, "")
		want(t, a, http.StatusOK, path)
		answers = append(answers, a)
	}
	answers = append(answers,
		call(t, h, http.MethodPut, "/v1/jobs/nightly", nightly),
		call(t, h, http.MethodPost, "/v1/jobs/nightly/schedules", `{"id":"s2","cron":"@daily"}`),
		call(t, h, http.MethodPost, "/v1/jobs/nightly/runs", ""),
		call(t, h, http.MethodDelete, "/v1/jobs/nightly?stopCurrentJobRuns=true", ""),
	)
	for i, a := range answers {
		if a.status >= 300 {
			t.Errorf("answer %d: status %d %s", i, a.status, a.body)
		}
		if strings.Contains(a.body, secretValue) {
			t.Errorf("answer %d shows the secret: %s", i, a.body)
		}
	}
	if !strings.Contains(answers[0].body, mesos.SecretMask) {
		t.Errorf("the created job does not show the mask: %s", answers[0].body)
	}

	// Through the client too, which is what the CLI prints.
	f2 := newFake(t0)
	srv := httptest.NewServer(New(f2, Options{}))
	defer srv.Close()
	c := NewClient(srv.URL, srv.Client())
	v, err := c.CreateJob(context.Background(), []byte(nightly))
	if err != nil {
		t.Fatal(err)
	}
	if v.Run.Secrets["db"].Value != mesos.SecretMask {
		t.Errorf("client sees secret %q", v.Run.Secrets["db"].Value)
	}
}

func TestGetThenPutKeepsTheSecret(t *testing.T) {
	f := newFake(t0)
	h := New(f, Options{})
	seed(t, h, nightly)
	got := call(t, h, http.MethodGet, "/v1/jobs/nightly", "")
	want(t, got, http.StatusOK, "get")
	edited := strings.Replace(got.body, "report --all", "report --some", 1)
	want(t, call(t, h, http.MethodPut, "/v1/jobs/nightly", edited), http.StatusOK, "put back")
	j, _ := f.Job("nightly")
	if j.Run.Cmd != "report --some" || j.Run.Secrets["db"].Value != secretValue {
		t.Errorf("after a masked PUT: cmd %q, secret %q", j.Run.Cmd, j.Run.Secrets["db"].Value)
	}
	// A new value replaces it.
	changed := strings.Replace(nightly, secretValue, "rotated", 1)
	want(t, call(t, h, http.MethodPut, "/v1/jobs/nightly", changed), http.StatusOK, "rotate")
	if j, _ = f.Job("nightly"); j.Run.Secrets["db"].Value != "rotated" {
		t.Errorf("rotated secret is %q", j.Run.Secrets["db"].Value)
	}
}

func TestMaskWithNothingToKeepIs422(t *testing.T) {
	f := newFake(t0)
	h := New(f, Options{})
	masked := strings.Replace(nightly, secretValue, mesos.SecretMask, 1)
	d := details(t, call(t, h, http.MethodPost, "/v1/jobs", masked))
	if d["/run/secrets/db/value"] == "" {
		t.Errorf("a new job with a masked secret: details %v", d)
	}
	seed(t, h, plain)
	// plain has no secret a mask could stand for.
	maskedPlain := `{"id":"plain","run":{"cmd":"true","cpus":0.1,"mem":32,"disk":0,"env":{"K":{"secret":"k"}},"secrets":{"k":{"value":"` + mesos.SecretMask + `"}}}}`
	if d := details(t, call(t, h, http.MethodPut, "/v1/jobs/plain", maskedPlain)); d["/run/secrets/k/value"] == "" {
		t.Errorf("a PUT with a mask and no stored secret: details %v", d)
	}
	if got := f.Calls(); len(got) != 1 {
		t.Errorf("backend calls %v, want only the seed", got)
	}
}
