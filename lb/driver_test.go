package lb

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"agora/discovery"
	"agora/lb/haproxy"
)

// The tests below run the real HAProxy (Debian's 2.6 at /usr/sbin/haproxy,
// installed by deploy/deps.sh) on loopback ports.

func haproxyBin(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/haproxy", "haproxy"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("haproxy not found at /usr/sbin/haproxy: run deploy/deps.sh")
	return ""
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// backend is an HTTP server on 127.0.0.1 that answers with its name.
type backend struct {
	name string
	srv  *httptest.Server
	port int
}

func newBackend(t testing.TB, name string) *backend {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return &backend{name: name, srv: srv, port: srv.Listener.Addr().(*net.TCPAddr).Port}
}

func (b *backend) ep() discovery.Endpoint {
	return discovery.Endpoint{TaskID: b.name, Host: "127.0.0.1", Port: b.port, Healthy: true}
}

func eps(bs ...*backend) []discovery.Endpoint {
	var out []discovery.Endpoint
	for _, b := range bs {
		out = append(out, b.ep())
	}
	return out
}

// fixture is a running Driver.
type fixture struct {
	t       testing.TB
	d       *Driver
	cfg     Config
	dir     string
	updates chan []discovery.Service
	cancel  context.CancelFunc
	done    chan error
	once    sync.Once
}

func testConfig(t testing.TB, dir string) Config {
	cfg := DefaultConfig(filepath.Join(dir, "stats.sock"))
	cfg.HTTPPort = freePort(t)
	cfg.StatsPort = freePort(t)
	cfg.HardStopAfter = 5 * time.Second
	return cfg
}

func shortDir(t testing.TB) string {
	// Unix socket paths must stay short, so not t.TempDir's long names.
	dir, err := os.MkdirTemp("", "lb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func startDriver(t testing.TB, dir string, cfg Config, opts Options) *fixture {
	t.Helper()
	opts.Config, opts.Dir, opts.Bin = cfg, dir, haproxyBin(t)
	if opts.MinReloadInterval == 0 {
		opts.MinReloadInterval = 100 * time.Millisecond
	}
	opts.Logf = t.Logf
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &fixture{t: t, d: d, cfg: cfg, dir: dir, updates: make(chan []discovery.Service, 16), cancel: cancel, done: make(chan error, 1)}
	go func() { f.done <- d.Run(ctx, f.updates) }()
	t.Cleanup(f.stop)
	return f
}

func (f *fixture) stop() {
	f.once.Do(func() {
		f.cancel()
		select {
		case <-f.done:
		case <-time.After(30 * time.Second):
			f.t.Error("Run did not return")
		}
	})
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

var plainClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func get(port int, host string) (string, error) {
	req, _ := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(port)+"/", nil)
	if host != "" {
		req.Host = host
	}
	resp, err := plainClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

// servedBy waits until requests to port reach exactly the names given
// (over enough rounds to see every server of a round robin).
func servedBy(t testing.TB, port int, host string, names ...string) {
	t.Helper()
	want := strings.Join(names, ",")
	eventually(t, fmt.Sprintf("port %d host %q served by %s", port, host, want), func() error {
		seen := map[string]bool{}
		for i := 0; i < 4*len(names)+8; i++ {
			body, err := get(port, host)
			if err != nil {
				return err
			}
			seen[body] = true
		}
		var got []string
		for _, n := range names {
			if !seen[n] {
				return fmt.Errorf("%s not seen (seen %v)", n, seen)
			}
			delete(seen, n)
		}
		if len(seen) > 0 {
			return fmt.Errorf("also served by %v", seen)
		}
		_ = got
		return nil
	})
}

// loadGen sends requests through HAProxy from two workers until stopped,
// bounded in count and time, and counts failures.
type loadGen struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	stopc      chan struct{}
	wg         sync.WaitGroup
}

func startLoad(port int, host string) *loadGen {
	g := &loadGen{stopc: make(chan struct{})}
	deadline := time.Now().Add(2 * time.Minute)
	for w := 0; w < 2; w++ {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for i := 0; i < 50000 && time.Now().Before(deadline); i++ {
				select {
				case <-g.stopc:
					return
				default:
				}
				if _, err := get(port, host); err != nil {
					g.failed.Add(1)
					g.mu.Lock()
					if len(g.errs) < 5 {
						g.errs = append(g.errs, err.Error())
					}
					g.mu.Unlock()
				} else {
					g.ok.Add(1)
				}
			}
		}()
	}
	return g
}

func (g *loadGen) stop(t testing.TB) {
	t.Helper()
	close(g.stopc)
	g.wg.Wait()
	t.Logf("load: %d ok, %d failed", g.ok.Load(), g.failed.Load())
	if g.failed.Load() > 0 {
		t.Errorf("%d requests failed, e.g. %v", g.failed.Load(), g.errs)
	}
	if g.ok.Load() == 0 {
		t.Error("no request got through")
	}
}

func TestRenderedConfigPassesHaproxyCheck(t *testing.T) {
	dir := shortDir(t)
	for _, in := range []string{"testdata/render/mixed.json", "testdata/render/badlabels.json"} {
		text, _, _ := Render(loadServices(t, in), testConfig(t, dir))
		path := filepath.Join(dir, "c.cfg")
		os.WriteFile(path, []byte(text), 0o644)
		if err := haproxy.Check(context.Background(), haproxyBin(t), path); err != nil {
			t.Errorf("%s: %v", in, err)
		}
	}
	os.WriteFile(filepath.Join(dir, "bad.cfg"), []byte("frontend x\n  bind 127.0.0.1:1\n  bogus_directive\n"), 0o644)
	err := haproxy.Check(context.Background(), haproxyBin(t), filepath.Join(dir, "bad.cfg"))
	if err == nil || !strings.Contains(err.Error(), "bogus_directive") {
		t.Errorf("a broken config: got %v, want haproxy's complaint about bogus_directive", err)
	}
}

func TestRoutesTCPAndVirtualHosts(t *testing.T) {
	dir := shortDir(t)
	cfg := testConfig(t, dir)
	a, b := newBackend(t, "a"), newBackend(t, "b")
	tcpPort, webPort := freePort(t), freePort(t)
	f := startDriver(t, dir, cfg, Options{})
	f.updates <- []discovery.Service{
		{Name: "tcpapp", ServicePort: tcpPort, Protocol: "tcp", Endpoints: eps(a)},
		{Name: "web", ServicePort: webPort, Protocol: "tcp", Labels: map[string]string{"HAPROXY_0_VHOST": "web.test"}, Endpoints: eps(b)},
	}
	servedBy(t, tcpPort, "", "a")
	servedBy(t, webPort, "", "b")
	servedBy(t, cfg.HTTPPort, "web.test", "b")
	servedBy(t, cfg.HTTPPort, "WEB.test:80", "b")
	if _, err := get(cfg.HTTPPort, "other.test"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("unknown host: got %v, want 503", err)
	}
	resp, err := plainClient.Get("http://127.0.0.1:" + strconv.Itoa(cfg.StatsPort) + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "be_web") {
		t.Errorf("stats page does not list be_web")
	}
	st := f.d.Status()
	if !st.Running || st.Services != 2 || st.Servers != 2 || st.Reloads != 0 {
		t.Errorf("status %+v", st)
	}
	rec := httptest.NewRecorder()
	f.d.Metrics().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{"agora_lb_services 2", "agora_lb_servers 2", "agora_lb_reloads_total 0", "agora_lb_failed_validations_total 0"} {
		if !strings.Contains(rec.Body.String(), want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, rec.Body.String())
		}
	}
}

