package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"

	"agora/core/mesos"
)

// Probe performs one check within ctx and reports whether it passed and
// what it saw.
type Probe func(ctx context.Context) (ok bool, detail string)

// RunFunc runs argv with env added to the task's environment, in the task's
// context, and returns its exit code. containerizer.Execer's Exec method
// is one.
type RunFunc func(ctx context.Context, argv, env []string) (exitCode int, err error)

// Target is where the agent resolved the task's check to: for a Docker
// BRIDGE task the ports are the mapped host ports. Zero values fall back
// to the loopback address of the Spec's protocol and to Spec.Port.
type Target struct {
	Host     string
	HTTPPort uint32
	TCPPort  uint32
}

// NewProbe builds the probe the agent runs for spec against target. run
// executes COMMAND checks in the task's context; it may be nil for HTTP and
// TCP checks.
func NewProbe(spec Spec, target Target, run RunFunc) (Probe, error) {
	host := target.Host
	if host == "" {
		host = "127.0.0.1"
		if spec.Protocol == "IPv6" {
			host = "::1"
		}
	}
	switch spec.Type {
	case TypeHTTP:
		p := orPort(target.HTTPPort, spec.Port)
		return func(ctx context.Context) (bool, string) {
			return ProbeHTTP(ctx, host, p, spec.Scheme, spec.Path, spec.Statuses)
		}, nil
	case TypeTCP:
		p := orPort(target.TCPPort, spec.Port)
		return func(ctx context.Context) (bool, string) {
			return ProbeTCP(ctx, host, p)
		}, nil
	case TypeCommand:
		if run == nil {
			return nil, errors.New("health_check.command: this container cannot run commands")
		}
		cmd := spec.Command
		return func(ctx context.Context) (bool, string) {
			return ProbeCommand(ctx, run, cmd)
		}, nil
	}
	return nil, fmt.Errorf("health_check.type: unknown type %q", spec.Type)
}

func orPort(p, def uint32) uint32 {
	if p != 0 {
		return p
	}
	return def
}

// ProbeHTTP sends GET scheme://host:port/path and passes when the status is
// one of statuses, or in [200, 400) when statuses is empty. Redirects are
// not followed and, like Mesos (curl -k), certificates are not verified:
// the check asks whether the task answers, not whether it is trusted.
func ProbeHTTP(ctx context.Context, host string, port uint32, scheme, path string, statuses []uint32) (bool, string) {
	if scheme == "" {
		scheme = "http"
	}
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	url := scheme + "://" + net.JoinHostPort(host, strconv.FormatUint(uint64(port), 10)) + path
	what := "HTTP GET " + url
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, fmt.Sprintf("%s: %v", what, err)
	}
	client := &http.Client{
		Transport: &http.Transport{
			// One connection per check: nothing idles between checks.
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
			// Proxy stays nil: a task's port is never behind HTTP_PROXY.
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, failure(ctx, what, err)
	}
	// Drain a little so the server is not cut off mid-write; the body is
	// not part of the verdict.
	_, _ = io.CopyN(io.Discard, resp.Body, 4096)
	resp.Body.Close()
	msg := fmt.Sprintf("%s returned %d", what, resp.StatusCode)
	return statusOK(resp.StatusCode, statuses), msg
}

func statusOK(code int, statuses []uint32) bool {
	if len(statuses) == 0 {
		return code >= 200 && code < 400
	}
	for _, s := range statuses {
		if int(s) == code {
			return true
		}
	}
	return false
}

// ProbeTCP passes when a TCP connection to host:port opens.
func ProbeTCP(ctx context.Context, host string, port uint32) (bool, string) {
	addr := net.JoinHostPort(host, strconv.FormatUint(uint64(port), 10))
	what := "TCP connection to " + addr
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, failure(ctx, what, err)
	}
	conn.Close()
	return true, what + " opened"
}

// ProbeCommand runs cmd through run and passes when it exits with 0. A
// shell command runs as /bin/sh -c value; otherwise value is the
// executable and arguments the rest of argv (arguments[0] is argv[0], as in
// Mesos). The command's environment variables are passed to run.
func ProbeCommand(ctx context.Context, run RunFunc, cmd *mesos.CommandInfo) (bool, string) {
	if cmd == nil || cmd.Value == "" {
		return false, "command: missing"
	}
	var argv []string
	if cmd.IsShell() {
		argv = []string{"/bin/sh", "-c", cmd.Value}
	} else {
		argv = []string{cmd.Value}
		if len(cmd.Arguments) > 1 {
			argv = append(argv, cmd.Arguments[1:]...)
		}
	}
	var env []string
	if cmd.Environment != nil {
		for _, v := range cmd.Environment.Variables {
			env = append(env, v.Name+"="+v.Value)
		}
	}
	type result struct {
		code int
		err  error
	}
	// run should honour ctx, but a wedged exec must not wedge the checker:
	// give up at the deadline and let run finish on its own.
	ch := make(chan result, 1)
	go func() {
		code, err := run(ctx, argv, env)
		ch <- result{code, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return false, failure(ctx, "command", ctx.Err())
	}
	if ctx.Err() != nil {
		// The command was most likely killed because time ran out; say so
		// rather than report the kill signal.
		return false, failure(ctx, "command", ctx.Err())
	}
	if r.err != nil {
		return false, fmt.Sprintf("command could not run: %v", r.err)
	}
	if r.code != 0 {
		return false, fmt.Sprintf("command exited with %d", r.code)
	}
	return true, "command exited with 0"
}

// failure describes err from the check named what. Timeouts end in
// "timed out" so that the driver can add the budget; system errors are
// reduced to their cause ("connection refused").
func failure(ctx context.Context, what string, err error) string {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return what + " timed out"
	case errors.Is(ctx.Err(), context.Canceled):
		return what + " canceled"
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s failed: %v", what, se.Err)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Sprintf("%s failed: %v", what, dnsErr)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return fmt.Sprintf("%s failed: %v", what, opErr.Err)
	}
	return fmt.Sprintf("%s failed: %v", what, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
