package tlsconfig_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"agora/core/tlsconfig"
	"agora/core/tlsconfig/tlstest"
)

// server is a real http.Server on 127.0.0.1 behind Listen. Its handler
// answers "tls=<bool> cn=<verified client CN>" and counts requests.
type server struct {
	addr string
	hits atomic.Int64
}

func serve(t *testing.T, cfg *tls.Config, plain bool) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{addr: ln.Addr().String()}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.hits.Add(1)
			cn := ""
			if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
				cn = r.TLS.VerifiedChains[0][0].Subject.CommonName
			}
			fmt.Fprintf(w, "tls=%v cn=%s", r.TLS != nil, cn)
		}),
	}
	go srv.Serve(tlsconfig.Listen(ln, cfg, plain))
	t.Cleanup(func() { srv.Close() })
	return s
}

func client(cfg *tls.Config) *http.Client {
	return &http.Client{
		Timeout:   20 * time.Second,
		Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true},
	}
}

func get(t *testing.T, c *http.Client, url string) (int, string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func mustServer(t *testing.T, f tlsconfig.Files) *tls.Config {
	t.Helper()
	cfg, err := tlsconfig.Server(f)
	if err != nil {
		t.Fatalf("Server(%+v): %v", f, err)
	}
	return cfg
}

func mustClient(t *testing.T, f tlsconfig.Files) *tls.Config {
	t.Helper()
	cfg, err := tlsconfig.Client(f)
	if err != nil {
		t.Fatalf("Client(%+v): %v", f, err)
	}
	return cfg
}

func TestHTTPSClientTrustingTheCASucceeds(t *testing.T) {
	ca := tlstest.NewCA(t)
	s := serve(t, mustServer(t, ca.Issue(t, "master", "127.0.0.1")), true)
	status, body, err := get(t, client(mustClient(t, tlsconfig.Files{CA: ca.CertFile})), "https://"+s.addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	if status != 200 || body != "tls=true cn=" {
		t.Fatalf("got %d %q, want 200 %q", status, body, "tls=true cn=")
	}
}

func TestHTTPSClientWithoutTheCAFailsVerification(t *testing.T) {
	ca := tlstest.NewCA(t)
	s := serve(t, mustServer(t, ca.Issue(t, "master", "127.0.0.1")), true)
	// No --tls-ca: the system pool, which does not know the test CA.
	_, _, err := get(t, client(mustClient(t, tlsconfig.Files{})), "https://"+s.addr+"/")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("err = %v, want an unknown authority error", err)
	}
	if n := s.hits.Load(); n != 0 {
		t.Fatalf("handler ran %d times for an unverified server", n)
	}
}

func TestPlainHTTPServedWhenAllowed(t *testing.T) {
	ca := tlstest.NewCA(t)
	s := serve(t, mustServer(t, ca.Issue(t, "master", "127.0.0.1")), true)
	status, body, err := get(t, client(nil), "http://"+s.addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	if status != 200 || body != "tls=false cn=" {
		t.Fatalf("got %d %q, want 200 %q", status, body, "tls=false cn=")
	}
}

func TestTLSOnlyTellsPlainClientsToUseHTTPS(t *testing.T) {
	ca := tlstest.NewCA(t)
	s := serve(t, mustServer(t, ca.Issue(t, "master", "127.0.0.1")), false)
	status, body, err := get(t, client(nil), "http://"+s.addr+"/v1/state")
	if err != nil {
		t.Fatal(err)
	}
	want := "this server only speaks HTTPS; use https://" + s.addr
	if status != http.StatusBadRequest || !strings.Contains(body, want) {
		t.Fatalf("got %d %q, want 400 containing %q", status, body, want)
	}
	if n := s.hits.Load(); n != 0 {
		t.Fatalf("handler ran %d times for a plain request in TLS-only mode", n)
	}
	// HTTPS on the same port still works.
	status, body, err = get(t, client(mustClient(t, tlsconfig.Files{CA: ca.CertFile})), "https://"+s.addr+"/")
	if err != nil || status != 200 || body != "tls=true cn=" {
		t.Fatalf("https after a refused plain request: %d %q %v", status, body, err)
	}
}

func TestClientCertificateFromTheCAIsVerified(t *testing.T) {
	ca := tlstest.NewCA(t)
	s := serve(t, mustServer(t, ca.Issue(t, "master", "127.0.0.1")), true)
	status, body, err := get(t, client(mustClient(t, ca.Issue(t, "ops"))), "https://"+s.addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	if status != 200 || body != "tls=true cn=ops" {
		t.Fatalf("got %d %q, want 200 %q", status, body, "tls=true cn=ops")
	}
}

func TestClientCertificateFromAnotherCAIsRejected(t *testing.T) {
	ca := tlstest.NewCA(t)
	s := serve(t, mustServer(t, ca.Issue(t, "master", "127.0.0.1")), true)
	other := tlstest.NewCA(t)
	f := other.Issue(t, "intruder")
	f.CA = ca.CertFile // trusts the server, but is vouched for by a stranger
	_, _, err := get(t, client(mustClient(t, f)), "https://"+s.addr+"/")
	if err == nil || !strings.Contains(err.Error(), "unknown certificate authority") {
		t.Fatalf("err = %v, want the server to refuse the certificate at the handshake", err)
	}
	if n := s.hits.Load(); n != 0 {
		t.Fatalf("handler ran %d times for a client with a foreign certificate", n)
	}
}

func TestSilentConnectionDoesNotBlockOthers(t *testing.T) {
	ca := tlstest.NewCA(t)
	s := serve(t, mustServer(t, ca.Issue(t, "master", "127.0.0.1")), true)
	for i := 0; i < 3; i++ {
		silent, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer silent.Close()
	}
	status, body, err := get(t, client(mustClient(t, tlsconfig.Files{CA: ca.CertFile})), "https://"+s.addr+"/")
	if err != nil || status != 200 || body != "tls=true cn=" {
		t.Fatalf("https with silent connections open: %d %q %v", status, body, err)
	}
	status, body, err = get(t, client(nil), "http://"+s.addr+"/")
	if err != nil || status != 200 || body != "tls=false cn=" {
		t.Fatalf("plain with silent connections open: %d %q %v", status, body, err)
	}
}

func TestListenerCloseStopsAcceptAndDropsSilentConnections(t *testing.T) {
	ca := tlstest.NewCA(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := tlsconfig.Listen(ln, mustServer(t, ca.Issue(t, "master", "127.0.0.1")), true)
	if l.Addr().String() != ln.Addr().String() {
		t.Fatalf("Addr = %s, want %s", l.Addr(), ln.Addr())
	}
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	accepted := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		accepted <- err
	}()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-accepted:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept still blocked 10s after Close")
	}
	// The silent connection is closed by the server side (EOF), well
	// before the 10 s sniff timeout would have closed it.
	silent.SetReadDeadline(time.Now().Add(8 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read on a silent connection after Close = %v, want EOF", err)
	}
}

func TestServerConfig(t *testing.T) {
	ca := tlstest.NewCA(t)
	f := ca.Issue(t, "master", "127.0.0.1")
	cfg := mustServer(t, f)
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x, want TLS 1.2", cfg.MinVersion)
	}
	if cfg.ClientAuth != tls.VerifyClientCertIfGiven || cfg.ClientCAs == nil {
		t.Errorf("with --tls-ca: ClientAuth = %v, ClientCAs set = %v; want VerifyClientCertIfGiven with the CA", cfg.ClientAuth, cfg.ClientCAs != nil)
	}
	f.CA = ""
	cfg = mustServer(t, f)
	if cfg.ClientAuth != tls.NoClientCert {
		t.Errorf("without --tls-ca: ClientAuth = %v, want NoClientCert", cfg.ClientAuth)
	}
}

func TestEnabled(t *testing.T) {
	for _, c := range []struct {
		f    tlsconfig.Files
		want bool
	}{
		{tlsconfig.Files{}, false},
		{tlsconfig.Files{Cert: "c"}, true},
		{tlsconfig.Files{Key: "k"}, true},
		{tlsconfig.Files{CA: "a"}, true},
	} {
		if got := c.f.Enabled(); got != c.want {
			t.Errorf("%+v.Enabled() = %v, want %v", c.f, got, c.want)
		}
	}
}

func TestBadFilesAreNamedWithWhatIsWrong(t *testing.T) {
	ca := tlstest.NewCA(t)
	good := ca.Issue(t, "master", "127.0.0.1")
	other := ca.Issue(t, "other")
	old := ca.IssueValid(t, "old", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	future := ca.IssueValid(t, "future", time.Now().Add(24*time.Hour), time.Now().Add(48*time.Hour))
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "garbage.pem")
	os.WriteFile(notPEM, []byte("hello, I am not a certificate\n"), 0o600)
	missing := filepath.Join(dir, "missing.pem")

	cases := []struct {
		name   string
		f      tlsconfig.Files
		client bool
		want   []string
	}{
		{"key without cert", tlsconfig.Files{Key: good.Key}, false, []string{"--tls-cert is required when --tls-key is given"}},
		{"cert without key", tlsconfig.Files{Cert: good.Cert}, false, []string{"--tls-key is required when --tls-cert is given"}},
		{"only CA", tlsconfig.Files{CA: good.CA}, false, []string{"--tls-cert and --tls-key are required"}},
		{"cert missing", tlsconfig.Files{Cert: missing, Key: good.Key}, false, []string{"--tls-cert", missing, "no such file"}},
		{"cert not PEM", tlsconfig.Files{Cert: notPEM, Key: good.Key}, false, []string{"--tls-cert", notPEM, "not PEM"}},
		{"cert is a key", tlsconfig.Files{Cert: good.Key, Key: good.Key}, false, []string{"--tls-cert", good.Key, "no certificate"}},
		{"key not PEM", tlsconfig.Files{Cert: good.Cert, Key: notPEM}, false, []string{"--tls-key", notPEM, "not PEM"}},
		{"key is a cert", tlsconfig.Files{Cert: good.Cert, Key: good.Cert}, false, []string{"--tls-key", good.Cert, "no private key"}},
		{"key mismatch", tlsconfig.Files{Cert: good.Cert, Key: other.Key}, false, []string{other.Key, "does not match the certificate", good.Cert}},
		{"expired", tlsconfig.Files{Cert: old.Cert, Key: old.Key}, false, []string{"--tls-cert", old.Cert, "expired certificate"}},
		{"not yet valid", tlsconfig.Files{Cert: future.Cert, Key: future.Key}, false, []string{"--tls-cert", future.Cert, "not yet valid"}},
		{"CA not PEM", tlsconfig.Files{Cert: good.Cert, Key: good.Key, CA: notPEM}, false, []string{"--tls-ca", notPEM, "not PEM"}},
		{"CA is a key", tlsconfig.Files{Cert: good.Cert, Key: good.Key, CA: good.Key}, false, []string{"--tls-ca", good.Key, "no certificate"}},
		{"client CA missing", tlsconfig.Files{CA: missing}, true, []string{"--tls-ca", missing, "no such file"}},
		{"client CA not PEM", tlsconfig.Files{CA: notPEM}, true, []string{"--tls-ca", notPEM, "not PEM"}},
		{"client key without cert", tlsconfig.Files{Key: good.Key, CA: good.CA}, true, []string{"--tls-cert is required when --tls-key is given"}},
		{"client cert without key", tlsconfig.Files{Cert: good.Cert}, true, []string{"--tls-key is required when --tls-cert is given"}},
		{"client key mismatch", tlsconfig.Files{Cert: good.Cert, Key: other.Key}, true, []string{"does not match the certificate"}},
		{"client expired", tlsconfig.Files{Cert: old.Cert, Key: old.Key}, true, []string{"expired certificate"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.client {
				_, err = tlsconfig.Client(c.f)
			} else {
				_, err = tlsconfig.Server(c.f)
			}
			if err == nil {
				t.Fatalf("no error for %+v", c.f)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestIssuedNamesBecomeDNSSANs(t *testing.T) {
	ca := tlstest.NewCA(t)
	s := serve(t, mustServer(t, ca.Issue(t, "master", "master.agora.test", "127.0.0.1")), false)
	cfg := mustClient(t, tlsconfig.Files{CA: ca.CertFile})
	cfg.ServerName = "master.agora.test"
	conn, err := tls.Dial("tcp", s.addr, cfg)
	if err != nil {
		t.Fatalf("dial as master.agora.test: %v", err)
	}
	conn.Close()
	cfg.ServerName = "elsewhere.test"
	if conn, err := tls.Dial("tcp", s.addr, cfg); err == nil {
		conn.Close()
		t.Fatal("a certificate for master.agora.test verified as elsewhere.test")
	}
}

func TestListenWithoutConfigIsThePlainListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := tlsconfig.Listen(ln, nil, false); got != ln {
		t.Fatalf("Listen(ln, nil, false) = %T, want ln itself", got)
	}
}
