package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCreds: ops has a secret, ci a token, agent both.
func testCreds(t testing.TB) *Credentials {
	t.Helper()
	c, err := ParseCredentials([]byte(`{"credentials": []}`))
	if err != nil {
		t.Fatal(err)
	}
	must(t, c.Set("ops", fastHash(t, "ops-pw"), ""))
	must(t, c.Set("ci", "", HashToken("agt_ci")))
	must(t, c.Set("agent", fastHash(t, "agent-pw"), HashToken("agt_agent")))
	return c
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func req(h ...string) *http.Request {
	r := httptest.NewRequest("GET", "/api/v1", nil)
	for _, v := range h {
		r.Header.Add("Authorization", v)
	}
	return r
}

func basic(user, pass string) string {
	r := req()
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}

func TestAuthenticateHeaders(t *testing.T) {
	a := NewAuthenticator(testCreds(t))
	cases := []struct {
		name    string
		headers []string
		want    string
		err     string // exact error text when want is ""
	}{
		{"basic", []string{basic("ops", "ops-pw")}, "ops", ""},
		{"basic, scheme in lower case", []string{"basic " + strings.TrimPrefix(basic("ops", "ops-pw"), "Basic ")}, "ops", ""},
		{"basic for a principal with both", []string{basic("agent", "agent-pw")}, "agent", ""},
		{"wrong secret", []string{basic("ops", "nope")}, "", "invalid credentials"},
		{"unknown principal reads the same", []string{basic("nobody", "ops-pw")}, "", "invalid credentials"},
		{"token-only principal over basic reads the same", []string{basic("ci", "agt_ci")}, "", "invalid credentials"},
		{"another principal's secret", []string{basic("agent", "ops-pw")}, "", "invalid credentials"},
		{"empty secret", []string{basic("ops", "")}, "", "invalid credentials"},
		{"bearer", []string{"Bearer agt_ci"}, "ci", ""},
		{"bearer, scheme in lower case", []string{"bearer agt_agent"}, "agent", ""},
		{"unknown token", []string{"Bearer agt_nope"}, "", "invalid credentials"},
		{"token hash is not a token", []string{"Bearer " + HashToken("agt_ci")}, "", "invalid credentials"},
		{"empty bearer", []string{"Bearer "}, "", "invalid credentials: the Bearer Authorization header has no token"},
		{"bad base64", []string{"Basic !!!"}, "", "invalid credentials: the Basic Authorization header is not base64 of principal:secret"},
		{"other scheme", []string{"Digest x"}, "", `invalid credentials: Authorization scheme "Digest" is not Basic or Bearer`},
		{"two headers", []string{"Bearer agt_ci", basic("ops", "ops-pw")}, "", "invalid credentials: more than one Authorization header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := a.Authenticate(req(c.headers...))
			if c.want != "" {
				if err != nil || got != c.want {
					t.Errorf("Authenticate = %q, %v; want %q", got, err, c.want)
				}
				return
			}
			if err == nil || err.Error() != c.err || !errors.Is(err, ErrInvalidCredentials) {
				t.Errorf("Authenticate = %q, %v; want error %q", got, err, c.err)
			}
		})
	}
	if _, err := a.Authenticate(req()); err != ErrNoCredentials {
		t.Errorf("no header: %v, want ErrNoCredentials", err)
	}
}

