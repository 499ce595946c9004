// Package core is the services framework's brain: a state value fed events
// (app changes, offers, task status updates) and the current time, returning
// Decisions for a thin driver to carry out over the Mesos scheduler API and
// the framework's state store.
//
// Contract:
//   - Core does no I/O, starts no goroutines and never reads a clock: every
//     decision is a function of the calls made so far, their times and
//     Config.Seed. Equal call sequences give equal Decisions.
//   - Every offer passed to Offers is accepted or declined in the Decisions
//     it returns; Core never holds offers.
//   - Suppress is returned when nothing is left to launch, Revive when
//     something becomes launchable again.
//   - Persist lists what the driver must write (instances before their
//     launch is sent), so that after a failover Recover can adopt every task
//     that may exist and launch none twice.
//   - Changes made by PutApp, DeleteApp, Restart, CancelDeployment,
//     KillTasks and ResetDelay (kills, events, persist) come out in the
//     Decisions of the next Offers, Update, SetReady or Tick call; the driver
//     should Tick right after them.
//   - Deployments lock their app, as in Marathon: PutApp, DeleteApp,
//     Restart and KillTasks with scale return a *LockedError while one runs,
//     unless forced (the running one is then cancelled and replaced).
//     Unknown apps, tasks and deployments are errors wrapping ErrNotFound.
//   - Every deployment, DeleteApp's included, has an id, a deployment_info
//     event when it starts and a deployment_success or deployment_failed
//     event when it ends. A deployment cancelled without force, or one that
//     fails its Config.ProgressDeadline, is rolled back: the full previous
//     app definition becomes current again (persisted as a new version) and
//     a rollback deployment restores its instances; a new app is deleted.
//   - An instance counts as healthy-and-ready for deployments when it runs,
//     is healthy and, if it was launched with readiness checks, SetReady
//     reported it ready once; Instance.NeedsReadiness asks for the probe.
//   - Every app port has a service port, unique across apps: a given one is
//     kept, a 0 keeps the app's current one or takes the lowest free port of
//     Config.ServicePorts. Ports live in the app definitions, so they
//     survive Recover. A taken port is an app.FieldErrors naming the field.
//   - Preview answers what PutApp would do without changing anything.
//   - A secret whose value is mesos.SecretMask (a definition read from the
//     API and sent back) keeps the stored value; with none stored it is an
//     app.FieldErrors. A changed secret value restarts the app, as env does.
//     TaskInfos carry referenced secrets as SECRET env variables.
//
// Core is not goroutine-safe: the driver owns it.
package core

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"agora/core/mesos"
	"agora/core/resources"
	"agora/frameworks/services/app"
	"agora/frameworks/services/deploy"
	"agora/frameworks/services/placement"
	"agora/frameworks/services/state"
)

// DefaultServicePorts is the range service ports come from by default,
// Marathon's local_port_min and local_port_max.
var DefaultServicePorts = [2]int{10000, 20000}

// Config tunes the core. Zero fields take the defaults below.
type Config struct {
	// Seed makes task and deployment ids deterministic.
	Seed uint64
	// RefuseSeconds is the filter on declined offers while something waits
	// to be launched (default 5).
	RefuseSeconds float64
	// IdleRefuseSeconds is the filter on declined offers when nothing waits
	// (default 120): offers then only arrive again after a Revive.
	IdleRefuseSeconds float64
	// ReconcileInterval between implicit reconciliations (default 10 min).
	ReconcileInterval time.Duration
	// ReconcileTimeout bounds how long Recover waits for answers to its
	// explicit reconciliation before launching again (default 30 s).
	ReconcileTimeout time.Duration
	// BackoffReset: an app's launch delay is reset once one of its instances
	// has run healthy this long (default 5 min).
	BackoffReset time.Duration
	// KillRetry: a kill with no terminal status after this long is sent
	// again (default 30 s).
	KillRetry time.Duration
	// ProgressDeadline of deployments (0: wait forever, as Marathon). A
	// deployment without progress this long fails and is rolled back.
	ProgressDeadline time.Duration
	// DrainDelay: a planned kill (scale down, upgrade, restart, delete) of
	// a running instance is sent this long after the instance is marked
	// Draining, so the load balancer stops sending it new requests first.
	// Zero kills at once.
	DrainDelay time.Duration
	// ServicePorts is the [lo, hi] range service ports are assigned from
	// (default 10000-20000, Marathon's local_port_min/max).
	ServicePorts [2]int
}

