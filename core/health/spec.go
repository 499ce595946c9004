// Package health runs task health checks the way a Mesos agent does.
//
// It has three layers:
//
//   - Spec and FromMesos turn a mesos.HealthCheck into a validated check
//     with Mesos's defaults (delay 15s, interval 10s, timeout 20s,
//     3 consecutive failures, grace period 10s).
//   - State is the checker's memory, a pure state machine: the caller tells
//     it when each check finished and whether it passed, and it answers with
//     a Decision (report a health change, kill the task) and when the next
//     check is due. It reads no clock and does no I/O.
//   - ProbeHTTP, ProbeTCP and ProbeCommand perform one check, bounded by
//     their context; Start runs a probe on real timers and hands Decisions to
//     the agent.
//
// Contract, as in Mesos: the first check runs Delay after the task started
// and each next one Interval after the previous one finished. Failures
// within Grace of the task's start are ignored until the first success,
// which ends the grace period early. Every change of health is reported
// once (the first counted result included); ConsecutiveFailures counted
// failures in a row kill the task, after which the checker stops.
package health

import (
	"fmt"
	"math"
	"time"

	"agora/core/mesos"
)

// Check types, as in mesos.HealthCheck.Type.
const (
	TypeCommand = "COMMAND"
	TypeHTTP    = "HTTP"
	TypeTCP     = "TCP"
)

// Mesos's defaults for an unset (zero) field of mesos.HealthCheck.
const (
	DefaultDelay               = 15 * time.Second
	DefaultInterval            = 10 * time.Second
	DefaultTimeout             = 20 * time.Second
	DefaultConsecutiveFailures = 3
	DefaultGrace               = 10 * time.Second
)

// maxSeconds bounds durations so that seconds convert to a time.Duration
// without overflow; a year is far beyond any sensible health check.
const maxSeconds = 365 * 24 * 3600

// Spec is a validated health check with defaults applied.
type Spec struct {
	Delay    time.Duration // before the first check, from task start
	Interval time.Duration // from the end of one check to the start of the next
	Timeout  time.Duration // per check
	Grace    time.Duration // from task start; failures within it are ignored
	// ConsecutiveFailures is how many counted failures in a row kill the
	// task.
	ConsecutiveFailures int
	Type                string // TypeCommand, TypeHTTP or TypeTCP

	// Protocol is "IPv4" (default) or "IPv6" for HTTP and TCP checks; it
	// picks the loopback address probed when the agent gives no host.
	Protocol string
	// Port is the HTTP or TCP port as the task declared it; the agent may
	// map it (see Target).
	Port uint32
	// Scheme ("http" or "https"), Path (starting with "/") and Statuses
	// (healthy response codes; empty means [200, 400)) are for HTTP.
	Scheme   string
	Path     string
	Statuses []uint32
	// Command is the COMMAND check's command.
	Command *mesos.CommandInfo
}

// FromMesos validates hc and applies Mesos's defaults. The JSON form cannot
// tell an unset number from zero, so zero always means "the default".
// Errors name the offending field, e.g.
// "health_check.interval_seconds: must be positive".
func FromMesos(hc *mesos.HealthCheck) (Spec, error) {
	if hc == nil {
		return Spec{}, fmt.Errorf("health_check: missing")
	}
	var s Spec
	var err error
	if s.Delay, err = seconds("health_check.delay_seconds", hc.DelaySeconds, DefaultDelay, false); err != nil {
		return Spec{}, err
	}
	if s.Interval, err = seconds("health_check.interval_seconds", hc.IntervalSeconds, DefaultInterval, true); err != nil {
		return Spec{}, err
	}
	if s.Timeout, err = seconds("health_check.timeout_seconds", hc.TimeoutSeconds, DefaultTimeout, true); err != nil {
		return Spec{}, err
	}
	if s.Grace, err = seconds("health_check.grace_period_seconds", hc.GracePeriodSeconds, DefaultGrace, false); err != nil {
		return Spec{}, err
	}
	s.ConsecutiveFailures = DefaultConsecutiveFailures
	if hc.ConsecutiveFailures > 0 {
		if hc.ConsecutiveFailures > math.MaxInt32 {
			return Spec{}, fmt.Errorf("health_check.consecutive_failures: %d is too large", hc.ConsecutiveFailures)
		}
		s.ConsecutiveFailures = int(hc.ConsecutiveFailures)
	}

	s.Type = hc.Type
	if s.Type == "" {
		// Mesos before 1.2 had no type field and looked at which body was
		// set; accept that when it is unambiguous.
		s.Type = inferType(hc)
		if s.Type == "" {
			return Spec{}, fmt.Errorf("health_check.type: required (COMMAND, HTTP or TCP)")
		}
	}
	switch s.Type {
	case TypeHTTP:
		if hc.HTTP == nil {
			return Spec{}, fmt.Errorf("health_check.http: required for type HTTP")
		}
		if err := fromHTTP(&s, hc.HTTP); err != nil {
			return Spec{}, err
		}
	case TypeTCP:
		if hc.TCP == nil {
			return Spec{}, fmt.Errorf("health_check.tcp: required for type TCP")
		}
		if s.Protocol, err = protocol("health_check.tcp.protocol", hc.TCP.Protocol); err != nil {
			return Spec{}, err
		}
		if s.Port, err = port("health_check.tcp.port", hc.TCP.Port); err != nil {
			return Spec{}, err
		}
	case TypeCommand:
		if hc.Command == nil {
			return Spec{}, fmt.Errorf("health_check.command: required for type COMMAND")
		}
		if hc.Command.Value == "" {
			return Spec{}, fmt.Errorf("health_check.command.value: required")
		}
		c := *hc.Command
		s.Command = &c
	default:
		return Spec{}, fmt.Errorf("health_check.type: unknown type %q (want COMMAND, HTTP or TCP)", hc.Type)
	}
	return s, nil
}

