package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"agora/core/acl"
	"agora/core/audit"
	"agora/core/authn"
	"agora/core/ratelimit"
	"agora/core/tlsconfig"
)

// internalPrincipal is the principal the built-in frameworks use to talk to
// the master in their own process, with a token made at start and never
// written anywhere.
const internalPrincipal = "agora-frameworks"

// securityFlags are what every server (master, agent, dev, services, lb)
// takes to protect its HTTP API, and how it authenticates to a master.
type securityFlags struct {
	authenticate bool
	credentials  string
	acls         string
	rateLimits   string
	auditLog     string
	tls          tlsconfig.Files
	tlsOnly      bool
	// The principal this process calls a master as (agents, a standalone
	// services framework); also from AGORA_PRINCIPAL, AGORA_SECRET and
	// AGORA_TOKEN.
	principal, secretFile, tokenFile string
}

// register adds the flags; authDefault is whether --authenticate defaults
// to true, client whether this process calls a master.
func (s *securityFlags) register(fs serverFlags, authDefault, client bool) {
	fs.BoolVar(&s.authenticate, "authenticate", authDefault, "require HTTP Basic credentials or a bearer token from --credentials on every API call (but /health); giving --credentials turns it on")
	fs.str(&s.credentials, "credentials", "", "credentials file: principals with hashed secrets and tokens (make one with `agora credentials add`)")
	fs.str(&s.acls, "acls", "", "ACL file in Mesos's JSON model (default: everything allowed but running tasks as root)")
	fs.str(&s.rateLimits, "rate_limits", "", "per-principal rate limits, Mesos's RateLimits JSON (a file, or the JSON itself)")
	fs.str(&s.auditLog, "audit_log", "", "append a JSON line per mutating API call to this file (default: audit.log in the data directory)")
	fs.str(&s.tls.Cert, "tls_cert", "", "PEM certificate to serve HTTPS with")
	fs.str(&s.tls.Key, "tls_key", "", "PEM private key of --tls_cert")
	fs.str(&s.tls.CA, "tls_ca", "", "PEM CA bundle: verifies the master and other peers, and client certificates (mutual TLS)")
	fs.BoolVar(&s.tlsOnly, "tls_only", false, "refuse plain HTTP on the API port (with --tls_cert)")
	fs.BoolVar(&s.tlsOnly, "tls-only", false, "alias of --tls_only")
	if client {
		fs.str(&s.principal, "principal", "", "principal to authenticate to the master as (default $AGORA_PRINCIPAL)")
		fs.str(&s.secretFile, "secret_file", "", "file holding the principal's secret (default $AGORA_SECRET)")
		fs.str(&s.tokenFile, "token_file", "", "file holding a bearer token (default $AGORA_TOKEN)")
	}
}

// server is what a server built from securityFlags applies to its API.
type server struct {
	authn   *authn.Authenticator // nil: authentication off
	acls    *acl.Authorizer      // nil: everything allowed
	aclFile []byte               // the --acls file, for the master's recovery
	limiter *ratelimit.Limiter
	audit   *audit.Log
	tls     *tls.Config // nil: plain HTTP
	tlsOnly bool
	// internal is a token for internalPrincipal ("" without authentication).
	internal string
}

// build loads the files the flags name. role names the server in errors;
// dataDir is where the audit log goes by default ("" for none); acls are
// the ACLs in force without an --acls file (nil: everything allowed).
func (s *securityFlags) build(role, dataDir string, acls *acl.ACLs, logf func(string, ...any)) (*server, error) {
	sv := &server{tlsOnly: s.tlsOnly}
	if s.credentials != "" {
		s.authenticate = true // credentials given mean callers must use them
	}
	if s.authenticate {
		if s.credentials == "" {
			return nil, fmt.Errorf("%s requires authentication: give --credentials FILE (make one with `agora credentials add --file FILE --principal NAME`), or --authenticate=false to serve without it", role)
		}
		creds, err := authn.LoadCredentials(s.credentials)
		if err != nil {
			return nil, fmt.Errorf("--credentials: %w", err)
		}
		for _, p := range creds.Principals() {
			if p == internalPrincipal {
				return nil, fmt.Errorf("--credentials %s: principal %q is reserved for the built-in frameworks; rename it", s.credentials, p)
			}
		}
		tok, hash, err := authn.NewToken()
		if err != nil {
			return nil, err
		}
		if err := creds.Set(internalPrincipal, "", hash); err != nil {
			return nil, err
		}
		sv.authn, sv.internal = authn.NewAuthenticator(creds), tok
	}
	if s.acls != "" {
		data, err := os.ReadFile(s.acls)
		if err != nil {
			return nil, fmt.Errorf("--acls: %w", err)
		}
		if acls, err = acl.Parse(data); err != nil {
			return nil, fmt.Errorf("--acls %s: %w", s.acls, err)
		}
		sv.aclFile = data
	}
	if acls != nil {
		sv.acls = acl.NewAuthorizer(acls)
	}
	if s.rateLimits != "" {
		data := []byte(s.rateLimits)
		if !strings.HasPrefix(strings.TrimSpace(s.rateLimits), "{") {
			var err error
			if data, err = os.ReadFile(s.rateLimits); err != nil {
				return nil, fmt.Errorf("--rate_limits: %w", err)
			}
		}
		l, err := ratelimit.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("--rate_limits: %w", err)
		}
		sv.limiter = ratelimit.New(l)
	}
	path := s.auditLog
	if path == "" && dataDir != "" {
		// The data directory keeps its usual mode (an agent's sandboxes
		// live under it); only the log itself is private.
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		path = filepath.Join(dataDir, "audit.log")
	}
	if path != "" {
		l, err := audit.Open(path, logf)
		if err != nil {
			return nil, fmt.Errorf("--audit_log: %w", err)
		}
		sv.audit = l
	}
	if s.tls.Cert != "" || s.tls.Key != "" {
		cfg, err := tlsconfig.Server(s.tls)
		if err != nil {
			return nil, err
		}
		sv.tls = cfg
	} else if s.tlsOnly {
		return nil, fmt.Errorf("--tls_only needs --tls_cert and --tls_key")
	}
	return sv, nil
}

