package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"agora/core/mesos"
	"agora/frameworks/services/api"
	"agora/frameworks/services/app"
	"agora/frameworks/services/core"
	"agora/frameworks/services/deploy"
	"agora/frameworks/services/placement"
	"agora/frameworks/services/state"
)

// fakeServices is a Backend that plays deployments out step by step: each
// look at /v2/deployments moves every running deployment by one instance, so
// a watching CLI sees its progress and its end without any timing.
type fakeServices struct {
	mu       sync.Mutex
	n        int
	apps     map[string]*app.App
	versions map[string][]*app.App // newest first
	ins      map[string][]core.Instance
	deps     []deploy.Deployment
	queue    []core.QueueEntry
	subs     map[chan core.Event]struct{}
	// fail makes the deployments of an app fail with this reason and roll
	// back; stall keeps them running forever; noEvents hides the events.
	fail     map[string]string
	stall    map[string]bool
	noEvents bool
}

func newFakeServices() *fakeServices {
	return &fakeServices{apps: map[string]*app.App{}, versions: map[string][]*app.App{}, ins: map[string][]core.Instance{},
		subs: map[chan core.Event]struct{}{}, fail: map[string]string{}, stall: map[string]bool{}}
}

// serve runs the real /v2 handler over f and returns its URL.
func (f *fakeServices) serve(t *testing.T) string {
	srv := httptest.NewServer(api.New(f, api.Options{KeepAlive: time.Second}))
	t.Cleanup(srv.Close)
	return srv.URL
}

var fakeEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (f *fakeServices) newVersion() string {
	f.n++
	return fakeEpoch.Add(time.Duration(f.n) * time.Second).Format(time.RFC3339Nano)
}

func (f *fakeServices) publish(e core.Event) {
	if f.noEvents {
		return
	}
	for ch := range f.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

func cfgVersion(a *app.App) string {
	if a.VersionInfo != nil && a.VersionInfo.LastConfigChangeAt != "" {
		return a.VersionInfo.LastConfigChangeAt
	}
	return a.Version
}

func specOf(a *app.App) deploy.AppSpec {
	if a == nil {
		return deploy.AppSpec{}
	}
	return deploy.AppSpec{ID: a.ID(), Version: cfgVersion(a), Instances: a.Instances}
}

func (f *fakeServices) running(id string) *deploy.Deployment {
	for i := range f.deps {
		if f.deps[i].Target.ID == id || f.deps[i].Previous.ID == id {
			return &f.deps[i]
		}
	}
	return nil
}

// install makes a current with a new deployment towards it.
func (f *fakeServices) install(a *app.App, prev deploy.AppSpec, deleting bool, force bool) (string, error) {
	id := a.ID()
	if d := f.running(id); d != nil {
		if !force {
			return "", &core.LockedError{AppID: id, DeploymentIDs: []string{d.ID}}
		}
		f.end(d.ID, core.EventDeploymentFailed, "superseded")
	}
	d := deploy.Deployment{ID: fmt.Sprintf("dep-%d", f.n+1), Previous: prev, Status: deploy.StatusRunning}
	if deleting {
		d.Target = deploy.AppSpec{ID: id}
	} else {
		cp := *a
		cp.Version = f.newVersion()
		f.apps[id] = &cp
		f.versions[id] = append([]*app.App{&cp}, f.versions[id]...)
		d.Target = specOf(&cp)
	}
	f.n++
	f.deps = append(f.deps, d)
	f.publish(core.Event{Type: core.EventDeploymentInfo, AppID: id, DeploymentID: d.ID})
	return d.ID, nil
}

func (f *fakeServices) end(depID, typ, msg string) {
	for i, d := range f.deps {
		if d.ID == depID {
			f.deps = append(f.deps[:i], f.deps[i+1:]...)
			id := d.Target.ID
			if id == "" {
				id = d.Previous.ID
			}
			f.publish(core.Event{Type: typ, AppID: id, DeploymentID: depID, Message: msg})
			return
		}
	}
}

// step moves every running deployment by one instance.
func (f *fakeServices) step() {
	for _, d := range append([]deploy.Deployment(nil), f.deps...) {
		id := d.Target.ID
		if id == "" {
			id = d.Previous.ID
		}
		if f.stall[id] {
			continue
		}
		if reason := f.fail[id]; reason != "" {
			// Roll back: the previous definition becomes current as a new
			// version, or a new app goes away.
			f.end(d.ID, core.EventDeploymentFailed, reason)
			if len(f.versions[id]) > 1 {
				cp := *f.versions[id][1]
				cp.Version = f.newVersion()
				f.apps[id] = &cp
				f.versions[id] = append([]*app.App{&cp}, f.versions[id]...)
			} else {
				delete(f.apps, id)
				delete(f.ins, id)
			}
			continue
		}
		a := f.apps[id]
		ins := f.ins[id]
		if d.Target.Version == "" { // deletion
			if len(ins) > 0 {
				f.ins[id] = ins[1:]
				continue
			}
			delete(f.apps, id)
			delete(f.ins, id)
			f.end(d.ID, core.EventDeploymentSuccess, "")
			continue
		}
		fresh := 0
		for _, in := range ins {
			if in.Version == d.Target.Version {
				fresh++
			}
		}
		switch {
		case fresh < d.Target.Instances:
			f.n++
			in := core.Instance{Instance: stateInstance(id, fmt.Sprintf("%s.t%d", strings.Trim(id, "/"), f.n), d.Target.Version)}
			if len(a.HealthChecks) > 0 {
				yes := true
				in.Healthy = &yes
			}
			f.ins[id] = append(ins, in)
		case len(ins) > d.Target.Instances:
			// Old instances go first, then the youngest.
			sort.SliceStable(ins, func(i, j int) bool { return ins[i].Version != d.Target.Version && ins[j].Version == d.Target.Version })
			f.ins[id] = ins[1:]
		default:
			f.end(d.ID, core.EventDeploymentSuccess, "")
		}
	}
}

func (f *fakeServices) Apps() []*app.App {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*app.App
	for _, a := range f.apps {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out
}

func (f *fakeServices) Instances(appID string) []core.Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []core.Instance
	for id, l := range f.ins {
		if appID == "" || id == appID {
			out = append(out, l...)
		}
	}
	return out
}

func (f *fakeServices) Deployments() []deploy.Deployment {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.step()
	return append([]deploy.Deployment(nil), f.deps...)
}

func (f *fakeServices) Queue() []core.QueueEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]core.QueueEntry(nil), f.queue...)
}

