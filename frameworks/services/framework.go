// Package services runs Agora's services framework: it registers with the
// master through the scheduler API like any framework, feeds the decision
// core (frameworks/services/core) with offers, status updates and API
// changes, and carries out its decisions: writes to the framework's state
// first, then calls to the master.
//
// Contract:
//   - One goroutine (Run's) owns the core; API calls and probe results are
//     handed to it as closures and answered when their writes are stored.
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
	"os"
	"sync"
	"time"

	"agora/core/client"
	"agora/core/mesos"
	"agora/core/store"
	"agora/discovery"
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
		c.User = os.Getenv("USER")
		if c.User == "" {
			c.User = "root"
		}
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
	cfg   Config
	st    *state.Store
	sched *client.Scheduler
	hub   hub

	ops     chan func()   // closures run by the loop goroutine
	stopped chan struct{} // closed when Run returns
	runCtx  context.Context

	// Owned by the loop goroutine.
	core      *core.Core
	recovered bool
	fresh     bool                 // subscribe as a new framework (the old one was removed)
	pub       *publisher           // nil without a Registry
	published time.Time            // when the set was last handed over
	probing   map[string]bool      // readiness probes in flight, by task id
	nextProbe map[string]time.Time // earliest next readiness probe, by task id

	mu        sync.Mutex // guards what other goroutines read
	ready     bool       // recovered: the core answers for the apps
	connected bool       // subscribed now
	fwID      string
	leader    string
}

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
		sched:     client.NewScheduler(cfg.Master, cfg.HTTP),
		hub:       hub{subs: map[chan core.Event]struct{}{}},
		ops:       make(chan func(), 64),
		stopped:   make(chan struct{}),
		runCtx:    context.Background(),
		core:      core.New(cfg.Core),
		probing:   map[string]bool{},
		nextProbe: map[string]time.Time{},
	}
	if cfg.Registry != nil {
		f.pub = newPublisher(cfg.Registry, cfg.Logf)
	}
	return f, nil
}

// Run subscribes to the master, re-subscribing after the stream ends, and
// drives the core until ctx ends.
func (f *Framework) Run(ctx context.Context) error {
	f.runCtx = ctx
	defer close(f.stopped)
	if f.pub != nil {
		go f.pub.run(ctx)
	}
	tick := time.NewTicker(f.cfg.Tick)
	defer tick.Stop()
	defer func() {
		f.mu.Lock()
		f.ready, f.connected = false, false
		f.mu.Unlock()
	}()
	retry := 500 * time.Millisecond
	for ctx.Err() == nil {
		events, err := f.subscribe(ctx)
		if err != nil {
			f.cfg.Logf("services: subscribing to %s: %v; retrying in %s", f.cfg.Master, err, retry)
			if !f.wait(ctx, tick, time.After(retry)) {
				break
			}
			retry = min(2*retry, 10*time.Second)
			continue
		}
		retry = 500 * time.Millisecond
		f.serve(ctx, events, tick)
		f.mu.Lock()
		f.connected = false
		f.mu.Unlock()
		if ctx.Err() == nil {
			f.cfg.Logf("services: event stream from %s ended: %v; re-subscribing", f.sched.Master(), f.sched.Err())
		}
	}
	return nil
}

// wait runs queued closures and ticks until after fires; false if ctx ended.
func (f *Framework) wait(ctx context.Context, tick *time.Ticker, after <-chan time.Time) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-after:
			return true
		case op := <-f.ops:
			op()
		case <-tick.C:
		}
	}
}

func (f *Framework) subscribe(ctx context.Context) (<-chan mesos.Event, error) {
	info := mesos.FrameworkInfo{
		User: f.cfg.User, Name: f.cfg.Name, Role: f.cfg.Role, Principal: f.cfg.Principal,
		FailoverTimeout: f.cfg.FailoverTimeout.Seconds(), Checkpoint: true,
		Capabilities: []mesos.FrameworkCapability{{Type: "PARTITION_AWARE"}},
	}
	if f.sched.FrameworkID() == "" && !f.fresh {
		id, err := f.st.FrameworkID(ctx)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("reading the framework id: %w", err)
		}
		if id != "" {
			info.ID = &mesos.FrameworkID{Value: id}
		}
	}
	return f.sched.Subscribe(ctx, info)
}

// serve handles one event stream until it ends.
func (f *Framework) serve(ctx context.Context, events <-chan mesos.Event, tick *time.Ticker) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if !f.handleBurst(ctx, ev, events) {
				return
			}
		case op := <-f.ops:
			op()
		case <-tick.C:
			if f.recovered {
				f.act(ctx, f.core.Tick(time.Now()))
				f.probeReadiness(ctx)
				if time.Since(f.published) >= resyncInterval {
					f.publish(true)
				}
			}
		}
	}
}

