// Package consultest runs a real Consul (v1.14.11, `agent -dev`) on free
// loopback ports for tests.
//
// Contract: Start finds a consul binary ($AGORA_CONSUL, then PATH, then
// Agora's cache directory) or builds v1.14.11 from the Go module proxy into
// that cache directory once (a lock file keeps parallel test packages and
// deploy/consul.sh from building twice), starts it, waits for a leader and
// stops it when the test ends. When Consul cannot be built or started the
// test fails with the reason; it is never skipped.
package consultest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Version is the Consul version built when no binary is found.
const Version = "1.14.11"

// Server is a running Consul dev agent.
type Server struct {
	// Addr is the HTTP API's host:port.
	Addr string
	// Bin is the consul binary in use.
	Bin string

	ports   ports
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

type ports struct{ http, dns, serfLAN, serfWAN, server, grpc int }

// Start runs a Consul dev agent for the test and returns it once it has a
// leader. It is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatalf("consultest: %v", err)
	}
	s := &Server{Bin: bin, logPath: filepath.Join(t.TempDir(), "consul.log")}
	var lastErr error
	// Free ports are picked then released, so another process may take
	// one in between: try a few sets.
	for attempt := 0; attempt < 3; attempt++ {
		p, err := freePorts()
		if err != nil {
			t.Fatalf("consultest: %v", err)
		}
		s.ports = p
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p.http))
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("consultest: %v", lastErr)
	return nil
}

// Restart stops the agent and starts a new one on the same ports: a dev
// agent keeps nothing, so the new one holds no services.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	var err error
	// The old agent's ports may linger for a moment.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err = s.start(); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("consultest: restart: %v", err)
	}
}

// Stop stops the agent; it is safe to call twice.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

func (s *Server) start() error {
	p := s.ports
	args := []string{
		"agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-node", "agora-test",
		"-http-port", strconv.Itoa(p.http),
		"-dns-port", strconv.Itoa(p.dns),
		"-serf-lan-port", strconv.Itoa(p.serfLAN),
		"-serf-wan-port", strconv.Itoa(p.serfWAN),
		"-server-port", strconv.Itoa(p.server),
		"-grpc-port", strconv.Itoa(p.grpc),
		// Dev mode opens a gRPC TLS port (8503) too; tests need none.
		"-hcl", "ports { grpc_tls = -1 }",
		"-log-level", "warn",
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(s.Bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a test binary's signals do not reach it
	// and it cannot outlive a cleanup by holding ours.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.Bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited

	if err := s.waitLeader(60 * time.Second); err != nil {
		s.Stop()
		return fmt.Errorf("consul on %s: %w; log:\n%s", s.Addr, err, tail(s.logPath, 2000))
	}
	return nil
}

// waitLeader polls until the agent answers with a leader and has put its
// own node in the catalog (services registered before that would wait for
// the agent's first sync).
func (s *Server) waitLeader(limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	get := func(path string) string {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Addr+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return ""
		}
		return strings.TrimSpace(b.String())
	}
	for {
		select {
		case <-s.exited:
			return errors.New("exited before it was ready")
		default:
		}
		if l := get("/v1/status/leader"); l != "" && l != `""` {
			if n := get("/v1/catalog/node/agora-test"); n != "" && n != "null" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no leader within %v", limit)
		case <-s.exited:
			return errors.New("exited before it was ready")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePorts picks six loopback ports free for TCP and UDP (serf and DNS
// use both).
func freePorts() (ports, error) {
	var got []int
	var hold []func()
	defer func() {
		for _, release := range hold {
			release()
		}
	}()
	for len(got) < 6 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return ports{}, fmt.Errorf("free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			l.Close()
			continue
		}
		hold = append(hold, func() { l.Close(); u.Close() })
		got = append(got, port)
	}
	return ports{http: got[0], dns: got[1], serfLAN: got[2], serfWAN: got[3], server: got[4], grpc: got[5]}, nil
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// CacheDir is where the built binary is kept:
// $XDG_CACHE_HOME/agora/consul-<version>, or ~/.cache/agora/consul-<version>.
// deploy/consul.sh builds into the same place.
func CacheDir() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cache dir: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "agora", "consul-"+Version), nil
}

// Binary returns a consul binary: $AGORA_CONSUL, else consul on PATH, else
// the cached build, building it first if needed.
func Binary() (string, error) {
	if p := os.Getenv("AGORA_CONSUL"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("AGORA_CONSUL=%s: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("consul"); err == nil {
		return p, nil
	}
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "consul")
	if usable(bin) {
		return bin, nil
	}
	if err := build(dir, bin); err != nil {
		return "", err
	}
	return bin, nil
}

func usable(bin string) bool {
	out, err := exec.Command(bin, "version").Output()
	return err == nil && bytes.Contains(out, []byte("v"+Version))
}

// build compiles Consul from a small module that requires it (Consul's own
// go.mod has replace directives, so `go install` refuses it), under a lock
// so that only one process builds.
func build(dir, bin string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("consul cache: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("consul build lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("consul build lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if usable(bin) { // built by another process while we waited
		return nil
	}
	src, err := os.MkdirTemp("", "agora-consul-build-")
	if err != nil {
		return fmt.Errorf("consul build dir: %w", err)
	}
	defer os.RemoveAll(src)
	gomod := "module agora.local/consulbuild\n\ngo 1.20\n\nrequire github.com/hashicorp/consul v" + Version + "\n"
	tools := "//go:build tools\n\npackage consulbuild\n\nimport _ \"github.com/hashicorp/consul\"\n"
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(gomod), 0o644); err != nil {
		return fmt.Errorf("consul build: %w", err)
	}
	if err := os.WriteFile(filepath.Join(src, "tools.go"), []byte(tools), 0o644); err != nil {
		return fmt.Errorf("consul build: %w", err)
	}
	goBin := "go"
	if p, err := exec.LookPath("go"); err == nil {
		goBin = p
	} else if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		goBin = "/usr/local/go/bin/go"
	}
	cmd := exec.Command(goBin, "build", "-o", bin+".tmp", "github.com/hashicorp/consul")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("building consul v%s (%s): %w\n%s", Version, strings.Join(cmd.Args, " "), err, out)
	}
	if err := os.Rename(bin+".tmp", bin); err != nil {
		return fmt.Errorf("consul build: %w", err)
	}
	return nil
}
