package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"agora/core/mesos"
	"agora/core/recordio"
)

// SchedulerPath is the master's scheduler API endpoint.
const SchedulerPath = "/api/v1/scheduler"

// StreamIDHeader carries the id of a framework's event stream.
const StreamIDHeader = "Mesos-Stream-Id"

// HeartbeatMisses is how many heartbeat intervals of silence end an event
// stream, so a scheduler notices a master that vanished without closing the
// connection (a partition or a dead host) and can re-subscribe.
const HeartbeatMisses = 5

var (
	// ErrStreamClosed: the master ended the event stream.
	ErrStreamClosed = errors.New("master closed the event stream")
	// ErrHeartbeatTimeout: the master sent nothing for HeartbeatMisses
	// heartbeat intervals.
	ErrHeartbeatTimeout = errors.New("no event or heartbeat from the master for too long")
)

// eventBuffer is how many decoded events wait for the scheduler to read them.
const eventBuffer = 256

// Scheduler is one framework's connection to the master's scheduler API.
type Scheduler struct {
	ep *endpoint

	mu          sync.Mutex
	frameworkID string
	streamID    string
	gen         int   // which Subscribe the stream fields belong to
	err         error // why the current stream ended; nil while it runs
}

// NewScheduler returns a client for the master at master ("127.0.0.1:5050"
// or "http://..."). hc may be nil; it must not have a Timeout, which would
// cut the event stream.
func NewScheduler(master string, hc *http.Client) *Scheduler {
	return &Scheduler{ep: newEndpoint(master, hc)}
}

// Master returns the base URL of the master the scheduler talks to (the
// leader, after a redirect).
func (s *Scheduler) Master() string {
	return s.ep.name()
}

// FrameworkID returns the id the master assigned in SUBSCRIBED ("" before).
func (s *Scheduler) FrameworkID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frameworkID
}

// StreamID returns the Mesos-Stream-Id of the current subscription.
func (s *Scheduler) StreamID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streamID
}