func (f *fakeServices) Versions(ctx context.Context, appID string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, a := range f.versions[appID] {
		out = append(out, a.Version)
	}
	if out == nil {
		return nil, fmt.Errorf("app %s: %w", appID, core.ErrNotFound)
	}
	return out, nil
}

func (f *fakeServices) Version(ctx context.Context, appID, version string) (*app.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.versions[appID] {
		if a.Version == version {
			return a, nil
		}
	}
	return nil, fmt.Errorf("app %s version %s: %w", appID, version, core.ErrNotFound)
}

func (f *fakeServices) PutApp(ctx context.Context, a *app.App, force bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.apps[a.ID()]
	ch := app.Diff(cur, a)
	if cur != nil && ch.None() {
		return "", nil
	}
	cp := *a
	cp.VersionInfo = nil
	if cur != nil && !ch.Restart {
		// A scale keeps the run configuration's version.
		cp.VersionInfo = &app.VersionInfo{LastConfigChangeAt: cfgVersion(cur)}
	}
	return f.install(&cp, specOf(cur), false, force)
}

func (f *fakeServices) Preview(ctx context.Context, a *app.App) (core.Plan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.apps[a.ID()]
	next := specOf(a)
	restart := cur != nil && app.Diff(cur, a).Restart
	if cur != nil && !restart {
		next.Version = cfgVersion(cur)
	}
	var ins []deploy.Instance
	for _, in := range f.ins[a.ID()] {
		ins = append(ins, deploy.Instance{ID: in.TaskID, Version: in.Version, State: deploy.Running, Healthy: true, Ready: true})
	}
	var changed []string
	if cur != nil {
		changed = app.Diff(cur, a).Fields
	}
	return core.Plan{Steps: deploy.Plan(specOf(cur), next, ins), Restart: restart, Create: cur == nil, Changed: changed}, nil
}

func (f *fakeServices) DeleteApp(ctx context.Context, id string, force bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.apps[id]
	if a == nil {
		return "", fmt.Errorf("app %s: %w", id, core.ErrNotFound)
	}
	return f.install(a, specOf(a), true, force)
}

