package health

import (
	"fmt"
	"time"
)

// Decision is what the agent should do after one check.
type Decision struct {
	// Report means health changed: send a status update with
	// healthy=Healthy.
	Report bool
	// Healthy is the result of this check (false for an ignored failure
	// too).
	Healthy bool
	// Kill means ConsecutiveFailures counted failures happened in a row:
	// kill the task. The checker is finished after a Kill.
	Kill bool
	// Message says what the check saw, e.g.
	// "HTTP GET http://127.0.0.1:31000/health returned 503".
	Message string
}

// health is the last health the agent reported.
type health int

const (
	unknown health = iota
	healthy
	unhealthy
)

// State is one task's checker memory. It is not safe for concurrent use;
// one driver owns it.
type State struct {
	spec    Spec
	started time.Time
	next    time.Time
	// inGrace is true until the first success; failures count only once
	// it is false or the grace period has run out.
	inGrace  bool
	failures int // counted failures in a row
	reported health
	killed   bool
}

// NewState starts the memory of a checker for a task that started at
// started. spec should come from FromMesos.
func NewState(spec Spec, started time.Time) *State {
	if spec.ConsecutiveFailures < 1 {
		// Zero would mean "kill before any failure"; treat as one.
		spec.ConsecutiveFailures = 1
	}
	return &State{
		spec:    spec,
		started: started,
		next:    started.Add(spec.Delay),
		inGrace: true,
	}
}

// NextCheck is when the next check is due: Delay after the task started for
// the first, Interval after the previous check finished afterwards. It is
// meaningless once Killed.
func (s *State) NextCheck() time.Time { return s.next }

// Killed reports whether a Kill was decided; no more checks should run.
func (s *State) Killed() bool { return s.killed }

// ConsecutiveFailures is the number of counted failures in a row so far.
func (s *State) ConsecutiveFailures() int { return s.failures }

// Observe records one check that finished at now with result ok; detail
// says what the probe saw. It returns what the agent should do. Observing
// after a Kill does nothing.
func (s *State) Observe(now time.Time, ok bool, detail string) Decision {
	if s.killed {
		return Decision{Message: detail}
	}
	s.next = now.Add(s.spec.Interval)
	if ok {
		s.inGrace = false
		s.failures = 0
		d := Decision{Healthy: true, Message: detail}
		if s.reported != healthy {
			s.reported = healthy
			d.Report = true
		}
		return d
	}
	// As in Mesos, a failure at the very end of the grace period is still
	// forgiven (elapsed <= grace).
	if s.inGrace && s.spec.Grace > 0 && now.Sub(s.started) <= s.spec.Grace {
		return Decision{Message: detail}
	}
	s.failures++
	d := Decision{Message: detail}
	if s.reported != unhealthy {
		s.reported = unhealthy
		d.Report = true
	}
	if s.failures >= s.spec.ConsecutiveFailures {
		s.killed = true
		d.Kill = true
		d.Message = "health check failed: " + detail
		if s.failures > 1 {
			d.Message = fmt.Sprintf("health check failed %d times in a row: %s", s.failures, detail)
		}
	}
	return d
}
