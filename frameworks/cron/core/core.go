// Package core is the cron framework's brain: a state value fed job
// changes, ticks of time, offers and task status updates, each with the
// current time, returning Decisions for a thin driver to store and carry
// out over the Mesos scheduler API.
//
// Contract:
//   - Core does no I/O, starts no goroutines and never reads a clock: every
//     decision is a function of the calls made so far and their times.
//     Equal call sequences give equal Decisions.
//   - A fire becomes exactly one run: a scheduled run's id is derived from
//     its schedule and fire time, and the run is persisted together with
//     the schedule's cursor. Recover rebuilds each cursor as the newest of
//     the stored cursor and the stored runs of its schedule, so a failover
//     neither skips a due fire nor makes one twice. A new schedule starts
//     at the time it was added and never fires for the past.
//   - A fire older than its schedule's startingDeadlineSeconds is recorded
//     as MISSED, never started late; after a long absence at most
//     Config.MaxMissed records per schedule are written, the newest
//     carrying the count of the rest.
//   - A run is persisted before its task is launched (PersistRuns in the
//     same Decisions as the Launch; the driver writes, then launches).
//   - Every offer passed to Offers is launched on or declined.
//   - Suppress is returned when no run waits for an offer, Revive when one
//     starts waiting.
//   - A task killed by the core (StopRun, REPLACE, activeDeadlineSeconds)
//     ends its run as the cause says (Run.Killing), never as a failure to
//     retry.
//   - Errors: unknown jobs and runs wrap ErrNotFound; refusals the API
//     answers with 409 are *ConflictError; invalid jobs are job.FieldErrors.
//   - The driver stores the job definition itself when PutJob succeeds and
//     removes it when DeleteJob does; Decisions carry runs and cursors.
//
// Core is not goroutine-safe: the driver owns it.
package core

import (
	"cmp"
	"slices"
	"time"

	"agora/core/mesos"
	"agora/frameworks/cron/job"
	"agora/frameworks/cron/schedule"
	"agora/frameworks/services/placement"
)

// Config tunes the core. Zero fields take the defaults.
type Config struct {
	Role        string // default "*"
	DefaultUser string // a job's tasks run as run.user, else this
	MaxHistory  int    // finished runs kept per job (oldest deleted), default 50
	MaxMissed   int    // MISSED records written per schedule per catch-up, default 5
	FrameworkID string // set by the driver once subscribed
	// KillRetry: a kill without a terminal status after this long is sent
	// again (default 30 s).
	KillRetry time.Duration
}

func (c Config) withDefaults() Config {
	if c.Role == "" {
		c.Role = "*"
	}
	if c.MaxHistory <= 0 {
		c.MaxHistory = 50
	}
	if c.MaxMissed <= 0 {
		c.MaxMissed = 5
	}
	if c.KillRetry <= 0 {
		c.KillRetry = 30 * time.Second
	}
	return c
}

// ConflictError is a refusal the API answers with 409 Conflict.
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

// Core is the cron framework's state and decisions.
type Core struct {
	cfg  Config
	jobs map[string]*jobState
	// children maps a parent job id to the jobs depending on it.
	children map[string][]string
	// byTask maps a live or recent task id to its run.
	byTask map[string]RunRef
	// active is every unfinished run, for timers and offers.
	active map[RunRef]*Run
	// killedAt is when a kill was last sent, for KillRetry.
	killedAt map[string]time.Time
	// reconciling holds the tasks Recover asked the master about and that
	// have not been answered yet.
	reconciling map[string]bool
	// agents remembers what offers showed of each agent, so constraints
	// such as GROUP_BY see the attributes of agents a job's tasks run on.
	agents map[string]placement.Agent

	// order is the job ids sorted, for deterministic decisions; nil when
	// it must be rebuilt.
	order []string

	suppressed bool
	out        pending
}

// jobState is one job with its schedules, cursor and runs.
type jobState struct {
	job    *job.Job
	cons   []placement.Constraint
	scheds []schedState
	cursor Cursor
	runs   map[string]*Run // active and history, by id
	// history holds finished runs, newest first.
	history []*Run
}

// schedState is a parsed schedule and its next fire after the cursor.
type schedState struct {
	spec job.Schedule
	s    schedule.Schedule // nil when it did not parse (a stored job from an older build)
	next time.Time         // zero: none
}

