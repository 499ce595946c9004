package services

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"agora/frameworks/services/api"
)

// Over the real /v2 API: a deployment of an app with a readiness check
// waits while the instance runs healthy but is not ready, and succeeds
// once it is; the event stream reports both, in order.
func TestAPIReadinessGatesDeployment(t *testing.T) {
	c := newCluster(t, true)
	c.addAgent("127.0.0.1", "cpus:2;mem:1024;disk:1000;ports:[31300-31310]")
	f, _ := c.startFramework(Config{})
	srv := httptest.NewServer(api.New(f, api.Options{}))
	t.Cleanup(srv.Close)
	cl := api.NewClient(srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := cl.Events(ctx, "deployment_info", "deployment_success", "deployment_failed")
	if err != nil {
		t.Fatalf("events: %v", err)
	}

	www := t.TempDir()
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("up"), 0o644); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"id":"/web","cmd":"exec busybox httpd -f -p $PORT0 -h %[1]s","cpus":0.1,"mem":32,"instances":1,
		"portDefinitions":[{"port":0,"name":"http"}],
		"healthChecks":[{"protocol":"MESOS_HTTP","path":"/index.html","portIndex":0,"gracePeriodSeconds":5,"intervalSeconds":1,"delaySeconds":0}],
		"readinessChecks":[{"name":"ready","protocol":"HTTP","path":"/ready","portName":"http","intervalSeconds":2,"timeoutSeconds":1}]}`, www)
	res, err := cl.PutApp(ctx, []byte(body), false, false)
	if err != nil {
		t.Fatalf("PUT /v2/apps/web: %v", err)
	}
	dep := res.DeploymentID
	if dep == "" {
		t.Fatalf("PUT answered no deployment id: %+v", res)
	}

	// Running and healthy, not ready: the deployment waits.
	waitFor(t, 30*time.Second, "the instance to run healthy, waiting for readiness", func() (bool, string) {
		ins := f.Instances("/web")
		return len(ins) == 1 && running(f, "/web") == 1 && ins[0].NeedsReadiness, describe(f, "/web") + " queue: " + fmtQueue(f.Queue())
	})
	if ds, err := cl.Deployments(ctx); err != nil || len(ds) != 1 || ds[0].ID != dep {
		t.Fatalf("deployments while not ready: %+v %v, want %s running", ds, err, dep)
	}
	// Ready: the deployment succeeds.
	t.Logf("running, not ready")
	if err := os.WriteFile(filepath.Join(www, "ready"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the deployment to end", func() (bool, string) {
		ds, err := cl.Deployments(ctx)
		return err == nil && len(ds) == 0, fmt.Sprint(ds, err)
	})
	t.Logf("deployment over")
	var seen []string
	deadline := time.After(10 * time.Second)
	for len(seen) < 2 {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("event stream ended after %v", seen)
			}
			if e.ID == dep || strings.Contains(e.Message, dep) {
				seen = append(seen, e.EventType)
			}
		case <-deadline:
			t.Fatalf("events for deployment %s: %v, want deployment_info then deployment_success", dep, seen)
		}
	}
	if seen[0] != "deployment_info" || seen[1] != "deployment_success" {
		t.Fatalf("events for deployment %s: %v, want deployment_info then deployment_success", dep, seen)
	}
	v, err := cl.GetApp(ctx, "/web")
	if err != nil || v.TasksHealthy != 1 || len(v.Deployments) != 0 {
		t.Fatalf("GET /v2/apps/web: %+v %v", v, err)
	}

	// A dry run of a scale names only instances: the service port the
	// framework assigned to port 0 is not a change.
	plan, err := cl.PutApp(ctx, []byte(strings.Replace(body, `"instances":1`, `"instances":2`, 1)), false, true)
	if err != nil || plan.Plan == nil || plan.Plan.Restart || strings.Join(plan.Plan.ChangedFields, ",") != "instances" {
		t.Fatalf("dry run of a scale: %+v %v, want only instances changed", plan, err)
	}
	if v, err := cl.GetApp(ctx, "/web"); err != nil || v.Instances != 1 {
		t.Fatalf("after the dry run: %+v %v, want 1 instance still", v, err)
	}
}
