// Package driver is the loop a built-in framework runs around its pure
// core: subscribe to the master over the Mesos v1 scheduler API, subscribe
// again whenever the stream ends, and hand everything that happens — the
// subscription, offers, status updates, timer ticks and work asked for by
// the framework's API — to one goroutine, so the framework's state needs
// no locks.
//
// Contract:
//   - Every Handler method and every function passed to Do run on the
//     loop goroutine, one at a time.
//   - Status updates that arrive together are handed over together; they
//     are acknowledged only after Updates returns nil, that is after the
//     framework stored their effects. An error leaves them unacknowledged,
//     and the agents send them again.
//   - Subscribed is called after every SUBSCRIBED event with first true the
//     first time in this Run: the framework recovers its stored state then
//     and reconciles its tasks on later subscriptions. Offers arriving
//     before the first Subscribed returned nil are declined.
//   - After the master removes the framework (an ERROR event: failover
//     timeout passed, torn down) the driver subscribes as a new framework.
package driver

import (
	"cmp"
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
)

// Handler is the framework behind the loop.
type Handler interface {
	// Subscribed runs after each SUBSCRIBED event; an error ends the
	// stream (the driver subscribes again).
	Subscribed(ctx context.Context, frameworkID string, first bool) error
	Offers(ctx context.Context, offers []mesos.Offer)
	// Updates returns nil once the updates' effects are stored.
	Updates(ctx context.Context, statuses []mesos.TaskStatus) error
	// Tick runs every Config.Tick once the framework has subscribed.
	Tick(ctx context.Context)
}

// Config configures a driver.
type Config struct {
	// Name prefixes log lines ("cron").
	Name string
	// Master is "host:port", a URL or zk://; HTTP carries the calls (nil:
	// a default client).
	Master string
	HTTP   *http.Client
	// Info is the framework's FrameworkInfo without an id (see
	// FrameworkInfo).
	Info mesos.FrameworkInfo
	// StoredID returns the framework id stored by an earlier run ("" or
	// store.ErrNotFound for none), so a restarted framework keeps its tasks.
	StoredID func(ctx context.Context) (string, error)
	// Tick is the interval of Handler.Tick (default 1 s).
	Tick time.Duration
	Logf func(format string, args ...any)
}

// FrameworkInfo is what a built-in framework tells the master: its
// identity, checkpointing (its tasks outlive agent restarts), partition
// awareness and how long the master keeps its tasks while it is away.
func FrameworkInfo(name, role, user, principal string, failoverTimeout time.Duration) mesos.FrameworkInfo {
	return mesos.FrameworkInfo{
		User: user, Name: name, Role: role, Principal: principal,
		FailoverTimeout: failoverTimeout.Seconds(), Checkpoint: true,
		Capabilities: []mesos.FrameworkCapability{{Type: "PARTITION_AWARE"}},
	}
}

// DefaultUser is a built-in framework's user unless configured: the
// process's ($USER), else root.
func DefaultUser() string { return cmp.Or(os.Getenv("USER"), "root") }

// Driver runs the loop.
type Driver struct {
	cfg     Config
	h       Handler
	ops     chan func()
	stopped chan struct{}

	// Owned by the loop goroutine.
	sched      *client.Scheduler
	subscribed bool // Subscribed(first) succeeded in this Run
	fresh      bool // subscribe as a new framework

	mu        sync.Mutex
	connected bool
	fwID      string
	leader    string
}

// New prepares a driver for h; Run starts it.
func New(cfg Config, h Handler) *Driver {
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{}
	}
	return &Driver{cfg: cfg, h: h, ops: make(chan func(), 64), stopped: make(chan struct{}),
		sched: client.NewScheduler(cfg.Master, cfg.HTTP)}
}

// Scheduler is the client of the master's scheduler API, for the calls
// the framework makes itself (launches, kills). Use it on the loop.
func (d *Driver) Scheduler() *client.Scheduler { return d.sched }

// Connected reports whether the framework is subscribed now, its id and
// the master it talks to.
func (d *Driver) Connected() (ok bool, frameworkID, master string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.connected, d.fwID, d.leader
}

// ErrStopped is Do's answer once Run has returned.
var ErrStopped = errors.New("the framework stopped")

// Do runs fn on the loop goroutine and waits for it (or for ctx).
func (d *Driver) Do(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case d.ops <- func() { fn(); close(done) }:
	case <-d.stopped:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		// fn may still run; the caller sees the deadline.
		return ctx.Err()
	}
}

// Run subscribes, re-subscribing after the stream ends, until ctx ends.
func (d *Driver) Run(ctx context.Context) error {
	defer close(d.stopped)
	tick := time.NewTicker(d.cfg.Tick)
	defer tick.Stop()
	defer d.setConnected(false, "", "")
	retry := 500 * time.Millisecond
	for ctx.Err() == nil {
		events, err := d.subscribe(ctx)
		if err != nil {
			d.cfg.Logf("%s: subscribing to %s: %v; retrying in %s", d.cfg.Name, d.cfg.Master, err, retry)
			if !d.wait(ctx, tick, time.After(retry)) {
				break
			}
			retry = min(2*retry, 10*time.Second)
			continue
		}
		retry = 500 * time.Millisecond
		d.serve(ctx, events, tick)
		_, id, _ := d.Connected()
		d.setConnected(false, id, "")
		if ctx.Err() == nil {
			d.cfg.Logf("%s: event stream from %s ended: %v; re-subscribing", d.cfg.Name, d.sched.Master(), d.sched.Err())
		}
	}
	return nil
}

