package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"agora/frameworks/httpapi"
	"agora/frameworks/services/app"
	"agora/frameworks/services/core"
)

// Event is one /v2/events event in Marathon's JSON. Which fields are set
// depends on EventType.
type Event struct {
	EventType string    `json:"eventType"`
	Timestamp time.Time `json:"timestamp"`

	AppID string `json:"appId,omitempty"`
	// Task events (status_update_event, health_status_changed_event).
	TaskID     string   `json:"taskId,omitempty"`
	InstanceID string   `json:"instanceId,omitempty"`
	SlaveID    string   `json:"slaveId,omitempty"`
	TaskStatus string   `json:"taskStatus,omitempty"`
	Host       string   `json:"host,omitempty"`
	Ports      []uint64 `json:"ports,omitempty"`
	Version    string   `json:"version,omitempty"`
	Alive      *bool    `json:"alive,omitempty"`
	// Deployment events: the deployment's id and plan.
	ID          string          `json:"id,omitempty"`
	Plan        *DeploymentView `json:"plan,omitempty"`
	CurrentStep *StepView       `json:"currentStep,omitempty"`
	Message     string          `json:"message,omitempty"`
	// api_post_event.
	ClientIP      string   `json:"clientIp,omitempty"`
	URI           string   `json:"uri,omitempty"`
	AppDefinition *app.App `json:"appDefinition,omitempty"`
	// event_stream_attached and event_stream_detached.
	RemoteAddress string `json:"remoteAddress,omitempty"`
}

// Event types this package emits itself; the framework's are core's.
const (
	EventAPIPost        = "api_post_event"
	EventStreamAttached = "event_stream_attached"
	EventStreamDetached = "event_stream_detached"
)

// item is one entry of a client's queue: a framework event, rendered by the
// client's own goroutine (so the framework's send never waits on a Backend
// call), or an event of this package, already rendered.
type item struct {
	core  *core.Event
	local *Event
}

// stream is one /v2/events client.
type stream struct {
	out    chan item
	cancel context.CancelFunc
}

// offer queues it without blocking; a full queue drops the client.
func (st *stream) offer(it item) bool {
	select {
	case st.out <- it:
		return true
	default:
		st.cancel()
		return false
	}
}

// hub fans this package's own events out to the connected streams.
type hub struct {
	mu      sync.Mutex
	streams map[*stream]struct{}
}

func newHub() *hub { return &hub{streams: map[*stream]struct{}{}} }

func (h *hub) add(st *stream) {
	h.mu.Lock()
	h.streams[st] = struct{}{}
	h.mu.Unlock()
}

func (h *hub) remove(st *stream) {
	h.mu.Lock()
	delete(h.streams, st)
	h.mu.Unlock()
}

func (h *hub) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for st := range h.streams {
		ev := e
		st.offer(item{local: &ev})
	}
}

// postEvent emits api_post_event for a successful app write.
func (s *server) postEvent(r *http.Request, a *app.App) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	s.hub.publish(Event{EventType: EventAPIPost, Timestamp: s.opts.Now(), ClientIP: host, URI: r.URL.Path, AppDefinition: a.Masked()})
}

// events serves GET /v2/events as Server-Sent Events, filtered by
// ?event_type= (repeatable).
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	if !httpapi.Allow(w, r, http.MethodGet) {
		return
	}
	view := s.viewFilter(r)
	var types map[string]bool
	if ts := r.URL.Query()["event_type"]; len(ts) > 0 {
		types = map[string]bool{}
		for _, t := range ts {
			if t == "" {
				httpapi.BadParam(w, "event_type", t, "an event type")
				return
			}
			types[t] = true
		}
	}
	rc := http.NewResponseController(w)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	st := &stream{out: make(chan item, s.opts.EventBuffer), cancel: cancel}

	// The pump only moves events into the bounded queue, so the framework's
	// send is answered at once even while this client's writes are stuck.
	// After a drop it keeps draining until the Backend closes the channel.
	up := s.b.Subscribe(ctx)
	go func() {
		for ev := range up {
			ev := ev
			if ctx.Err() == nil {
				st.offer(item{core: &ev})
			}
		}
	}()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	// A stream that ends (dropped, or the server going away) ends its
	// connection too, so the client notices at once.
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	s.hub.add(st)
	remote := r.RemoteAddr
	s.hub.publish(Event{EventType: EventStreamAttached, Timestamp: s.opts.Now(), RemoteAddress: remote})
	defer func() {
		s.hub.remove(st)
		s.hub.publish(Event{EventType: EventStreamDetached, Timestamp: s.opts.Now(), RemoteAddress: remote})
	}()

	// The connection may serve another request after this one.
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	keep := time.NewTicker(s.opts.KeepAlive)
	defer keep.Stop()
	write := func(p []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		if _, err := w.Write(p); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-keep.C:
			if !write([]byte(": keep-alive\n\n")) {
				return
			}
		case it := <-st.out:
			var ev Event
			if it.local != nil {
				ev = *it.local
			} else {
				if types != nil && !types[it.core.Type] {
					continue
				}
				ev = s.render(*it.core)
			}
			if types != nil && !types[ev.EventType] {
				continue
			}
			if !visible(ev, view) {
				continue
			}
			data, err := json.Marshal(ev)
			if err != nil {
				continue
			}
			if !write([]byte(fmt.Sprintf("event: %s\ndata: %s\n\n", ev.EventType, data))) {
				return
			}
		}
	}
}

// visible reports whether a stream may see ev: events about an app need
// view_apps on it; the stream's own events name no app.
func visible(ev Event, view func(string) bool) bool {
	if ev.AppID != "" && !view(ev.AppID) {
		return false
	}
	if ev.AppDefinition != nil && !view(ev.AppDefinition.ID()) {
		return false
	}
	if ev.Plan != nil {
		for _, id := range ev.Plan.AffectedApps {
			if !view(id) {
				return false
			}
		}
	}
	return true
}

// render turns a framework event into Marathon's JSON, looking up the task
// or deployment it names.
func (s *server) render(e core.Event) Event {
	ev := Event{EventType: e.Type, Timestamp: e.Time, AppID: e.AppID, TaskID: e.TaskID, Message: e.Message}
	switch e.Type {
	case core.EventStatusUpdate, core.EventHealthChanged:
		ev.TaskStatus = e.State
		if e.Type == core.EventHealthChanged {
			ev.TaskStatus = ""
			ev.InstanceID = e.TaskID
			ev.Alive = e.Healthy
		}
		for _, in := range s.b.Instances(e.AppID) {
			if in.TaskID == e.TaskID {
				ev.Version = in.Version
				if e.Type == core.EventStatusUpdate {
					ev.SlaveID, ev.Host, ev.Ports = in.AgentID, in.Host, in.Ports
				}
				break
			}
		}
	case core.EventDeploymentInfo, core.EventDeploymentSuccess, core.EventDeploymentFailed:
		ev.ID = e.DeploymentID
		plan := &DeploymentView{ID: e.DeploymentID, AffectedApps: []string{e.AppID}, AffectedPods: []string{}, Steps: []StepView{}, CurrentActions: []ActionView{}}
		for _, v := range s.deploymentViews(all) {
			if v.ID == e.DeploymentID {
				v := v
				plan = &v
				break
			}
		}
		ev.Plan = plan
		if e.Type == core.EventDeploymentInfo && len(plan.Steps) > 0 {
			step := plan.Steps[0]
			ev.CurrentStep = &step
		}
	}
	return ev
}
