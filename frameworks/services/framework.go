// Package services runs Agora's services framework: it registers with the
// master through the scheduler API like any framework, feeds the decision
// core (frameworks/services/core) with offers, status updates and API
// changes, and carries out its decisions: writes to the framework's state
// first, then calls to the master.
//
// Contract:
//   - One goroutine (the frameworks/driver loop) owns the core; API calls
//     and probe results are handed to it as closures and answered when
//     their writes are stored.
//   - What the core asks to persist is written before the calls that depend
//     on it are sent (an instance is stored before its launch), and a status
//     update is acknowledged only after its effects are stored, so a
//     failover loses no instance and launches none twice.
//   - Until the framework has subscribed and recovered its state, API calls
//     fail with api.ErrUnavailable.
package services

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"agora/core/mesos"
	"agora/core/store"
	"agora/discovery"
	"agora/frameworks/driver"
	"agora/frameworks/services/app"
	"agora/frameworks/services/core"
	"agora/frameworks/services/state"
)

// DefaultProgressDeadline: a deployment with no progress for this long
// fails and is rolled back.
const DefaultProgressDeadline = 10 * time.Minute

// Config configures a services framework.
type Config struct {
	// Master is the master's address: "host:port", a URL or zk://.
	Master string
	// HTTP is the client for master calls; nil uses a default without a
	// timeout (the event stream is long-lived).
	HTTP *http.Client
	// Store keeps the framework's state under Root (default "/services").
	Store store.Store
	Root  string
	// Name (default "services"), Role (default "*") and User (default the
	// process's) of the framework.
	Name, Role, User string
	// Principal is the framework's FrameworkInfo.principal: the principal
	// HTTP carries credentials for, when the master authenticates.
	Principal string
	// FailoverTimeout is how long the master keeps the framework's tasks
	// while it is away (default one week, as Marathon).
	FailoverTimeout time.Duration
	// Tick is the interval of the core's timers (default 1 s).
	Tick time.Duration
	// Core tunes the decisions. A zero Core.ProgressDeadline becomes
	// DefaultProgressDeadline; a negative one waits forever, as Marathon.
	Core core.Config
	// Registry, when set, receives the running instances of every app
	// port (discovery.Service) whenever they change. Planned kills then
	// drain for Core.DrainDelay (default DefaultDrainDelay) first.
	Registry discovery.Registry
	// Logf logs; nil discards.
	Logf func(format string, args ...any)
}

// DefaultDrainDelay is how long a planned kill waits, out of the load
// balancer, when a Registry is set.
const DefaultDrainDelay = 2 * time.Second

func (c *Config) setDefaults() {
	if c.Root == "" {
		c.Root = "/services"
	}
	if c.Name == "" {
		c.Name = "services"
	}
	if c.Role == "" {
		c.Role = "*"
	}
	if c.User == "" {
		c.User = driver.DefaultUser()
	}
	if c.FailoverTimeout <= 0 {
		c.FailoverTimeout = 7 * 24 * time.Hour
	}
	if c.Tick <= 0 {
		c.Tick = time.Second
	}
	if c.Registry != nil && c.Core.DrainDelay == 0 {
		c.Core.DrainDelay = DefaultDrainDelay
	}
	switch {
	case c.Core.ProgressDeadline == 0:
		c.Core.ProgressDeadline = DefaultProgressDeadline
	case c.Core.ProgressDeadline < 0:
		c.Core.ProgressDeadline = 0
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{}
	}
}

// Framework is one running services framework.
type Framework struct {
	cfg Config
	st  *state.Store
	drv *driver.Driver
	hub hub

	// Owned by the loop goroutine (driver.Do and the Handler methods).
	core      *core.Core
	recovered bool
	runCtx    context.Context
	pub       *publisher           // nil without a Registry
	published time.Time            // when the set was last handed over
	probing   map[string]bool      // readiness probes in flight, by task id
	nextProbe map[string]time.Time // earliest next readiness probe, by task id

	mu    sync.Mutex // guards what other goroutines read
	ready bool       // recovered: the core answers for the apps
}

var _ driver.Handler = (*Framework)(nil)