func (d *Driver) setConnected(ok bool, id, leader string) {
	d.mu.Lock()
	d.connected, d.fwID, d.leader = ok, id, leader
	d.mu.Unlock()
}

// wait runs queued work until after fires; false if ctx ended.
func (d *Driver) wait(ctx context.Context, tick *time.Ticker, after <-chan time.Time) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-after:
			return true
		case op := <-d.ops:
			op()
		case <-tick.C:
			if d.subscribed {
				d.h.Tick(ctx)
			}
		}
	}
}

func (d *Driver) subscribe(ctx context.Context) (<-chan mesos.Event, error) {
	info := d.cfg.Info
	info.ID = nil
	if d.sched.FrameworkID() == "" && !d.fresh && d.cfg.StoredID != nil {
		id, err := d.cfg.StoredID(ctx)
		if errors.Is(err, store.ErrNotFound) {
			id, err = "", nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the framework id: %w", err)
		}
		if id != "" {
			info.ID = &mesos.FrameworkID{Value: id}
		}
	}
	return d.sched.Subscribe(ctx, info)
}

// serve handles one event stream until it ends.
func (d *Driver) serve(ctx context.Context, events <-chan mesos.Event, tick *time.Ticker) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok || !d.handleBurst(ctx, ev, events) {
				return
			}
		case op := <-d.ops:
			op()
		case <-tick.C:
			if d.subscribed {
				d.h.Tick(ctx)
			}
		}
	}
}

// maxBurst bounds how many waiting events are taken together.
const maxBurst = 1024

// handleBurst handles ev and the events already waiting behind it, status
// updates together. False ends the stream.
func (d *Driver) handleBurst(ctx context.Context, ev mesos.Event, events <-chan mesos.Event) bool {
	var updates []mesos.TaskStatus
	flush := func() {
		if len(updates) == 0 {
			return
		}
		if d.subscribed {
			if err := d.h.Updates(ctx, updates); err != nil {
				d.cfg.Logf("%s: %d status updates not acknowledged: %v", d.cfg.Name, len(updates), err)
				updates = nil
				return
			}
		}
		d.acknowledge(ctx, updates)
		updates = nil
	}
	for n := 0; ; n++ {
		if ev.Type == mesos.EventUpdate {
			updates = append(updates, ev.Update.Status)
		} else {
			flush()
			if !d.handle(ctx, ev) {
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
func (d *Driver) acknowledge(ctx context.Context, sts []mesos.TaskStatus) {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, st := range sts {
		if len(st.UUID) == 0 {
			continue // master-generated: nothing to acknowledge
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			d.Call(ctx, "ACKNOWLEDGE", d.sched.Acknowledge(ctx, st))
		}()
	}
	wg.Wait()
}

// handle takes one event other than UPDATE; false ends the stream.
func (d *Driver) handle(ctx context.Context, ev mesos.Event) bool {
	switch ev.Type {
	case mesos.EventSubscribed:
		id := ev.Subscribed.FrameworkID.Value
		d.fresh = false
		if err := d.h.Subscribed(ctx, id, !d.subscribed); err != nil {
			d.cfg.Logf("%s: after subscribing as %s: %v", d.cfg.Name, id, err)
			return false
		}
		d.subscribed = true
		d.setConnected(true, id, d.sched.Master())
		d.cfg.Logf("%s: subscribed to %s as framework %s", d.cfg.Name, d.sched.Master(), id)
	case mesos.EventOffers:
		if !d.subscribed {
			ids := make([]mesos.OfferID, len(ev.Offers.Offers))
			for i, o := range ev.Offers.Offers {
				ids[i] = o.ID
			}
			refuse := 1.0
			d.Call(ctx, "DECLINE", d.sched.Decline(ctx, ids, &mesos.Filters{RefuseSeconds: &refuse}))
			return true
		}
		d.h.Offers(ctx, ev.Offers.Offers)
	case mesos.EventError:
		d.cfg.Logf("%s: master error: %s; subscribing as a new framework", d.cfg.Name, ev.Error.Message)
		d.sched = client.NewScheduler(d.cfg.Master, d.cfg.HTTP)
		d.fresh = true
		return false
	case mesos.EventFailure:
		if ev.Failure.AgentID != nil {
			d.cfg.Logf("%s: agent %s failed", d.cfg.Name, ev.Failure.AgentID.Value)
		}
	}
	return true
}

// Call logs a failed master call; the framework's core retries what
// matters (kills, launches lost with their offers).
func (d *Driver) Call(ctx context.Context, what string, err error) {
	if err != nil && ctx.Err() == nil {
		d.cfg.Logf("%s: %s: %v", d.cfg.Name, what, err)
	}
}
