package core

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"agora/frameworks/services/app"
	"agora/frameworks/services/deploy"
	"agora/frameworks/services/placement"
)

// ErrNotFound is wrapped by errors about an unknown app, task or deployment.
var ErrNotFound = errors.New("not found")

// LockedError refuses a change to an app while a deployment of it runs and
// the change was not forced (Marathon's 409).
type LockedError struct {
	AppID         string
	DeploymentIDs []string
}

func (e *LockedError) Error() string {
	return "App is locked by one or more deployments. Override with force=true."
}

// prepared is a checked new definition of an app, not yet applied.
type prepared struct {
	app     *app.App
	cons    []placement.Constraint
	spec    deploy.AppSpec
	prev    deploy.AppSpec // zero for a new app
	prevApp *app.App       // nil for a new app
	change  app.Change
	fresh   bool // the app does not exist (or is being deleted)
}

// cloneApp copies what the core may change in an app (ports, version).
func cloneApp(a *app.App) *app.App {
	cp := *a
	cp.PortDefinitions = slices.Clone(a.PortDefinitions)
	if a.Container != nil {
		ct := *a.Container
		ct.PortMappings = slices.Clone(ct.PortMappings)
		cp.Container = &ct
	}
	if a.VersionInfo != nil {
		vi := *a.VersionInfo
		cp.VersionInfo = &vi
	}
	return &cp
}

// prepare checks a and works out what putting it means, changing nothing.
// version is the version given to a when it has none.
func (c *Core) prepare(a *app.App, version string) (*prepared, error) {
	if a == nil {
		return nil, fmt.Errorf("app: nil")
	}
	cp := cloneApp(a)
	id := cp.ID()
	cons, err := placement.ParseAll(cp.Constraints)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", id, err)
	}
	if cp.Version == "" {
		cp.Version = version
	}
	as := c.apps[id]
	p := &prepared{app: cp, cons: cons, fresh: as == nil || as.deleting}
	var cur *app.App
	if !p.fresh {
		cur = as.app
	}
	// A definition read from the API shows its secrets masked; sent back,
	// the mask means "keep the stored value".
	if errs := cp.KeepMaskedSecrets(cur); errs != nil {
		return nil, errs
	}
	if err := c.assignServicePorts(cp, cur); err != nil {
		return nil, err
	}
	vi := app.VersionInfo{}
	if !p.fresh {
		p.change = app.Diff(as.app, cp)
		if p.change.None() {
			return p, nil
		}
		if as.app.VersionInfo != nil {
			vi = *as.app.VersionInfo
		}
		if p.change.Restart {
			vi.LastConfigChangeAt = cp.Version
		} else {
			vi.LastScalingAt = cp.Version
		}
		p.prev, p.prevApp = as.spec, as.app
	} else {
		p.change = app.Change{Fields: []string{"id"}, Restart: true}
	}
	if vi.LastConfigChangeAt == "" {
		vi.LastConfigChangeAt = cp.Version
	}
	cp.VersionInfo = &vi
	p.spec = specOf(cp)
	if err := p.spec.Validate(); err != nil {
		return nil, fmt.Errorf("app %s: %w", id, err)
	}
	return p, nil
}

// locked returns the LockedError for as, or nil when no deployment runs.
func locked(id string, as *appState) error {
	if as == nil || as.deployment == nil {
		return nil
	}
	return &LockedError{AppID: id, DeploymentIDs: []string{as.deployment.ID}}
}

// supersede ends as's running deployment because a forced change replaces it.
func (c *Core) supersede(id string, as *appState, by string, now time.Time) {
	d := as.deployment
	if d == nil {
		return
	}
	d.Status, d.FinishedAt = deploy.StatusCancelled, now
	d.Reason = "cancelled: superseded by forced " + by
	c.out.Events = append(c.out.Events, Event{Type: EventDeploymentFailed, Time: now, AppID: id, DeploymentID: d.ID, Message: d.Reason})
	as.deployment = nil
}

