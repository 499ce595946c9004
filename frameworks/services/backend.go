package services

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"agora/core/store"
	"agora/frameworks/driver"
	"agora/frameworks/services/api"
	"agora/frameworks/services/app"
	"agora/frameworks/services/core"
	"agora/frameworks/services/deploy"
)

// readTimeout bounds how long a read waits for the loop.
const readTimeout = 10 * time.Second

// do runs fn on the loop goroutine and waits for it. Before the framework
// has subscribed and recovered it fails with api.ErrUnavailable.
func (f *Framework) do(ctx context.Context, fn func(now time.Time) error) error {
	if !f.Ready() {
		return fmt.Errorf("%w: the services framework has not registered with the master yet", api.ErrUnavailable)
	}
	var err error
	if derr := f.drv.Do(ctx, func() { err = fn(time.Now()) }); derr != nil {
		if errors.Is(derr, driver.ErrStopped) {
			return fmt.Errorf("%w: the services framework stopped", api.ErrUnavailable)
		}
		return derr // the change may still be made; the caller sees the deadline
	}
	return err
}

// change runs a core change and carries out what it decided, answering
// only once its writes are stored.
func (f *Framework) change(ctx context.Context, fn func(now time.Time) (string, error)) (string, error) {
	var id string
	err := f.do(ctx, func(now time.Time) error {
		var err error
		if id, err = fn(now); err != nil {
			return err
		}
		return f.act(f.runCtx, f.core.Tick(now))
	})
	return id, err
}

// read runs fn on the loop; views of a framework that is not running are empty.
func (f *Framework) read(fn func()) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	f.do(ctx, func(time.Time) error { fn(); return nil })
}

// Ready reports whether the framework has recovered its state and answers
// for its apps. It stays ready while it re-subscribes after losing the
// master: changes are stored and reach the master once it is back.
func (f *Framework) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

// Connected reports whether the framework is subscribed to a master now.
func (f *Framework) Connected() bool {
	ok, _, _ := f.drv.Connected()
	return ok
}

// Apps returns the current app definitions.
func (f *Framework) Apps() (out []*app.App) {
	f.read(func() { out = f.core.Apps() })
	return out
}

// Instances returns an app's instances, or every app's for "".
func (f *Framework) Instances(appID string) (out []core.Instance) {
	f.read(func() { out = f.core.Instances(appID) })
	return out
}

// Deployments returns the running deployments.
func (f *Framework) Deployments() (out []deploy.Deployment) {
	f.read(func() { out = f.core.Deployments() })
	return out
}

// Queue returns the apps with instances waiting to launch.
func (f *Framework) Queue() (out []core.QueueEntry) {
	f.read(func() { out = f.core.Queue() })
	return out
}

// Versions lists an app's stored versions, newest first.
func (f *Framework) Versions(ctx context.Context, appID string) ([]string, error) {
	vs, err := f.st.ListVersions(ctx, appID)
	if err == nil && len(vs) == 0 {
		err = fmt.Errorf("app %s: %w", appID, core.ErrNotFound)
	}
	return vs, err
}

// Version returns one stored version of an app.
func (f *Framework) Version(ctx context.Context, appID, version string) (*app.App, error) {
	a, err := f.st.GetVersion(ctx, appID, version)
	if err != nil && isNotFound(err) {
		err = fmt.Errorf("app %s version %s: %w", appID, version, core.ErrNotFound)
	}
	return a, err
}

// PutApp creates or replaces an app.
func (f *Framework) PutApp(ctx context.Context, a *app.App, force bool) (string, error) {
	return f.change(ctx, func(now time.Time) (string, error) { return f.core.PutApp(a, force, now) })
}

// Preview says what PutApp would do.
func (f *Framework) Preview(ctx context.Context, a *app.App) (plan core.Plan, err error) {
	err = f.do(ctx, func(time.Time) error {
		var e error
		plan, e = f.core.Preview(a)
		return e
	})
	return plan, err
}

// DeleteApp kills an app's instances and removes it.
func (f *Framework) DeleteApp(ctx context.Context, id string, force bool) (string, error) {
	return f.change(ctx, func(now time.Time) (string, error) { return f.core.DeleteApp(id, force, now) })
}

// Restart replaces an app's instances under its upgrade strategy.
func (f *Framework) Restart(ctx context.Context, id string, force bool) (string, error) {
	return f.change(ctx, func(now time.Time) (string, error) { return f.core.Restart(id, force, now) })
}

// KillTasks kills instances of an app, scaling it down with scale.
func (f *Framework) KillTasks(ctx context.Context, appID string, taskIDs []string, scale bool) (string, error) {
	return f.change(ctx, func(now time.Time) (string, error) { return f.core.KillTasks(appID, taskIDs, scale, now) })
}

// CancelDeployment cancels a deployment, rolling back unless force.
func (f *Framework) CancelDeployment(ctx context.Context, id string, force bool) (string, error) {
	return f.change(ctx, func(now time.Time) (string, error) { return f.core.CancelDeployment(id, force, now) })
}

// ResetDelay ends an app's launch backoff.
func (f *Framework) ResetDelay(ctx context.Context, appID string) error {
	_, err := f.change(ctx, func(now time.Time) (string, error) { return "", f.core.ResetDelay(appID, now) })
	return err
}

// Subscribe returns the framework's events until ctx ends.
func (f *Framework) Subscribe(ctx context.Context) <-chan core.Event { return f.hub.subscribe(ctx) }

// Info describes the framework for /v2/info.
func (f *Framework) Info() api.Info {
	connected, fwID, leader := f.drv.Connected()
	ports := f.cfg.Core.ServicePorts
	if ports == [2]int{} {
		ports = core.DefaultServicePorts
	}
	if u, err := url.Parse(leader); err == nil && u.Host != "" {
		leader = u.Host
	}
	return api.Info{
		Name: f.cfg.Name, Version: Version, FrameworkID: fwID, Elected: connected, Leader: leader,
		MarathonConfig: api.MarathonConfig{
			Master: f.cfg.Master, FrameworkName: f.cfg.Name, MesosRole: f.cfg.Role, MesosUser: f.cfg.User,
			Checkpoint: true, FailoverTimeout: f.cfg.FailoverTimeout.Seconds(),
			LocalPortMin: ports[0], LocalPortMax: ports[1],
		},
	}
}

// Version of the services framework, in /v2/info.
const Version = "0.1.0"

func isNotFound(err error) bool {
	return errors.Is(err, core.ErrNotFound) || errors.Is(err, store.ErrNotFound)
}

var _ api.Backend = (*Framework)(nil)