// pending collects one call's Decisions, each record once.
type pending struct {
	runs     orderedSet[RunRef]
	cursors  orderedSet[string]
	delRuns  orderedSet[RunRef]
	delCurs  []string
	launch   []Launch
	decline  []mesos.OfferID
	kill     []Kill
	recon    []mesos.ReconcileTask
	deadJobs map[string]bool
}

// New returns an empty core; Recover fills it from the store.
func New(cfg Config) *Core {
	c := &Core{cfg: cfg.withDefaults()}
	c.reset()
	return c
}

func (c *Core) reset() {
	c.jobs = map[string]*jobState{}
	c.children = map[string][]string{}
	c.byTask = map[string]RunRef{}
	c.active = map[RunRef]*Run{}
	c.killedAt = map[string]time.Time{}
	c.reconciling = map[string]bool{}
	c.agents = map[string]placement.Agent{}
	c.order = nil
	c.suppressed = false
	c.out = pending{}
}

func (c *Core) persistRun(r *Run)          { c.out.runs.add(RunRef{JobID: r.JobID, RunID: r.ID}) }
func (c *Core) persistCursor(jobID string) { c.out.cursors.add(jobID) }
func (c *Core) deleteRun(ref RunRef)       { c.out.delRuns.add(ref) }

// orderedSet keeps each key once, in the order first added.
type orderedSet[K comparable] struct {
	seen map[K]bool
	list []K
}

// reset empties o, keeping the set's memory; the list went out in the
// Decisions and is not reused.
func (o *orderedSet[K]) reset() {
	clear(o.seen)
	o.list = nil
}

func (o *orderedSet[K]) add(k K) {
	if o.seen == nil {
		o.seen = map[K]bool{}
	}
	if !o.seen[k] {
		o.seen[k] = true
		o.list = append(o.list, k)
	}
}

// finish turns what one call collected into its Decisions, with the
// records as they are now, and says whether offers are wanted.
func (c *Core) finish(now time.Time) Decisions {
	var d Decisions
	if len(c.out.runs.list) > 0 {
		d.PersistRuns = make([]Run, 0, len(c.out.runs.list))
	}
	for _, ref := range c.out.runs.list {
		if c.out.delRuns.seen[ref] {
			continue // written and trimmed in one call: only the delete matters
		}
		if js := c.jobs[ref.JobID]; js != nil {
			if r := js.runs[ref.RunID]; r != nil {
				d.PersistRuns = append(d.PersistRuns, cloneRun(*r))
			}
		}
	}
	for _, id := range c.out.cursors.list {
		if c.out.deadJobs[id] {
			continue
		}
		if js := c.jobs[id]; js != nil {
			d.PersistCursors = append(d.PersistCursors, cloneCursor(js.cursor))
		}
	}
	d.DeleteRuns = c.out.delRuns.list
	d.DeleteCursors = c.out.delCurs
	d.Launch = c.out.launch
	d.Decline = c.out.decline
	d.Kill = c.out.kill
	d.Reconcile = c.out.recon
	waiting := c.waiting(now)
	switch {
	case waiting && c.suppressed:
		d.Revive, c.suppressed = true, false
	case !waiting && !c.suppressed:
		d.Suppress, c.suppressed = true, true
	}
	c.out.reset()
	return d
}

// reset empties p for the next call, keeping its sets' memory; the slices
// went out in the Decisions and are not reused.
func (p *pending) reset() {
	p.runs.reset()
	p.cursors.reset()
	p.delRuns.reset()
	clear(p.deadJobs)
	p.delCurs = nil
	p.launch, p.decline, p.kill, p.recon = nil, nil, nil, nil
}

// waiting reports whether a run waits for an offer now.
func (c *Core) waiting(now time.Time) bool {
	for _, r := range c.active {
		if launchable(r, now) {
			return true
		}
	}
	return false
}

// launchable: INITIAL, past its backoff, not being stopped.
func launchable(r *Run, now time.Time) bool {
	return r.Status == StatusInitial && r.Killing == "" && !now.Before(r.NextAttemptAt)
}

// activeRuns returns js's unfinished runs, oldest first.
func (js *jobState) activeRuns() []*Run {
	var out []*Run
	for _, r := range js.runs {
		if !Finished(r.Status) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, runOrder)
	return out
}

// runOrder sorts oldest first: by creation, then id.
func runOrder(a, b *Run) int {
	if r := a.CreatedAt.Compare(b.CreatedAt); r != 0 {
		return r
	}
	return cmp.Compare(a.ID, b.ID)
}