// install makes a the app's current definition with d its running
// deployment, and records both.
func (c *Core) install(as *appState, a *app.App, cons []placement.Constraint, d *deploy.Deployment, prevApp *app.App, now time.Time) {
	spec := specOf(a)
	if as.spec.Version != spec.Version {
		// Queued launches of the old configuration are dropped; the
		// deployment asks for new ones. A new config also ends the backoff.
		as.pending = 0
		as.failures, as.delayUntil = 0, time.Time{}
	}
	as.app, as.spec, as.cons, as.deployment, as.prevApp, as.deleting = a, spec, cons, d, prevApp, false
	id := spec.ID
	c.out.Persist = append(c.out.Persist,
		Change{Kind: PutApp, AppID: id, App: a},
		Change{Kind: PutDeployment, AppID: id, Deployment: d})
	c.out.Events = append(c.out.Events, Event{Type: EventDeploymentInfo, Time: now, AppID: id, DeploymentID: d.ID})
}

// PutApp creates or updates an app and starts the deployment that brings its
// instances to the new definition (a scale or a rolling restart, per
// app.Diff). It returns "" when nothing changed. While a deployment of the
// app runs it returns a *LockedError unless force, which replaces that
// deployment by one from what exists now. Invalid constraints or service
// ports are errors naming the field (service ports as app.FieldErrors).
func (c *Core) PutApp(a *app.App, force bool, now time.Time) (string, error) {
	p, err := c.prepare(a, now.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return "", err
	}
	if p.change.None() {
		return "", nil
	}
	id := p.spec.ID
	as := c.apps[id]
	if err := locked(id, as); err != nil {
		if !force {
			return "", err
		}
		c.supersede(id, as, "update", now)
	}
	depID := c.uuid()
	d, err := deploy.New(depID, p.prev, p.spec, c.cfg.ProgressDeadline)
	if err != nil {
		return "", fmt.Errorf("app %s: %w", id, err)
	}
	if p.fresh {
		old := as
		as = &appState{instances: map[string]*instance{}}
		if old != nil {
			as.instances = old.instances // still being killed
		}
		c.apps[id] = as
	}
	c.install(as, p.app, p.cons, d, p.prevApp, now)
	c.step(now)
	return depID, nil
}

// Preview says what PutApp(a) would do now, changing nothing: the plan's
// steps and whether running instances would be replaced. It returns the
// errors PutApp without force would.
func (c *Core) Preview(a *app.App) (Plan, error) {
	p, err := c.prepare(a, "(new version)")
	if err != nil || p.change.None() {
		return Plan{}, err
	}
	id := p.spec.ID
	as := c.apps[id]
	if err := locked(id, as); err != nil {
		return Plan{}, err
	}
	var current []deploy.Instance
	if as != nil {
		current = c.snapshot(as).Instances
	}
	var changed []string
	for _, f := range p.change.Fields {
		if f != "version" && f != "versionInfo" {
			changed = append(changed, f)
		}
	}
	return Plan{Steps: deploy.Plan(p.prev, p.spec, current), Restart: p.change.Restart && !p.fresh, Create: as == nil || as.deleting, Changed: changed}, nil
}

// Plan is what putting an app would do (see Preview).
type Plan struct {
	Steps []deploy.PlanStep
	// Restart: instances are replaced; otherwise the change only scales.
	Restart bool
	// Create: the app does not exist yet.
	Create bool
	// Changed are the top-level fields that change, after service ports
	// are assigned.
	Changed []string
}

func (c *Core) lookup(id string) (*appState, error) {
	as := c.apps[id]
	if as == nil {
		return nil, fmt.Errorf("app %s: %w", id, ErrNotFound)
	}
	return as, nil
}

// DeleteApp kills all the app's instances and forgets it once they ended.
// Its deployment (returned) succeeds then. Locked as PutApp.
func (c *Core) DeleteApp(id string, force bool, now time.Time) (string, error) {
	as, err := c.lookup(id)
	if err != nil {
		return "", err
	}
	if err := locked(id, as); err != nil {
		if !force {
			return "", err
		}
		c.supersede(id, as, "deletion", now)
	}
	prevApp := as.app
	if as.deleting {
		prevApp = as.prevApp
	}
	d := &deploy.Deployment{
		ID:     c.uuid(),
		Target: deploy.AppSpec{ID: id, UpgradeStrategy: as.spec.UpgradeStrategy, KillSelection: as.spec.KillSelection},
		Status: deploy.StatusRunning, StartedAt: now, LastProgress: now,
	}
	if prevApp != nil {
		d.Previous = specOf(prevApp)
	}
	as.deleting, as.pending, as.deployment, as.prevApp = true, 0, d, prevApp
	c.out.Persist = append(c.out.Persist, Change{Kind: PutDeployment, AppID: id, Deployment: d})
	c.out.Events = append(c.out.Events, Event{Type: EventDeploymentInfo, Time: now, AppID: id, DeploymentID: d.ID})
	for _, tid := range sortedKeys(as.instances) {
		c.kill(as, tid, now)
	}
	c.step(now)
	return d.ID, nil
}

