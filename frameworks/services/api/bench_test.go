package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"agora/core/mesos"
	"agora/frameworks/services/app"
	"agora/frameworks/services/core"
	"agora/frameworks/services/state"
)

// benchServer holds apps apps of perApp running instances each, each with
// a secret.
func benchServer(b *testing.B, apps, perApp int) http.Handler {
	return benchServerOpts(b, apps, perApp, Options{})
}

func benchServerOpts(b *testing.B, apps, perApp int, opts Options) http.Handler {
	f := newFake(t0)
	for i := 0; i < apps; i++ {
		id := fmt.Sprintf("/team%d/app%d", i%20, i)
		a, err := app.Parse([]byte(fmt.Sprintf(`{"id":%q,"cmd":"httpd","instances":%d,"labels":{"n":"%d"},"env":{"K":{"secret":"k"}},"secrets":{"k":{"value":"v"}}}`, id, perApp, i)))
		if err != nil {
			b.Fatal(err)
		}
		a.Version = "2025-03-01T12:00:00Z"
		f.apps[id] = a
		for j := 0; j < perApp; j++ {
			yes := true
			f.ins = append(f.ins, core.Instance{Instance: state.Instance{TaskID: fmt.Sprintf("%s.%d", id, j), AppID: id, Host: "h", State: mesos.TaskRunning, Healthy: &yes, Ports: []uint64{31000}}})
		}
	}
	return New(f, opts)
}

func benchGet(b *testing.B, h http.Handler, path string) {
	b.ReportAllocs()
	var size int
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/answer")
}

// The CLI's `app list` and marathon-lb style pollers: every app with counts.
func BenchmarkListApps1000x5(b *testing.B) { benchGet(b, benchServer(b, 1000, 5), "/v2/apps") }

// Pollers that also want every task.
func BenchmarkListAppsEmbedTasks1000x5(b *testing.B) {
	benchGet(b, benchServer(b, 1000, 5), "/v2/apps?embed=apps.tasks")
}

// One app of 1,000 instances, as `agora app deploy` polls it.
func BenchmarkGetApp1x1000(b *testing.B) { benchGet(b, benchServer(b, 1, 1000), "/v2/apps/team0/app0") }

func BenchmarkGroups1000x5(b *testing.B) { benchGet(b, benchServer(b, 1000, 5), "/v2/groups") }

// A principal that may view half of 1,000 apps: the Authorizer is asked
// once per app.
func BenchmarkListAppsAuthorized1000x5(b *testing.B) {
	grants := rules{}
	for i := 0; i < 1000; i += 2 {
		grants[fmt.Sprintf("alice view_apps /team%d/app%d", i%20, i)] = true
	}
	h := benchServerOpts(b, 1000, 5, Options{Authorizer: grants, Principal: func(*http.Request) string { return "alice" }})
	benchGet(b, h, "/v2/apps")
}