func (f *fakeServices) Restart(ctx context.Context, id string, force bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.apps[id]
	if a == nil {
		return "", fmt.Errorf("app %s: %w", id, core.ErrNotFound)
	}
	cp := *a
	cp.VersionInfo = nil
	return f.install(&cp, specOf(a), false, force)
}

func (f *fakeServices) KillTasks(ctx context.Context, appID string, taskIDs []string, scale bool) (string, error) {
	return "", fmt.Errorf("kill: %w", core.ErrNotFound)
}

func (f *fakeServices) CancelDeployment(ctx context.Context, id string, force bool) (string, error) {
	return "", fmt.Errorf("deployment %s: %w", id, core.ErrNotFound)
}

func (f *fakeServices) ResetDelay(ctx context.Context, appID string) error { return nil }

func (f *fakeServices) Subscribe(ctx context.Context) <-chan core.Event {
	ch := make(chan core.Event, 64)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		delete(f.subs, ch)
		close(ch)
		f.mu.Unlock()
	}()
	return ch
}

func (f *fakeServices) Info() api.Info { return api.Info{Name: "agora-services", Elected: true} }

// --- helpers ---

// appRun runs `agora app ARGS...` against master and returns stdout, stderr
// and the exit status main would give.
func appRun(t *testing.T, master string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, out, errOut := testCLI(ctx, master)
	c.poll = time.Millisecond
	err := c.app(args)
	if err != nil {
		fmt.Fprintf(errOut, "agora: %v\n", err)
	}
	return out.String(), errOut.String(), exitCode(err)
}

func writeAppFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const webYAML = `id: /web
cmd: sleep 600
instances: %d
cpus: 0.1
mem: 32
healthChecks:
  - protocol: COMMAND
    command: {value: "true"}
env:
  VERSION: "%s"
`

func webFile(t *testing.T, instances int, version string) string {
	return writeAppFile(t, "web.yaml", fmt.Sprintf(webYAML, instances, version))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// barLines returns the progress lines of an output.
func barLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "(deployment ") {
			out = append(out, l)
		}
	}
	return out
}

// --- tests ---

