// Package cron is the cron framework's driver: it registers with the master
// like any framework (through frameworks/driver), keeps its jobs, cursors
// and runs in the store (frameworks/cron/state), feeds the pure core
// (frameworks/cron/core) and serves the Metronome API's Backend.
//
// Contract:
//   - Whatever the core decides is stored before the master hears of it: a
//     run's intent is written before its task is launched, and a fire's run
//     together with the schedule's cursor, so after a restart or a failover
//     the framework neither skips a due run nor starts one twice.
//   - Status updates are acknowledged only after their effects are stored.
//   - Before the framework has subscribed and recovered, the API's calls
//     fail with api.ErrUnavailable (503).
package cron

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"agora/core/mesos"
	"agora/core/store"
	"agora/frameworks/cron/api"
	"agora/frameworks/cron/core"
	"agora/frameworks/cron/job"
	"agora/frameworks/cron/state"
	"agora/frameworks/driver"
)

// Config configures a cron framework.
type Config struct {
	// Master is the master's address: "host:port", a URL or zk://; HTTP
	// carries the calls (credentials, TLS).
	Master string
	HTTP   *http.Client
	// Store keeps the framework's state under Root (default "/cron").
	Store store.Store
	Root  string
	// Name (default "cron"), Role (default "*"), User (default the
	// process's) and Principal of the framework.
	Name, Role, User, Principal string
	// FailoverTimeout is how long the master keeps the framework's tasks
	// while it is away (default one week).
	FailoverTimeout time.Duration
	// Tick is how often schedules are looked at (default 100 ms): the most
	// a fire waits to be noticed.
	Tick time.Duration
	// Core tunes the decisions (history, missed records).
	Core core.Config
	Logf func(format string, args ...any)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Root == "" {
		c.Root = "/cron"
	}
	if c.Name == "" {
		c.Name = "cron"
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
		c.Tick = 100 * time.Millisecond
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Core.Role = c.Role
	if c.Core.DefaultUser == "" {
		c.Core.DefaultUser = c.User
	}
}

// Framework is one running cron framework.
type Framework struct {
	cfg Config
	st  *state.Store
	drv *driver.Driver

	// Owned by the loop goroutine (driver.Do and the Handler methods).
	core *core.Core

	mu    sync.Mutex
	ready bool // recovered: the core answers for the jobs
}

var (
	_ driver.Handler = (*Framework)(nil)
	_ api.Backend    = (*Framework)(nil)
)

// New prepares a framework; Run starts it.
func New(cfg Config) (*Framework, error) {
	cfg.setDefaults()
	if cfg.Store == nil {
		return nil, errors.New("cron: Config.Store is nil; the framework needs a store for its jobs")
	}
	if cfg.Master == "" {
		return nil, errors.New("cron: Config.Master is empty; give the master's address")
	}
	f := &Framework{cfg: cfg, st: state.New(cfg.Store, cfg.Root), core: core.New(cfg.Core)}
	f.drv = driver.New(driver.Config{
		Name: cfg.Name, Master: cfg.Master, HTTP: cfg.HTTP, Tick: cfg.Tick, Logf: cfg.Logf,
		Info:     driver.FrameworkInfo(cfg.Name, cfg.Role, cfg.User, cfg.Principal, cfg.FailoverTimeout),
		StoredID: f.st.FrameworkID,
	}, f)
	return f, nil
}

// Run drives the framework until ctx ends.
func (f *Framework) Run(ctx context.Context) error {
	defer f.setReady(false)
	return f.drv.Run(ctx)
}

func (f *Framework) setReady(ok bool) {
	f.mu.Lock()
	f.ready = ok
	f.mu.Unlock()
}

// Ready reports whether the framework has recovered and answers for its
// jobs.
func (f *Framework) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

// Subscribed recovers the stored state the first time, and reconciles the
// unfinished runs' tasks with a new master later.
func (f *Framework) Subscribed(ctx context.Context, id string, first bool) error {
	if err := f.st.SetFrameworkID(ctx, id); err != nil {
		return fmt.Errorf("storing the framework id: %w", err)
	}
	if !first {
		return f.act(ctx, f.core.Reconcile(f.cfg.Now()))
	}
	jobs, err := f.st.Jobs(ctx)
	if err != nil {
		return fmt.Errorf("recovering jobs: %w", err)
	}
	cursors, err := f.st.Cursors(ctx)
	if err != nil {
		return fmt.Errorf("recovering cursors: %w", err)
	}
	runs, err := f.st.Runs(ctx)
	if err != nil {
		return fmt.Errorf("recovering runs: %w", err)
	}
	f.cfg.Logf("cron: recovered %d jobs, %d runs", len(jobs), len(runs))
	if err := f.act(ctx, f.core.Recover(jobs, cursors, runs, f.cfg.Now())); err != nil {
		return err
	}
	f.setReady(true)
	return nil
}

// Offers hands offers to the core.
func (f *Framework) Offers(ctx context.Context, offers []mesos.Offer) {
	f.act(ctx, f.core.Offers(offers, f.cfg.Now()))
}

// Updates hands status updates to the core and stores their effects.
func (f *Framework) Updates(ctx context.Context, sts []mesos.TaskStatus) error {
	now := f.cfg.Now()
	var d core.Decisions
	for _, s := range sts {
		d = merge(d, f.core.Update(s, now))
	}
	return f.act(ctx, d)
}

// Tick fires what is due.
func (f *Framework) Tick(ctx context.Context) {
	f.act(ctx, f.core.Tick(f.cfg.Now()))
}

// merge appends b's decisions to a's; the later of Suppress and Revive wins.
func merge(a, b core.Decisions) core.Decisions {
	a.PersistRuns = append(a.PersistRuns, b.PersistRuns...)
	a.PersistCursors = append(a.PersistCursors, b.PersistCursors...)
	a.DeleteRuns = append(a.DeleteRuns, b.DeleteRuns...)
	a.Launch = append(a.Launch, b.Launch...)
	a.Decline = append(a.Decline, b.Decline...)
	a.Kill = append(a.Kill, b.Kill...)
	a.Reconcile = append(a.Reconcile, b.Reconcile...)
	switch {
	case b.Revive:
		a.Revive, a.Suppress = true, false
	case b.Suppress:
		a.Revive, a.Suppress = false, true
	}
	return a
}

// act stores what d changes, then tells the master. When the store fails
// nothing reaches the master, and the offers are declined.
func (f *Framework) act(ctx context.Context, d core.Decisions) error {
	sched := f.drv.Scheduler()
	refuse := 1.0
	if err := f.st.Apply(ctx, d); err != nil {
		f.cfg.Logf("cron: storing state: %v", err)
		ids := append([]mesos.OfferID(nil), d.Decline...)
		for _, l := range d.Launch {
			ids = append(ids, l.OfferID)
		}
		if len(ids) > 0 {
			f.drv.Call(ctx, "DECLINE", sched.Decline(ctx, ids, &mesos.Filters{RefuseSeconds: &refuse}))
		}
		return err
	}
	byOffer := map[string][]mesos.TaskInfo{}
	var order []mesos.OfferID
	for _, l := range d.Launch {
		if _, ok := byOffer[l.OfferID.Value]; !ok {
			order = append(order, l.OfferID)
		}
		byOffer[l.OfferID.Value] = append(byOffer[l.OfferID.Value], l.Task)
	}
	for _, id := range order {
		op := mesos.Operation{Type: mesos.OpLaunch, Launch: &mesos.LaunchOperation{TaskInfos: byOffer[id.Value]}}
		f.drv.Call(ctx, "ACCEPT", sched.Accept(ctx, []mesos.OfferID{id}, []mesos.Operation{op}, &mesos.Filters{RefuseSeconds: &refuse}))
	}
	if len(d.Decline) > 0 {
		f.drv.Call(ctx, "DECLINE", sched.Decline(ctx, d.Decline, &mesos.Filters{RefuseSeconds: &refuse}))
	}
	for _, k := range d.Kill {
		var agent *mesos.AgentID
		if k.AgentID != "" {
			agent = &mesos.AgentID{Value: k.AgentID}
		}
		f.drv.Call(ctx, "KILL "+k.TaskID, sched.Kill(ctx, mesos.TaskID{Value: k.TaskID}, agent))
	}
	if len(d.Reconcile) > 0 {
		f.drv.Call(ctx, "RECONCILE", sched.Reconcile(ctx, d.Reconcile))
	}
	if d.Revive {
		f.drv.Call(ctx, "REVIVE", sched.Revive(ctx, f.cfg.Role))
	}
	if d.Suppress {
		f.drv.Call(ctx, "SUPPRESS", sched.Suppress(ctx, f.cfg.Role))
	}
	return nil
}

// do runs fn on the loop once the framework is ready.
func (f *Framework) do(ctx context.Context, fn func(now time.Time) error) error {
	if !f.Ready() {
		return fmt.Errorf("%w: the cron framework has not registered with the master yet", api.ErrUnavailable)
	}
	var err error
	if derr := f.drv.Do(ctx, func() { err = fn(f.cfg.Now()) }); derr != nil {
		if errors.Is(derr, driver.ErrStopped) {
			return fmt.Errorf("%w: the cron framework stopped", api.ErrUnavailable)
		}
		return derr
	}
	return err
}

// change runs a core change and carries out its decisions (stored before
// the call returns).
func (f *Framework) change(ctx context.Context, fn func(now time.Time) (core.Decisions, error)) error {
	return f.do(ctx, func(now time.Time) error {
		d, err := fn(now)
		if err != nil {
			return err
		}
		return f.act(ctx, merge(d, f.core.Tick(now)))
	})
}

// readTimeout bounds how long a read waits for the loop.
const readTimeout = 10 * time.Second

// read runs fn on the loop; a framework that is not running shows nothing.
func (f *Framework) read(fn func(now time.Time)) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	f.do(ctx, func(now time.Time) error { fn(now); return nil })
}

