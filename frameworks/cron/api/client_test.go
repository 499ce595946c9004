package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"agora/frameworks/cron/core"
	"agora/frameworks/cron/job"
)

func clientOf(t *testing.T, f *fake) *Client {
	srv := httptest.NewServer(New(f, Options{}))
	t.Cleanup(srv.Close)
	return NewClient(srv.URL+"/", srv.Client())
}

const nightlyYAML = `id: nightly
description: the nightly report
run:
  cmd: report --all
  cpus: 0.1
  mem: 32
  disk: 0
  env:
    MODE: full
schedules:
  - id: daily
    cron: "0 2 * * *"
    timezone: Europe/Berlin
`

func TestClientRoundTripsEveryCall(t *testing.T) {
	ctx := context.Background()
	f := newFake(t0)
	c := clientOf(t, f)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil || info.FrameworkID != "fw-1" {
		t.Fatalf("info %+v %v", info, err)
	}

	v, err := c.CreateJob(ctx, []byte(nightlyYAML))
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != "nightly" || v.Run.Env["MODE"].Value != "full" || v.Schedules[0].Timezone != "Europe/Berlin" {
		t.Errorf("created %+v", v)
	}
	v, err = c.PutJob(ctx, []byte(strings.Replace(nightlyYAML, "report --all", "report --fast", 1)))
	if err != nil || v.Run.Cmd != "report --fast" {
		t.Fatalf("put %+v %v", v, err)
	}
	v, err = c.GetJob(ctx, "nightly", EmbedActiveRuns, EmbedHistory)
	if err != nil || len(v.NextRuns) != 5 || v.History == nil || v.ActiveRuns == nil {
		t.Fatalf("get %+v %v", v, err)
	}
	list, err := c.ListJobs(ctx, EmbedNextRuns)
	if err != nil || len(list) != 1 || len(list[0].NextRuns) != 5 {
		t.Fatalf("list %+v %v", list, err)
	}

	enabled := false
	sc, err := c.CreateSchedule(ctx, "nightly", job.Schedule{ID: "weekly", Cron: "0 3 * * 0", Enabled: &enabled})
	if err != nil || sc.ID != "weekly" || sc.IsEnabled() {
		t.Fatalf("create schedule %+v %v", sc, err)
	}
	sc.Cron = "0 4 * * 0"
	if sc, err = c.PutSchedule(ctx, "nightly", *sc); err != nil || sc.Cron != "0 4 * * 0" {
		t.Fatalf("put schedule %+v %v", sc, err)
	}
	if sc, err = c.Schedule(ctx, "nightly", "weekly"); err != nil || sc.Cron != "0 4 * * 0" {
		t.Fatalf("schedule %+v %v", sc, err)
	}
	scs, err := c.Schedules(ctx, "nightly")
	if err != nil || len(scs) != 2 {
		t.Fatalf("schedules %+v %v", scs, err)
	}
	if err := c.DeleteSchedule(ctx, "nightly", "weekly"); err != nil {
		t.Fatal(err)
	}

	run, err := c.RunNow(ctx, "nightly")
	if err != nil || run.ID == "" {
		t.Fatalf("run now %+v %v", run, err)
	}
	runs, err := c.Runs(ctx, "nightly")
	if err != nil || len(runs) != 1 || runs[0].ID != run.ID {
		t.Fatalf("runs %+v %v", runs, err)
	}
	if err := c.StopRun(ctx, "nightly", run.ID); err != nil {
		t.Fatal(err)
	}
	if run, err = c.Run(ctx, "nightly", run.ID); err != nil || run.Status != core.StatusStopped {
		t.Fatalf("run %+v %v", run, err)
	}
	hist, err := c.History(ctx, "nightly")
	if err != nil || len(hist.FailedFinishedRuns) != 1 || hist.FailedFinishedRuns[0].Status != core.StatusStopped {
		t.Fatalf("history %+v %v", hist, err)
	}
	if _, err := c.DeleteJob(ctx, "nightly", false); err != nil {
		t.Fatal(err)
	}
	if got := f.Calls(); got[len(got)-1] != "delete nightly stop=false" {
		t.Errorf("calls %v", got)
	}
}

func TestClientErrorsNameFields(t *testing.T) {
	ctx := context.Background()
	f := newFake(t0)
	c := clientOf(t, f)
	_, err := c.CreateJob(ctx, []byte(`{"id":"x","run":{"cmd":"true","cpus":0.001,"mem":32,"disk":0}}`))
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity || ae.Message != "Object is not valid" {
		t.Fatalf("422: %v", err)
	}
	if len(ae.Details) == 0 || ae.Details[0].Path != "/run/cpus" || !strings.Contains(err.Error(), "/run/cpus") {
		t.Errorf("details %+v (%v)", ae.Details, err)
	}
	_, err = c.GetJob(ctx, "ghost")
	if !IsNotFound(err) || !strings.Contains(err.Error(), "Job 'ghost' does not exist") {
		t.Errorf("404: %v", err)
	}
	if _, err = c.CreateJob(ctx, []byte("run:\n  cmd: x\n")); err == nil || !strings.Contains(err.Error(), "id") {
		t.Errorf("a file without id: %v", err)
	}
	if _, err = c.CreateJob(ctx, nil); err == nil {
		t.Error("an empty file was sent")
	}
	if len(f.Calls()) != 0 {
		t.Errorf("calls %v", f.Calls())
	}
}