// Restart replaces all the app's instances honouring its upgrade strategy.
// Locked as PutApp.
func (c *Core) Restart(id string, force bool, now time.Time) (string, error) {
	as, err := c.lookup(id)
	if err != nil {
		return "", err
	}
	if err := locked(id, as); err != nil {
		if !force || as.deleting {
			return "", err
		}
		c.supersede(id, as, "restart", now)
	}
	if as.deleting {
		return "", fmt.Errorf("app %s is being deleted: %w", id, ErrNotFound)
	}
	cp := cloneApp(as.app)
	cp.Version = now.UTC().Format(time.RFC3339Nano)
	if cp.Version == as.app.Version {
		cp.Version += "-restart"
	}
	if cp.VersionInfo == nil {
		cp.VersionInfo = &app.VersionInfo{}
	}
	cp.VersionInfo.LastConfigChangeAt = cp.Version
	depID := c.uuid()
	d, err := deploy.New(depID, as.spec, specOf(cp), c.cfg.ProgressDeadline)
	if err != nil {
		return "", fmt.Errorf("app %s: %w", id, err)
	}
	c.install(as, cp, as.cons, d, as.app, now)
	c.step(now)
	return depID, nil
}

// CancelDeployment stops a running deployment. With force it only stops:
// instances of both versions stay, and no deployment follows (""). Without
// force the app's previous definition becomes current again and a rollback
// deployment (returned) brings the instances back to it; cancelling the
// deployment of a new app deletes the app.
func (c *Core) CancelDeployment(id string, force bool, now time.Time) (string, error) {
	var as *appState
	var appID string
	for _, k := range sortedKeys(c.apps) {
		if d := c.apps[k].deployment; d != nil && d.ID == id {
			as, appID = c.apps[k], k
		}
	}
	if as == nil {
		return "", fmt.Errorf("deployment %s: %w", id, ErrNotFound)
	}
	d := as.deployment
	if force {
		d.Status, d.Reason, d.FinishedAt = deploy.StatusCancelled, "cancelled with force", now
		as.deployment = nil
		c.out.Persist = append(c.out.Persist, Change{Kind: DeleteDeployment, AppID: appID})
		c.out.Events = append(c.out.Events, Event{Type: EventDeploymentFailed, Time: now, AppID: appID, DeploymentID: id, Message: d.Reason})
		c.step(now)
		return "", nil
	}
	if _, err := c.restoredApp(as, d, now); err != nil {
		return "", err
	}
	d.Status, d.FinishedAt = deploy.StatusCancelled, now
	d.Reason = "cancelled: rolling back"
	c.out.Events = append(c.out.Events, Event{Type: EventDeploymentFailed, Time: now, AppID: appID, DeploymentID: id, Message: d.Reason})
	as.deployment = nil
	rid, err := c.rollback(as, d, now)
	if err != nil {
		return "", err
	}
	c.step(now)
	return rid, nil
}

// restoredApp is the definition a rollback of d makes current: the one the
// deployment started from, as a new app version with the same run
// configuration (so its instances are kept). nil when d created the app.
func (c *Core) restoredApp(as *appState, d *deploy.Deployment, now time.Time) (*app.App, error) {
	if d.Previous.ID == "" || (d.Previous.Version == "" && d.Previous.Instances == 0) {
		return nil, nil // there was no app (or only its deletion)
	}
	var cp *app.App
	switch {
	case as.prevApp != nil:
		cp = cloneApp(as.prevApp)
	case d.Previous.Version == as.spec.Version && !as.deleting:
		// After a failover only the spec survives: enough to undo a scale.
		cp = cloneApp(as.app)
		cp.Instances = d.Previous.Instances
	default:
		return nil, fmt.Errorf("deployment %s: the definition it started from is no longer known (lost in a failover); put the app again instead", d.ID)
	}
	cp.Version = now.UTC().Format(time.RFC3339Nano)
	if as.app != nil && cp.Version == as.app.Version {
		cp.Version += "-rollback"
	}
	if cp.VersionInfo == nil {
		cp.VersionInfo = &app.VersionInfo{}
	}
	if cp.VersionInfo.LastConfigChangeAt == "" {
		cp.VersionInfo.LastConfigChangeAt = d.Previous.Version
	}
	cp.VersionInfo.LastScalingAt = cp.Version
	return cp, nil
}

