package services

import (
	"context"
	"sync"

	"agora/frameworks/services/core"
)

// subscriberBuffer is how many events a subscriber may lag behind before
// it is dropped; a slow reader never holds the framework up.
const subscriberBuffer = 1024

// hub fans the core's events out to subscribers.
type hub struct {
	mu   sync.Mutex
	subs map[chan core.Event]struct{}
}

func (h *hub) subscribe(ctx context.Context) <-chan core.Event {
	ch := make(chan core.Event, subscriberBuffer)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.drop(ch)
	}()
	return ch
}

func (h *hub) drop(ch chan core.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

func (h *hub) publish(e core.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- e:
		default:
			delete(h.subs, ch)
			close(ch)
		}
	}
}