func (c Config) withDefaults() Config {
	if c.RefuseSeconds <= 0 {
		c.RefuseSeconds = 5
	}
	if c.IdleRefuseSeconds <= 0 {
		c.IdleRefuseSeconds = 120
	}
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = 10 * time.Minute
	}
	if c.ReconcileTimeout <= 0 {
		c.ReconcileTimeout = 30 * time.Second
	}
	if c.BackoffReset <= 0 {
		c.BackoffReset = 5 * time.Minute
	}
	if c.KillRetry <= 0 {
		c.KillRetry = 30 * time.Second
	}
	if c.ServicePorts[0] <= 0 || c.ServicePorts[1] < c.ServicePorts[0] {
		c.ServicePorts = DefaultServicePorts
	}
	return c
}

// Accept is one offer to accept with the tasks to launch on it.
type Accept struct {
	OfferID mesos.OfferID
	Tasks   []mesos.TaskInfo
}

// Decline is one offer to decline, with its filter.
type Decline struct {
	OfferID       mesos.OfferID
	RefuseSeconds float64
}

// ChangeKind names what a Change writes.
type ChangeKind string

// Change kinds, mapping to state.Store methods.
const (
	PutApp           ChangeKind = "PutApp"
	DeleteApp        ChangeKind = "DeleteApp"
	PutInstance      ChangeKind = "PutInstance"
	DeleteInstance   ChangeKind = "DeleteInstance"
	PutDeployment    ChangeKind = "PutDeployment"
	DeleteDeployment ChangeKind = "DeleteDeployment"
)

// Change is one write the driver must make to the framework's state.
type Change struct {
	Kind       ChangeKind
	AppID      string
	App        *app.App           // PutApp
	Instance   *state.Instance    // PutInstance; DeleteInstance uses TaskID
	TaskID     string             // DeleteInstance
	Deployment *deploy.Deployment // PutDeployment
}

// Event types, as Marathon's /v2/events names them.
const (
	EventDeploymentInfo    = "deployment_info"
	EventDeploymentSuccess = "deployment_success"
	EventDeploymentFailed  = "deployment_failed"
	EventStatusUpdate      = "status_update_event"
	EventHealthChanged     = "health_status_changed_event"
)

// Event is one entry for the event stream.
type Event struct {
	Type         string
	Time         time.Time
	AppID        string
	TaskID       string `json:",omitempty"`
	State        string `json:",omitempty"`
	Healthy      *bool  `json:",omitempty"`
	DeploymentID string `json:",omitempty"`
	Message      string `json:",omitempty"`
}

// Decisions is what the driver must do now.
type Decisions struct {
	Accept  []Accept
	Decline []Decline
	Kill    []mesos.TaskID
	// Reconcile asks for explicit reconciliation of these tasks;
	// ReconcileAll for implicit reconciliation (an empty task list).
	Reconcile    []mesos.TaskID
	ReconcileAll bool
	Suppress     bool
	Revive       bool
	Persist      []Change
	Events       []Event
}

// QueueEntry is one app with instances waiting to be launched.
type QueueEntry struct {
	AppID string
	Count int // instances waiting
	// DelayUntil is when the app's launch backoff ends (zero: no delay).
	DelayUntil time.Time
	// Rejections and AgentReasons explain the last offers that did not
	// take the instances (see placement.Plan).
	Rejections   []placement.Rejection
	AgentReasons map[string]string
}

// Instance is the API's view of one instance.
type Instance struct {
	state.Instance
	// Ready: running, healthy and, when the app has readiness checks and
	// the instance was launched with them, reported ready by SetReady.
	Ready bool
	// NeedsReadiness asks the driver to probe the app's readiness checks:
	// running and healthy, readiness wanted, not yet reported ready.
	NeedsReadiness bool
	// Killing: a kill was decided; Draining: it waits out the drain
	// delay, out of the load balancer, before the kill is sent.
	Killing          bool
	Draining         bool      `json:",omitempty"`
	UnreachableSince time.Time `json:",omitempty"`
	Unreconciled     bool      `json:",omitempty"`
}