// rollback starts deploy.Rollback(d) for an app whose deployment d ended
// (its deployment_failed event already out), restoring the previous
// definition. It returns the rollback's id.
func (c *Core) rollback(as *appState, d *deploy.Deployment, now time.Time) (string, error) {
	restored, err := c.restoredApp(as, d, now)
	if err != nil {
		return "", err
	}
	r := deploy.Rollback(d)
	id := d.Target.ID
	if restored == nil {
		// The app was new: rolling back stops and forgets it.
		as.deleting, as.pending, as.deployment, as.prevApp = true, 0, r, nil
		c.out.Persist = append(c.out.Persist, Change{Kind: PutDeployment, AppID: id, Deployment: r})
		c.out.Events = append(c.out.Events, Event{Type: EventDeploymentInfo, Time: now, AppID: id, DeploymentID: r.ID})
		for _, tid := range sortedKeys(as.instances) {
			c.kill(as, tid, now)
		}
		return r.ID, nil
	}
	cons, err := placement.ParseAll(restored.Constraints)
	if err != nil {
		cons = nil // it was valid when put
	}
	if rs := specOf(restored); rs.Version != r.Target.Version || rs.Instances != r.Target.Instances {
		// The stored spec wins: Step refuses a definition that differs.
		r.Target.Version, r.Target.Instances = rs.Version, rs.Instances
		r.Previous = r.Target
	}
	c.install(as, restored, cons, r, restored, now)
	return r.ID, nil
}

// KillTasks kills some of the app's instances. Without scale they are
// replaced as usual; with scale the app's instance count drops by the
// number killed (a new, scale-only app version, locked as PutApp) and the id
// of its deployment is returned.
func (c *Core) KillTasks(appID string, taskIDs []string, scale bool, now time.Time) (string, error) {
	as, err := c.lookup(appID)
	if err != nil || as.deleting {
		return "", fmt.Errorf("app %s: %w", appID, ErrNotFound)
	}
	var missing []string
	for _, tid := range taskIDs {
		if as.instances[tid] == nil {
			missing = append(missing, tid)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("app %s: task %s: %w", appID, strings.Join(missing, ", "), ErrNotFound)
	}
	if scale {
		if err := locked(appID, as); err != nil {
			return "", err
		}
	}
	n := 0
	for _, tid := range slices.Compact(slices.Sorted(slices.Values(taskIDs))) {
		if as.instances[tid].live() {
			n++
		}
		c.kill(as, tid, now)
	}
	if !scale || n == 0 {
		c.step(now)
		return "", nil
	}
	cp := cloneApp(as.app)
	cp.Instances = max(0, cp.Instances-n)
	cp.Version = now.UTC().Format(time.RFC3339Nano)
	if cp.Version == as.app.Version {
		cp.Version += "-scale"
	}
	if cp.VersionInfo == nil {
		cp.VersionInfo = &app.VersionInfo{LastConfigChangeAt: configVersion(as.app)}
	}
	cp.VersionInfo.LastScalingAt = cp.Version
	depID := c.uuid()
	d, err := deploy.New(depID, as.spec, specOf(cp), c.cfg.ProgressDeadline)
	if err != nil {
		return "", fmt.Errorf("app %s: %w", appID, err)
	}
	c.install(as, cp, as.cons, d, as.app, now)
	c.step(now)
	return depID, nil
}

// ResetDelay ends the app's launch backoff: waiting instances launch at the
// next offers (DELETE /v2/queue/{app}/delay).
func (c *Core) ResetDelay(appID string, now time.Time) error {
	as, err := c.lookup(appID)
	if err != nil || as.deleting {
		return fmt.Errorf("app %s: %w", appID, ErrNotFound)
	}
	as.failures, as.delayUntil = 0, time.Time{}
	return nil
}

// SetReady records the driver's readiness check result for a task. Only
// the first success counts: a ready instance stays ready, as in Marathon.
func (c *Core) SetReady(taskID string, ready bool, now time.Time) Decisions {
	if as := c.apps[c.byTask[taskID]]; as != nil {
		if in := as.instances[taskID]; in != nil && ready {
			in.ready = true
		}
	}
	return c.finish(now)
}
