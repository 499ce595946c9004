package authn

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// ErrNoCredentials is Authenticate's answer when a request offers no
// Authorization header and no verified client certificate.
var ErrNoCredentials = errors.New("no credentials offered")

// ErrInvalidCredentials is Authenticate's answer for an unknown principal,
// a wrong secret or an unknown token; the text is the same in every case
// so that it does not reveal which principals exist. Malformed headers
// wrap it.
var ErrInvalidCredentials = errors.New("invalid credentials")

// cacheSize bounds the cache of successful secret checks per credentials
// set: enough for every framework and agent of a large cluster, small
// enough not to matter.
const cacheSize = 1024

// dummyHash is checked for principals that have no secret, so that an
// unknown principal costs as much as a wrong secret. It is read-only.
var dummyHash = &secretHash{iterations: HashIterations, salt: make([]byte, 16), key: make([]byte, sha256.Size)}

// cacheKey identifies one successful Basic login without keeping the
// secret itself in memory.
type cacheKey struct {
	principal string
	secret    [sha256.Size]byte
}

// snapshot is one credentials set with its own cache, so swapping the set
// drops the cache with it.
type snapshot struct {
	creds *Credentials

	mu    sync.Mutex
	cache map[cacheKey]struct{}
	ring  []cacheKey // insertion order, for FIFO eviction
	next  int
}

func newSnapshot(c *Credentials) *snapshot {
	return &snapshot{creds: c.clone(), cache: make(map[cacheKey]struct{})}
}

func (s *snapshot) cached(k cacheKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.cache[k]
	return ok
}

func (s *snapshot) remember(k cacheKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cache[k]; ok {
		return
	}
	if len(s.ring) < cacheSize {
		s.ring = append(s.ring, k)
	} else {
		delete(s.cache, s.ring[s.next])
		s.ring[s.next] = k
		s.next = (s.next + 1) % cacheSize
	}
	s.cache[k] = struct{}{}
}

// Authenticator checks requests against a Credentials. Safe for
// concurrent use.
type Authenticator struct {
	snap atomic.Pointer[snapshot]
	// slow bounds concurrent PBKDF2 runs (see the package comment).
	slow chan struct{}
}

// NewAuthenticator returns an Authenticator for a copy of c (nil means no
// principals: only client certificates authenticate).
func NewAuthenticator(c *Credentials) *Authenticator {
	a := &Authenticator{slow: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))}
	a.Set(c)
	return a
}

// Set swaps in a copy of new credentials atomically, dropping the cache of
// successful checks made against the old ones.
func (a *Authenticator) Set(c *Credentials) { a.snap.Store(newSnapshot(c)) }

// Authenticate returns the request's principal: HTTP Basic
// (principal:secret), Bearer token, or, when neither header is present
// and the connection is TLS with a verified client certificate, the
// certificate's subject CommonName. A header that is present but wrong is
// an error even if a certificate is also present. ErrNoCredentials when
// nothing was offered.
func (a *Authenticator) Authenticate(r *http.Request) (string, error) {
	headers := r.Header.Values("Authorization")
	switch {
	case len(headers) > 1:
		return "", fmt.Errorf("%w: more than one Authorization header", ErrInvalidCredentials)
	case len(headers) == 1:
		return a.fromHeader(r.Context(), headers[0])
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
		if cn == "" {
			return "", fmt.Errorf("%w: the client certificate has no subject CommonName to use as the principal", ErrInvalidCredentials)
		}
		return cn, nil
	}
	return "", ErrNoCredentials
}

func (a *Authenticator) fromHeader(ctx context.Context, h string) (string, error) {
	scheme, rest, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Basic"):
		// Reuse net/http's decoding of "Basic base64(user:pass)".
		user, pass, ok := (&http.Request{Header: http.Header{"Authorization": {h}}}).BasicAuth()
		if !ok {
			return "", fmt.Errorf("%w: the Basic Authorization header is not base64 of principal:secret", ErrInvalidCredentials)
		}
		return a.checkSecret(ctx, user, pass)
	case strings.EqualFold(scheme, "Bearer"):
		token := strings.TrimSpace(rest)
		if token == "" {
			return "", fmt.Errorf("%w: the Bearer Authorization header has no token", ErrInvalidCredentials)
		}
		if p, ok := a.snap.Load().creds.tokens[HashToken(token)]; ok {
			return p, nil
		}
		return "", ErrInvalidCredentials
	}
	return "", fmt.Errorf("%w: Authorization scheme %q is not Basic or Bearer", ErrInvalidCredentials, scheme)
}

// checkSecret verifies a Basic login, from the cache when it can.
func (a *Authenticator) checkSecret(ctx context.Context, principal, secret string) (string, error) {
	if principal == "" || secret == "" {
		return "", ErrInvalidCredentials
	}
	s := a.snap.Load()
	k := cacheKey{principal: principal, secret: sha256.Sum256([]byte(secret))}
	if s.cached(k) {
		return principal, nil
	}
	sh := dummyHash
	e, known := s.creds.entries[principal]
	if known && e.secret != nil {
		sh = e.secret
	}
	select {
	case a.slow <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("%w: %w", ErrInvalidCredentials, ctx.Err())
	}
	ok := sh.verify(secret)
	<-a.slow
	if !ok || sh == dummyHash {
		return "", ErrInvalidCredentials
	}
	s.remember(k)
	return principal, nil
}

// unauthorizedHint is the second line of every 401 body.
const unauthorizedHint = "pass credentials with --principal/--secret or AGORA_PRINCIPAL/AGORA_SECRET, or a bearer token (Authorization: Bearer <token>)"

// Middleware answers 401 to requests that do not authenticate, except for
// the exact paths in open (like "/health"), and otherwise calls next with
// the principal in the request context.
func (a *Authenticator) Middleware(next http.Handler, open ...string) http.Handler {
	openSet := make(map[string]bool, len(open))
	for _, p := range open {
		openSet[p] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if openSet[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		p, err := a.Authenticate(r)
		if err != nil {
			h := w.Header()
			h.Set("WWW-Authenticate", `Basic realm="agora", Bearer realm="agora"`)
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, "unauthorized: %v\n%s\n", err, unauthorizedHint)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

type principalKey struct{}

// WithPrincipal returns ctx carrying an authenticated principal.
func WithPrincipal(ctx context.Context, principal string) context.Context {
	return context.WithValue(ctx, principalKey{}, principal)
}

// PrincipalFrom returns the principal WithPrincipal stored; ok is false
// when there is none (authentication off, or an open path).
func PrincipalFrom(ctx context.Context) (principal string, ok bool) {
	principal, _ = ctx.Value(principalKey{}).(string)
	return principal, principal != ""
}

// Transport adds credentials to every request (client side). Exactly one
// of Secret / Token is used: Token wins when both are set; with neither
// Token nor Principal the request goes out as it is, and so does a request
// that already carries an Authorization header. Base nil means
// http.DefaultTransport. The caller's request is never modified. Note that
// credentials follow redirects (a standby master sending the client to the
// leader), so point it only at masters you trust.
type Transport struct {
	Base                     http.RoundTripper
	Principal, Secret, Token string
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if r.Header.Get("Authorization") != "" || (t.Token == "" && t.Principal == "") {
		return base.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	if r2.Header == nil {
		r2.Header = make(http.Header)
	}
	if t.Token != "" {
		r2.Header.Set("Authorization", "Bearer "+t.Token)
	} else {
		r2.SetBasicAuth(t.Principal, t.Secret)
	}
	return base.RoundTrip(r2)
}