type instance struct {
	rec          state.Instance
	healthySince time.Time // zero unless running and healthy
	killAt       time.Time // zero unless a kill was decided
	// drainUntil: a planned kill waits until then, the instance already
	// out of the load balancer (zero once the kill is sent).
	drainUntil   time.Time
	unreachable  time.Time // zero unless TASK_UNREACHABLE
	inactive     bool      // unreachable past inactiveAfterSeconds: replaced
	unreconciled bool      // adopted by Recover, no answer yet
	// needsReady: launched while the app had readiness checks, so it only
	// counts as ready once SetReady said so (and then stays ready).
	needsReady bool
	ready      bool
	// lastStatus is the timestamp of the newest status taken: an older one
	// arriving late (a resend overtaken by the next update) is stale.
	lastStatus float64
}

// isReady is Marathon's "healthy and ready" for a running instance.
func (in *instance) isReady() bool {
	return in.rec.State == mesos.TaskRunning && in.rec.Healthy != nil && *in.rec.Healthy && (!in.needsReady || in.ready)
}

func (in *instance) live() bool { return in.killAt.IsZero() && !in.inactive }

type appState struct {
	app *app.App
	// prevApp is the definition the running deployment started from, where
	// a rollback returns to (nil: the app was new, or lost in a failover).
	prevApp    *app.App
	spec       deploy.AppSpec
	instances  map[string]*instance
	pending    int // instances to launch, not yet placed
	deployment *deploy.Deployment
	// deleting: the app is being stopped (DeleteApp, or a rolled-back new
	// app); it is forgotten once its last instance ended.
	deleting   bool
	failures   int
	delayUntil time.Time
	lastPlan   *placement.Plan
	cons       []placement.Constraint
}

// Core is the framework's decision state. See the package comment.
type Core struct {
	cfg         Config
	rng         *rand.Rand
	apps        map[string]*appState
	byTask      map[string]string // task id -> app id
	suppressed  bool
	out         Decisions
	reconcileBy time.Time // Recover's deadline for answers
	lastRecon   time.Time
}

// New returns an empty core.
func New(cfg Config) *Core {
	cfg = cfg.withDefaults()
	return &Core{
		cfg:    cfg,
		rng:    rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		apps:   map[string]*appState{},
		byTask: map[string]string{},
	}
}

// configVersion is the version of an app's run configuration: scaling keeps
// it, so that a scale-only change does not replace instances.
func configVersion(a *app.App) string {
	if a.VersionInfo != nil && a.VersionInfo.LastConfigChangeAt != "" {
		return a.VersionInfo.LastConfigChangeAt
	}
	return a.Version
}

func specOf(a *app.App) deploy.AppSpec {
	return deploy.AppSpec{
		ID:        a.ID(),
		Version:   configVersion(a),
		Instances: a.Instances,
		UpgradeStrategy: deploy.UpgradeStrategy{
			MinimumHealthCapacity: a.UpgradeStrategy.MinimumHealthCapacity,
			MaximumOverCapacity:   a.UpgradeStrategy.MaximumOverCapacity,
		},
		KillSelection: deploy.KillSelection(a.KillSelection),
	}
}

func (c *Core) kill(as *appState, tid string, now time.Time) {
	in := as.instances[tid]
	if in == nil || !in.killAt.IsZero() {
		return
	}
	in.killAt = now
	if c.cfg.DrainDelay > 0 && in.rec.State == mesos.TaskRunning && in.unreachable.IsZero() {
		in.drainUntil = now.Add(c.cfg.DrainDelay) // timers sends the kill
		return
	}
	c.out.Kill = append(c.out.Kill, mesos.TaskID{Value: tid})
	if !in.unreachable.IsZero() {
		// Unreachable: expunged now, as Marathon does, so a scale down or a
		// deletion does not wait for the agent. The master delivers the
		// kill if the agent comes back; a task that still reports then is
		// not ours and is killed again.
		delete(as.instances, tid)
		delete(c.byTask, tid)
		c.out.Persist = append(c.out.Persist, Change{Kind: DeleteInstance, AppID: as.spec.ID, TaskID: tid})
	}
}