// The api.Backend.

func (f *Framework) Jobs() (out []*job.Job) {
	f.read(func(time.Time) { out = f.core.Jobs() })
	return out
}

func (f *Framework) Job(id string) (j *job.Job, ok bool) {
	f.read(func(time.Time) { j, ok = f.core.Job(id) })
	return j, ok
}

func (f *Framework) Runs(jobID string) (out []core.Run) {
	f.read(func(time.Time) { out = f.core.Runs(jobID) })
	return out
}

func (f *Framework) RunByID(jobID, runID string) (r core.Run, ok bool) {
	f.read(func(time.Time) { r, ok = f.core.RunByID(jobID, runID) })
	return r, ok
}

func (f *Framework) History(jobID string) (h core.History, runs []core.Run) {
	f.read(func(time.Time) { h, runs = f.core.History(jobID) })
	return h, runs
}

func (f *Framework) NextFires(jobID string, n int) (out []time.Time) {
	f.read(func(now time.Time) { out = f.core.NextFires(jobID, n, now) })
	return out
}

// PutJob creates or replaces a job; the definition is stored before the
// call returns and before anything it decides reaches the master.
func (f *Framework) PutJob(ctx context.Context, j *job.Job) error {
	return f.change(ctx, func(now time.Time) (core.Decisions, error) {
		d, err := f.core.PutJob(j, now)
		if err != nil {
			return d, err
		}
		if err := f.st.PutJob(ctx, j); err != nil {
			return core.Decisions{}, fmt.Errorf("storing job %s: %w", j.ID, err)
		}
		return d, nil
	})
}

