package api

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"agora/frameworks/services/app"
	"agora/frameworks/services/core"
	"agora/frameworks/services/deploy"
)

// fake is an in-memory Backend: apps, versions, instances, deployments and a
// queue the tests set directly, locks and errors they inject, and an event
// publisher whose sends block until the subscriber's channel is read (so a
// test sees whether the API ever keeps the framework waiting).
type fake struct {
	mu        sync.Mutex
	now       time.Time
	apps      map[string]*app.App
	versions  map[string][]*app.App // newest first
	ins       []core.Instance
	deps      []deploy.Deployment
	queue     []core.QueueEntry
	locked    map[string]string // app id -> deployment locking it
	fail      error             // returned by every write when set
	n         int
	calls     []string
	subs      map[chan core.Event]struct{}
	subscribe int
}

func newFake(now time.Time) *fake {
	return &fake{now: now, apps: map[string]*app.App{}, versions: map[string][]*app.App{}, locked: map[string]string{}, subs: map[chan core.Event]struct{}{}}
}

func (f *fake) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fake) Apps() []*app.App {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*app.App, 0, len(f.apps))
	for _, a := range f.apps {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AppID < out[j].AppID }) // ids are absolute after Parse
	return out
}

func (f *fake) Instances(appID string) []core.Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []core.Instance
	for _, in := range f.ins {
		if appID == "" || in.AppID == appID {
			out = append(out, in)
		}
	}
	return out
}

func (f *fake) Deployments() []deploy.Deployment {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]deploy.Deployment(nil), f.deps...)
}

func (f *fake) Queue() []core.QueueEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]core.QueueEntry(nil), f.queue...)
}

func (f *fake) Versions(ctx context.Context, appID string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	vs, ok := f.versions[appID]
	if !ok {
		return nil, fmt.Errorf("app %s: %w", appID, core.ErrNotFound)
	}
	var out []string
	for _, a := range vs {
		out = append(out, a.Version)
	}
	return out, nil
}

func (f *fake) Version(ctx context.Context, appID, version string) (*app.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.versions[appID] {
		if a.Version == version {
			return a, nil
		}
	}
	return nil, fmt.Errorf("app %s version %s: %w", appID, version, core.ErrNotFound)
}

func (f *fake) lockedErr(id string, force bool) error {
	if d := f.locked[id]; d != "" && !force {
		return &core.LockedError{AppID: id, DeploymentIDs: []string{d}}
	}
	return nil
}

func (f *fake) nextDeployment() string {
	f.n++
	return fmt.Sprintf("dep-%d", f.n)
}

func (f *fake) PutApp(ctx context.Context, a *app.App, force bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("PutApp %s instances=%d force=%t", a.ID(), a.Instances, force)
	if f.fail != nil {
		return "", f.fail
	}
	id := a.ID()
	if err := f.lockedErr(id, force); err != nil {
		return "", err
	}
	cur := f.apps[id]
	cp := *a
	// As the core does: a masked secret keeps the stored value.
	if errs := cp.KeepMaskedSecrets(cur); errs != nil {
		return "", errs
	}
	if cur != nil && app.Diff(cur, &cp).None() {
		return "", nil
	}
	f.n++
	cp.Version = f.now.Add(time.Duration(f.n) * time.Second).UTC().Format(time.RFC3339Nano)
	f.apps[id] = &cp
	f.versions[id] = append([]*app.App{&cp}, f.versions[id]...)
	dep := fmt.Sprintf("dep-%d", f.n)
	f.deps = append(f.deps, deploy.Deployment{ID: dep, Target: deploy.AppSpec{ID: id, Version: cp.Version, Instances: cp.Instances}, Status: deploy.StatusRunning})
	return dep, nil
}

func (f *fake) Preview(ctx context.Context, a *app.App) (core.Plan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Preview %s", a.ID())
	cur := f.apps[a.ID()]
	cp := *a
	if errs := cp.KeepMaskedSecrets(cur); errs != nil {
		return core.Plan{}, errs
	}
	a = &cp
	if cur == nil {
		return core.Plan{Steps: []deploy.PlanStep{{Action: deploy.StartApplication, App: a.ID(), Instances: a.Instances, Launch: a.Instances}}, Create: true}, nil
	}
	ch := app.Diff(cur, a)
	if ch.None() {
		return core.Plan{}, nil
	}
	return core.Plan{Steps: []deploy.PlanStep{{Action: deploy.RestartApplication, App: a.ID(), Instances: a.Instances}}, Restart: ch.Restart,
		Changed: without(ch.Fields, "version", "versionInfo")}, nil
}

func (f *fake) DeleteApp(ctx context.Context, id string, force bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("DeleteApp %s force=%t", id, force)
	if f.fail != nil {
		return "", f.fail
	}
	if f.apps[id] == nil {
		return "", fmt.Errorf("app %s: %w", id, core.ErrNotFound)
	}
	if err := f.lockedErr(id, force); err != nil {
		return "", err
	}
	delete(f.apps, id)
	return f.nextDeployment(), nil
}

func (f *fake) Restart(ctx context.Context, id string, force bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Restart %s force=%t", id, force)
	if f.apps[id] == nil {
		return "", fmt.Errorf("app %s: %w", id, core.ErrNotFound)
	}
	if err := f.lockedErr(id, force); err != nil {
		return "", err
	}
	return f.nextDeployment(), nil
}

func (f *fake) KillTasks(ctx context.Context, appID string, taskIDs []string, scale bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("KillTasks %s %v scale=%t", appID, taskIDs, scale)
	if !scale {
		return "", nil
	}
	if a := f.apps[appID]; a != nil {
		cp := *a
		cp.Instances -= len(taskIDs)
		f.apps[appID] = &cp
	}
	return f.nextDeployment(), nil
}

func (f *fake) CancelDeployment(ctx context.Context, id string, force bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CancelDeployment %s force=%t", id, force)
	for i, d := range f.deps {
		if d.ID == id {
			f.deps = append(f.deps[:i], f.deps[i+1:]...)
			if force {
				return "", nil
			}
			return "rollback-of-" + id, nil
		}
	}
	return "", fmt.Errorf("deployment %s: %w", id, core.ErrNotFound)
}

func (f *fake) ResetDelay(ctx context.Context, appID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ResetDelay %s", appID)
	return nil
}

func (f *fake) Subscribe(ctx context.Context) <-chan core.Event {
	ch := make(chan core.Event) // unbuffered: a send waits for the reader
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.subscribe++
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

// publish sends e to every subscriber, blocking until each has taken it,
// as a framework with an unbuffered fan-out would.
func (f *fake) publish(e core.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		ch <- e
	}
}

func (f *fake) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

func (f *fake) Info() Info {
	return Info{Name: "agora-services", Version: "test", FrameworkID: "fw-1", Elected: true, Leader: "127.0.0.1:5050",
		MarathonConfig: MarathonConfig{Master: "127.0.0.1:5050", FrameworkName: "services", Hostname: "127.0.0.1", MesosUser: "agora"},
		HTTPConfig:     HTTPConfig{HTTPPort: 5050}}
}