// Err returns why the latest event stream ended: ErrStreamClosed,
// ErrHeartbeatTimeout (both wrapped), the context's error, or a read or
// decode error. It is nil while the stream runs.
func (s *Scheduler) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Subscribe opens the event stream. It returns once the master answered 200
// with a stream id; events then arrive on the channel in order, which closes
// when the stream ends (see Err) or ctx is done. A scheduler that subscribed
// before re-subscribes as the same framework unless info.ID says otherwise.
func (s *Scheduler) Subscribe(ctx context.Context, info mesos.FrameworkInfo) (<-chan mesos.Event, error) {
	if info.ID == nil {
		if id := s.FrameworkID(); id != "" {
			info.ID = &mesos.FrameworkID{Value: id}
		}
	}
	call := mesos.Call{Type: mesos.CallSubscribe, FrameworkID: info.ID,
		Subscribe: &mesos.CallSubscribeBody{FrameworkInfo: info}}
	body, err := json.Marshal(call)
	if err != nil {
		return nil, fmt.Errorf("encode SUBSCRIBE: %w", err)
	}
	resp, err := s.ep.post(ctx, SchedulerPath, body, nil)
	if err != nil {
		return nil, fmt.Errorf("SUBSCRIBE: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("SUBSCRIBE: %w", apiError(resp))
	}
	sid := resp.Header.Get(StreamIDHeader)
	if sid == "" {
		drain(resp.Body)
		return nil, fmt.Errorf("SUBSCRIBE: master at %s answered 200 without a %s header", s.Master(), StreamIDHeader)
	}
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.streamID = sid
	s.err = nil
	s.mu.Unlock()

	// Buffered so that a scheduler can take a burst of events at once.
	ch := make(chan mesos.Event, eventBuffer)
	go s.stream(ctx, gen, resp.Body, ch)
	return ch, nil
}

// stream reads RecordIO-framed JSON events until the stream ends.
func (s *Scheduler) stream(ctx context.Context, gen int, body io.ReadCloser, ch chan<- mesos.Event) {
	defer close(ch)
	defer body.Close()
	master := s.Master()

	// The watchdog closes the body when the master goes quiet for too long,
	// which unblocks the read below.
	var silent atomic.Bool
	var watchdog *time.Timer
	var limit time.Duration
	defer func() {
		if watchdog != nil {
			watchdog.Stop()
		}
	}()

	rd := recordio.NewReader(body)
	for {
		rec, err := rd.Read()
		if err != nil {
			switch {
			case silent.Load():
				err = fmt.Errorf("event stream from %s: %w (%s)", master, ErrHeartbeatTimeout, limit)
			case ctx.Err() != nil:
				err = ctx.Err()
			case errors.Is(err, io.EOF):
				err = fmt.Errorf("event stream from %s: %w", master, ErrStreamClosed)
			default:
				err = fmt.Errorf("event stream from %s: %w", master, err)
			}
			s.finish(gen, err)
			return
		}
		var ev mesos.Event
		if err := json.Unmarshal(rec, &ev); err != nil {
			s.finish(gen, fmt.Errorf("event stream from %s: decode event: %w", master, err))
			return
		}
		if ev.Type == mesos.EventSubscribed && ev.Subscribed != nil {
			s.mu.Lock()
			if s.gen == gen {
				s.frameworkID = ev.Subscribed.FrameworkID.Value
			}
			s.mu.Unlock()
			if iv := ev.Subscribed.HeartbeatIntervalSeconds; iv > 0 && watchdog == nil {
				limit = time.Duration(iv * HeartbeatMisses * float64(time.Second))
				watchdog = time.AfterFunc(limit, func() {
					silent.Store(true)
					_ = body.Close()
				})
			}
		}
		// A slow consumer is not a silent master: pause the watchdog while
		// the event waits to be taken.
		if watchdog != nil {
			watchdog.Stop()
		}
		select {
		case ch <- ev:
		case <-ctx.Done():
			s.finish(gen, ctx.Err())
			return
		}
		if watchdog != nil {
			watchdog.Reset(limit)
		}
	}
}

func (s *Scheduler) finish(gen int, err error) {
	s.mu.Lock()
	if s.gen == gen {
		s.err = err
	}
	s.mu.Unlock()
}

// Call sends one call other than SUBSCRIBE. It fills framework_id from
// SUBSCRIBED when empty and sends the stream id header. A non-2xx answer is
// returned as *APIError.
func (s *Scheduler) Call(ctx context.Context, c mesos.Call) error {
	if c.Type == mesos.CallSubscribe {
		return errors.New("call SUBSCRIBE: use Subscribe, which opens the event stream")
	}
	if c.Type == "" {
		return errors.New("call: type is empty")
	}
	if c.FrameworkID == nil {
		id := s.FrameworkID()
		if id == "" {
			return fmt.Errorf("call %s: framework_id is unknown; subscribe and wait for SUBSCRIBED first", c.Type)
		}
		c.FrameworkID = &mesos.FrameworkID{Value: id}
	}
	body, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("call %s: encode: %w", c.Type, err)
	}
	hdr := http.Header{}
	if sid := s.StreamID(); sid != "" {
		hdr.Set(StreamIDHeader, sid)
	}
	resp, err := s.ep.post(ctx, SchedulerPath, body, hdr)
	if err != nil {
		return fmt.Errorf("call %s: %w", c.Type, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("call %s: %w", c.Type, apiError(resp))
	}
	drain(resp.Body)
	return nil
}

// Accept accepts offers with operations (usually LAUNCH).
func (s *Scheduler) Accept(ctx context.Context, offerIDs []mesos.OfferID, ops []mesos.Operation, filters *mesos.Filters) error {
	return s.Call(ctx, mesos.Call{Type: mesos.CallAccept,
		Accept: &mesos.CallAcceptBody{OfferIDs: offerIDs, Operations: ops, Filters: filters}})
}

// Decline declines offers; filters.refuse_seconds keeps them away for a while.
func (s *Scheduler) Decline(ctx context.Context, offerIDs []mesos.OfferID, filters *mesos.Filters) error {
	return s.Call(ctx, mesos.Call{Type: mesos.CallDecline,
		Decline: &mesos.CallDeclineBody{OfferIDs: offerIDs, Filters: filters}})
}

// Acknowledge acknowledges a status update. Updates without a uuid (those
// the master generates for reconciliation) need no acknowledgement, so it
// does nothing for them.
func (s *Scheduler) Acknowledge(ctx context.Context, status mesos.TaskStatus) error {
	if len(status.UUID) == 0 {
		return nil
	}
	if status.AgentID == nil || status.AgentID.Value == "" {
		return fmt.Errorf("call ACKNOWLEDGE for task %s: status.agent_id is missing", status.TaskID.Value)
	}
	return s.Call(ctx, mesos.Call{Type: mesos.CallAcknowledge,
		Acknowledge: &mesos.CallAcknowledgeBody{AgentID: *status.AgentID, TaskID: status.TaskID, UUID: status.UUID}})
}

// Kill asks the master to kill a task; agentID may be nil.
func (s *Scheduler) Kill(ctx context.Context, taskID mesos.TaskID, agentID *mesos.AgentID) error {
	return s.Call(ctx, mesos.Call{Type: mesos.CallKill,
		Kill: &mesos.CallKillBody{TaskID: taskID, AgentID: agentID}})
}

// Reconcile asks for the latest state of tasks; no tasks means implicit
// reconciliation (the master sends every task it knows for the framework).
func (s *Scheduler) Reconcile(ctx context.Context, tasks []mesos.ReconcileTask) error {
	return s.Call(ctx, mesos.Call{Type: mesos.CallReconcile,
		Reconcile: &mesos.CallReconcileBody{Tasks: tasks}})
}

// Revive removes offer filters and resumes offers for roles (all if none).
func (s *Scheduler) Revive(ctx context.Context, roles ...string) error {
	return s.Call(ctx, mesos.Call{Type: mesos.CallRevive, Revive: &mesos.CallReviveBody{Roles: roles}})
}

// Suppress stops offers for roles (all if none) until Revive.
func (s *Scheduler) Suppress(ctx context.Context, roles ...string) error {
	return s.Call(ctx, mesos.Call{Type: mesos.CallSuppress, Suppress: &mesos.CallSuppressBody{Roles: roles}})
}

// Teardown removes the framework and kills all its tasks.
func (s *Scheduler) Teardown(ctx context.Context) error {
	return s.Call(ctx, mesos.Call{Type: mesos.CallTeardown})
}