// New prepares a framework; Run starts it.
func New(cfg Config) (*Framework, error) {
	cfg.setDefaults()
	if cfg.Store == nil {
		return nil, errors.New("services: Config.Store is nil; the framework needs a store for its apps")
	}
	if cfg.Master == "" {
		return nil, errors.New("services: Config.Master is empty; give the master's address")
	}
	f := &Framework{
		cfg:       cfg,
		st:        state.New(cfg.Store, cfg.Root),
		hub:       hub{subs: map[chan core.Event]struct{}{}},
		runCtx:    context.Background(),
		core:      core.New(cfg.Core),
		probing:   map[string]bool{},
		nextProbe: map[string]time.Time{},
	}
	f.drv = driver.New(driver.Config{
		Name: "services", Master: cfg.Master, HTTP: cfg.HTTP, Tick: cfg.Tick, Logf: cfg.Logf,
		Info:     driver.FrameworkInfo(cfg.Name, cfg.Role, cfg.User, cfg.Principal, cfg.FailoverTimeout),
		StoredID: f.st.FrameworkID,
	}, f)
	if cfg.Registry != nil {
		f.pub = newPublisher(cfg.Registry, cfg.Logf)
	}
	return f, nil
}

// Run subscribes to the master, re-subscribing after the stream ends, and
// drives the core until ctx ends.
func (f *Framework) Run(ctx context.Context) error {
	f.runCtx = ctx
	if f.pub != nil {
		go f.pub.run(ctx)
	}
	defer func() {
		f.mu.Lock()
		f.ready = false
		f.mu.Unlock()
	}()
	return f.drv.Run(ctx)
}

// Subscribed recovers the stored state the first time; later (a new
// master, or a new stream) it asks the master about every instance and
// sends again the kills made while no master listened.
func (f *Framework) Subscribed(ctx context.Context, id string, first bool) error {
	if err := f.st.SetFrameworkID(ctx, id); err != nil {
		return fmt.Errorf("storing framework id %s: %w", id, err)
	}
	if !f.recovered {
		d, err := f.recover(ctx, time.Now())
		if err != nil {
			return fmt.Errorf("recovering state: %w", err)
		}
		f.recovered = true
		f.act(ctx, d)
		f.mu.Lock()
		f.ready = true
		f.mu.Unlock()
		return nil
	}
	sched := f.drv.Scheduler()
	var tasks []mesos.ReconcileTask
	for _, in := range f.core.Instances("") {
		tasks = append(tasks, mesos.ReconcileTask{TaskID: mesos.TaskID{Value: in.TaskID}})
		if in.Killing {
			f.drv.Call(ctx, "KILL "+in.TaskID, sched.Kill(ctx, mesos.TaskID{Value: in.TaskID}, nil))
		}
	}
	if len(tasks) > 0 {
		f.drv.Call(ctx, "RECONCILE", sched.Reconcile(ctx, tasks))
	}
	return nil
}

// Offers hands offers to the core.
func (f *Framework) Offers(ctx context.Context, offers []mesos.Offer) {
	f.act(ctx, f.core.Offers(offers, time.Now()))
}

// Updates hands a burst of status updates to the core in one pass; they
// are acknowledged once its writes are stored.
func (f *Framework) Updates(ctx context.Context, sts []mesos.TaskStatus) error {
	return f.act(ctx, f.core.Updates(sts, time.Now()))
}

// Tick runs the core's timers, readiness probes and the registry resync.
func (f *Framework) Tick(ctx context.Context) {
	f.act(ctx, f.core.Tick(time.Now()))
	f.probeReadiness(ctx)
	if time.Since(f.published) >= resyncInterval {
		f.publish(true)
	}
}

func (f *Framework) recover(ctx context.Context, now time.Time) (core.Decisions, error) {
	apps, err := f.st.ListApps(ctx)
	if err != nil {
		return core.Decisions{}, err
	}
	insts, err := f.st.ListInstances(ctx, "")
	if err != nil {
		return core.Decisions{}, err
	}
	deps, err := f.st.ListDeployments(ctx)
	if err != nil {
		return core.Decisions{}, err
	}
	// The definitions running deployments started from, for rollbacks.
	previous := map[string]*app.App{}
	for id, d := range deps {
		if d.Previous.Version == "" {
			continue
		}
		a, err := f.st.GetVersion(ctx, id, d.Previous.Version)
		if err != nil {
			f.cfg.Logf("services: deployment %s of %s: version %s it started from: %v (it can only be rolled back by putting the app again)", d.ID, id, d.Previous.Version, err)
			continue
		}
		previous[id] = a
	}
	f.cfg.Logf("services: recovered %d apps, %d instances, %d deployments", len(apps), len(insts), len(deps))
	return f.core.Recover(apps, insts, deps, previous, now), nil
}