// DeleteJob removes a job, its cursor and its runs from the store once
// the core let it go (stopping its runs first with stopRuns).
func (f *Framework) DeleteJob(ctx context.Context, id string, stopRuns bool) error {
	return f.change(ctx, func(now time.Time) (core.Decisions, error) {
		var d core.Decisions
		var err error
		if stopRuns {
			d, err = f.core.DeleteJobStop(id, now)
		} else {
			d, err = f.core.DeleteJob(id, now)
		}
		if err != nil {
			return d, err
		}
		if err := f.st.DeleteJob(ctx, id); err != nil {
			return core.Decisions{}, fmt.Errorf("deleting job %s: %w", id, err)
		}
		return d, nil
	})
}

func (f *Framework) RunNow(ctx context.Context, id string) (core.Run, error) {
	var r core.Run
	err := f.change(ctx, func(now time.Time) (core.Decisions, error) {
		var d core.Decisions
		var err error
		r, d, err = f.core.RunNow(id, now)
		return d, err
	})
	return r, err
}

func (f *Framework) StopRun(ctx context.Context, jobID, runID string) error {
	return f.change(ctx, func(now time.Time) (core.Decisions, error) { return f.core.StopRun(jobID, runID, now) })
}

// Info says who the framework is and which master it talks to.
func (f *Framework) Info() api.Info {
	ok, id, leader := f.drv.Connected()
	return api.Info{Name: f.cfg.Name, FrameworkID: id, Elected: ok, Leader: leader}
}