func TestMembershipChangesNeedNoReload(t *testing.T) {
	dir := shortDir(t)
	cfg := testConfig(t, dir)
	bs := []*backend{newBackend(t, "b1"), newBackend(t, "b2"), newBackend(t, "b3"), newBackend(t, "b4"), newBackend(t, "b5")}
	port := freePort(t)
	set := func(members ...*backend) []discovery.Service {
		return []discovery.Service{{Name: "web", ServicePort: port, Protocol: "tcp",
			Labels: map[string]string{"HAPROXY_0_VHOST": "web.test"}, Endpoints: eps(members...)}}
	}
	f := startDriver(t, dir, cfg, Options{})
	f.updates <- set(bs[0], bs[1])
	servedBy(t, port, "", "b1", "b2")

	tcp, vhost := startLoad(port, ""), startLoad(cfg.HTTPPort, "web.test")
	f.updates <- set(bs[0], bs[1], bs[2]) // scale up
	servedBy(t, port, "", "b1", "b2", "b3")
	f.updates <- set(bs[1], bs[2]) // scale down
	servedBy(t, port, "", "b2", "b3")
	f.updates <- set(bs[2], bs[3]) // b2 moved to b4
	servedBy(t, port, "", "b3", "b4")
	drain := set(bs[2], bs[3], bs[4])
	drain[0].Endpoints[0].Draining = true // b3 about to be killed
	f.updates <- drain
	servedBy(t, port, "", "b4", "b5")
	servedBy(t, cfg.HTTPPort, "web.test", "b4", "b5")
	tcp.stop(t)
	vhost.stop(t)

	st := f.d.Status()
	if st.Reloads != 0 {
		t.Errorf("membership changes reloaded %d times", st.Reloads)
	}
	if st.RuntimeUpdates == 0 {
		t.Error("no runtime update counted")
	}
}