func (c *Core) reconciling(now time.Time) bool {
	if c.reconcileBy.IsZero() {
		return false
	}
	if !now.Before(c.reconcileBy) {
		c.reconcileBy = time.Time{}
		return false
	}
	for _, as := range c.apps {
		for _, in := range as.instances {
			if in.unreconciled {
				return true
			}
		}
	}
	c.reconcileBy = time.Time{}
	return false
}

// step runs deployments and keeps instance counts, queueing launches and kills.
func (c *Core) step(now time.Time) {
	if c.reconciling(now) {
		return
	}
	for _, id := range sortedKeys(c.apps) {
		c.stepApp(id, c.apps[id], now)
	}
}

func (c *Core) stepApp(id string, as *appState, now time.Time) {
	if as.deleting {
		if len(as.instances) == 0 {
			if d := as.deployment; d != nil {
				d.Status, d.FinishedAt = deploy.StatusSucceeded, now
				c.out.Events = append(c.out.Events, Event{Type: EventDeploymentSuccess, Time: now, AppID: id, DeploymentID: d.ID})
				c.out.Persist = append(c.out.Persist, Change{Kind: DeleteDeployment, AppID: id})
			}
			delete(c.apps, id)
			c.out.Persist = append(c.out.Persist, Change{Kind: DeleteApp, AppID: id})
		}
		return
	}
	if d := as.deployment; d != nil {
		acts := deploy.Step(d, c.snapshot(as), now)
		as.pending += acts.Launch
		for _, k := range acts.Kill {
			if _, ok := as.instances[k]; ok {
				c.kill(as, k, now)
			} else if as.pending > 0 {
				as.pending-- // a queued launch
			}
		}
		switch acts.Phase {
		case deploy.PhaseDone, deploy.PhaseFailed, deploy.PhaseCancelled:
			typ := EventDeploymentSuccess
			if acts.Phase != deploy.PhaseDone {
				typ = EventDeploymentFailed
			}
			c.out.Events = append(c.out.Events, Event{Type: typ, Time: now, AppID: id, DeploymentID: d.ID, Message: acts.Reason})
			as.deployment = nil
			if acts.Phase == deploy.PhaseFailed && d.RollbackOf == "" {
				// Past its deadline: back to the last good definition. A
				// failing rollback just fails.
				if _, err := c.rollback(as, d, now); err == nil {
					c.stepApp(id, as, now)
					return
				}
			}
			c.out.Persist = append(c.out.Persist, Change{Kind: DeleteDeployment, AppID: id})
		}
		if as.deployment != nil {
			return
		}
	}
	// No deployment: keep the instance count, replacing lost instances.
	live := 0
	for _, in := range as.instances {
		if in.live() {
			live++
		}
	}
	if want := as.spec.Instances - live; want > as.pending {
		as.pending = want
	} else if want < as.pending {
		as.pending = max(want, 0)
	}
}

func (c *Core) snapshot(as *appState) deploy.Snapshot {
	snap := deploy.Snapshot{App: as.spec}
	for _, tid := range sortedKeys(as.instances) {
		in := as.instances[tid]
		if in.inactive {
			continue // replaced; it no longer counts
		}
		di := deploy.Instance{ID: tid, Version: in.rec.Version, StartedAt: in.rec.LaunchedAt}
		switch {
		case !in.killAt.IsZero():
			di.State = deploy.Killing
		case in.rec.State == mesos.TaskRunning:
			di.State = deploy.Running
			// Update records true for apps without health checks; nil
			// is "not checked yet".
			di.Healthy = in.rec.Healthy != nil && *in.rec.Healthy
			di.Ready = in.isReady()
		case in.rec.State == mesos.TaskStarting:
			di.State = deploy.Starting
		default:
			di.State = deploy.Staged
		}
		snap.Instances = append(snap.Instances, di)
	}
	for i := range as.pending {
		snap.Instances = append(snap.Instances, deploy.Instance{ID: fmt.Sprintf("queued-%d", i), Version: as.spec.Version, State: deploy.Staged})
	}
	return snap
}

