package health

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor returns the next decision or fails after a generous deadline.
func waitFor(t *testing.T, ch <-chan Decision, what string) Decision {
	t.Helper()
	select {
	case d := <-ch:
		return d
	case <-time.After(20 * time.Second):
		t.Fatalf("no decision: waited for %s", what)
		return Decision{}
	}
}

func fastSpec(n int) Spec {
	return Spec{Delay: 0, Interval: 20 * time.Millisecond, Timeout: 5 * time.Second, Grace: 0, ConsecutiveFailures: n, Type: TypeHTTP}
}

func TestCheckerReportsThenKillsATaskThatTurnsUnhealthy(t *testing.T) {
	var sick atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sick.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	host, port := hostPort(t, srv.Listener.Addr().String())
	probe := func(ctx context.Context) (bool, string) {
		return ProbeHTTP(ctx, host, port, "http", "/health", nil)
	}

	decisions := make(chan Decision, 16)
	c := Start(context.Background(), fastSpec(3), time.Now(), probe, func(d Decision) { decisions <- d })
	defer c.Stop()

	d := waitFor(t, decisions, "healthy")
	if !d.Report || !d.Healthy || d.Kill || !strings.HasSuffix(d.Message, "/health returned 200") {
		t.Fatalf("first decision %+v, want a healthy report", d)
	}
	sick.Store(true)
	d = waitFor(t, decisions, "unhealthy")
	if !d.Report || d.Healthy || d.Kill || !strings.HasSuffix(d.Message, "/health returned 503") {
		t.Fatalf("after the server turned sick: %+v, want an unhealthy report", d)
	}
	d = waitFor(t, decisions, "kill")
	if !d.Kill || d.Report || d.Message != "health check failed 3 times in a row: HTTP GET "+srv.URL+"/health returned 503" {
		t.Fatalf("third failure: %+v, want a kill", d)
	}
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("checker still running after a kill")
	}
	// Done means the checker goroutine is gone: anything it decided is
	// already in the channel.
	select {
	case d := <-decisions:
		t.Fatalf("decision after the kill: %+v", d)
	default:
	}
}

func TestCheckerNamesTheTimeout(t *testing.T) {
	spec := fastSpec(1)
	spec.Timeout = 50 * time.Millisecond
	hang := func(ctx context.Context) (bool, string) {
		<-ctx.Done()
		return false, "HTTP GET http://127.0.0.1:31000/health timed out"
	}
	decisions := make(chan Decision, 4)
	c := Start(context.Background(), spec, time.Now(), hang, func(d Decision) { decisions <- d })
	defer c.Stop()
	d := waitFor(t, decisions, "timeout kill")
	want := "health check failed: HTTP GET http://127.0.0.1:31000/health timed out after 50ms"
	if !d.Kill || d.Message != want {
		t.Fatalf("got %+v, want kill with %q", d, want)
	}
}

func TestCheckerTimeoutOfAnOpaqueProbe(t *testing.T) {
	spec := fastSpec(1)
	spec.Timeout = time.Second / 20
	hang := func(ctx context.Context) (bool, string) {
		<-ctx.Done()
		return false, "no answer"
	}
	decisions := make(chan Decision, 4)
	c := Start(context.Background(), spec, time.Now(), hang, func(d Decision) { decisions <- d })
	defer c.Stop()
	if d := waitFor(t, decisions, "timeout kill"); !strings.HasSuffix(d.Message, "timed out after 50ms: no answer") {
		t.Fatalf("got %+v", d)
	}
}

func TestCheckerStopsMidCheckWithoutADecision(t *testing.T) {
	entered := make(chan struct{})
	probe := func(ctx context.Context) (bool, string) {
		close(entered)
		<-ctx.Done()
		return false, "stopped"
	}
	var calls atomic.Int64
	c := Start(context.Background(), fastSpec(1), time.Now(), probe, func(Decision) { calls.Add(1) })
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("probe never ran")
	}
	c.Stop() // returns only once the checker has ended
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d decisions from a check interrupted by Stop", n)
	}
	c.Stop() // idempotent
}

func TestCheckerEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	spec := fastSpec(3)
	spec.Delay = time.Hour
	c := Start(ctx, spec, time.Now(), func(context.Context) (bool, string) { return true, "" }, func(Decision) {})
	cancel()
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("checker still running after its context ended")
	}
}

func TestCheckerCountsDelayFromTaskStart(t *testing.T) {
	// A task recovered by a restarted agent started long ago: its first
	// check is due at once, not Delay after the checker starts.
	spec := fastSpec(3)
	spec.Delay = time.Hour
	decisions := make(chan Decision, 4)
	c := Start(context.Background(), spec, time.Now().Add(-2*time.Hour), func(context.Context) (bool, string) { return true, "ok" }, func(d Decision) { decisions <- d })
	defer c.Stop()
	if d := waitFor(t, decisions, "first check"); !d.Report || !d.Healthy {
		t.Fatalf("got %+v, want a healthy report", d)
	}
}
