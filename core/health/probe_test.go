package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"agora/core/mesos"
)

// hostPort splits a test server's address.
func hostPort(t *testing.T, addr string) (string, uint32) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, uint32(n)
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) uint32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, p := hostPort(t, l.Addr().String())
	l.Close()
	return p
}

func ctxWithin(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestProbeHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		switch r.URL.Path {
		case "/health":
			w.Write([]byte("ok"))
		case "/moved":
			http.Redirect(w, r, "/missing", http.StatusFound)
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/sick":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	host, port := hostPort(t, srv.Listener.Addr().String())
	url := "http://" + host + ":" + strconv.Itoa(int(port))

	cases := []struct {
		path     string
		statuses []uint32
		ok       bool
		msg      string
	}{
		{"/health", nil, true, "HTTP GET " + url + "/health returned 200"},
		{"/moved", nil, true, "HTTP GET " + url + "/moved returned 302"}, // 3xx is healthy; not followed
		{"/empty", nil, true, "returned 204"},
		{"/sick", nil, false, "HTTP GET " + url + "/sick returned 503"},
		{"/nope", nil, false, "returned 404"},
		{"/empty", []uint32{200}, false, "returned 204"},
		{"/nope", []uint32{200, 404}, true, "returned 404"},
		{"", nil, false, "HTTP GET " + url + "/ returned 404"},
	}
	for _, tc := range cases {
		ok, msg := ProbeHTTP(ctxWithin(t, 10*time.Second), host, port, "http", tc.path, tc.statuses)
		if ok != tc.ok || !strings.Contains(msg, tc.msg) {
			t.Errorf("path %q statuses %v: got (%v, %q), want (%v, containing %q)", tc.path, tc.statuses, ok, msg, tc.ok, tc.msg)
		}
	}
}

func TestProbeHTTPSDoesNotVerifyCertificates(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	host, port := hostPort(t, srv.Listener.Addr().String())
	ok, msg := ProbeHTTP(ctxWithin(t, 10*time.Second), host, port, "https", "/", nil)
	if !ok || !strings.HasPrefix(msg, "HTTP GET https://") {
		t.Fatalf("self-signed https: got (%v, %q), want healthy", ok, msg)
	}
}

func TestProbeHTTPConnectionRefused(t *testing.T) {
	port := closedPort(t)
	ok, msg := ProbeHTTP(ctxWithin(t, 10*time.Second), "127.0.0.1", port, "http", "/health", nil)
	want := "HTTP GET http://127.0.0.1:" + strconv.Itoa(int(port)) + "/health failed: connection refused"
	if ok || msg != want {
		t.Fatalf("got (%v, %q), want (false, %q)", ok, msg, want)
	}
}

func TestProbeHTTPTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	host, port := hostPort(t, srv.Listener.Addr().String())
	ok, msg := ProbeHTTP(ctxWithin(t, 100*time.Millisecond), host, port, "http", "/slow", nil)
	if ok || !strings.HasSuffix(msg, "/slow timed out") {
		t.Fatalf("got (%v, %q), want a timeout", ok, msg)
	}
}

func TestProbeTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	host, port := hostPort(t, l.Addr().String())
	if ok, msg := ProbeTCP(ctxWithin(t, 10*time.Second), host, port); !ok {
		t.Fatalf("open port: got (false, %q)", msg)
	}

	closed := closedPort(t)
	ok, msg := ProbeTCP(ctxWithin(t, 10*time.Second), "127.0.0.1", closed)
	want := "TCP connection to 127.0.0.1:" + strconv.Itoa(int(closed)) + " failed: connection refused"
	if ok || msg != want {
		t.Fatalf("closed port: got (%v, %q), want (false, %q)", ok, msg, want)
	}
}

// runLocal runs argv on this machine, as a containerizer's Exec would in the
// task's context.
func runLocal(ctx context.Context, argv, env []string) (int, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

func boolp(b bool) *bool { return &b }

func TestProbeCommand(t *testing.T) {
	cases := []struct {
		name string
		cmd  *mesos.CommandInfo
		ok   bool
		msg  string
	}{
		{"exit 0", &mesos.CommandInfo{Value: "true"}, true, "command exited with 0"},
		{"exit 1", &mesos.CommandInfo{Value: "exit 1"}, false, "command exited with 1"},
		{"shell sees the check's environment", &mesos.CommandInfo{
			Value:       `test "$WANT" = yes`,
			Environment: &mesos.Environment{Variables: []mesos.EnvironmentVariable{{Name: "WANT", Value: "yes"}}},
		}, true, "command exited with 0"},
		{"no shell: value is the executable, arguments[0] is argv[0]", &mesos.CommandInfo{
			Shell: boolp(false), Value: "/bin/sh", Arguments: []string{"sh", "-c", "exit 7"},
		}, false, "command exited with 7"},
		{"missing executable", &mesos.CommandInfo{Shell: boolp(false), Value: "/nonexistent/check"}, false, "command could not run: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, msg := ProbeCommand(ctxWithin(t, 10*time.Second), runLocal, tc.cmd)
			if ok != tc.ok || !strings.Contains(msg, tc.msg) {
				t.Fatalf("got (%v, %q), want (%v, containing %q)", ok, msg, tc.ok, tc.msg)
			}
		})
	}
}