// finish closes a decision call: steps once more, decides suppress/revive
// and hands out everything queued since the last call.
func (c *Core) finish(now time.Time) Decisions {
	c.step(now)
	want := false
	if !c.reconciling(now) {
		for _, as := range c.apps {
			if as.pending > 0 && !now.Before(as.delayUntil) {
				want = true
				break
			}
		}
	}
	if want && c.suppressed {
		c.out.Revive, c.suppressed = true, false
	} else if !want && !c.suppressed {
		c.out.Suppress, c.suppressed = true, true
	}
	d := c.out
	c.out = Decisions{}
	return d
}

// appOrder is the order apps are offered resources in: active deployments
// first, then the apps with fewest running instances, then priority.
func (c *Core) appOrder(now time.Time) []*appState {
	var out []*appState
	for _, as := range c.apps {
		if as.pending > 0 && !as.deleting && !now.Before(as.delayUntil) {
			out = append(out, as)
		}
	}
	running := func(as *appState) int {
		n := 0
		for _, in := range as.instances {
			if in.rec.State == mesos.TaskRunning && in.live() {
				n++
			}
		}
		return n
	}
	slices.SortFunc(out, func(a, b *appState) int {
		if (a.deployment != nil) != (b.deployment != nil) {
			if a.deployment != nil {
				return -1
			}
			return 1
		}
		if r := cmp.Compare(running(a), running(b)); r != 0 {
			return r
		}
		if r := cmp.Compare(b.app.Priority, a.app.Priority); r != 0 {
			return r
		}
		return cmp.Compare(a.spec.ID, b.spec.ID)
	})
	return out
}

func offerRole(o mesos.Offer) string {
	for _, r := range o.Resources {
		if r.AllocationInfo != nil && r.AllocationInfo.Role != "" {
			return r.AllocationInfo.Role
		}
	}
	return ""
}

// Offers places waiting instances on offers and answers every offer.
func (c *Core) Offers(offers []mesos.Offer, now time.Time) Decisions {
	c.step(now)
	type slot struct {
		o    placement.Offer
		role string
		ok   bool
	}
	slots := make([]slot, len(offers))
	for i, o := range offers {
		po, err := placement.OfferFromMesos(o)
		slots[i] = slot{o: po, role: offerRole(o), ok: err == nil}
	}
	tasks := make([][]mesos.TaskInfo, len(offers))
	if !c.reconciling(now) {
		for _, as := range c.appOrder(now) {
			a := as.app
			var cand []placement.Offer
			var idx []int
			for i, s := range slots {
				if !s.ok || (len(a.AcceptedResourceRoles) > 0 && !slices.Contains(a.AcceptedResourceRoles, cmp.Or(s.role, "*"))) {
					continue
				}
				cand = append(cand, s.o)
				idx = append(idx, i)
			}
			var placed []placement.Placement
			for _, tid := range sortedKeys(as.instances) {
				in := as.instances[tid]
				if in.live() && in.rec.AgentID != "" {
					placed = append(placed, placement.Placement{Agent: placement.Agent{ID: in.rec.AgentID, Hostname: in.rec.Host}})
				}
			}
			req := placement.Request{
				Instances:   as.pending,
				Resources:   resources.Resources{CPUs: a.CPUs, Mem: a.Mem, Disk: a.Disk, GPUs: float64(a.GPUs)},
				HostPorts:   hostPorts(a),
				Constraints: as.cons,
			}
			plan, err := placement.Match(req, cand, placed)
			if err != nil {
				plan = placement.Plan{Unplaced: as.pending, Rejections: []placement.Rejection{{Reason: err.Error()}}}
			}
			as.lastPlan = &plan
			byID := map[string]int{}
			for k, o := range cand {
				byID[o.ID] = idx[k]
			}
			for _, l := range plan.Launches {
				i := byID[l.OfferID]
				tid := c.newTaskID(a)
				ti := buildTaskInfo(a, tid, l, slots[i].role)
				tasks[i] = append(tasks[i], ti)
				slots[i].o.Resources = slots[i].o.Resources.Sub(l.Resources)
				rec := state.Instance{TaskID: tid, AppID: as.spec.ID, Version: as.spec.Version, AgentID: l.Agent.ID, Host: l.Agent.Hostname,
					LaunchedAt: now, State: mesos.TaskStaging, UpdatedAt: now, Ports: slices.Clone(l.Ports)}
				as.instances[tid] = &instance{rec: rec, needsReady: len(a.ReadinessChecks) > 0}
				c.byTask[tid] = as.spec.ID
				as.pending--
				r := rec
				c.out.Persist = append(c.out.Persist, Change{Kind: PutInstance, AppID: as.spec.ID, Instance: &r})
			}
		}
	}
	waiting := false
	for _, as := range c.apps {
		if as.pending > 0 {
			waiting = true
		}
	}
	refuse := c.cfg.IdleRefuseSeconds
	if waiting || c.reconciling(now) {
		refuse = c.cfg.RefuseSeconds
	}
	for i, o := range offers {
		if len(tasks[i]) > 0 {
			c.out.Accept = append(c.out.Accept, Accept{OfferID: o.ID, Tasks: tasks[i]})
		} else {
			c.out.Decline = append(c.out.Decline, Decline{OfferID: o.ID, RefuseSeconds: refuse})
		}
	}
	return c.finish(now)
}

