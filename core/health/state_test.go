package health

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

const (
	bad  = "HTTP GET http://127.0.0.1:31000/health returned 503"
	good = "HTTP GET http://127.0.0.1:31000/health returned 200"
)

// step is one finished check, at an offset from the task's start.
type step struct {
	at   time.Duration
	ok   bool
	want Decision
}

func pass(at time.Duration, want Decision) step { return step{at, true, want} }
func fail(at time.Duration, want Decision) step { return step{at, false, want} }

var (
	stillGood   = Decision{Healthy: true, Message: good} // success, no change
	nowHealthy  = Decision{Report: true, Healthy: true, Message: good}
	nowSick     = Decision{Report: true, Message: bad}
	stillSick   = Decision{Message: bad}
	graceIgnore = Decision{Message: bad}
)

func killed(n int, report bool) Decision {
	msg := "health check failed: " + bad
	if n > 1 {
		msg = fmt.Sprintf("health check failed %d times in a row: %s", n, bad)
	}
	return Decision{Report: report, Kill: true, Message: msg}
}

func spec(grace time.Duration, n int) Spec {
	return Spec{Delay: time.Second, Interval: time.Second, Timeout: time.Second, Grace: grace, ConsecutiveFailures: n, Type: TypeHTTP}
}

func TestObserve(t *testing.T) {
	s := time.Second
	cases := []struct {
		name  string
		spec  Spec
		steps []step
	}{
		{"first success is reported once", spec(0, 3), []step{
			pass(1*s, nowHealthy), pass(2*s, stillGood), pass(3*s, stillGood),
		}},
		{"first counted failure is reported unhealthy", spec(0, 3), []step{
			fail(1*s, nowSick), fail(2*s, stillSick),
		}},
		{"failures within grace are ignored and not counted", spec(10*s, 3), []step{
			fail(1*s, graceIgnore), fail(5*s, graceIgnore), fail(9*s, graceIgnore),
			fail(11*s, nowSick), fail(12*s, stillSick), fail(13*s, killed(3, false)),
		}},
		{"a failure exactly at the end of grace is still forgiven", spec(10*s, 1), []step{
			fail(10*s, graceIgnore), fail(10*s+time.Millisecond, killed(1, true)),
		}},
		{"success ends grace early", spec(60*s, 2), []step{
			pass(1*s, nowHealthy), fail(2*s, nowSick), fail(3*s, killed(2, false)),
		}},
		{"kill exactly at the Nth consecutive failure", spec(0, 3), []step{
			fail(1*s, nowSick), fail(2*s, stillSick), fail(3*s, killed(3, false)),
		}},
		{"a success resets the count", spec(0, 3), []step{
			fail(1*s, nowSick), fail(2*s, stillSick), pass(3*s, nowHealthy),
			fail(4*s, nowSick), fail(5*s, stillSick), fail(6*s, killed(3, false)),
		}},
		{"every flip is reported once", spec(0, 5), []step{
			pass(1*s, nowHealthy), fail(2*s, nowSick), pass(3*s, nowHealthy), pass(4*s, stillGood),
			fail(5*s, nowSick), fail(6*s, stillSick), pass(7*s, nowHealthy),
		}},
		{"one allowed failure kills and reports at once", spec(0, 1), []step{
			pass(1*s, nowHealthy), fail(2*s, killed(1, true)),
		}},
		{"nothing happens after a kill", spec(0, 1), []step{
			fail(1*s, killed(1, true)), fail(2*s, stillSick), pass(3*s, Decision{Message: good}),
		}},
		{"grace that ran out without success lets failures count", spec(3*s, 2), []step{
			fail(2*s, graceIgnore), fail(4*s, nowSick), pass(5*s, nowHealthy),
		}},
		{"zero consecutive failures is treated as one", spec(0, 0), []step{
			fail(1*s, killed(1, true)),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := NewState(tc.spec, t0)
			for i, sp := range tc.steps {
				detail := bad
				if sp.ok {
					detail = good
				}
				got := st.Observe(t0.Add(sp.at), sp.ok, detail)
				if got != sp.want {
					t.Fatalf("step %d (at %v, ok=%v):\n got %+v\nwant %+v", i, sp.at, sp.ok, got, sp.want)
				}
			}
		})
	}
}

func TestNextCheckWaitsDelayThenInterval(t *testing.T) {
	st := NewState(Spec{Delay: 15 * time.Second, Interval: 10 * time.Second, ConsecutiveFailures: 3}, t0)
	if got, want := st.NextCheck(), t0.Add(15*time.Second); !got.Equal(want) {
		t.Fatalf("first check at %v, want %v", got, want)
	}
	// A check that took 2s finished at 17s: the next starts 10s after that,
	// and again after the one that finished at 27s.
	st.Observe(t0.Add(17*time.Second), true, good)
	st.Observe(t0.Add(27*time.Second), false, bad)
	if st.ConsecutiveFailures() != 1 {
		t.Fatalf("consecutive failures = %d after one failure", st.ConsecutiveFailures())
	}
	if got, want := st.NextCheck(), t0.Add(37*time.Second); !got.Equal(want) {
		t.Fatalf("second check at %v, want %v", got, want)
	}
}

// simulate runs checks on a fake clock: each check takes took and passes
// when healthyAt says so. It returns the decisions passed to the agent, each
// with the check's finishing time.
func simulate(spec Spec, took time.Duration, healthyAt func(time.Duration) bool, until time.Duration) []string {
	st := NewState(spec, t0)
	var out []string
	for !st.Killed() {
		now := st.NextCheck().Add(took)
		if now.Sub(t0) > until {
			break
		}
		ok := healthyAt(now.Sub(t0))
		d := st.Observe(now, ok, "")
		if d.Report || d.Kill {
			out = append(out, fmt.Sprintf("%v report=%v healthy=%v kill=%v", now.Sub(t0), d.Report, d.Healthy, d.Kill))
		}
	}
	return out
}

func TestDefaultsKillATaskThatNeverAnswers(t *testing.T) {
	sp := Spec{Delay: DefaultDelay, Interval: DefaultInterval, Timeout: DefaultTimeout, Grace: DefaultGrace, ConsecutiveFailures: DefaultConsecutiveFailures}
	// Each check fails by timing out after the default 20s: checks end at
	// 35s (grace is over: reported), 65s and 95s (third in a row: killed).
	got := simulate(sp, DefaultTimeout, func(time.Duration) bool { return false }, time.Hour)
	want := []string{
		"35s report=true healthy=false kill=false",
		"1m35s report=false healthy=false kill=true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSlowStarterSurvivesLongGrace(t *testing.T) {
	// Marathon-style: 5 minutes of grace for an app that needs 4 to boot.
	sp := Spec{Delay: 0, Interval: 10 * time.Second, Grace: 5 * time.Minute, ConsecutiveFailures: 3}
	up := 4 * time.Minute
	got := simulate(sp, 0, func(at time.Duration) bool { return at >= up }, 10*time.Minute)
	want := []string{"4m0s report=true healthy=true kill=false"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func BenchmarkObserve(b *testing.B) {
	st := NewState(spec(0, 1<<30), t0)
	now := t0
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Second)
		st.Observe(now, i%7 != 0, bad)
	}
}
