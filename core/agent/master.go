package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"agora/core/agentapi"
	"agora/core/election"
	"agora/core/mesos"
	"agora/core/recordio"
)

// errShutdown ends a session after SHUTDOWN so the agent registers anew at
// once.
var errShutdown = errors.New("master shut the agent down")

// errSilent ends a session whose master stopped pinging.
var errSilent = errors.New("no PING from the master")

// connectLoop keeps one session with the master open until ctx ends.
func (a *Agent) connectLoop(ctx context.Context) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		registered, err := a.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if registered {
			backoff = 0
		}
		if errors.Is(err, errShutdown) {
			continue
		}
		backoff = nextBackoff(backoff, minReconnect, maxReconnect)
		// Jitter spreads a fleet's reconnects after a master failover.
		wait := backoff/2 + rand.N(backoff/2+1)
		var denied *notAllowedError
		if errors.As(err, &denied) {
			// Retrying will not help until an operator acts, but a master
			// may be reconfigured: keep trying, and say why every time.
			a.logf("agent: %v; retrying in %v", denied, wait.Round(time.Millisecond))
		} else {
			a.logf("agent: master session ended: %v; reconnecting in %v", err, wait.Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// session subscribes and handles events until the stream fails, the master
// falls silent for missedPings ping intervals, or ctx ends. registered
// reports whether the master accepted the subscription.
func (a *Agent) session(ctx context.Context) (registered bool, err error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer func() {
		a.mu.Lock()
		a.streamID = ""
		a.mu.Unlock()
	}()

	port, err := listenPort(a.Addr())
	if err != nil {
		return false, err
	}
	a.mu.Lock()
	call := a.subscribeLocked(port)
	silence := missedPings * a.pingInterval
	// The tasks' states and pending updates the call reports are on disk
	// before the master hears of them, like the updates themselves.
	recorded := a.meta.Submit()
	a.mu.Unlock()
	select {
	case <-recorded.Done():
	case <-ctx.Done():
		return false, ctx.Err()
	}
	body, err := json.Marshal(call)
	if err != nil {
		return false, fmt.Errorf("encode SUBSCRIBE: %w", err)
	}
	endpoint, err := a.findMaster(sctx)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(sctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	// The watchdog covers the whole session, the subscribe request included.
	watchdog := time.AfterFunc(silence, func() { cancel(errSilent) })
	defer watchdog.Stop()

	resp, err := a.stream.Do(req)
	if err != nil {
		return false, streamErr(sctx, fmt.Errorf("SUBSCRIBE: %w", err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		msg = bytes.TrimSpace(msg)
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return false, &notAllowedError{master: endpoint, status: resp.Status, message: string(msg)}
		}
		return false, fmt.Errorf("SUBSCRIBE: %s: %s", resp.Status, msg)
	}
	streamID := resp.Header.Get(agentapi.StreamHeader)
	rd := recordio.NewReader(resp.Body)
	for {
		rec, err := rd.Read()
		if err != nil {
			return registered, streamErr(sctx, fmt.Errorf("event stream: %w", err))
		}
		var ev agentapi.Event
		if err := json.Unmarshal(rec, &ev); err != nil {
			return registered, fmt.Errorf("event stream: bad event: %w", err)
		}
		if ev.Type != agentapi.EventRegistered && !registered {
			a.logf("agent: ignoring %s before REGISTERED", ev.Type)
			continue
		}
		switch ev.Type {
		case agentapi.EventRegistered:
			if ev.Registered == nil || ev.Registered.AgentID.Value == "" {
				return registered, errors.New("REGISTERED without registered.agent_id")
			}
			interval := a.registered(ev.Registered, streamID)
			registered = true
			watchdog.Reset(missedPings * interval)
		case agentapi.EventPing:
			watchdog.Reset(missedPings * a.currentPingInterval())
			go a.pong(sctx, streamID)
		case agentapi.EventRunTask:
			if ev.RunTask != nil {
				a.handleRunTask(ev.RunTask)
			}
		case agentapi.EventKillTask:
			if ev.KillTask != nil {
				a.handleKillTask(ev.KillTask)
			}
		case agentapi.EventAcknowledge:
			if ev.Acknowledge != nil {
				a.handleAcknowledge(ev.Acknowledge)
			}
		case agentapi.EventShutdownFramework:
			if ev.ShutdownFramework != nil {
				a.handleShutdownFramework(ev.ShutdownFramework.FrameworkID.Value)
			}
		case agentapi.EventShutdown:
			var msg string
			if ev.Shutdown != nil {
				msg = ev.Shutdown.Message
			}
			a.mu.Lock()
			a.streamID = "" // stop sending updates of tasks about to be forgotten
			a.mu.Unlock()
			a.handleShutdown(ctx, msg)
			return registered, errShutdown
		default:
			a.logf("agent: ignoring unknown event %q", ev.Type)
		}
	}
}

// notAllowedError is a master's 401 or 403 to SUBSCRIBE: the agent's
// credentials (Config.Transport) are missing, wrong or not authorized.
type notAllowedError struct {
	master, status, message string
}

func (e *notAllowedError) Error() string {
	return fmt.Sprintf("agent is not allowed: %s: %s (the master at %s refused SUBSCRIBE; check the agent's credentials)", e.status, e.message, e.master)
}

// streamErr prefers the reason the session was cancelled over the I/O
// error it caused.
func streamErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// registered records a REGISTERED event and returns the ping interval.
func (a *Agent) registered(r *agentapi.Registered, streamID string) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.AgentID.Value != a.id {
		if a.id != "" {
			a.logf("agent: master replaced agent id %s with %s; pending updates keep the old id", a.id, r.AgentID.Value)
		}
		if err := writeAgentID(a.cfg.WorkDir, r.AgentID.Value); err != nil {
			// Not fatal: the agent runs, it just registers anew after a restart.
			a.logf("agent: %v", err)
		}
		a.id = r.AgentID.Value
	}
	if r.PingIntervalSeconds > 0 {
		a.pingInterval = time.Duration(r.PingIntervalSeconds * float64(time.Second))
	}
	a.streamID = streamID
	// Whatever was in flight may be lost with the old connection.
	a.updates.Reset()
	a.kick()
	a.logf("agent: registered as %s (%d tasks)", a.id, len(a.tasks))
	return a.pingInterval
}

func (a *Agent) currentPingInterval() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pingInterval
}

func (a *Agent) pong(ctx context.Context, streamID string) {
	a.mu.Lock()
	call := agentapi.Call{Type: agentapi.CallPong, AgentID: &mesos.AgentID{Value: a.id}}
	a.mu.Unlock()
	if err := a.post(ctx, streamID, call); err != nil && ctx.Err() == nil {
		a.logf("agent: PONG: %v", err)
	}
}

// sendConcurrency bounds the status updates in flight to the master. A
// task has at most one in flight (its stream's head: the next waits for
// the acknowledgement), so updates of different tasks go out side by side
// while each task's stay in order.
const sendConcurrency = 16

// callTransport is the HTTP transport of calls to the master, keeping a
// connection open for each update that may be in flight.
func callTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = sendConcurrency + 2 // and a PONG or two
	return tr
}

// sendLoop sends due status updates while the agent is registered, once
// they are on disk.
func (a *Agent) sendLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	slots := make(chan struct{}, sendConcurrency)
	var inFlight sync.WaitGroup
	defer inFlight.Wait()
	for {
		// Taken before Durable, so a write finishing in between still
		// wakes the loop.
		written := a.meta.Changed()
		durable := a.meta.Durable()
		a.mu.Lock()
		streamID := a.streamID
		var calls []agentapi.Call
		if streamID != "" {
			for _, u := range a.updates.Due(a.now(), durable) {
				calls = append(calls, agentapi.Call{Type: agentapi.CallUpdate, AgentID: &mesos.AgentID{Value: a.id}, Update: &u})
			}
		}
		next, pending := a.updates.Next(durable)
		a.mu.Unlock()

		for _, c := range calls {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			inFlight.Go(func() {
				defer func() { <-slots }()
				if err := a.post(ctx, streamID, c); err != nil && ctx.Err() == nil {
					// The resend timer retries it; the session notices a dead master.
					a.logf("agent: UPDATE %s of task %s: %v", c.Update.Status.State, c.Update.Status.TaskID.Value, err)
				}
			})
		}

		wait := time.Hour
		if pending && streamID != "" {
			wait = max(0, next.Sub(a.now()))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-a.sendKick:
		case <-written:
		case <-timer.C:
		}
	}
}