// backoff is the app's launch delay after n consecutive failures.
func backoff(a *app.App, n int) time.Duration {
	if n <= 0 {
		return 0
	}
	s := float64(a.BackoffSeconds) * math.Pow(a.BackoffFactor, float64(n-1))
	if m := float64(a.MaxLaunchDelaySeconds); m > 0 && s > m {
		s = m
	}
	return time.Duration(s * float64(time.Second))
}

// Update takes a task status update.
func (c *Core) Update(st mesos.TaskStatus, now time.Time) Decisions {
	return c.Updates([]mesos.TaskStatus{st}, now)
}

// Updates takes several status updates at once and steps deployments once
// after all of them, so a burst of updates costs one pass over the apps.
func (c *Core) Updates(sts []mesos.TaskStatus, now time.Time) Decisions {
	for _, st := range sts {
		c.update(st, now)
	}
	c.timers(now)
	return c.finish(now)
}

func (c *Core) update(st mesos.TaskStatus, now time.Time) {
	tid := st.TaskID.Value
	as := c.apps[c.byTask[tid]]
	var in *instance
	if as != nil {
		in = as.instances[tid]
	}
	if in == nil {
		// Not ours (or forgotten): a live task nobody wants is killed.
		if !mesos.IsTerminal(st.State) && st.State != mesos.TaskUnknown {
			c.out.Kill = append(c.out.Kill, mesos.TaskID{Value: tid})
		}
		return
	}
	in.unreconciled = false
	if st.Timestamp > 0 && st.Timestamp < in.lastStatus {
		return // stale: a newer status was taken already
	}
	in.lastStatus = max(in.lastStatus, st.Timestamp)
	id := as.spec.ID
	c.out.Events = append(c.out.Events, Event{Type: EventStatusUpdate, Time: now, AppID: id, TaskID: tid, State: st.State, Message: st.Message})
	if st.AgentID != nil && in.rec.AgentID == "" {
		in.rec.AgentID = st.AgentID.Value
	}
	terminal := mesos.IsTerminal(st.State) || st.State == mesos.TaskUnknown
	switch {
	case terminal:
		delete(as.instances, tid)
		delete(c.byTask, tid)
		c.out.Persist = append(c.out.Persist, Change{Kind: DeleteInstance, AppID: id, TaskID: tid})
		if in.killAt.IsZero() && st.State != mesos.TaskFinished {
			as.failures++
			as.delayUntil = now.Add(backoff(as.app, as.failures))
		}
		return
	case st.State == mesos.TaskUnreachable:
		if in.unreachable.IsZero() {
			in.unreachable = now
		}
	default:
		wasInactive := in.inactive
		in.unreachable, in.inactive = time.Time{}, false
		if wasInactive {
			// Back after it was replaced: the replacement stays, this one goes.
			live := 0
			for _, o := range as.instances {
				if o.live() {
					live++
				}
			}
			if live+as.pending > as.spec.Instances {
				c.kill(as, tid, now)
			}
		}
	}
	in.rec.State = st.State
	in.rec.UpdatedAt = now
	if st.State == mesos.TaskRunning && in.rec.StartedAt.IsZero() {
		in.rec.StartedAt = now
	}
	var healthy *bool
	if st.State == mesos.TaskRunning {
		if len(as.app.HealthChecks) == 0 {
			t := true
			healthy = &t
		} else if st.Healthy != nil {
			h := *st.Healthy
			healthy = &h
		} else if in.rec.Healthy != nil {
			healthy = in.rec.Healthy
		}
	}
	if (healthy == nil) != (in.rec.Healthy == nil) || (healthy != nil && *healthy != *in.rec.Healthy) {
		if len(as.app.HealthChecks) > 0 && healthy != nil {
			c.out.Events = append(c.out.Events, Event{Type: EventHealthChanged, Time: now, AppID: id, TaskID: tid, Healthy: healthy})
		}
	}
	in.rec.Healthy = healthy
	if healthy != nil && *healthy {
		if in.healthySince.IsZero() {
			in.healthySince = now
		}
	} else {
		in.healthySince = time.Time{}
	}
	r := in.rec
	c.out.Persist = append(c.out.Persist, Change{Kind: PutInstance, AppID: id, Instance: &r})
}

