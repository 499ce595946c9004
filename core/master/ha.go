package master

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Elector is what a highly available master needs from a leader election.
type Elector interface {
	// Leadership reports true when this master becomes the leader and false
	// the moment it stops being leader.
	Leadership() <-chan bool
	// LeaderAddress is the current leader's base URL ("http://host:port"),
	// if one is known.
	LeaderAddress() (string, bool)
}

// HA runs a master that leads only while its Elector says so. While it
// stands by, every API call is redirected (307) to the leader, as Mesos
// does; when it is elected it recovers the registry from the store and
// acts; when it loses leadership it stops acting at once, drops its state
// and stands by again, so that two leaders never act together.
type HA struct {
	cfg     Config
	el      Elector
	handler atomic.Pointer[http.Handler]
	leading atomic.Bool
	beside  []func(ctx context.Context, m *Master)
}

// Beside registers a function run on its own goroutine while this master
// leads, with a context that ends when it stops leading: how built-in
// frameworks run beside the leading master and move with it. Call before
// Run.
func (h *HA) Beside(f func(ctx context.Context, m *Master)) { h.beside = append(h.beside, f) }

// NewHA prepares a highly available master; cfg.Store must be shared by all
// masters (ZooKeeper).
func NewHA(cfg Config, el Elector) (*HA, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &HA{cfg: cfg, el: el}
	h.setHandler(h.standbyHandler())
	return h, nil
}

func (h *HA) setHandler(hd http.Handler) { h.handler.Store(&hd) }

// Leading reports whether this master is the acting leader.
func (h *HA) Leading() bool { return h.leading.Load() }

// ServeHTTP serves the leader's API or the standby's redirects.
func (h *HA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*h.handler.Load()).ServeHTTP(w, r)
}

// Run follows the election until ctx ends.
func (h *HA) Run(ctx context.Context) error {
	leadership := h.el.Leadership()
	for {
		// Stand by until elected.
		select {
		case <-ctx.Done():
			return nil
		case lead, ok := <-leadership:
			if !ok {
				return fmt.Errorf("master: leader election ended")
			}
			if !lead {
				continue
			}
		}
		h.cfg.Logf("elected leader; recovering the registry")
		m := h.recoverWhileLeading(ctx, leadership)
		if m == nil {
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { m.Run(runCtx); close(done) }()
		h.setHandler(m.Handler())
		h.leading.Store(true)
		var besideDone sync.WaitGroup
		for _, f := range h.beside {
			besideDone.Add(1)
			go func() { defer besideDone.Done(); f(runCtx, m) }()
		}
		lost := false
		for !lost {
			select {
			case <-ctx.Done():
				lost = true
			case lead, ok := <-leadership:
				lost = !ok || !lead
			}
		}
		// Step down: refuse to act first, then tear the master down.
		h.leading.Store(false)
		h.setHandler(h.standbyHandler())
		if ctx.Err() == nil {
			m.pers.discard()
		}
		stop()
		besideDone.Wait()
		<-done
		if ctx.Err() != nil {
			return nil
		}
		h.cfg.Logf("lost leadership; standing by")
	}
}

// recoverWhileLeading builds the master from the registry, retrying while
// the store is unreachable (ZooKeeper coming back) as long as this master
// is still the leader. It returns nil if leadership ended first.
func (h *HA) recoverWhileLeading(ctx context.Context, leadership <-chan bool) *Master {
	for {
		m, err := New(h.cfg)
		if err == nil {
			return m
		}
		h.cfg.Logf("cannot lead yet: %v; retrying", err)
		select {
		case <-ctx.Done():
			return nil
		case lead, ok := <-leadership:
			if !ok || !lead {
				return nil
			}
		case <-time.After(time.Second):
		}
	}
}

// standbyHandler redirects API calls to the leader, and answers 503 while
// no leader is known. /health answers locally so probes see the process.
func (h *HA) standbyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.Write([]byte("ok (standby)\n"))
			return
		}
		leader, ok := h.el.LeaderAddress()
		if !ok {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "no leading master is elected yet; retry shortly", http.StatusServiceUnavailable)
			return
		}
		target := leader + r.URL.RequestURI()
		http.Redirect(w, r, target, http.StatusTemporaryRedirect)
	})
}
