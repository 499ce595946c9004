// Package updates is the agent's status update manager: the pure bookkeeping
// behind "every task status reaches the master, in order, at least once".
//
// Contract: each task has a FIFO stream of pending updates. Only the head of
// a stream is in flight: Due hands it out to be sent, then again after the
// retry interval (doubling up to a cap) until Acknowledge names its UUID,
// which pops it and makes the next update due at once. Reset makes every head
// due again, for resending after a reconnect.
//
// A stream can be held back until a checkpoint is durable (Hold): the caller
// numbers its checkpoint writes, holds a stream on the number of the write
// that recorded its latest change (an update added, an acknowledgement),
// and passes Due the number up to which writes are on disk. So an update is
// sent only once it is on disk, and the update after an acknowledged one
// only once the acknowledgement is. The Manager does no I/O, reads no clock
// and is not safe for concurrent use; the caller passes the time in and
// holds its own lock.
package updates

import (
	"bytes"
	"fmt"
	"sort"
	"time"

	"agora/core/agentapi"
	"agora/core/mesos"
)

// Key names one task's stream. Task ids are unique within a framework only.
type Key struct {
	FrameworkID string
	TaskID      string
}

// Manager holds the pending status updates of every task.
type Manager struct {
	initial, max time.Duration
	streams      map[Key]*stream
}

type stream struct {
	pending []mesos.TaskStatus
	// latest is the task's newest state, sent as Update.LatestState so the
	// master knows where the task is even while older updates are in flight.
	latest string
	// sent reports whether the head has been handed out at least once; until
	// then it is due at once.
	sent     bool
	due      time.Time
	interval time.Duration
	// hold is the checkpoint that must be durable before the head is sent.
	hold uint64
}

// New returns an empty Manager that resends an unacknowledged update after
// initial, doubling the wait on each resend up to max.
func New(initial, max time.Duration) *Manager {
	if initial <= 0 {
		initial = time.Second
	}
	if max < initial {
		max = initial
	}
	return &Manager{initial: initial, max: max, streams: map[Key]*stream{}}
}

// Add appends st to the task's stream. latest is the task's newest state as
// the caller knows it (normally st.State).
func (m *Manager) Add(k Key, st mesos.TaskStatus, latest string) {
	s := m.streams[k]
	if s == nil {
		s = &stream{interval: m.initial}
		m.streams[k] = s
	}
	s.pending = append(s.pending, st)
	s.latest = latest
}

// Hold keeps k's stream from being sent until checkpoint seq is durable.
// Holds only grow: a smaller seq than the current hold changes nothing. A
// task without pending updates has nothing to hold.
func (m *Manager) Hold(k Key, seq uint64) {
	if s := m.streams[k]; s != nil {
		s.hold = max(s.hold, seq)
	}
}

// Due returns the updates to send at now, with checkpoints up to durable
// on disk: every head not yet sent and every head whose resend time has
// come, in key order, except those held for a later checkpoint. It
// schedules each one's next resend.
func (m *Manager) Due(now time.Time, durable uint64) []agentapi.Update {
	var due []Key
	for k, s := range m.streams {
		if s.hold > durable {
			continue
		}
		if !s.sent || !now.Before(s.due) {
			due = append(due, k)
		}
	}
	sortKeys(due)
	out := make([]agentapi.Update, 0, len(due))
	for _, k := range due {
		s := m.streams[k]
		s.sent = true
		s.due = now.Add(s.interval)
		s.interval = min(2*s.interval, m.max)
		out = append(out, agentapi.Update{
			FrameworkID: mesos.FrameworkID{Value: k.FrameworkID},
			Status:      s.pending[0],
			LatestState: s.latest,
		})
	}
	return out
}

// Next returns when Due, given the same durable, will next return
// something: the zero time if a head is waiting to be sent for the first
// time, ok=false if nothing is pending. Held streams are left out: they
// wait for the checkpoint, not for the clock.
func (m *Manager) Next(durable uint64) (t time.Time, ok bool) {
	for _, s := range m.streams {
		if s.hold > durable {
			continue
		}
		if !s.sent {
			return time.Time{}, true
		}
		if !ok || s.due.Before(t) {
			t, ok = s.due, true
		}
	}
	return t, ok
}

// Acknowledge pops the head of k's stream if its UUID is uuid and returns
// it; remaining is how many updates the task still has pending. An
// acknowledgement of anything but the head (a duplicate, or one for an
// update already popped) is an error and changes nothing.
func (m *Manager) Acknowledge(k Key, uuid []byte) (acked mesos.TaskStatus, remaining int, err error) {
	s := m.streams[k]
	if s == nil {
		return acked, 0, fmt.Errorf("acknowledge: task %q of framework %q has no pending updates", k.TaskID, k.FrameworkID)
	}
	head := s.pending[0]
	if !bytes.Equal(head.UUID, uuid) {
		return acked, len(s.pending), fmt.Errorf("acknowledge: uuid %x of task %q is not the pending update %x", uuid, k.TaskID, head.UUID)
	}
	s.pending = s.pending[1:]
	if len(s.pending) == 0 {
		delete(m.streams, k)
		return head, 0, nil
	}
	s.sent, s.interval = false, m.initial
	return head, len(s.pending), nil
}

// Head returns the update of k awaiting acknowledgement.
func (m *Manager) Head(k Key) (mesos.TaskStatus, bool) {
	s := m.streams[k]
	if s == nil {
		return mesos.TaskStatus{}, false
	}
	return s.pending[0], true
}

// List returns k's unacknowledged updates in order, oldest first, and the
// task's latest state as last given to Add: what the agent checkpoints so
// the stream survives a restart (restored by calling Add for each).
func (m *Manager) List(k Key) (pending []mesos.TaskStatus, latest string) {
	s := m.streams[k]
	if s == nil {
		return nil, ""
	}
	return append([]mesos.TaskStatus(nil), s.pending...), s.latest
}

// Pending returns how many updates k has not had acknowledged.
func (m *Manager) Pending(k Key) int {
	if s := m.streams[k]; s != nil {
		return len(s.pending)
	}
	return 0
}

// Len returns how many tasks have pending updates.
func (m *Manager) Len() int { return len(m.streams) }

// Reset makes every head due at once with the retry interval back at its
// initial value: after re-registration the master may have lost whatever was
// in flight.
func (m *Manager) Reset() {
	for _, s := range m.streams {
		s.sent, s.interval = false, m.initial
	}
}

// DropFramework forgets every pending update of a framework, which the
// master has removed and will not acknowledge.
func (m *Manager) DropFramework(frameworkID string) {
	for k := range m.streams {
		if k.FrameworkID == frameworkID {
			delete(m.streams, k)
		}
	}
}

// Clear forgets every pending update.
func (m *Manager) Clear() { clear(m.streams) }

func sortKeys(keys []Key) {
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].FrameworkID != keys[j].FrameworkID {
			return keys[i].FrameworkID < keys[j].FrameworkID
		}
		return keys[i].TaskID < keys[j].TaskID
	})
}
