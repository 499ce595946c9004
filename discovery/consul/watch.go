package consul

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"agora/discovery"
)

// Watch follows Agora's services in Consul's catalog with blocking queries
// (the service list, then each service's health entries) and sends the
// whole set once every service has been read, then again after each change,
// Config.Debounce after the last change of a burst. A slow reader gets the
// newest set, never a stale one. While Consul cannot be reached it retries
// with backoff and sends nothing: the last set stands. The channel is
// closed when ctx ends.
func (r *Registry) Watch(ctx context.Context) (<-chan []discovery.Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(chan []discovery.Service)
	w := &watcher{
		r:        r,
		out:      out,
		names:    make(chan map[string]struct{}),
		results:  make(chan result),
		watching: make(map[string]*watched),
	}
	go w.run(ctx)
	return out, nil
}

type watcher struct {
	r        *Registry
	out      chan<- []discovery.Service
	names    chan map[string]struct{} // from the catalog loop
	results  chan result              // from the per-service loops
	watching map[string]*watched
	gen      uint64
}

type watched struct {
	gen    uint64
	cancel context.CancelFunc
	read   bool               // a first answer came
	svc    *discovery.Service // nil: no Agora instance now
}

type result struct {
	name string
	gen  uint64
	svc  *discovery.Service
}

func (w *watcher) run(ctx context.Context) {
	defer close(w.out)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go w.catalogLoop(ctx)

	var (
		catalogRead bool
		dirty       bool
		sentAny     bool
		last        []discovery.Service
		pending     []discovery.Service // waiting for the reader
		sendCh      chan<- []discovery.Service
		timer       = time.NewTimer(time.Hour)
		timerC      <-chan time.Time
	)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case names := <-w.names:
			catalogRead = true
			w.follow(ctx, names)
			dirty = true
		case res := <-w.results:
			ws, ok := w.watching[res.name]
			if !ok || ws.gen != res.gen {
				continue // from a loop already stopped
			}
			ws.read, ws.svc = true, res.svc
			dirty = true
		case <-timerC:
			timerC = nil
			set := w.set()
			if !sentAny || !discovery.Equal(set, last) {
				last, sentAny = set, true
				pending, sendCh = discovery.Normalize(set), w.out
			}
			continue
		case sendCh <- pending:
			pending, sendCh = nil, nil
			continue
		}
		// Wait until every service has answered once, so the first set
		// is whole; then debounce.
		if dirty && catalogRead && w.allRead() {
			dirty = false
			timer.Reset(w.r.cfg.Debounce)
			timerC = timer.C
		}
	}
}

// follow starts a loop for each new service name and stops the loops of
// names gone from the catalog.
func (w *watcher) follow(ctx context.Context, names map[string]struct{}) {
	for name, ws := range w.watching {
		if _, ok := names[name]; !ok {
			ws.cancel()
			delete(w.watching, name)
		}
	}
	for name := range names {
		if _, ok := w.watching[name]; ok {
			continue
		}
		w.gen++
		sctx, cancel := context.WithCancel(ctx)
		w.watching[name] = &watched{gen: w.gen, cancel: cancel}
		go w.serviceLoop(sctx, name, w.gen)
	}
}

func (w *watcher) allRead() bool {
	for _, ws := range w.watching {
		if !ws.read {
			return false
		}
	}
	return true
}

func (w *watcher) set() []discovery.Service {
	set := make([]discovery.Service, 0, len(w.watching))
	for _, ws := range w.watching {
		if ws.svc != nil {
			set = append(set, *ws.svc)
		}
	}
	return discovery.Normalize(set)
}

// catalogLoop sends the names of services with Agora's tag each time the
// catalog's service list changes.
func (w *watcher) catalogLoop(ctx context.Context) {
	var index uint64
	b := backoff{}
	for ctx.Err() == nil {
		q := (&api.QueryOptions{WaitIndex: index}).WithContext(ctx)
		services, meta, err := w.r.client.Catalog().Services(q)
		if err != nil {
			if ctx.Err() == nil {
				w.r.cfg.Logf("consul: watching the catalog at %s: %v", w.r.cfg.Address, err)
			}
			// Consul may have restarted with a lower index: after a
			// failure, ask without blocking first.
			index = 0
			b.wait(ctx)
			continue
		}
		b.reset()
		index = nextIndex(index, meta.LastIndex)
		names := make(map[string]struct{})
		for name, tags := range services {
			if slices.Contains(tags, Tag) {
				names[name] = struct{}{}
			}
		}
		select {
		case w.names <- names:
		case <-ctx.Done():
			return
		}
	}
}