// timers applies backoff resets, unreachable strategies and kill retries.
func (c *Core) timers(now time.Time) {
	for _, id := range sortedKeys(c.apps) {
		as := c.apps[id]
		for _, tid := range sortedKeys(as.instances) {
			in := as.instances[tid]
			if as.failures > 0 && !in.healthySince.IsZero() && now.Sub(in.healthySince) >= c.cfg.BackoffReset {
				as.failures, as.delayUntil = 0, time.Time{}
			}
			if !in.drainUntil.IsZero() {
				if !now.Before(in.drainUntil) {
					in.killAt, in.drainUntil = now, time.Time{}
					c.out.Kill = append(c.out.Kill, mesos.TaskID{Value: tid})
				}
			} else if !in.killAt.IsZero() && now.Sub(in.killAt) >= c.cfg.KillRetry {
				in.killAt = now
				c.out.Kill = append(c.out.Kill, mesos.TaskID{Value: tid})
			}
			us := as.app.UnreachableStrategy
			if in.unreachable.IsZero() || us.Disabled {
				continue
			}
			gone := now.Sub(in.unreachable)
			if gone >= time.Duration(us.ExpungeAfterSeconds)*time.Second {
				delete(as.instances, tid)
				delete(c.byTask, tid)
				c.out.Kill = append(c.out.Kill, mesos.TaskID{Value: tid})
				c.out.Persist = append(c.out.Persist, Change{Kind: DeleteInstance, AppID: id, TaskID: tid})
				continue
			}
			if gone >= time.Duration(us.InactiveAfterSeconds)*time.Second {
				in.inactive = true
			}
		}
	}
}

// Tick advances time: deployments, deadlines, backoff expiry, unreachable
// timers and periodic reconciliation.
func (c *Core) Tick(now time.Time) Decisions {
	c.timers(now)
	if c.lastRecon.IsZero() {
		c.lastRecon = now
	} else if now.Sub(c.lastRecon) >= c.cfg.ReconcileInterval {
		c.lastRecon = now
		c.out.ReconcileAll = true
	}
	if !c.reconcileBy.IsZero() && !now.Before(c.reconcileBy) {
		// Unanswered after the timeout: ask again, but stop waiting.
		for _, id := range sortedKeys(c.apps) {
			for _, tid := range sortedKeys(c.apps[id].instances) {
				if c.apps[id].instances[tid].unreconciled {
					c.out.Reconcile = append(c.out.Reconcile, mesos.TaskID{Value: tid})
				}
			}
		}
	}
	return c.finish(now)
}