func TestProbeCommandTimesOut(t *testing.T) {
	ok, msg := ProbeCommand(ctxWithin(t, 100*time.Millisecond), runLocal, &mesos.CommandInfo{Value: "exec sleep 30"})
	if ok || msg != "command timed out" {
		t.Fatalf("got (%v, %q), want (false, \"command timed out\")", ok, msg)
	}
}

func TestProbeCommandDoesNotWaitForAWedgedExec(t *testing.T) {
	unblock := make(chan struct{})
	defer close(unblock)
	wedged := func(ctx context.Context, argv, env []string) (int, error) {
		<-unblock // ignores ctx
		return 0, nil
	}
	ok, msg := ProbeCommand(ctxWithin(t, 100*time.Millisecond), wedged, &mesos.CommandInfo{Value: "true"})
	if ok || msg != "command timed out" {
		t.Fatalf("got (%v, %q), want (false, \"command timed out\")", ok, msg)
	}
}

func TestNewProbeUsesTheAgentsTarget(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, mapped := hostPort(t, srv.Listener.Addr().String())

	// The task declared port 80 inside its container; the agent mapped it.
	sp, err := FromMesos(&mesos.HealthCheck{Type: "HTTP", HTTP: &mesos.HTTPCheckInfo{Port: 80, Path: "/ping"}})
	if err != nil {
		t.Fatal(err)
	}
	probe, err := NewProbe(sp, Target{HTTPPort: mapped}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ok, msg := probe(ctxWithin(t, 10*time.Second))
	want := "HTTP GET http://127.0.0.1:" + strconv.Itoa(int(mapped)) + "/ping returned 200"
	if !ok || msg != want {
		t.Fatalf("got (%v, %q), want (true, %q)", ok, msg, want)
	}

	cmdSpec, err := FromMesos(&mesos.HealthCheck{Type: "COMMAND", Command: &mesos.CommandInfo{Value: "true"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewProbe(cmdSpec, Target{}, nil); err == nil || !strings.Contains(err.Error(), "health_check.command") {
		t.Fatalf("COMMAND check without a way to run it: err = %v", err)
	}
}

func TestNewProbeTCPAndCommand(t *testing.T) {
	closed := closedPort(t)
	tcp, err := FromMesos(&mesos.HealthCheck{Type: "TCP", TCP: &mesos.TCPCheckInfo{Port: closed}})
	if err != nil {
		t.Fatal(err)
	}
	// No mapping: the declared port on the task's loopback is probed.
	probe, err := NewProbe(tcp, Target{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ok, msg := probe(ctxWithin(t, 10*time.Second))
	if want := "TCP connection to 127.0.0.1:" + strconv.Itoa(int(closed)) + " failed: connection refused"; ok || msg != want {
		t.Fatalf("tcp: got (%v, %q), want (false, %q)", ok, msg, want)
	}

	tcp.Protocol = "IPv6"
	probe, err = NewProbe(tcp, Target{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, msg := probe(ctxWithin(t, 10*time.Second)); !strings.HasPrefix(msg, "TCP connection to [::1]:") {
		t.Fatalf("IPv6 check probed %q, want [::1]", msg)
	}

	cmd, err := FromMesos(&mesos.HealthCheck{Type: "COMMAND", Command: &mesos.CommandInfo{Value: "exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	probe, err = NewProbe(cmd, Target{}, runLocal)
	if err != nil {
		t.Fatal(err)
	}
	if ok, msg := probe(ctxWithin(t, 10*time.Second)); ok || msg != "command exited with 3" {
		t.Fatalf("command: got (%v, %q)", ok, msg)
	}

	if _, err := NewProbe(Spec{Type: "UDP"}, Target{}, nil); err == nil || !strings.Contains(err.Error(), "health_check.type") {
		t.Fatalf("unknown type: err = %v", err)
	}
}
