package master

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"agora/core/recordio"
)

// outbox is an unbounded queue of events for one subscriber. The master's
// loop pushes without blocking; the subscriber's HTTP handler encodes them
// and drains them onto the wire, so JSON encoding stays off the loop. Pushed
// events must not be modified afterwards.
type outbox struct {
	mu     sync.Mutex
	q      []any
	signal chan struct{}
	done   chan struct{}
	closed bool
}

func newOutbox() *outbox {
	return &outbox{signal: make(chan struct{}, 1), done: make(chan struct{})}
}

// push queues v. It never blocks.
func (o *outbox) push(v any) {
	o.mu.Lock()
	if !o.closed {
		o.q = append(o.q, v)
	}
	o.mu.Unlock()
	select {
	case o.signal <- struct{}{}:
	default:
	}
}

// close ends the stream once queued events are written.
func (o *outbox) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.closed = true
		close(o.done)
	}
}

func (o *outbox) take() ([]any, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.q
	o.q = nil
	return q, o.closed
}

// serve writes the outbox to w until it is closed, the client goes away or a
// write fails. heartbeat, when non-nil, is written after every idle interval.
func (o *outbox) serve(w http.ResponseWriter, r *http.Request, interval time.Duration, heartbeat []byte) {
	flusher, _ := w.(http.Flusher)
	var tick <-chan time.Time
	if interval > 0 && heartbeat != nil {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	write := func(recs []any) bool {
		for _, v := range recs {
			rec, ok := v.([]byte)
			if !ok {
				var err error
				if rec, err = json.Marshal(v); err != nil {
					panic("master: encoding event: " + err.Error()) // our own types always encode
				}
			}
			if err := recordio.Write(w, rec); err != nil {
				return false
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	for {
		select {
		case <-o.signal:
		case <-o.done:
		case <-tick:
			if !write([]any{heartbeat}) {
				return
			}
			continue
		case <-r.Context().Done():
			return
		}
		recs, closed := o.take()
		if !write(recs) || closed {
			return
		}
	}
}
