package master

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"agora/core/acl"
	"agora/core/audit"
	"agora/core/authn"
	"agora/core/mesos"
	"agora/core/ratelimit"
)

// BenchmarkSchedulerCallSecurity measures REVIVE calls through the HTTP
// API, plain and behind what agora master puts in front of it: bearer-token
// authentication, the audit log (to a file), a per-principal rate limit
// that never bites, and ACLs. The difference is what security costs a call.
func BenchmarkSchedulerCallSecurity(b *testing.B) {
	for _, secured := range []bool{false, true} {
		name := "plain"
		if secured {
			name = "authn+audit+ratelimit+acls"
		}
		b.Run(name, func(b *testing.B) {
			cfg := fastConfig(openStore(b, b.TempDir()))
			var wrap func(http.Handler) http.Handler
			token, fwPrincipal := "", ""
			if secured {
				fwPrincipal = "fw"
				creds, _ := authn.ParseCredentials([]byte(`{"credentials": []}`))
				tok, hash, _ := authn.NewToken()
				creds.Set("fw", "", hash)
				token = tok
				log, err := audit.Open(filepath.Join(b.TempDir(), "audit.log"), b.Logf)
				if err != nil {
					b.Fatal(err)
				}
				defer log.Close()
				limits, _ := ratelimit.Parse([]byte(`{"limits": [{"principal": "fw", "qps": 1000000, "capacity": 1000000}]}`))
				cfg.Authenticated = true
				cfg.ACLs = acl.NewAuthorizer(acl.Default())
				principal := func(r *http.Request) string { p, _ := authn.PrincipalFrom(r.Context()); return p }
				wrap = func(h http.Handler) http.Handler {
					h = ratelimit.Middleware(h, ratelimit.New(limits), principal, time.Now)
					h = audit.Middleware(h, log, principal, time.Now)
					return authn.NewAuthenticator(creds).Middleware(h)
				}
			}
			m, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			h := m.Handler()
			if wrap != nil {
				h = wrap(h)
			}
			tm := &testMaster{Master: m, srv: httptest.NewServer(h), st: cfg.Store, cancel: cancel, done: make(chan struct{})}
			go func() { m.Run(ctx); close(tm.done) }()
			defer tm.stop()
			if token != "" {
				tm = tm.as(token)
			}
			fw := tm.framework(b, mesos.FrameworkInfo{User: "nobody", Name: "bench", Principal: fwPrincipal})
			body, _ := json.Marshal(mesos.Call{Type: mesos.CallRevive, FrameworkID: &mesos.FrameworkID{Value: fw.id}})
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("POST", tm.srv.URL+"/api/v1/scheduler", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Mesos-Stream-Id", fw.streamID)
					if token != "" {
						req.Header.Set("Authorization", "Bearer "+token)
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						b.Errorf("REVIVE: %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}