func TestStructuralChangeReloadsHitlessly(t *testing.T) {
	dir := shortDir(t)
	cfg := testConfig(t, dir)
	a, b := newBackend(t, "a"), newBackend(t, "b")
	portA, portB := freePort(t), freePort(t)
	f := startDriver(t, dir, cfg, Options{MinReloadInterval: 300 * time.Millisecond})
	appA := discovery.Service{Name: "a", ServicePort: portA, Protocol: "tcp", Endpoints: eps(a)}
	f.updates <- []discovery.Service{appA}
	servedBy(t, portA, "", "a")

	load := startLoad(portA, "")
	// New service: a reload.
	appB := discovery.Service{Name: "b", ServicePort: portB, Protocol: "tcp", Endpoints: eps(b)}
	f.updates <- []discovery.Service{appA, appB}
	servedBy(t, portB, "", "b")
	// A burst of structural changes is coalesced under the rate limit.
	for _, host := range []string{"b1.test", "b2.test", "b3.test", "b4.test"} {
		appB.Labels = map[string]string{"HAPROXY_0_VHOST": host}
		f.updates <- []discovery.Service{appA, appB}
	}
	servedBy(t, cfg.HTTPPort, "b4.test", "b")
	// Then the vhost app goes away.
	f.updates <- []discovery.Service{appA}
	eventually(t, "b's port closed", func() error {
		if _, err := get(portB, ""); err == nil {
			return fmt.Errorf("still served")
		}
		return nil
	})
	load.stop(t)
	eventually(t, "three reloads or more", func() error {
		if n := f.d.Status().Reloads; n < 3 {
			return fmt.Errorf("%d reloads", n)
		}
		return nil
	})
	if n := f.d.Status().Reloads; n > 4 {
		t.Errorf("reloads = %d, want 3..4 (one for b, one or two for the burst of four, one for removing b)", n)
	}
	if n := masters(t, dir); n != 1 {
		t.Errorf("%d haproxy masters after reloads, want 1", n)
	}
}

