// Package client holds Go clients for the master's HTTP APIs: the Mesos v1
// scheduler API (Scheduler), the Mesos v1 operator API (Operator), and the
// agent's sandbox file reader (ReadFile).
//
// Contract:
//   - A master address is "host:port" or an http(s) URL; a trailing slash is
//     ignored.
//   - A master that is not the leader may answer 307/308 with a Location
//     naming the leader. Clients re-POST there (up to a few hops) and keep
//     talking to the master that finally answered.
//   - A master or agent that cannot be reached yields *UnreachableError; one
//     that answers with a non-2xx status yields *APIError carrying the status
//     and the text the server sent.
//
// The clients hold no global state; each is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"agora/core/election"
	"syscall"
)

// maxRedirects bounds how many leader redirects one call follows, so two
// masters that each name the other cannot loop a client forever.
const maxRedirects = 5

// maxErrorBody bounds how much of an error response is kept as the message.
const maxErrorBody = 4 << 10

// APIError is a non-2xx answer from the master or an agent.
type APIError struct {
	Status  int    // HTTP status code
	Message string // the response body, trimmed (or the status text if empty)
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// UnreachableError reports that no HTTP answer came back at all.
type UnreachableError struct {
	Role string // "master" or "agent"
	Addr string // the URL base that was tried, e.g. http://127.0.0.1:5050
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach %s at %s: %s", e.Role, e.Addr, reason(e.Err))
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// reason renders common network failures the way a user describes them,
// rather than as Go's nested "Post ...: dial tcp ...: connect: ..." chain.
func reason(err error) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("host %q not found", dnsErr.Name)
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err.Error()
	}
	return err.Error()
}

// BaseURL turns "host:port" or "http://host:port/" into "http://host:port".
func BaseURL(addr string) (string, error) {
	a := strings.TrimSpace(addr)
	if a == "" {
		return "", errors.New("address is empty; want host:port or http://host:port")
	}
	if !strings.Contains(a, "://") {
		a = "http://" + a
	}
	u, err := url.Parse(a)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("address %q: scheme %q is not http or https", addr, u.Scheme)
	}
	if u.Host == "" {
		return "", fmt.Errorf("address %q: no host; want host:port or http://host:port", addr)
	}
	return strings.TrimSuffix(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}

// origin returns scheme://host of u.
func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

// resolveLocation resolves a Location header against the request URL.
// Mesos sends the protocol-relative form "//host:port/path"; a bare
// "host:port" is accepted too.
func resolveLocation(from *url.URL, loc string) (*url.URL, error) {
	if !strings.Contains(loc, "://") && !strings.HasPrefix(loc, "/") {
		loc = "//" + loc
	}
	u, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("redirect Location %q: %w", loc, err)
	}
	u = from.ResolveReference(u)
	if u.Host == "" {
		return nil, fmt.Errorf("redirect Location %q names no host", loc)
	}
	if u.Path == "" {
		u.Path = from.Path
	}
	return u, nil
}

// endpoint is the master a client talks to. A redirect from a standby moves
// it to the leader once the leader has answered.
type endpoint struct {
	hc *http.Client // the caller's client with automatic redirects off

	mu      sync.Mutex
	base    string // e.g. http://127.0.0.1:5050; empty until a zk:// leader is found
	baseErr error  // the master address did not parse
	zkURL   string // zk://host:port/path: the leader is looked up there
}

func newEndpoint(master string, hc *http.Client) *endpoint {
	if hc == nil {
		// No overall timeout: the scheduler's event stream lives for hours.
		hc = &http.Client{}
	}
	c := *hc
	// Redirects are followed by post, which also remembers the leader;
	// Go's automatic following would hide where the leader is.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if _, _, ok, err := election.ParseURL(master); ok || err != nil {
		if err != nil {
			return &endpoint{hc: &c, base: master, baseErr: fmt.Errorf("master %w", err)}
		}
		return &endpoint{hc: &c, zkURL: master}
	}
	base, err := BaseURL(master)
	if err != nil {
		err = fmt.Errorf("master %w", err)
		base = master
	}
	return &endpoint{hc: &c, base: base, baseErr: err}
}

// leaderLookupTimeout bounds one look-up of the leader in ZooKeeper.
const leaderLookupTimeout = 10 * time.Second

// resolve returns the master's base URL, looking the leader up in
// ZooKeeper when the address is a zk:// URL and no leader is known yet.
func (e *endpoint) resolve(ctx context.Context) (string, error) {
	base, err := e.current()
	if err != nil || base != "" || e.zkURL == "" {
		return base, err
	}
	c, err := election.DetectLeader(ctx, e.zkURL, leaderLookupTimeout)
	if err != nil {
		return "", &UnreachableError{Role: "leading master", Addr: e.zkURL, Err: err}
	}
	e.setBase(c.Address)
	return c.Address, nil
}

// forget drops a leader found in ZooKeeper after it stopped answering, so
// the next call looks again.
func (e *endpoint) forget() {
	if e.zkURL != "" {
		e.setBase("")
	}
}

func (e *endpoint) current() (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.base == "" && e.zkURL != "" && e.baseErr == nil {
		return "", nil
	}
	return e.base, e.baseErr
}

// name is the leader's base URL when known, else the zk:// URL.
func (e *endpoint) name() string {
	if b, _ := e.current(); b != "" {
		return b
	}
	return e.zkURL
}

func (e *endpoint) setBase(b string) {
	e.mu.Lock()
	e.base = b
	e.mu.Unlock()
}

// post sends a JSON body to path on the master, following leader redirects.
// The caller closes the returned body. Any status other than a redirect is
// returned as is.
func (e *endpoint) post(ctx context.Context, path string, body []byte, hdr http.Header) (*http.Response, error) {
	base, err := e.resolve(ctx)
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(base + path)
	if err != nil {
		return nil, fmt.Errorf("master address %q: %w", base, err)
	}
	for hop := 0; ; hop++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("request to %s: %w", target, err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		for k, vs := range hdr {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		resp, err := e.hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s%s: %w", origin(target), path, ctx.Err())
			}
			e.forget()
			return nil, &UnreachableError{Role: "master", Addr: origin(target), Err: err}
		}
		if resp.StatusCode != http.StatusTemporaryRedirect && resp.StatusCode != http.StatusPermanentRedirect {
			if hop > 0 {
				e.setBase(origin(target))
			}
			return resp, nil
		}
		loc := resp.Header.Get("Location")
		drain(resp.Body)
		if loc == "" {
			return nil, fmt.Errorf("master at %s answered %d without a Location header naming the leader", origin(target), resp.StatusCode)
		}
		if hop >= maxRedirects {
			return nil, fmt.Errorf("master at %s: gave up after %d redirects (last to %s); the masters disagree on the leader", base, maxRedirects, loc)
		}
		next, err := resolveLocation(target, loc)
		if err != nil {
			return nil, fmt.Errorf("master at %s: %w", origin(target), err)
		}
		target = next
	}
}

// apiError reads a non-2xx response into an *APIError and closes its body.
func apiError(resp *http.Response) error {
	defer drain(resp.Body)
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := strings.TrimSpace(string(b))
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &APIError{Status: resp.StatusCode, Message: msg}
}

// drain reads a little of a body and closes it so the connection can be reused.
func drain(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
	_ = rc.Close()
}
