package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
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

// standby answers every request with a 307 to leader, as a standby master
// does.
func standby(t *testing.T, leader string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, leader+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestClientRoundTripsEveryCall(t *testing.T) {
	f, srv := newServer(t, Options{})
	ctx := context.Background()
	// Every call goes through a standby's redirect, bodies included.
	c := NewClient(standby(t, srv.URL).URL+"/", nil)

	yaml, err := os.ReadFile("../app/testdata/docker-bridge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := c.PutApp(ctx, yaml, false, true)
	if err != nil || plan.Plan == nil || !plan.Plan.Create || len(f.Apps()) != 0 {
		t.Fatalf("dry-run PutApp: %+v, %v", plan, err)
	}
	res, err := c.PutApp(ctx, yaml, false, false)
	if err != nil || !res.Created || res.DeploymentID == "" {
		t.Fatalf("PutApp of a YAML file: %+v, %v", res, err)
	}
	created, err := c.CreateApp(ctx, []byte(`{"id":"/shop/api","cmd":"api","instances":2}`))
	if err != nil || created.ID() != "/shop/api" || len(created.Deployments) != 1 {
		t.Fatalf("CreateApp: %+v, %v", created, err)
	}
	var apiErr *Error
	if _, err := c.CreateApp(ctx, []byte(`{"id":"/shop/api","cmd":"api"}`)); !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict {
		t.Fatalf("second CreateApp: %v", err)
	}

	f.mu.Lock()
	f.ins = []core.Instance{{Instance: state.Instance{TaskID: "api.1", AppID: "/shop/api", Host: "h1", State: mesos.TaskRunning}}}
	f.mu.Unlock()
	got, err := c.GetApp(ctx, "/shop/api")
	if err != nil || got.Cmd != "api" || got.TasksRunning != 1 || len(got.Tasks) != 1 {
		t.Fatalf("GetApp: %+v, %v", got, err)
	}
	list, err := c.ListApps(ctx, "shop")
	if err != nil || len(list) != 2 {
		t.Fatalf("ListApps: %d apps, %v", len(list), err)
	}
	g, err := c.Groups(ctx, "/shop")
	if err != nil || g.ID != "/shop" || len(g.Apps) != 2 {
		t.Fatalf("Groups: %+v, %v", g, err)
	}
	w, err := c.PatchApp(ctx, "/shop/api", map[string]any{"instances": 4}, false)
	if err != nil || w.DeploymentID == "" || f.apps["/shop/api"].Instances != 4 || f.apps["/shop/api"].Cmd != "api" {
		t.Fatalf("PatchApp: %+v, %v", w, err)
	}
	if w, err = c.RestartApp(ctx, "/shop/api", true); err != nil || w.DeploymentID == "" {
		t.Fatalf("RestartApp: %+v, %v", w, err)
	}
	tasks, err := c.Tasks(ctx, "/shop/api")
	if err != nil || len(tasks) != 1 || tasks[0].ID != "api.1" {
		t.Fatalf("Tasks: %+v, %v", tasks, err)
	}
	if all, err := c.Tasks(ctx, ""); err != nil || len(all) != 1 {
		t.Fatalf("all Tasks: %+v, %v", all, err)
	}
	if w, err = c.KillTask(ctx, "/shop/api", "api.1", true); err != nil || w.DeploymentID == "" {
		t.Fatalf("KillTask: %+v, %v", w, err)
	}
	if _, err = c.KillTask(ctx, "/shop/api", "api.1", false); err != nil {
		t.Fatalf("KillTask without scale: %v", err)
	}
	if _, err = c.KillHostTasks(ctx, "/shop/api", "h1", false); err != nil {
		t.Fatalf("KillHostTasks: %v", err)
	}
	versions, err := c.Versions(ctx, "/shop/api")
	if err != nil || len(versions) != 2 {
		t.Fatalf("Versions: %v, %v", versions, err)
	}
	old, err := c.Version(ctx, "/shop/api", versions[1])
	if err != nil || old.Instances != 2 {
		t.Fatalf("Version: %+v, %v", old, err)
	}
	if _, err = c.RollbackApp(ctx, "/shop/api", versions[1], false); err != nil || f.apps["/shop/api"].Instances != 2 {
		t.Fatalf("RollbackApp: %v", err)
	}

	deps, err := c.Deployments(ctx)
	if err != nil || len(deps) == 0 {
		t.Fatalf("Deployments: %+v, %v", deps, err)
	}
	if w, err = c.CancelDeployment(ctx, deps[0].ID, false); err != nil || w.DeploymentID != "rollback-of-"+deps[0].ID {
		t.Fatalf("CancelDeployment: %+v, %v", w, err)
	}
	if _, err = c.CancelDeployment(ctx, deps[1].ID, true); err != nil {
		t.Fatalf("forced CancelDeployment: %v", err)
	}

	f.mu.Lock()
	f.queue = []core.QueueEntry{{AppID: "/shop/api", Count: 1, Rejections: []placement.Rejection{{Reason: "constraint hostname:UNIQUE", Agents: 3}}, AgentReasons: map[string]string{"a1": "hostname:h1 already has 1 instance (UNIQUE)"}}}
	f.mu.Unlock()
	q, err := c.Queue(ctx)
	if err != nil || len(q) != 1 || q[0].Reasons.Constraints["hostname:UNIQUE"] != 3 || len(q[0].LastUnusedOffers) != 1 {
		t.Fatalf("Queue: %+v, %v", q, err)
	}
	if err := c.ResetDelay(ctx, "/shop/api"); err != nil {
		t.Fatalf("ResetDelay: %v", err)
	}
	info, err := c.Info(ctx)
	if err != nil || info.FrameworkID != "fw-1" || !info.Elected {
		t.Fatalf("Info: %+v, %v", info, err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if w, err = c.DeleteApp(ctx, "/shop/api", false); err != nil || w.DeploymentID == "" {
		t.Fatalf("DeleteApp: %+v, %v", w, err)
	}
	if _, err := c.GetApp(ctx, "/shop/api"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound || !strings.Contains(err.Error(), "App '/shop/api' does not exist") {
		t.Fatalf("GetApp of a deleted app: %v", err)
	}
}

func TestClientErrorsNameFieldsAndLocks(t *testing.T) {
	f, srv := newServer(t, Options{})
	ctx := context.Background()
	c := NewClient(srv.URL, srv.Client())

	_, err := c.PutApp(ctx, []byte("id: /web\ncmd: x\ncpus: -2\ncolour: blue\n"), false, false)
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnprocessableEntity {
		t.Fatalf("bad app: %v", err)
	}
	for _, field := range []string{"/colour"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
	if _, err := c.PutApp(ctx, []byte(`{"cmd":"x"}`), false, false); err == nil || !strings.Contains(err.Error(), "id") {
		t.Errorf("an app without id: %v", err)
	}

	if _, err := c.PutApp(ctx, []byte(`{"id":"/web","cmd":"x"}`), false, false); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.locked["/web"] = "d-9"
	f.mu.Unlock()
	_, err = c.PatchApp(ctx, "/web", map[string]any{"instances": 3}, false)
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict || len(apiErr.Deployments) != 1 || apiErr.Deployments[0] != "d-9" {
		t.Fatalf("locked PATCH: %v", err)
	}
	if !strings.Contains(err.Error(), "d-9") {
		t.Errorf("409 error %q does not name the deployment", err)
	}
	if _, err := c.PatchApp(ctx, "/web", map[string]any{"instances": 3}, true); err != nil {
		t.Fatalf("forced PATCH: %v", err)
	}
}

func TestClientEvents(t *testing.T) {
	f, srv := newServer(t, Options{})
	f.mu.Lock()
	f.apps["/web"] = &app.App{AppID: "/web", Instances: 1}
	f.deps = []deploy.Deployment{{ID: "d1", Target: deploy.AppSpec{ID: "/web", Version: "v1", Instances: 1}, Status: deploy.StatusRunning}}
	f.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := NewClient(srv.URL, nil)
	events, err := c.Events(ctx, core.EventDeploymentInfo, core.EventDeploymentSuccess)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stream to subscribe", func() bool { return f.subscribers() == 1 })
	f.publish(core.Event{Type: core.EventStatusUpdate, Time: t0, AppID: "/web", TaskID: "t"})
	f.publish(core.Event{Type: core.EventDeploymentInfo, Time: t0, AppID: "/web", DeploymentID: "d1"})
	f.publish(core.Event{Type: core.EventDeploymentSuccess, Time: t0.Add(time.Second), AppID: "/web", DeploymentID: "d1"})
	var got []Event
	for len(got) < 2 {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("event stream closed early")
			}
			got = append(got, ev)
		case <-time.After(20 * time.Second):
			t.Fatal("no events")
		}
	}
	info := got[0]
	if info.EventType != core.EventDeploymentInfo || info.ID != "d1" || info.Plan == nil || info.Plan.ID != "d1" ||
		info.Plan.Steps[0].Actions[0].Action != deploy.StartApplication || info.CurrentStep == nil || !info.Timestamp.Equal(t0) {
		t.Errorf("deployment_info %+v", info)
	}
	if got[1].EventType != core.EventDeploymentSuccess || got[1].ID != "d1" {
		t.Errorf("deployment_success %+v", got[1])
	}
	cancel()
	waitFor(t, "the channel to close", func() bool {
		select {
		case _, ok := <-events:
			return !ok
		default:
			return false
		}
	})
}