// maxBurst bounds how many waiting events are taken together.
const maxBurst = 1024

// handleBurst handles ev and the events already waiting behind it, taking
// consecutive status updates together: one pass of the core, one round of
// writes and then their acknowledgements, instead of one each. False ends
// the stream.
func (f *Framework) handleBurst(ctx context.Context, ev mesos.Event, events <-chan mesos.Event) bool {
	var updates []mesos.TaskStatus
	flush := func() {
		if len(updates) == 0 {
			return
		}
		if f.recovered {
			if err := f.act(ctx, f.core.Updates(updates, time.Now())); err != nil {
				updates = nil
				return // unacknowledged: the agents send them again
			}
		}
		f.acknowledge(ctx, updates)
		updates = nil
	}
	for n := 0; ; n++ {
		if ev.Type == mesos.EventUpdate {
			updates = append(updates, ev.Update.Status)
		} else {
			flush()
			if !f.handle(ctx, ev) {
				return false
			}
		}
		if n == maxBurst {
			break
		}
		var ok bool
		select {
		case ev, ok = <-events:
			if !ok {
				flush()
				return false
			}
			continue
		default:
		}
		break
	}
	flush()
	return true
}

// acknowledge acknowledges status updates, several at once.
func (f *Framework) acknowledge(ctx context.Context, sts []mesos.TaskStatus) {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, st := range sts {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f.call(ctx, "ACKNOWLEDGE", f.sched.Acknowledge(ctx, st))
		}()
	}
	wg.Wait()
}

// handle takes one event other than UPDATE; false ends the stream.
func (f *Framework) handle(ctx context.Context, ev mesos.Event) bool {
	now := time.Now()
	switch ev.Type {
	case mesos.EventSubscribed:
		id := ev.Subscribed.FrameworkID.Value
		f.fresh = false
		if err := f.st.SetFrameworkID(ctx, id); err != nil {
			f.cfg.Logf("services: storing framework id %s: %v", id, err)
			return false
		}
		if !f.recovered {
			d, err := f.recover(ctx, now)
			if err != nil {
				f.cfg.Logf("services: recovering state: %v", err)
				return false
			}
			f.recovered = true
			f.act(ctx, d)
		} else {
			// A new master (or stream): ask it about every instance, and
			// send again the kills made while no master listened.
			var tasks []mesos.ReconcileTask
			for _, in := range f.core.Instances("") {
				tasks = append(tasks, mesos.ReconcileTask{TaskID: mesos.TaskID{Value: in.TaskID}})
				if in.Killing {
					f.call(ctx, "KILL "+in.TaskID, f.sched.Kill(ctx, mesos.TaskID{Value: in.TaskID}, nil))
				}
			}
			if len(tasks) > 0 {
				f.call(ctx, "RECONCILE", f.sched.Reconcile(ctx, tasks))
			}
		}
		f.mu.Lock()
		f.ready, f.connected, f.fwID, f.leader = true, true, id, f.sched.Master()
		f.mu.Unlock()
		f.cfg.Logf("services: subscribed to %s as framework %s", f.sched.Master(), id)
	case mesos.EventOffers:
		if !f.recovered {
			f.declineAll(ctx, ev.Offers.Offers)
			return true
		}
		f.act(ctx, f.core.Offers(ev.Offers.Offers, now))
	case mesos.EventError:
		// The master removed the framework (failover timeout, teardown):
		// its tasks are gone; subscribe again as a new framework.
		f.cfg.Logf("services: master error: %s; subscribing as a new framework", ev.Error.Message)
		f.sched = client.NewScheduler(f.cfg.Master, f.cfg.HTTP)
		f.fresh = true
		return false
	case mesos.EventFailure:
		if ev.Failure.AgentID != nil {
			f.cfg.Logf("services: agent %s failed", ev.Failure.AgentID.Value)
		}
	}
	return true
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

func (f *Framework) declineAll(ctx context.Context, offers []mesos.Offer) {
	ids := make([]mesos.OfferID, len(offers))
	for i, o := range offers {
		ids[i] = o.ID
	}
	refuse := 1.0
	f.call(ctx, "DECLINE", f.sched.Decline(ctx, ids, &mesos.Filters{RefuseSeconds: &refuse}))
}

func (f *Framework) call(ctx context.Context, what string, err error) {
	if err != nil && ctx.Err() == nil {
		f.cfg.Logf("services: %s: %v", what, err)
	}
}