// serviceLoop sends one service's Agora instances each time its health
// entries change.
func (w *watcher) serviceLoop(ctx context.Context, name string, gen uint64) {
	var index uint64
	b := backoff{}
	for ctx.Err() == nil {
		q := (&api.QueryOptions{WaitIndex: index}).WithContext(ctx)
		entries, meta, err := w.r.client.Health().Service(name, Tag, false, q)
		if err != nil {
			if ctx.Err() == nil {
				w.r.cfg.Logf("consul: watching service %s at %s: %v", name, w.r.cfg.Address, err)
			}
			index = 0
			b.wait(ctx)
			continue
		}
		b.reset()
		index = nextIndex(index, meta.LastIndex)
		select {
		case w.results <- result{name: name, gen: gen, svc: FromEntries(name, entries)}:
		case <-ctx.Done():
			return
		}
	}
}

// nextIndex is the wait index after an answer: Consul's, unless it went
// backwards (Consul restarted), when the next query must not block.
func nextIndex(prev, got uint64) uint64 {
	if got < prev {
		return 0
	}
	return got
}

// backoff waits 100ms, doubling to 5s, between failed queries.
type backoff struct{ d time.Duration }

func (b *backoff) reset() { b.d = 0 }

func (b *backoff) wait(ctx context.Context) {
	switch {
	case b.d == 0:
		b.d = 100 * time.Millisecond
	case b.d < 5*time.Second:
		b.d = min(2*b.d, 5*time.Second)
	}
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// FromEntries turns Consul's health entries for one service back into a
// discovery.Service, keeping only Agora's instances; nil when there are
// none. An endpoint is healthy when all its checks pass (Agora's and the
// node's), and draining when its meta says so. The service's fields
// and labels come from the instance of the newest version.
func FromEntries(name string, entries []*api.ServiceEntry) *discovery.Service {
	var newest *api.AgentService
	eps := make([]discovery.Endpoint, 0, len(entries))
	for _, e := range entries {
		s := e.Service
		if s == nil || !IsAgora(s.ID, s.Meta) {
			continue
		}
		if newest == nil || s.Meta[MetaVersion] > newest.Meta[MetaVersion] ||
			(s.Meta[MetaVersion] == newest.Meta[MetaVersion] && s.ID < newest.ID) {
			newest = s
		}
		host := s.Address
		if host == "" && e.Node != nil {
			host = e.Node.Address
		}
		ep := discovery.Endpoint{
			TaskID:   s.Meta[MetaTaskID],
			AppID:    s.Meta[MetaAppID],
			AgentID:  s.Meta[MetaAgentID],
			Version:  s.Meta[MetaVersion],
			Host:     host,
			Port:     s.Port,
			Healthy:  e.Checks.AggregatedStatus() == api.HealthPassing,
			Draining: s.Meta[MetaDraining] == "1",
		}
		eps = append(eps, ep)
	}
	if newest == nil {
		return nil
	}
	svc := &discovery.Service{
		Name:      name,
		AppID:     newest.Meta[MetaAppID],
		PortName:  newest.Meta[MetaPortName],
		Protocol:  newest.Meta[MetaProtocol],
		Labels:    labels(newest.Tags),
		Endpoints: eps,
	}
	svc.PortIndex, _ = strconv.Atoi(newest.Meta[MetaPortIndex])
	svc.ServicePort, _ = strconv.Atoi(newest.Meta[MetaServicePort])
	return svc
}

// labels undoes Tags: key=value, or a bare key for an empty value; Agora's
// own tag is not a label.
func labels(tags []string) map[string]string {
	var m map[string]string
	for _, t := range tags {
		if t == Tag {
			continue
		}
		if m == nil {
			m = make(map[string]string, len(tags))
		}
		k, v, _ := strings.Cut(t, "=")
		m[k] = v
	}
	return m
}