// Recover rebuilds the core after a restart or failover from the stored
// apps, instances and deployments, with previous holding, by app id, the
// definition each running deployment started from (its Previous.Version
// from the stored versions, so a cancel or a failed deadline can roll it
// back; nil entries only allow undoing a scale). Known instances are
// adopted and reconciled explicitly; nothing is launched until they are
// answered for or Config.ReconcileTimeout passes. Instances of unknown apps
// are killed.
func (c *Core) Recover(apps []*app.App, instances []state.Instance, deployments map[string]*deploy.Deployment, previous map[string]*app.App, now time.Time) Decisions {
	for _, a := range apps {
		cp := *a
		cons, err := placement.ParseAll(cp.Constraints)
		if err != nil {
			cons = nil // stored apps were validated when put
		}
		id := cp.ID()
		as := &appState{app: &cp, spec: specOf(&cp), cons: cons, instances: map[string]*instance{}, deployment: deployments[id]}
		// A deployment to no version is a deletion (DeleteApp, or the
		// rollback of a new app): it carries on.
		as.deleting = as.deployment != nil && as.deployment.Target.Version == "" && as.deployment.Target.Instances == 0
		if p := previous[id]; p != nil && as.deployment != nil {
			pa := cloneApp(p)
			pa.Instances = as.deployment.Previous.Instances
			as.prevApp = pa
		}
		c.apps[id] = as
	}
	for _, rec := range instances {
		as := c.apps[rec.AppID]
		if as == nil {
			c.out.Kill = append(c.out.Kill, mesos.TaskID{Value: rec.TaskID})
			c.out.Persist = append(c.out.Persist, Change{Kind: DeleteInstance, AppID: rec.AppID, TaskID: rec.TaskID})
			continue
		}
		if mesos.IsTerminal(rec.State) {
			c.out.Persist = append(c.out.Persist, Change{Kind: DeleteInstance, AppID: rec.AppID, TaskID: rec.TaskID})
			continue
		}
		in := &instance{rec: rec, unreconciled: true}
		// Readiness is not stored: an instance of a running deployment's
		// target is probed again; others count as ready, as in Marathon,
		// which checks readiness only during deployments.
		if d := as.deployment; d != nil && len(as.app.ReadinessChecks) > 0 && rec.Version == d.Target.Version {
			in.needsReady = true
		}
		if rec.Healthy != nil && *rec.Healthy && rec.State == mesos.TaskRunning {
			in.healthySince = now
		}
		as.instances[rec.TaskID] = in
		c.byTask[rec.TaskID] = rec.AppID
		c.out.Reconcile = append(c.out.Reconcile, mesos.TaskID{Value: rec.TaskID})
	}
	for _, id := range sortedKeys(c.apps) {
		if as := c.apps[id]; as.deleting {
			for _, tid := range sortedKeys(as.instances) {
				c.kill(as, tid, now)
			}
		}
	}
	if len(c.out.Reconcile) > 0 {
		c.reconcileBy = now.Add(c.cfg.ReconcileTimeout)
	}
	c.lastRecon = now
	return c.finish(now)
}

// Queue lists the apps with instances waiting to launch, by app id.
func (c *Core) Queue() []QueueEntry {
	var out []QueueEntry
	for _, id := range sortedKeys(c.apps) {
		as := c.apps[id]
		if as.pending == 0 || as.deleting {
			continue
		}
		e := QueueEntry{AppID: id, Count: as.pending, DelayUntil: as.delayUntil}
		if p := as.lastPlan; p != nil && p.Unplaced > 0 {
			e.Rejections = p.Rejections
			e.AgentReasons = p.AgentReasons
		}
		out = append(out, e)
	}
	return out
}

// Apps returns the current app definitions by id. Callers must not modify them.
func (c *Core) Apps() []*app.App {
	var out []*app.App
	for _, id := range sortedKeys(c.apps) {
		if as := c.apps[id]; !as.deleting {
			out = append(out, as.app)
		}
	}
	return out
}

// Instances returns the app's instances by task id; "" returns every app's, by app id.
func (c *Core) Instances(appID string) []Instance {
	ids := []string{appID}
	if appID == "" {
		ids = sortedKeys(c.apps)
	}
	var out []Instance
	for _, id := range ids {
		as := c.apps[id]
		if as == nil {
			continue
		}
		for _, tid := range sortedKeys(as.instances) {
			in := as.instances[tid]
			ready := in.isReady()
			healthy := in.rec.State == mesos.TaskRunning && in.rec.Healthy != nil && *in.rec.Healthy
			out = append(out, Instance{Instance: in.rec, Ready: ready, NeedsReadiness: healthy && !ready && in.killAt.IsZero(),
				Killing: !in.killAt.IsZero(), Draining: !in.drainUntil.IsZero(), UnreachableSince: in.unreachable, Unreconciled: in.unreconciled})
		}
	}
	return out
}

// Deployments returns copies of the running deployments by app id.
func (c *Core) Deployments() []deploy.Deployment {
	var out []deploy.Deployment
	for _, id := range sortedKeys(c.apps) {
		if d := c.apps[id].deployment; d != nil {
			out = append(out, *d)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
