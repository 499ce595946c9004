package agent

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"agora/core/mesos"
)

// bearer adds the agent's credentials to every request to the master.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// authMaster is a fake master over TLS that answers 401 to requests
// without the right bearer token and counts what it refused.
func authMaster(t *testing.T) (*fakeMaster, *httptest.Server, func() (refused int, calls []string)) {
	m := &fakeMaster{ping: time.Second}
	var mu sync.Mutex
	refused := 0
	var calls []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if r.Header.Get("Authorization") != "Bearer good" {
			refused++
			mu.Unlock()
			http.Error(w, "bad credentials for agent", http.StatusUnauthorized)
			return
		}
		calls = append(calls, r.Header.Get("Authorization"))
		mu.Unlock()
		m.serve(w, r)
	}))
	t.Cleanup(srv.Close)
	m.srv = srv
	return m, srv, func() (int, []string) {
		mu.Lock()
		defer mu.Unlock()
		return refused, append([]string(nil), calls...)
	}
}

func TestAgentAuthenticatesToAnHTTPSMaster(t *testing.T) {
	m, srv, seen := authMaster(t)
	m.autoAck.Store(true)
	cfg := testConfig(t, m)
	if !strings.HasPrefix(cfg.Master, "https://") {
		t.Fatalf("master %s is not https", cfg.Master)
	}
	tls := srv.Client().Transport.(*http.Transport).Clone()
	cfg.Transport = bearer{token: "good", next: tls}
	a := startAgent(t, cfg, newFakeProcess())
	eventually(t, "registered over https", func() bool { return a.ID() == "agent-1" })
	m.send(runTask(framework("fw"), "t1"))
	m.waitUpdate(t, "t1", mesos.TaskRunning)
	// The subscription and the update calls all carried the credentials.
	refused, calls := seen()
	if refused != 0 || len(calls) < 3 {
		t.Fatalf("refused %d, authorized calls %v", refused, calls)
	}
}

func TestRefusedAgentSaysSoEveryAttempt(t *testing.T) {
	m, srv, seen := authMaster(t)
	cfg := testConfig(t, m)
	tls := srv.Client().Transport.(*http.Transport).Clone()
	cfg.Transport = bearer{token: "stolen", next: tls}
	var (
		mu   sync.Mutex
		logs []string
	)
	a := startAgentWith(t, cfg, func(a *Agent) {
		a.logf = func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			logs = append(logs, fmt.Sprintf(format, args...))
		}
	}, newFakeProcess())
	denials := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, l := range logs {
			if strings.Contains(l, "agent is not allowed: 401 Unauthorized: bad credentials for agent") && strings.Contains(l, "retrying in") {
				out = append(out, l)
			}
		}
		return out
	}
	eventually(t, "two logged refusals", func() bool { return len(denials()) >= 2 })
	if refused, _ := seen(); refused < 2 {
		t.Fatalf("master refused %d subscriptions, want retries", refused)
	}
	if a.ID() != "" {
		t.Fatalf("a refused agent registered as %q", a.ID())
	}
	t.Log(denials()[0])
}

// TestWrapListenerServesTLS: the agent's API is served through the wrapped
// listener, so an operator's TLS applies to /files and /state.
func TestWrapListenerServesTLS(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	certs := httptest.NewTLSServer(http.NotFoundHandler())
	defer certs.Close()
	cfg := testConfig(t, m)
	cfg.WrapListener = func(ln net.Listener) net.Listener { return tls.NewListener(ln, certs.TLS) }
	a := startAgent(t, cfg, newFakeProcess())
	resp, err := certs.Client().Get("https://" + a.Addr() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("GET /health over TLS: %s, tls %v", resp.Status, resp.TLS != nil)
	}
	if resp, err := http.Get("http://" + a.Addr() + "/health"); err == nil && resp.StatusCode == 200 {
		resp.Body.Close()
		t.Fatal("plain HTTP answered on a TLS listener")
	}
}