func TestMiddleware(t *testing.T) {
	a := NewAuthenticator(testCreds(t))
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		fmt.Fprintf(w, "principal=%q ok=%v", p, ok)
	}), "/health", "/version")

	do := func(path string, hdr ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		for _, v := range hdr {
			r.Header.Add("Authorization", v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	w := do("/api/v1")
	if w.Code != 401 {
		t.Fatalf("no credentials: %d", w.Code)
	}
	if got := w.Header().Get("WWW-Authenticate"); got != `Basic realm="agora", Bearer realm="agora"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q", ct)
	}
	body := w.Body.String()
	for _, want := range []string{"no credentials offered", "--principal/--secret", "AGORA_PRINCIPAL/AGORA_SECRET", "bearer token"} {
		if !strings.Contains(body, want) {
			t.Errorf("401 body %q lacks %q", body, want)
		}
	}
	w = do("/api/v1", basic("ops", "wrong"))
	if w.Code != 401 || !strings.Contains(w.Body.String(), "invalid credentials") || strings.Contains(w.Body.String(), "wrong") {
		t.Errorf("wrong secret: %d %q", w.Code, w.Body)
	}
	w = do("/api/v1", basic("ops", "ops-pw"))
	if w.Code != 200 || w.Body.String() != `principal="ops" ok=true` {
		t.Errorf("good secret: %d %q", w.Code, w.Body)
	}
	w = do("/health")
	if w.Code != 200 || w.Body.String() != `principal="" ok=false` {
		t.Errorf("open path: %d %q", w.Code, w.Body)
	}
	// Open paths are exact, not prefixes.
	if w = do("/health/x"); w.Code != 401 {
		t.Errorf("/health/x: %d, want 401", w.Code)
	}
	if w = do("/versions"); w.Code != 401 {
		t.Errorf("/versions: %d, want 401", w.Code)
	}
}

func TestCacheAndSet(t *testing.T) {
	c := testCreds(t)
	a := NewAuthenticator(c)
	// Changing c after the fact does not reach the authenticator.
	must(t, c.Set("ops", fastHash(t, "new-pw"), ""))
	if p, err := a.Authenticate(req(basic("ops", "ops-pw"))); err != nil || p != "ops" {
		t.Fatalf("old secret after mutating the caller's copy: %q %v", p, err)
	}
	s := a.snap.Load()
	if n := len(s.cache); n != 1 {
		t.Errorf("cache has %d entries after one success, want 1", n)
	}
	if _, err := a.Authenticate(req(basic("ops", "guess"))); err == nil {
		t.Fatal("wrong secret accepted")
	}
	if n := len(s.cache); n != 1 {
		t.Errorf("a failure was cached: %d entries", n)
	}
	// A cached success is answered without PBKDF2: hold the only slot and
	// the cached login still goes through.
	for i := 0; i < cap(a.slow); i++ {
		a.slow <- struct{}{}
	}
	if p, err := a.Authenticate(req(basic("ops", "ops-pw"))); err != nil || p != "ops" {
		t.Errorf("cached login while PBKDF2 is busy: %q %v", p, err)
	}
	// An uncached one waits, and gives up with its request.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := req(basic("agent", "agent-pw")).WithContext(ctx)
	if _, err := a.Authenticate(r); !errors.Is(err, context.Canceled) {
		t.Errorf("uncached login with a cancelled request: %v", err)
	}
	for i := 0; i < cap(a.slow); i++ {
		<-a.slow
	}

	// Set swaps credentials and forgets what the old ones allowed.
	a.Set(c)
	if _, err := a.Authenticate(req(basic("ops", "ops-pw"))); err == nil {
		t.Error("old secret still accepted after Set")
	}
	if p, err := a.Authenticate(req(basic("ops", "new-pw"))); err != nil || p != "ops" {
		t.Errorf("new secret after Set: %q %v", p, err)
	}
	c.Remove("ci")
	a.Set(c)
	if _, err := a.Authenticate(req("Bearer agt_ci")); err == nil {
		t.Error("removed token still accepted after Set")
	}
}

func TestCacheIsBounded(t *testing.T) {
	c := newCredentials()
	n := cacheSize + 100
	for i := 0; i < n; i++ {
		must(t, c.Set(fmt.Sprintf("p%d", i), fastHash(t, "pw"), ""))
	}
	a := NewAuthenticator(c)
	for i := 0; i < n; i++ {
		if _, err := a.Authenticate(req(basic(fmt.Sprintf("p%d", i), "pw"))); err != nil {
			t.Fatal(err)
		}
	}
	s := a.snap.Load()
	if len(s.cache) != cacheSize || len(s.ring) != cacheSize {
		t.Errorf("cache holds %d (%d in ring), want %d", len(s.cache), len(s.ring), cacheSize)
	}
	// The oldest went first; the newest are kept.
	if s.cached(cacheKeyFor("p0", "pw")) || !s.cached(cacheKeyFor(fmt.Sprintf("p%d", n-1), "pw")) {
		t.Error("eviction is not oldest-first")
	}
}

func cacheKeyFor(p, secret string) cacheKey {
	k := cacheKey{principal: p}
	copy(k.secret[:], sumOf(secret))
	return k
}

func TestConcurrentAuthenticate(t *testing.T) {
	a := NewAuthenticator(testCreds(t))
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if p, err := a.Authenticate(req(basic("ops", "ops-pw"))); err != nil || p != "ops" {
					errs <- fmt.Errorf("basic: %q %v", p, err)
				}
				if p, err := a.Authenticate(req("Bearer agt_ci")); err != nil || p != "ci" {
					errs <- fmt.Errorf("bearer: %q %v", p, err)
				}
				if i == 25 {
					a.Set(testCreds(t))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// certs is a throwaway CA with one client certificate per CommonName.
type certs struct {
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	pool   *x509.CertPool
}

func newCA(t *testing.T) *certs {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "agora test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &certs{caCert: cert, caKey: key, pool: pool}
}

func (c *certs) client(t *testing.T, cn string, serial int64) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.caCert, &key.PublicKey, c.caKey)
	must(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestMutualTLS(t *testing.T) {
	ca := newCA(t)
	a := NewAuthenticator(testCreds(t))
	srv := httptest.NewUnstartedServer(a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalFrom(r.Context())
		io.WriteString(w, p)
	})))
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.pool}
	srv.StartTLS()
	defer srv.Close()

	clientWith := func(certs ...tls.Certificate) *http.Client {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = certs
		return &http.Client{Transport: tr}
	}
	get := func(c *http.Client, hdr string) (int, string) {
		r, _ := http.NewRequest("GET", srv.URL+"/api/v1", nil)
		if hdr != "" {
			r.Header.Set("Authorization", hdr)
		}
		resp, err := c.Do(r)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	withCert := clientWith(ca.client(t, "agent-7", 2))
	if code, body := get(withCert, ""); code != 200 || body != "agent-7" {
		t.Errorf("certificate alone: %d %q, want the CommonName", code, body)
	}
	if code, body := get(withCert, "Bearer agt_ci"); code != 200 || body != "ci" {
		t.Errorf("certificate and a good token: %d %q, want the token's principal", code, body)
	}
	if code, body := get(withCert, basic("ops", "wrong")); code != 401 || !strings.Contains(body, "invalid credentials") {
		t.Errorf("certificate and a wrong secret: %d %q, want 401", code, body)
	}
	if code, body := get(clientWith(), ""); code != 401 || !strings.Contains(body, "no credentials offered") {
		t.Errorf("no certificate: %d %q, want 401", code, body)
	}
	if code, body := get(clientWith(ca.client(t, "", 3)), ""); code != 401 || !strings.Contains(body, "CommonName") {
		t.Errorf("certificate without a CommonName: %d %q, want 401", code, body)
	}
}

func TestTransport(t *testing.T) {
	a := NewAuthenticator(testCreds(t))
	srv := httptest.NewServer(a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalFrom(r.Context())
		io.WriteString(w, p)
	})))
	defer srv.Close()

	get := func(tr *Transport, hdr string) (int, string, *http.Request) {
		r, _ := http.NewRequest("GET", srv.URL+"/x", nil)
		if hdr != "" {
			r.Header.Set("Authorization", hdr)
		}
		before := r.Header.Clone()
		resp, err := (&http.Client{Transport: tr}).Do(r)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if fmt.Sprint(r.Header) != fmt.Sprint(before) {
			t.Errorf("Transport changed the caller's request headers: %v -> %v", before, r.Header)
		}
		return resp.StatusCode, string(b), r
	}
	if code, body, _ := get(&Transport{Principal: "ops", Secret: "ops-pw"}, ""); code != 200 || body != "ops" {
		t.Errorf("Basic: %d %q", code, body)
	}
	if code, body, _ := get(&Transport{Principal: "ops", Secret: "ops-pw", Token: "agt_ci"}, ""); code != 200 || body != "ci" {
		t.Errorf("Token should win over Secret: %d %q", code, body)
	}
	if code, _, _ := get(&Transport{}, ""); code != 401 {
		t.Errorf("no credentials: %d", code)
	}
	if code, body, _ := get(&Transport{Token: "agt_ci"}, "Bearer agt_agent"); code != 200 || body != "agent" {
		t.Errorf("caller's own Authorization header: %d %q, want it kept", code, body)
	}
	if code, _, _ := get(&Transport{Base: http.DefaultTransport, Principal: "ops", Secret: "wrong"}, ""); code != 401 {
		t.Errorf("wrong secret: %d", code)
	}
}

func TestPrincipalFrom(t *testing.T) {
	if _, ok := PrincipalFrom(context.Background()); ok {
		t.Error("principal in an empty context")
	}
	if p, ok := PrincipalFrom(WithPrincipal(context.Background(), "ops")); !ok || p != "ops" {
		t.Errorf("PrincipalFrom = %q %v", p, ok)
	}
}

func sumOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