// describe says at start how the API is protected.
func (sv *server) describe() string {
	var parts []string
	if sv.authn == nil {
		parts = append(parts, "authentication off (loopback only; --credentials FILE turns it on)")
	} else {
		parts = append(parts, "authentication required")
	}
	switch {
	case sv.acls == nil:
		parts = append(parts, "no ACLs")
	case sv.aclFile != nil:
		parts = append(parts, "ACLs from --acls")
	default:
		parts = append(parts, "default ACLs (no tasks as root)")
	}
	switch {
	case sv.tls == nil:
		parts = append(parts, "plain HTTP")
	case sv.tlsOnly:
		parts = append(parts, "HTTPS only")
	default:
		parts = append(parts, "HTTPS and plain HTTP")
	}
	return strings.Join(parts, "; ")
}

// close flushes the audit log.
func (sv *server) close() {
	if sv.audit != nil {
		sv.audit.Close()
	}
}

// scheme is the scheme clients use for this server.
func (sv *server) scheme() string {
	if sv.tls != nil {
		return "https"
	}
	return "http"
}

// listen wraps ln for TLS (and plain HTTP unless --tls_only).
func (sv *server) listen(ln net.Listener) net.Listener {
	if sv.tls == nil {
		return ln
	}
	return tlsconfig.Listen(ln, sv.tls, !sv.tlsOnly)
}

// wrap protects h: authentication (401), then the audit log, then rate
// limits (429). /health stays open for load balancers and probes.
func (sv *server) wrap(h http.Handler) http.Handler {
	if sv.limiter != nil {
		h = ratelimit.Middleware(h, sv.limiter, principalOf, time.Now)
	}
	if sv.audit != nil {
		h = audit.Middleware(h, sv.audit, principalOf, time.Now)
	}
	if sv.authn != nil {
		h = sv.authn.Middleware(h, "/health")
	}
	return h
}

// internalClient is the HTTP client of the built-in frameworks in this
// process: the internal token, and trust in this server's own certificate.
func (sv *server) internalClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if sv.tls != nil {
		// The frameworks only talk to this server: trusting its own
		// certificate (and its CA) is enough.
		pool := x509.NewCertPool()
		if sv.tls.ClientCAs != nil {
			pool = sv.tls.ClientCAs.Clone()
		}
		for _, c := range sv.tls.Certificates {
			for _, der := range c.Certificate {
				if cert, err := x509.ParseCertificate(der); err == nil {
					pool.AddCert(cert)
				}
			}
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	var rt http.RoundTripper = tr
	if sv.internal != "" {
		rt = &authn.Transport{Base: tr, Principal: internalPrincipal, Token: sv.internal}
	}
	return &http.Client{Transport: rt}
}

// aclAuthorizer adapts the ACLs to the string-typed Authorizer interfaces
// the frameworks' APIs own.
type aclAuthorizer struct{ z *acl.Authorizer }

func (a aclAuthorizer) Allowed(principal, action, object string) (bool, string) {
	return a.z.Why(principal, acl.Action(action), object)
}

// clientTransport is how this process calls a master: TLS per --tls_ca
// (and --tls_cert for mutual TLS), credentials from the flags or the
// environment.
func (s *securityFlags) clientTransport(getenv func(string) string) (http.RoundTripper, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.tls.CA != "" || s.tls.Cert != "" {
		cfg, err := tlsconfig.Client(s.tls)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = cfg
	}
	principal := firstNonEmpty(s.principal, getenv("AGORA_PRINCIPAL"))
	secret, err := readSecret("--secret_file", s.secretFile, getenv("AGORA_SECRET"))
	if err != nil {
		return nil, err
	}
	token, err := readSecret("--token_file", s.tokenFile, getenv("AGORA_TOKEN"))
	if err != nil {
		return nil, err
	}
	if token == "" && secret == "" {
		return tr, nil
	}
	if token == "" && principal == "" {
		return nil, fmt.Errorf("a secret was given without a principal: set --principal or AGORA_PRINCIPAL")
	}
	return &authn.Transport{Base: tr, Principal: principal, Secret: secret, Token: token}, nil
}

// peer builds both sides of a process that serves an API and calls a
// master (an agent, a standalone services framework); its ACLs default to
// acl.Default.
func (s *securityFlags) peer(role, dataDir string, logf func(string, ...any)) (*server, http.RoundTripper, error) {
	srv, err := s.build(role, dataDir, acl.Default(), logf)
	if err != nil {
		return nil, nil, err
	}
	tr, err := s.clientTransport(os.Getenv)
	if err != nil {
		srv.close()
		return nil, nil, err
	}
	return srv, tr, nil
}

// readSecret reads a secret from a file (trailing newline dropped), else
// takes the environment's value.
func readSecret(flag, path, env string) (string, error) {
	if path == "" {
		return env, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// isLoopback reports whether a listen address only accepts local peers.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// principalOf is the authenticated caller of a request ("" when
// authentication is off).
func principalOf(r *http.Request) string {
	p, _ := authn.PrincipalFrom(r.Context())
	return p
}