func TestAppDeployWatchesUntilAllHealthy(t *testing.T) {
	f := newFakeServices()
	url := f.serve(t)
	out, errOut, code := appRun(t, url, "deploy", "-f", webFile(t, 3, "v1"))
	if code != 0 {
		t.Fatalf("deploy exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	bars := barLines(out)
	if len(bars) < 2 {
		t.Fatalf("want a progress line per change, got:\n%s", out)
	}
	last := bars[len(bars)-1]
	for _, want := range []string{"/web", "[##########] 3/3", "running 3", "healthy 3", "start)"} {
		if !strings.Contains(last, want) {
			t.Errorf("last bar %q lacks %q", last, want)
		}
	}
	if !strings.Contains(bars[0], "0/3") && !strings.Contains(bars[0], "1/3") {
		t.Errorf("first bar %q should show the start of the deployment", bars[0])
	}
	if !strings.Contains(lastLine(out), "succeeded: /web has 3 instance(s) running, 3 healthy") {
		t.Errorf("last line %q", lastLine(out))
	}
	// The same file again changes nothing and says so.
	out, _, code = appRun(t, url, "deploy", "-f", webFile(t, 3, "v1"))
	if code != 0 || !strings.Contains(out, "nothing to change") {
		t.Fatalf("redeploy: exit %d, %q", code, out)
	}
}

func TestAppDeployJSONFileAndRestartShowsRestart(t *testing.T) {
	f := newFakeServices()
	url := f.serve(t)
	js := writeAppFile(t, "web.json", `{"id": "web", "cmd": "sleep 600", "instances": 2, "cpus": 0.1, "mem": 32}`)
	if out, errOut, code := appRun(t, url, "deploy", "-f", js); code != 0 {
		t.Fatalf("deploy: %d\n%s%s", code, out, errOut)
	}
	js2 := writeAppFile(t, "web.json", `{"id": "web", "cmd": "sleep 601", "instances": 2, "cpus": 0.1, "mem": 32}`)
	out, errOut, code := appRun(t, url, "deploy", "-f", js2)
	if code != 0 {
		t.Fatalf("upgrade: %d\n%s%s", code, out, errOut)
	}
	bars := barLines(out)
	last := bars[len(bars)-1]
	if !strings.Contains(last, "2/2") || !strings.Contains(last, "healthy -") || !strings.Contains(last, "restart)") {
		t.Errorf("last bar %q: want 2/2 new instances, no health checks, a restart", last)
	}
	// Old instances are gone: only the new version runs.
	a := f.apps["/web"]
	for _, in := range f.Instances("/web") {
		if in.Version != cfgVersion(a) {
			t.Errorf("instance %s still at %s after the upgrade", in.TaskID, in.Version)
		}
	}
}

func TestAppDeployFailureExitsNonZeroWithTheReason(t *testing.T) {
	f := newFakeServices()
	url := f.serve(t)
	if _, _, code := appRun(t, url, "deploy", "-f", webFile(t, 2, "v1")); code != 0 {
		t.Fatal("first deploy failed")
	}
	f.mu.Lock()
	f.fail["/web"] = "no progress within 5m0s: 0 of 2 new instances healthy"
	f.mu.Unlock()
	_, errOut, code := appRun(t, url, "deploy", "-f", webFile(t, 2, "v2"))
	if code != 1 {
		t.Fatalf("a failed deployment exits %d, want 1\n%s", code, errOut)
	}
	for _, want := range []string{"failed", "no progress within 5m0s", "/web"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestAppDeployFailureSeenWithoutEvents(t *testing.T) {
	f := newFakeServices()
	f.noEvents = true
	url := f.serve(t)
	if _, _, code := appRun(t, url, "deploy", "-f", webFile(t, 1, "v1")); code != 0 {
		t.Fatal("first deploy failed")
	}
	f.mu.Lock()
	f.fail["/web"] = "boom"
	f.mu.Unlock()
	_, errOut, code := appRun(t, url, "deploy", "-f", webFile(t, 1, "v2"))
	if code != 1 || !strings.Contains(errOut, "rolled back") {
		t.Fatalf("a deployment that vanished with the app at another version: exit %d, %s", code, errOut)
	}
}

func TestAppDeployDetachAndLocked(t *testing.T) {
	f := newFakeServices()
	f.stall["/web"] = true
	url := f.serve(t)
	out, _, code := appRun(t, url, "deploy", "-f", webFile(t, 2, "v1"), "--detach")
	if code != 0 || !strings.Contains(out, "deployment dep-1 started") {
		t.Fatalf("--detach: exit %d, %q", code, out)
	}
	if len(f.Deployments()) != 1 {
		t.Fatal("--detach should leave the deployment running")
	}
	_, errOut, code := appRun(t, url, "deploy", "-f", webFile(t, 2, "v2"))
	if code != 1 || !strings.Contains(errOut, "locked by deployment dep-1") || !strings.Contains(errOut, "--force") {
		t.Fatalf("a locked app: exit %d, %s", code, errOut)
	}
	// --force replaces the running deployment.
	out, _, code = appRun(t, url, "deploy", "-f", webFile(t, 2, "v2"), "--force", "--detach")
	if code != 0 || !strings.Contains(out, "started") {
		t.Fatalf("--force: exit %d, %q", code, out)
	}
}

func TestAppInterruptSaysTheDeploymentGoesOn(t *testing.T) {
	f := newFakeServices()
	f.stall["/web"] = true
	url := f.serve(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, out, _ := testCLI(ctx, url)
	c.poll = time.Millisecond
	// Ctrl-C once the bar is drawn.
	c.stdout = writerFunc(func(p []byte) (int, error) {
		if strings.Contains(string(p), "(deployment ") {
			cancel()
		}
		return out.Write(p)
	})
	err := c.app([]string{"deploy", "-f", webFile(t, 2, "v1")})
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "stopped watching; deployment dep-1 of /web goes on") {
		t.Fatalf("interrupted watch: %v", err)
	}
	if len(f.Deployments()) != 1 {
		t.Fatal("the deployment should go on")
	}
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

func TestAppDeployInvalidFileNamesTheField(t *testing.T) {
	f := newFakeServices()
	url := f.serve(t)
	bad := writeAppFile(t, "bad.yaml", "id: /web\ncmd: sleep 1\ninstances: -2\nmemory: 64\n")
	_, errOut, code := appRun(t, url, "deploy", "-f", bad)
	if code != 1 {
		t.Fatalf("invalid app: exit %d, want 1\n%s", code, errOut)
	}
	for _, want := range []string{"app /web is invalid", "memory: unknown field"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	bad = writeAppFile(t, "bad.yaml", "id: /web\ncmd: sleep 1\ninstances: -2\n")
	if _, errOut, code = appRun(t, url, "deploy", "-f", bad); code != 1 || !strings.Contains(errOut, "\n  instances: ") {
		t.Errorf("negative instances: exit %d\n%s", code, errOut)
	}
	if len(f.Apps()) != 0 {
		t.Fatal("an invalid app was stored")
	}
	noID := writeAppFile(t, "noid.yaml", "cmd: sleep 1\n")
	if _, errOut, code := appRun(t, url, "deploy", "-f", noID); code != 1 || !strings.Contains(errOut, "id:") {
		t.Fatalf("a file without id: exit %d, %s", code, errOut)
	}
}

func TestAppUsageErrorsExit2(t *testing.T) {
	url := newFakeServices().serve(t)
	for _, args := range [][]string{
		{},
		{"bogus"},
		{"deploy"},
		{"deploy", "-f"},
		{"scale", "/web"},
		{"scale", "/web", "many"},
		{"show"},
		{"why", "a", "b"},
		{"list", "--nope"},
	} {
		if _, errOut, code := appRun(t, url, args...); code != 2 {
			t.Errorf("agora app %s: exit %d, want 2 (%s)", strings.Join(args, " "), code, errOut)
		}
	}
	out, _, code := appRun(t, url, "deploy", "-h")
	if code != 0 || !strings.Contains(out, "--detach") {
		t.Errorf("deploy -h: exit %d, %q", code, out)
	}
}

func TestAppNotFoundAndUnreachable(t *testing.T) {
	url := newFakeServices().serve(t)
	for _, args := range [][]string{{"show", "nope"}, {"scale", "/nope", "2"}, {"restart", "/nope"}, {"delete", "/nope"}, {"why", "/nope"}} {
		_, errOut, code := appRun(t, url, args...)
		if code != 1 || !strings.Contains(errOut, "/nope") || !strings.Contains(errOut, "does not exist") {
			t.Errorf("agora app %s: exit %d, %s", strings.Join(args, " "), code, errOut)
		}
	}
	_, errOut, code := appRun(t, "http://"+freeAddr(t), "list")
	if code != 1 || !strings.Contains(errOut, "agora dev") {
		t.Errorf("no master: exit %d, %s", code, errOut)
	}
}

func TestAppPlanChangesNothing(t *testing.T) {
	f := newFakeServices()
	url := f.serve(t)
	out, _, code := appRun(t, url, "plan", "-f", webFile(t, 3, "v1"))
	if code != 0 || !strings.Contains(out, "create /web with 3 instance(s)") || !strings.Contains(out, "nothing was changed") {
		t.Fatalf("plan of a new app: exit %d\n%s", code, out)
	}
	if len(f.Apps()) != 0 {
		t.Fatal("plan created the app")
	}
	appRun(t, url, "deploy", "-f", webFile(t, 3, "v1"))
	out, _, _ = appRun(t, url, "plan", "-f", webFile(t, 5, "v1"))
	if !strings.Contains(out, "scale /web 3→5") || !strings.Contains(out, "changed fields: instances") {
		t.Errorf("plan of a scale:\n%s", out)
	}
	out, _, _ = appRun(t, url, "plan", "-f", webFile(t, 3, "v2"))
	if !strings.Contains(out, "restart /web") || !strings.Contains(out, "minHealthy") || !strings.Contains(out, "changed fields: env") {
		t.Errorf("plan of an upgrade:\n%s", out)
	}
	out, _, _ = appRun(t, url, "plan", "-f", webFile(t, 3, "v1"))
	if !strings.Contains(out, "no changes") {
		t.Errorf("plan of the same app:\n%s", out)
	}
	if a := f.apps["/web"]; a.Instances != 3 || a.Env["VERSION"] != "v1" || len(f.Deployments()) != 0 {
		t.Fatalf("plan changed the app: %+v", a)
	}
}

func TestAppScaleRestartRollbackDelete(t *testing.T) {
	f := newFakeServices()
	url := f.serve(t)
	appRun(t, url, "deploy", "-f", webFile(t, 1, "v1"))
	out, errOut, code := appRun(t, url, "scale", "web", "5")
	if code != 0 || !strings.Contains(lastLine(out), "5 instance(s) running") {
		t.Fatalf("scale 1→5: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = appRun(t, url, "scale", "/web", "2")
	if code != 0 || len(f.Instances("/web")) != 2 || !strings.Contains(out, "scale)") {
		t.Fatalf("scale 5→2: exit %d, %d instances\n%s", code, len(f.Instances("/web")), out)
	}
	appRun(t, url, "deploy", "-f", webFile(t, 2, "v2"))
	out, _, code = appRun(t, url, "restart", "/web")
	if code != 0 || !strings.Contains(out, "restart)") {
		t.Fatalf("restart: exit %d\n%s", code, out)
	}
	// Rollback goes to the version before the current one: v2 before the
	// restart.
	out, errOut, code = appRun(t, url, "rollback", "/web")
	if code != 0 {
		t.Fatalf("rollback: exit %d\n%s%s", code, out, errOut)
	}
	versions, _ := f.Versions(context.Background(), "/web")
	oldest := versions[len(versions)-1]
	out, errOut, code = appRun(t, url, "rollback", "/web", "--version", oldest)
	if code != 0 || f.apps["/web"].Env["VERSION"] != "v1" || f.apps["/web"].Instances != 1 {
		t.Fatalf("rollback --version %s: exit %d, app %+v\n%s%s", oldest, code, f.apps["/web"], out, errOut)
	}
	if _, errOut, code := appRun(t, url, "rollback", "/web", "--version", "1999-01-01T00:00:00Z"); code != 1 || !strings.Contains(errOut, "1999-01-01") {
		t.Errorf("rollback to an unknown version: exit %d, %s", code, errOut)
	}
	out, errOut, code = appRun(t, url, "delete", "/web")
	if code != 0 || !strings.Contains(lastLine(out), "/web is deleted") || !strings.Contains(out, "0 left") {
		t.Fatalf("delete: exit %d\n%s%s", code, out, errOut)
	}
	if len(f.Apps()) != 0 || len(f.Instances("")) != 0 {
		t.Fatal("delete left the app or its instances")
	}
}

func TestAppListAndShow(t *testing.T) {
	f := newFakeServices()
	url := f.serve(t)
	appRun(t, url, "deploy", "-f", webFile(t, 2, "v1"))
	appRun(t, url, "deploy", "-f", writeAppFile(t, "api.yaml", "id: /team/api\ncmd: sleep 600\ninstances: 1\ncpus: 0.5\nmem: 2048\n"))
	f.mu.Lock()
	f.stall["/team/api"] = true
	f.mu.Unlock()
	appRun(t, url, "scale", "/team/api", "3", "--detach")

	out, _, code := appRun(t, url, "list")
	rows := fields(out)
	if code != 0 || strings.Join(rows[0], " ") != "ID INSTANCES HEALTHY CPUS MEM VERSION DEPLOYING" {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	web, apiRow := findRow(rows, "/web"), findRow(rows, "/team/api")
	if web == nil || web[1] != "2/2" || web[2] != "2" || web[3] != "0.1" || web[4] != "32M" || web[6] != "-" {
		t.Errorf("/web row %v", web)
	}
	if apiRow == nil || apiRow[1] != "1/3" || apiRow[2] != "-" || apiRow[4] != "2G" || !strings.HasPrefix(apiRow[6], "dep-") {
		t.Errorf("/team/api row %v", apiRow)
	}
	out, _, _ = appRun(t, url, "list", "/team")
	if findRow(fields(out), "/web") != nil || findRow(fields(out), "/team/api") == nil {
		t.Errorf("list /team:\n%s", out)
	}
	out, _, _ = appRun(t, url, "list", "--json")
	if !strings.Contains(out, `"tasksRunning": 2`) {
		t.Errorf("list --json:\n%s", out)
	}

	out, _, code = appRun(t, url, "show", "/web")
	if code != 0 || !strings.Contains(out, "2 wanted, 2 running") || !strings.Contains(out, "VERSION=v1") {
		t.Fatalf("show: exit %d\n%s", code, out)
	}
	rows = fields(out)
	hdr := findRow(rows, "TASK")
	if strings.Join(hdr, " ") != "TASK HOST PORTS STATE HEALTHY VERSION STARTED" {
		t.Errorf("task table header %v", hdr)
	}
	tasks := 0
	for _, r := range rows {
		if len(r) > 0 && strings.HasPrefix(r[0], "web.t") {
			tasks++
			if r[3] != mesos.TaskRunning || r[4] != "yes" {
				t.Errorf("task row %v", r)
			}
		}
	}
	if tasks != 2 {
		t.Errorf("show lists %d tasks, want 2\n%s", tasks, out)
	}
	out, _, _ = appRun(t, url, "show", "/team/api")
	if !strings.Contains(out, "deployment dep-") || !strings.Contains(out, "3 instance(s) wanted") {
		t.Errorf("show of a deploying app lacks its deployment:\n%s", out)
	}
}

func TestAppWhyNamesTheConstraint(t *testing.T) {
	f := newFakeServices()
	url := f.serve(t)
	f.mu.Lock()
	f.stall["/web"] = true
	f.mu.Unlock()
	appRun(t, url, "deploy", "--detach", "-f", writeAppFile(t, "web.yaml", "id: /web\ncmd: sleep 1\ninstances: 2\nconstraints: [[hostname, LIKE, nowhere]]\n"))
	f.mu.Lock()
	f.queue = []core.QueueEntry{{AppID: "/web", Count: 2}}
	f.mu.Unlock()
	out, _, code := appRun(t, url, "why", "/web")
	if code != 0 || !strings.Contains(out, "no agent has offered") {
		t.Fatalf("why without offers: exit %d\n%s", code, out)
	}
	f.mu.Lock()
	f.queue = []core.QueueEntry{{AppID: "/web", Count: 2, DelayUntil: time.Now().Add(time.Hour),
		Rejections:   []placement.Rejection{{Reason: "constraint hostname:LIKE:nowhere", Agents: 2}},
		AgentReasons: map[string]string{"agent-1": "hostname a1 does not match nowhere", "agent-2": "hostname a2 does not match nowhere"}}}
	f.mu.Unlock()
	out, _, code = appRun(t, url, "why", "web")
	for _, want := range []string{"/web: 2 instance(s) waiting", "launch delay: ", "hostname LIKE nowhere: 2 of 2 agents", "agent-1: hostname a1 does not match nowhere"} {
		if !strings.Contains(out, want) {
			t.Errorf("why lacks %q:\n%s", want, out)
		}
	}
	f.mu.Lock()
	f.queue = []core.QueueEntry{{AppID: "/web", Count: 1,
		Rejections:   []placement.Rejection{{Reason: "insufficient mem (need 64, have 32)", Agents: 1}},
		AgentReasons: map[string]string{"agent-1": "insufficient mem (need 64, have 32)"}}}
	f.mu.Unlock()
	out, _, _ = appRun(t, url, "why", "web")
	if !strings.Contains(out, "insufficient mem (need 64, have 32): 1 of 1 agents") || strings.Contains(out, "launch delay") {
		t.Errorf("why with a resource shortage:\n%s", out)
	}
	f.mu.Lock()
	f.queue = nil
	f.mu.Unlock()
	out, _, _ = appRun(t, url, "why", "web")
	if !strings.Contains(out, "nothing is pending for /web") {
		t.Errorf("why with nothing pending:\n%s", out)
	}
}

func TestRenderBar(t *testing.T) {
	got := renderBar(barState{App: "/web", Dep: "4f2a9c1e-77aa", Action: "restart", Want: 5, Done: 3, Staged: 1, Running: 4, Healthy: 3, HasHealth: true})
	want := "/web  [######----] 3/5  staged 1  running 4  healthy 3  (deployment 4f2a9c1e…, restart)"
	if got != want {
		t.Fatalf("renderBar =\n%q, want\n%q", got, want)
	}
	if got := renderBar(barState{App: "/web", Dep: "d", Deleting: true, Left: 0}); !strings.Contains(got, "[##########] 0 left") {
		t.Errorf("finished deletion bar %q", got)
	}
}

func stateInstance(appID, taskID, version string) state.Instance {
	return state.Instance{TaskID: taskID, AppID: appID, Version: version, AgentID: "agent-1", Host: "host-1",
		State: mesos.TaskRunning, Ports: []uint64{31000}, LaunchedAt: fakeEpoch, StartedAt: fakeEpoch}
}

func TestRenderBarScaleDown(t *testing.T) {
	got := renderBar(barState{App: "/web", Dep: "d", Action: "scale", Want: 2, Done: 5, Running: 5, Left: 5})
	if !strings.Contains(got, "[####------] 2/2 (3 to stop)") {
		t.Fatalf("scale 5→2 before the kills: %q", got)
	}
	got = renderBar(barState{App: "/web", Dep: "d", Action: "scale", Want: 2, Done: 2, Running: 2, Left: 2})
	if !strings.Contains(got, "[##########] 2/2  staged") {
		t.Fatalf("scale 5→2 done: %q", got)
	}
}
