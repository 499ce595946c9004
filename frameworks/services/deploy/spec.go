// Package deploy plans and steps service deployments: scaling, restarts and
// rolling upgrades of one app, honouring Marathon's upgradeStrategy
// (minimumHealthCapacity, maximumOverCapacity) and killSelection, with
// cancel, force and a progress deadline after which a deployment fails and
// can be rolled back to the last good version.
//
// Contract: everything here is pure. Step is a state machine in the raft
// style: the caller feeds it the deployment, a snapshot of the app's
// instances and the current time, performs the returned Actions (launch,
// kill), reflects them in the next snapshot, and calls Step again whenever
// something changes or time passes. Step never reads a clock, never does I/O
// and derives its decisions from the snapshot alone, so a lost kill or a
// leader failover is healed by simply stepping again.
package deploy

import (
	"fmt"
	"math"
	"time"
)

// KillSelection says which instances go first when an app has too many.
type KillSelection string

// Marathon's kill selections; the zero value means YoungestFirst, Marathon's
// default.
const (
	YoungestFirst KillSelection = "YOUNGEST_FIRST"
	OldestFirst   KillSelection = "OLDEST_FIRST"
)

// UpgradeStrategy is Marathon's upgradeStrategy. Both fields are fractions of
// the target instance count in [0, 1].
type UpgradeStrategy struct {
	// MinimumHealthCapacity: at least ceil(instances*this) instances (of any
	// version) stay healthy and ready during the deployment.
	MinimumHealthCapacity float64 `json:"minimumHealthCapacity"`
	// MaximumOverCapacity: at most floor(instances*(1+this)) instances (of
	// any version, including ones being killed) exist during the deployment.
	MaximumOverCapacity float64 `json:"maximumOverCapacity"`
}

// DefaultUpgradeStrategy is Marathon's default: keep every instance healthy
// and allow doubling the app while upgrading.
func DefaultUpgradeStrategy() UpgradeStrategy {
	return UpgradeStrategy{MinimumHealthCapacity: 1, MaximumOverCapacity: 1}
}

// AppSpec is the part of an app definition a deployment needs.
type AppSpec struct {
	ID string `json:"id"`
	// Version identifies the run configuration. Instances launched from a
	// spec carry its Version; an instance whose Version differs is old and
	// gets replaced. A change of the instance count alone keeps the Version
	// (Marathon's lastConfigChangeAt), so it scales instead of restarting.
	Version         string          `json:"version"`
	Instances       int             `json:"instances"`
	UpgradeStrategy UpgradeStrategy `json:"upgradeStrategy"`
	KillSelection   KillSelection   `json:"killSelection,omitempty"`
}

// Validate reports the first bad field.
func (s AppSpec) Validate() error {
	if s.ID == "" {
		return fmt.Errorf("id: must not be empty")
	}
	if s.Instances < 0 {
		return fmt.Errorf("instances: %d is negative", s.Instances)
	}
	if s.Version == "" && s.Instances > 0 {
		return fmt.Errorf("version: must not be empty for %d instances", s.Instances)
	}
	if v := s.UpgradeStrategy.MinimumHealthCapacity; !(v >= 0 && v <= 1) {
		return fmt.Errorf("upgradeStrategy.minimumHealthCapacity: %v not in [0, 1]", v)
	}
	if v := s.UpgradeStrategy.MaximumOverCapacity; !(v >= 0 && v <= 1) {
		return fmt.Errorf("upgradeStrategy.maximumOverCapacity: %v not in [0, 1]", v)
	}
	switch s.KillSelection {
	case "", YoungestFirst, OldestFirst:
	default:
		return fmt.Errorf("killSelection: %q is neither %s nor %s", s.KillSelection, YoungestFirst, OldestFirst)
	}
	return nil
}

// Limits returns the bounds a deployment towards s keeps: at least
// minHealthy healthy and ready instances, at most maxTotal instances.
//
// When the two meet (minimumHealthCapacity 1 with maximumOverCapacity 0, or
// rounding that makes them equal) no instance could ever be replaced, so,
// like Marathon, maxTotal is raised by one: the upgrade runs one extra
// instance at a time.
func Limits(s AppSpec) (minHealthy, maxTotal int) {
	n := float64(s.Instances)
	// The epsilon keeps 5*1.2 from flooring to 5 through float error.
	minHealthy = int(math.Ceil(n*s.UpgradeStrategy.MinimumHealthCapacity - 1e-9))
	maxTotal = int(math.Floor(n*(1+s.UpgradeStrategy.MaximumOverCapacity) + 1e-9))
	if minHealthy > s.Instances {
		minHealthy = s.Instances
	}
	if s.Instances > 0 && minHealthy >= maxTotal {
		maxTotal = minHealthy + 1
	}
	return minHealthy, maxTotal
}

// State is where an instance is in its life. Terminal instances (finished,
// failed, killed, gone) are not part of a snapshot.
type State string

// Instance states, in the order an instance moves through them.
const (
	Staged   State = "staged"
	Starting State = "starting"
	Running  State = "running"
	// Killing: a kill was asked for and the instance has not ended yet. It
	// still holds resources, so it counts towards maxTotal.
	Killing State = "killing"
)

// rank orders states for kill preference: the less advanced, the cheaper
// to lose.
func (s State) rank() int {
	switch s {
	case Staged:
		return 0
	case Starting:
		return 1
	case Running:
		return 2
	}
	return -1
}

// Instance is one instance of the app as the framework last saw it.
type Instance struct {
	ID      string
	Version string
	State   State
	// Healthy: passes its health checks, or running with none defined.
	Healthy bool
	// Ready: passes its readiness checks, or running with none defined.
	Ready     bool
	StartedAt time.Time
}

// good is Marathon's "healthy and ready": it counts towards capacity.
func (i Instance) good() bool {
	return i.State == Running && i.Healthy && i.Ready
}