func TestRefusedConfigKeepsServing(t *testing.T) {
	dir := shortDir(t)
	cfg := testConfig(t, dir)
	a, a2, b := newBackend(t, "a"), newBackend(t, "a2"), newBackend(t, "b")
	portA, portB := freePort(t), freePort(t)
	f := startDriver(t, dir, cfg, Options{})
	// A renderer bug HAProxy refuses whenever service "b" is rendered.
	f.d.corrupt = func(text string) string {
		return strings.Replace(text, "backend be_b\n", "backend be_b\n  no_such_keyword here\n", 1)
	}
	appA := discovery.Service{Name: "a", ServicePort: portA, Protocol: "tcp", Endpoints: eps(a)}
	f.updates <- []discovery.Service{appA}
	servedBy(t, portA, "", "a")

	appB := discovery.Service{Name: "b", ServicePort: portB, Protocol: "tcp", Endpoints: eps(b)}
	appA.Endpoints = eps(a, a2)
	f.updates <- []discovery.Service{appA, appB}
	eventually(t, "refusal in status", func() error {
		if st := f.d.Status(); st.FailedValidations != 1 || !strings.Contains(st.LastError, "no_such_keyword") {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	// The old config serves, and a's membership change still went out.
	servedBy(t, portA, "", "a", "a2")
	if _, err := get(portB, ""); err == nil {
		t.Error("b is served although its config was refused")
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "haproxy.cfg")); strings.Contains(string(data), "be_b") {
		t.Error("the refused config was installed")
	}
	rec := httptest.NewRecorder()
	f.d.Metrics().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "agora_lb_failed_validations_total 1\n") {
		t.Errorf("metrics:\n%s", rec.Body.String())
	}
	if st := f.d.Status(); st.Reloads != 0 {
		t.Errorf("reloads = %d after a refused config", st.Reloads)
	}
	// Once the bug is gone the next set is applied and the error cleared.
	f.d.mu.Lock()
	f.d.corrupt = nil
	f.d.mu.Unlock()
	f.updates <- []discovery.Service{appA, appB}
	servedBy(t, portB, "", "b")
	if st := f.d.Status(); st.LastError != "" {
		t.Errorf("error not cleared: %s", st.LastError)
	}
}

func TestBrokenLabelLeavesOthersServed(t *testing.T) {
	dir := shortDir(t)
	cfg := testConfig(t, dir)
	a, b, c := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")
	portA, portB, portC := freePort(t), freePort(t), freePort(t)
	f := startDriver(t, dir, cfg, Options{})
	f.updates <- []discovery.Service{
		{Name: "a", ServicePort: portA, Protocol: "tcp", Labels: map[string]string{"HAPROXY_0_VHOST": "a.test"}, Endpoints: eps(a)},
		{Name: "bad", ServicePort: portB, Protocol: "tcp", Labels: map[string]string{
			"HAPROXY_0_VHOST": "x.test\n  use_backend be_bad", "HAPROXY_0_BALANCE": "fastest", "HAPROXY_0_PATH": "/'"}, Endpoints: eps(b)},
		{Name: "c", ServicePort: portC, Protocol: "tcp", Labels: map[string]string{"HAPROXY_0_MODE": "http"}, Endpoints: eps(c)},
	}
	servedBy(t, cfg.HTTPPort, "a.test", "a")
	servedBy(t, portC, "", "c")
	// The bad app is still served on its own port, with defaults.
	servedBy(t, portB, "", "b")
	st := f.d.Status()
	if len(st.LabelErrors) != 3 || st.FailedValidations != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestRestartedDriverAdoptsRunningHAProxy(t *testing.T) {
	dir := shortDir(t)
	cfg := testConfig(t, dir)
	a, b := newBackend(t, "a"), newBackend(t, "b")
	port := freePort(t)
	first := startDriver(t, dir, cfg, Options{LeaveRunning: true})
	first.updates <- []discovery.Service{{Name: "a", ServicePort: port, Protocol: "tcp", Endpoints: eps(a)}}
	servedBy(t, port, "", "a")
	pid := first.d.Status().Pid

	load := startLoad(port, "")
	first.stop() // the lb goes away; HAProxy does not
	servedBy(t, port, "", "a")

	second := startDriver(t, dir, cfg, Options{})
	second.updates <- []discovery.Service{{Name: "a", ServicePort: port, Protocol: "tcp", Endpoints: eps(a, b)}}
	servedBy(t, port, "", "a", "b")
	load.stop(t)
	st := second.d.Status()
	if !st.Adopted || st.Pid != pid {
		t.Errorf("second driver: adopted=%v pid=%d, want the first's master %d", st.Adopted, st.Pid, pid)
	}
	if n := masters(t, dir); n != 1 {
		t.Errorf("%d haproxy masters for %s, want 1", n, dir)
	}
	second.stop()
	eventually(t, "haproxy stopped with the driver", func() error {
		if n := masters(t, dir); n != 0 {
			return fmt.Errorf("%d masters left", n)
		}
		return nil
	})
}

// masters counts haproxy master processes (those holding the master
// socket flag) running this dir's config.
func masters(t testing.TB, dir string) int {
	n := 0
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	cfg := filepath.Join(dir, "haproxy.cfg")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		stat, _ := os.ReadFile(strings.TrimSuffix(p, "cmdline") + "stat")
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue
		}
		args := strings.Split(string(data), "\x00")
		if len(args) > 0 && strings.HasSuffix(args[0], "haproxy") && strings.Contains(string(data), cfg) {
			// Workers are forked, not exec'ed: tell the master by its
			// parent not being haproxy.
			ppid := 0
			if f := strings.Fields(string(stat)[strings.LastIndexByte(string(stat), ')')+1:]); len(f) > 1 {
				ppid, _ = strconv.Atoi(f[1])
			}
			parent, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", ppid))
			if !strings.Contains(string(parent), cfg) {
				n++
			}
		}
	}
	return n
}
