package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Checker runs one task's health check on real timers.
type Checker struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Start checks the task that started at started until ctx ends, Stop is
// called or a Kill is decided. Each probe call gets a context bounded by
// spec.Timeout. onDecision is called, from the checker's goroutine, only
// for decisions with Report or Kill set; it must not call Stop.
func Start(ctx context.Context, spec Spec, started time.Time, probe Probe, onDecision func(Decision)) *Checker {
	ctx, cancel := context.WithCancel(ctx)
	c := &Checker{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer cancel()
		run(ctx, spec, NewState(spec, started), probe, onDecision)
	}()
	return c
}

// Stop ends the checker and waits until it has; no onDecision call happens
// after Stop returns. Calling it more than once is fine.
func (c *Checker) Stop() {
	c.cancel()
	<-c.done
}

// Done is closed when the checker has ended (ctx ended, Stop, or Kill).
func (c *Checker) Done() <-chan struct{} { return c.done }

func run(ctx context.Context, spec Spec, st *State, probe Probe, onDecision func(Decision)) {
	timer := time.NewTimer(time.Until(st.NextCheck()))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		ok, detail := check(ctx, spec.Timeout, probe)
		if ctx.Err() != nil {
			// Stopped mid-check: the result says nothing about the task.
			return
		}
		d := st.Observe(time.Now(), ok, detail)
		if d.Report || d.Kill {
			onDecision(d)
		}
		if st.Killed() {
			return
		}
		timer.Reset(time.Until(st.NextCheck()))
	}
}

// check runs one probe within timeout and names the timeout when it hit.
func check(ctx context.Context, timeout time.Duration, probe Probe) (bool, string) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ok, detail := probe(cctx)
	if !ok && errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		if strings.HasSuffix(detail, "timed out") {
			return false, fmt.Sprintf("%s after %s", detail, timeout)
		}
		return false, fmt.Sprintf("timed out after %s: %s", timeout, detail)
	}
	return ok, detail
}