// masterEndpoint is the agent API URL of the master in use.
func (a *Agent) masterEndpoint() string {
	a.epMu.Lock()
	defer a.epMu.Unlock()
	if a.endpoint == "" {
		return a.zkURL
	}
	return a.endpoint
}

// leaderLookupTimeout bounds one look-up of the leading master in ZooKeeper.
const leaderLookupTimeout = 10 * time.Second

// findMaster returns the endpoint to subscribe to: the configured master,
// or the leader currently registered in ZooKeeper.
func (a *Agent) findMaster(ctx context.Context) (string, error) {
	if a.zkURL == "" {
		return a.masterEndpoint(), nil
	}
	c, err := election.DetectLeader(ctx, a.zkURL, leaderLookupTimeout)
	if err != nil {
		return "", fmt.Errorf("finding the leading master at %s: %w", a.zkURL, err)
	}
	ep := strings.TrimSuffix(c.Address, "/") + agentapi.Path
	a.epMu.Lock()
	if a.endpoint != ep {
		a.logf("agent: leading master is %s", c.Address)
	}
	a.endpoint = ep
	a.epMu.Unlock()
	return ep, nil
}

// post sends one call on the agent's stream and expects 202 Accepted.
func (a *Agent) post(ctx context.Context, streamID string, call agentapi.Call) error {
	body, err := json.Marshal(call)
	if err != nil {
		return fmt.Errorf("encode %s: %w", call.Type, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.masterEndpoint(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(agentapi.StreamHeader, streamID)
	resp, err := a.calls.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return nil
}

func listenPort(addr string) (int32, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("listen address %q: %w", addr, err)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("listen address %q: bad port", addr)
	}
	return int32(n), nil
}
