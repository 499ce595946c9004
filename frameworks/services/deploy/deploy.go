package deploy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Status is where a deployment stands as a whole.
type Status string

// Deployment statuses. Only Running deployments act.
const (
	StatusRunning   Status = "running"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Deployment moves one app to Target. Create it with New; Step updates it.
// Every field is exported so the framework can persist it (one small record
// per app) and resume after a failover without resetting its deadline.
type Deployment struct {
	ID string `json:"id"`
	// Target is what the app is moving to; Previous is the last good
	// definition, where Rollback and Cancel return to. A zero Previous
	// means the app did not exist: rolling back stops it.
	Target   AppSpec `json:"target"`
	Previous AppSpec `json:"previous"`
	// ProgressDeadline: with no progress for this long the deployment
	// fails. Zero waits forever, as Marathon does.
	ProgressDeadline time.Duration `json:"progressDeadline"`
	// RollbackOf names the deployment this one undoes, if any.
	RollbackOf string `json:"rollbackOf,omitempty"`

	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"` // why it failed or was cancelled
	// StartedAt and LastProgress are set by the first Step; progress is a
	// new instance becoming healthy and ready or an unwanted one ending.
	StartedAt    time.Time `json:"startedAt"`
	LastProgress time.Time `json:"lastProgress"`
	FinishedAt   time.Time `json:"finishedAt"`

	// High-water marks of progress (healthy new instances, instances still
	// to go), so an instance flapping between healthy and unhealthy does
	// not count as progress again and again.
	BestHealthy   int `json:"bestHealthy"`
	BestRemaining int `json:"bestRemaining"`
}

// New validates the definitions and returns a deployment from previous
// (zero when the app is new) to target.
func New(id string, previous, target AppSpec, deadline time.Duration) (*Deployment, error) {
	if id == "" {
		return nil, fmt.Errorf("deployment id: must not be empty")
	}
	if err := target.Validate(); err != nil {
		return nil, fmt.Errorf("deployment %s target: %w", id, err)
	}
	if previous.ID != "" {
		if err := previous.Validate(); err != nil {
			return nil, fmt.Errorf("deployment %s previous: %w", id, err)
		}
		if previous.ID != target.ID {
			return nil, fmt.Errorf("deployment %s previous.id: %q is not the target's %q", id, previous.ID, target.ID)
		}
	}
	if deadline < 0 {
		return nil, fmt.Errorf("deployment %s progressDeadline: %s is negative", id, deadline)
	}
	return &Deployment{ID: id, Target: target, Previous: previous, ProgressDeadline: deadline, Status: StatusRunning}, nil
}

// Snapshot is what exists now: the app's current definition and all its
// non-terminal instances. Instances already asked for but not yet placed
// (queued launches) must be included as Staged, and instances asked to die
// as Killing; otherwise Step asks for them again.
type Snapshot struct {
	App       AppSpec
	Instances []Instance
}

// Phase is what the caller should expect after acting on Actions.
type Phase string

// Phases returned by Step.
const (
	PhaseWaiting   Phase = "waiting" // act on Launch/Kill, then step again on change
	PhaseDone      Phase = "done"
	PhaseFailed    Phase = "failed"
	PhaseCancelled Phase = "cancelled"
)

// Progress counts instances for progress bars and /v2/deployments.
type Progress struct {
	Target     int // instances wanted
	New        int // live instances of the target version
	NewHealthy int // of those, healthy and ready
	Old        int // live instances of other versions
	Killing    int
	Healthy    int // healthy and ready, any version
	MinHealthy int
	MaxTotal   int
}

// Actions is what to do now.
type Actions struct {
	Phase Phase
	// Launch this many new instances of Target.Version.
	Launch int
	// Kill these instances now (ids; chosen unhealthy first, then by
	// killSelection).
	Kill []string
	// Reason explains a failure, or what a waiting deployment waits for.
	Reason   string
	Progress Progress
}

// Step advances d given what exists at now. See the package comment.
func Step(d *Deployment, snap Snapshot, now time.Time) Actions {
	switch d.Status {
	case StatusSucceeded:
		return Actions{Phase: PhaseDone}
	case StatusFailed:
		return Actions{Phase: PhaseFailed, Reason: d.Reason}
	case StatusCancelled:
		return Actions{Phase: PhaseCancelled, Reason: d.Reason}
	}
	t := d.Target
	// Re-check the plan against current state: a deployment must not act
	// on an app that was redefined under it.
	if a := snap.App; a.ID != t.ID || a.Version != t.Version || a.Instances != t.Instances {
		return d.fail(now, fmt.Sprintf("superseded: app %s is now version %q with %d instances, deployment targets %q with %d",
			a.ID, a.Version, a.Instances, t.Version, t.Instances))
	}

	n := t.Instances
	minHealthy, maxTotal := Limits(t)
	p := Progress{Target: n, MinHealthy: minHealthy, MaxTotal: maxTotal}
	total := len(snap.Instances)
	for i := range snap.Instances {
		in := &snap.Instances[i]
		switch {
		case in.State == Killing:
			p.Killing++
		case in.Version == t.Version:
			p.New++
			if in.good() {
				p.NewHealthy++
				p.Healthy++
			}
		default:
			p.Old++
			if in.good() {
				p.Healthy++
			}
		}
	}

	good := min(p.NewHealthy, n)
	extra := total - min(p.New, n)
	if d.StartedAt.IsZero() {
		d.StartedAt, d.LastProgress = now, now
		d.BestHealthy, d.BestRemaining = good, extra
	} else if good > d.BestHealthy || extra < d.BestRemaining {
		d.LastProgress = now
		d.BestHealthy, d.BestRemaining = max(good, d.BestHealthy), min(extra, d.BestRemaining)
	}

	if total == n && p.New == n && p.NewHealthy == n {
		d.Status, d.FinishedAt = StatusSucceeded, now
		return Actions{Phase: PhaseDone, Progress: p}
	}
	if d.ProgressDeadline > 0 && now.Sub(d.LastProgress) >= d.ProgressDeadline {
		a := d.fail(now, fmt.Sprintf("no progress for %s: %d of %d new instances healthy and ready, %d old and %d killing instances left",
			d.ProgressDeadline, p.NewHealthy, n, p.Old, p.Killing))
		a.Progress = p
		return a
	}

	a := Actions{Phase: PhaseWaiting, Progress: p}
	a.Kill = chooseKills(snap.Instances, t, p, minHealthy)
	a.Launch = max(0, min(n-p.New, maxTotal-total))
	a.Reason = waitReason(p, len(a.Kill), a.Launch, total)
	return a
}

func (d *Deployment) fail(now time.Time, reason string) Actions {
	d.Status, d.Reason, d.FinishedAt = StatusFailed, reason, now
	return Actions{Phase: PhaseFailed, Reason: reason}
}

// chooseKills picks what to kill now: every old instance that is not
// healthy and ready, surplus new instances, and old healthy ones as long as
// healthy stays at or above minHealthy. Unhealthy and less advanced
// instances go first, then killSelection decides.
func chooseKills(insts []Instance, t AppSpec, p Progress, minHealthy int) []string {
	budget := p.Healthy - minHealthy // healthy instances we may lose
	surplus := p.New - t.Instances
	var kill []string
	var oldGood, newLive []*Instance
	for i := range insts {
		in := &insts[i]
		switch {
		case in.State == Killing:
		case in.Version == t.Version:
			if surplus > 0 {
				newLive = append(newLive, in)
			}
		case !in.good():
			kill = append(kill, in.ID)
		case budget > 0:
			oldGood = append(oldGood, in)
		}
	}
	// These all go regardless; sorted so the answer is deterministic.
	slices.Sort(kill)
	if budget > 0 && len(oldGood) > 0 {
		if budget < len(oldGood) {
			sortForKill(oldGood, t.KillSelection)
		}
		for _, in := range oldGood[:min(budget, len(oldGood))] {
			kill = append(kill, in.ID)
			budget--
		}
	}
	if surplus > 0 {
		sortForKill(newLive, t.KillSelection)
		for _, in := range newLive {
			if surplus == 0 {
				break
			}
			if in.good() {
				if budget <= 0 {
					break // sorted: the rest are good too
				}
				budget--
			}
			kill = append(kill, in.ID)
			surplus--
		}
	}
	return kill
}

// sortForKill orders instances most expendable first: not healthy and ready
// before healthy and ready, less advanced states first, then by
// killSelection on StartedAt, then by ID so the choice is deterministic.
func sortForKill(insts []*Instance, sel KillSelection) {
	slices.SortFunc(insts, func(a, b *Instance) int {
		if ga, gb := a.good(), b.good(); ga != gb {
			if ga {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(a.State.rank(), b.State.rank()); c != 0 {
			return c
		}
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			if sel == OldestFirst {
				return c
			}
			return -c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

func waitReason(p Progress, kills, launch, total int) string {
	var why []string
	if kills > 0 || launch > 0 {
		why = append(why, fmt.Sprintf("killing %d, launching %d", kills, launch))
	}
	if w := p.New - p.NewHealthy; w > 0 {
		why = append(why, fmt.Sprintf("%d new instances not yet healthy and ready", w))
	}
	if p.Killing > 0 {
		why = append(why, fmt.Sprintf("%d instances still being killed", p.Killing))
	}
	if p.New+launch < p.Target && total+launch >= p.MaxTotal {
		why = append(why, fmt.Sprintf("at maximum capacity of %d instances", p.MaxTotal))
	}
	if p.Old > kills && p.Healthy <= p.MinHealthy {
		why = append(why, fmt.Sprintf("keeping %d healthy instances before killing old ones", p.MinHealthy))
	}
	return strings.Join(why, "; ")
}

// Rollback returns a deployment that takes the app back to d.Previous, the
// last good definition (or stops it when d created it). The caller must
// restore that definition as the app's current one before stepping it.
func Rollback(d *Deployment) *Deployment {
	prev := d.Previous
	if prev.ID == "" {
		prev = AppSpec{ID: d.Target.ID, UpgradeStrategy: d.Target.UpgradeStrategy, KillSelection: d.Target.KillSelection}
	}
	return &Deployment{
		ID:               d.ID + "-rollback",
		Target:           prev,
		Previous:         prev, // if the rollback fails too, there is nothing better to return to
		ProgressDeadline: d.ProgressDeadline,
		RollbackOf:       d.ID,
		Status:           StatusRunning,
	}
}

// Cancel stops a running deployment. With force it only stops, leaving
// instances of both versions as they are, and returns nil. Without force it
// returns the rollback deployment to run next.
func Cancel(d *Deployment, force bool) (*Deployment, error) {
	if d.Status != StatusRunning {
		return nil, fmt.Errorf("cancel deployment %s: already %s", d.ID, d.Status)
	}
	d.Status = StatusCancelled
	if force {
		d.Reason = "cancelled with force"
		return nil, nil
	}
	r := Rollback(d)
	d.Reason = fmt.Sprintf("cancelled: rolling back to version %q with %d instances", r.Target.Version, r.Target.Instances)
	return r, nil
}
