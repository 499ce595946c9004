// Package embedded is a discovery.Registry held in memory, for a cluster
// without Consul (the `make run` default): the services framework's Sync
// replaces the set and every watcher gets it.
//
// Contract: Sync stores a copy of the set and never blocks on watchers; a
// Sync of the same set (in any order) wakes nobody. Watch sends the current
// set at once, then the latest set after each change; a slow watcher skips
// the sets it missed and gets the newest, never a stale one. Every watcher
// gets its own copy, which it may change.
package embedded

import (
	"context"
	"sync"

	"agora/discovery"
)

// Registry is the in-memory registry. The zero value is not usable: use New.
type Registry struct {
	mu       sync.Mutex
	set      []discovery.Service // normalized, never changed in place
	version  uint64
	watchers map[*watcher]struct{}
}

type watcher struct {
	// wake holds at most one pending "something changed"; Sync never
	// blocks on it, which is what coalesces changes for a slow watcher.
	wake chan struct{}
}

var _ discovery.Registry = (*Registry)(nil)

// New returns an empty registry.
func New() *Registry {
	return &Registry{watchers: make(map[*watcher]struct{})}
}

// Sync makes the registry hold exactly services.
func (r *Registry) Sync(ctx context.Context, services []discovery.Service) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	next := discovery.Normalize(services)
	r.mu.Lock()
	defer r.mu.Unlock()
	if discovery.Equal(r.set, next) {
		return nil
	}
	r.set = next
	r.version++
	for w := range r.watchers {
		select {
		case w.wake <- struct{}{}:
		default: // a wake-up is already pending; it will read the newest set
		}
	}
	return nil
}

// Services returns a copy of the current set.
func (r *Registry) Services() []discovery.Service {
	set, _ := r.current()
	return discovery.Normalize(set)
}

func (r *Registry) current() ([]discovery.Service, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.set, r.version
}

// Watch sends the current set, then the newest set after each change,
// until ctx ends; then the channel is closed.
func (r *Registry) Watch(ctx context.Context) (<-chan []discovery.Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &watcher{wake: make(chan struct{}, 1)}
	r.mu.Lock()
	r.watchers[w] = struct{}{}
	r.mu.Unlock()

	out := make(chan []discovery.Service)
	go func() {
		defer close(out)
		defer func() {
			r.mu.Lock()
			delete(r.watchers, w)
			r.mu.Unlock()
		}()
		sent := uint64(0)
		first := true
		for {
			set, version := r.current()
			if first || version != sent {
				select {
				case out <- discovery.Normalize(set):
					sent, first = version, false
				case <-w.wake:
					continue // a newer set arrived while waiting: send that one
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-w.wake:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