func inferType(hc *mesos.HealthCheck) string {
	set := 0
	t := ""
	if hc.HTTP != nil {
		set, t = set+1, TypeHTTP
	}
	if hc.TCP != nil {
		set, t = set+1, TypeTCP
	}
	if hc.Command != nil {
		set, t = set+1, TypeCommand
	}
	if set != 1 {
		return ""
	}
	return t
}

func fromHTTP(s *Spec, h *mesos.HTTPCheckInfo) error {
	var err error
	if s.Protocol, err = protocol("health_check.http.protocol", h.Protocol); err != nil {
		return err
	}
	if s.Port, err = port("health_check.http.port", h.Port); err != nil {
		return err
	}
	switch h.Scheme {
	case "":
		s.Scheme = "http"
	case "http", "https":
		s.Scheme = h.Scheme
	default:
		return fmt.Errorf("health_check.http.scheme: %q is not http or https", h.Scheme)
	}
	switch {
	case h.Path == "":
		s.Path = "/"
	case h.Path[0] != '/':
		return fmt.Errorf("health_check.http.path: %q must start with /", h.Path)
	default:
		s.Path = h.Path
	}
	for i, code := range h.Statuses {
		if code < 100 || code > 599 {
			return fmt.Errorf("health_check.http.statuses[%d]: %d is not an HTTP status code", i, code)
		}
	}
	s.Statuses = append([]uint32(nil), h.Statuses...)
	return nil
}

// seconds converts a Mesos seconds field; zero means def.
func seconds(field string, v float64, def time.Duration, positive bool) (time.Duration, error) {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return 0, fmt.Errorf("%s: %v is not a number of seconds", field, v)
	case v < 0 && positive:
		return 0, fmt.Errorf("%s: must be positive, got %v", field, v)
	case v < 0:
		return 0, fmt.Errorf("%s: must not be negative, got %v", field, v)
	case v > maxSeconds:
		return 0, fmt.Errorf("%s: %v is too large (at most %d)", field, v, maxSeconds)
	case v == 0:
		return def, nil
	}
	d := time.Duration(v * float64(time.Second))
	if positive && d < time.Millisecond {
		// A sub-millisecond interval or timeout would spin the checker.
		return 0, fmt.Errorf("%s: %v is below the minimum of 0.001", field, v)
	}
	return d, nil
}

func port(field string, p uint32) (uint32, error) {
	if p == 0 {
		return 0, fmt.Errorf("%s: required (got 0)", field)
	}
	if p > 65535 {
		return 0, fmt.Errorf("%s: %d is out of range 1-65535", field, p)
	}
	return p, nil
}

func protocol(field, p string) (string, error) {
	switch p {
	case "", "IPv4":
		return "IPv4", nil
	case "IPv6":
		return "IPv6", nil
	}
	return "", fmt.Errorf("%s: %q is not IPv4 or IPv6", field, p)
}
