package updates

import (
	"fmt"
	"testing"
	"time"

	"agora/core/mesos"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func status(tid, state string, id byte) mesos.TaskStatus {
	return mesos.TaskStatus{TaskID: mesos.TaskID{Value: tid}, State: state, UUID: []byte{id}}
}

func states(m *Manager, now time.Time) []string {
	var out []string
	for _, u := range m.Due(now, 0) {
		out = append(out, fmt.Sprintf("%s/%s:%s(latest %s)", u.FrameworkID.Value, u.Status.TaskID.Value, u.Status.State, u.LatestState))
	}
	return out
}

func eq(t *testing.T, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestOnlyHeadInFlightAndInOrder(t *testing.T) {
	m := New(10*time.Second, 10*time.Minute)
	k := Key{"f", "t"}
	m.Add(k, status("t", mesos.TaskStarting, 1), mesos.TaskStarting)
	m.Add(k, status("t", mesos.TaskRunning, 2), mesos.TaskRunning)

	eq(t, states(m, t0), []string{"f/t:TASK_STARTING(latest TASK_RUNNING)"})
	// Not resent before the retry interval, and RUNNING waits behind it.
	eq(t, states(m, t0.Add(9*time.Second)), nil)

	if _, _, err := m.Acknowledge(k, []byte{2}); err == nil {
		t.Fatal("ack of the non-head update was accepted")
	}
	if _, rem, err := m.Acknowledge(k, []byte{1}); err != nil || rem != 1 {
		t.Fatalf("ack head: remaining %d, err %v", rem, err)
	}
	// The next update goes out at once, not after the old head's timer.
	eq(t, states(m, t0.Add(9*time.Second)), []string{"f/t:TASK_RUNNING(latest TASK_RUNNING)"})
	if _, rem, err := m.Acknowledge(k, []byte{2}); err != nil || rem != 0 {
		t.Fatalf("ack last: remaining %d, err %v", rem, err)
	}
	if m.Len() != 0 {
		t.Fatalf("stream kept after its last ack: %d", m.Len())
	}
	if _, ok := m.Next(0); ok {
		t.Fatal("Next reports work with nothing pending")
	}
}

func TestResendBackoffDoublesToCap(t *testing.T) {
	m := New(10*time.Second, 35*time.Second)
	k := Key{"f", "t"}
	m.Add(k, status("t", mesos.TaskRunning, 1), mesos.TaskRunning)
	now := t0
	var gaps []time.Duration
	last := now
	for i := 0; i < 6; i++ {
		if i > 0 {
			next, ok := m.Next(0)
			if !ok {
				t.Fatal("no resend scheduled")
			}
			now = next
		}
		if got := m.Due(now, 0); len(got) != 1 {
			t.Fatalf("send %d: got %d updates", i, len(got))
		}
		if i > 0 {
			gaps = append(gaps, now.Sub(last))
		}
		last = now
	}
	eq(t, []string{fmt.Sprint(gaps)}, []string{"[10s 20s 35s 35s 35s]"})
}

func TestResetResendsEverythingAtOnce(t *testing.T) {
	m := New(10*time.Second, time.Minute)
	a, b := Key{"f", "a"}, Key{"f", "b"}
	m.Add(b, status("b", mesos.TaskRunning, 2), mesos.TaskRunning)
	m.Add(a, status("a", mesos.TaskFailed, 1), mesos.TaskFailed)
	eq(t, states(m, t0), []string{"f/a:TASK_FAILED(latest TASK_FAILED)", "f/b:TASK_RUNNING(latest TASK_RUNNING)"})
	eq(t, states(m, t0.Add(time.Second)), nil)
	m.Reset()
	if next, ok := m.Next(0); !ok || !next.IsZero() {
		t.Fatalf("after Reset Next = %v, %v; want due at once", next, ok)
	}
	eq(t, states(m, t0.Add(time.Second)), []string{"f/a:TASK_FAILED(latest TASK_FAILED)", "f/b:TASK_RUNNING(latest TASK_RUNNING)"})
}

func TestDropFrameworkAndUnknownAck(t *testing.T) {
	m := New(time.Second, time.Minute)
	m.Add(Key{"f1", "t"}, status("t", mesos.TaskRunning, 1), mesos.TaskRunning)
	m.Add(Key{"f2", "t"}, status("t", mesos.TaskRunning, 2), mesos.TaskRunning)
	m.DropFramework("f1")
	eq(t, states(m, t0), []string{"f2/t:TASK_RUNNING(latest TASK_RUNNING)"})
	if _, _, err := m.Acknowledge(Key{"f1", "t"}, []byte{1}); err == nil {
		t.Fatal("ack for a dropped framework was accepted")
	}
	if h, ok := m.Head(Key{"f2", "t"}); !ok || h.UUID[0] != 2 {
		t.Fatalf("head = %v, %v", h, ok)
	}
	m.Clear()
	if m.Len() != 0 || m.Pending(Key{"f2", "t"}) != 0 {
		t.Fatal("Clear left updates behind")
	}
}

// TestHeldUntilCheckpointed: an update is not sent before the checkpoint
// that recorded it is durable, nor the update after an acknowledgement
// before the acknowledgement's checkpoint is; other tasks are not held up.
func TestHeldUntilCheckpointed(t *testing.T) {
	m := New(10*time.Second, time.Minute)
	a, b := Key{"f", "a"}, Key{"f", "b"}
	m.Add(a, status("a", mesos.TaskStarting, 1), mesos.TaskStarting)
	m.Hold(a, 1)
	m.Add(a, status("a", mesos.TaskRunning, 2), mesos.TaskRunning)
	m.Hold(a, 2)
	m.Add(b, status("b", mesos.TaskRunning, 3), mesos.TaskRunning)
	m.Hold(b, 3)
	m.Hold(b, 1) // holds only grow

	get := func(durable uint64) []string {
		var out []string
		for _, u := range m.Due(t0, durable) {
			out = append(out, u.Status.TaskID.Value+":"+u.Status.State)
		}
		return out
	}
	if _, ok := m.Next(1); ok {
		t.Fatal("Next counts held streams")
	}
	eq(t, get(1), nil) // a's whole stream waits for its latest checkpoint
	eq(t, get(2), []string{"a:TASK_STARTING"})
	if _, _, err := m.Acknowledge(a, []byte{1}); err != nil {
		t.Fatal(err)
	}
	m.Hold(a, 4) // the acknowledgement's checkpoint
	eq(t, get(3), []string{"b:TASK_RUNNING"})
	eq(t, get(3), nil)
	eq(t, get(4), []string{"a:TASK_RUNNING"})
	m.Hold(Key{"f", "none"}, 9) // nothing pending: nothing to hold
	if m.Len() != 2 {
		t.Fatalf("Hold created a stream: %d", m.Len())
	}
}

// BenchmarkDue1000Tasks is the sender's wake-up on a busy agent: 1000 tasks
// with an update in flight, one of them newly due.
func BenchmarkDue1000Tasks(b *testing.B) {
	m := New(10*time.Second, 10*time.Minute)
	for i := 0; i < 1000; i++ {
		m.Add(Key{"f", fmt.Sprint(i)}, status(fmt.Sprint(i), mesos.TaskRunning, byte(i)), mesos.TaskRunning)
	}
	m.Due(t0, 0)
	k := Key{"f", "new"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Add(k, status("new", mesos.TaskRunning, 1), mesos.TaskRunning)
		if len(m.Due(t0.Add(time.Second), 0)) != 1 {
			b.Fatal("want exactly the new update due")
		}
		m.Acknowledge(k, []byte{1})
	}
}

func TestListRestoresAStreamInOrder(t *testing.T) {
	m := New(10*time.Second, 10*time.Minute)
	k := Key{"f", "t"}
	m.Add(k, status("t", mesos.TaskStarting, 1), mesos.TaskStarting)
	m.Add(k, status("t", mesos.TaskRunning, 2), mesos.TaskRunning)
	m.Add(k, status("t", mesos.TaskFinished, 3), mesos.TaskFinished)
	if _, _, err := m.Acknowledge(k, []byte{1}); err != nil {
		t.Fatal(err)
	}
	pending, latest := m.List(k)
	if len(pending) != 2 || pending[0].State != mesos.TaskRunning || pending[1].State != mesos.TaskFinished || latest != mesos.TaskFinished {
		t.Fatalf("List = %v, %q", pending, latest)
	}
	// A new manager (a restarted agent) fed the list sends the same stream.
	m2 := New(10*time.Second, 10*time.Minute)
	for _, st := range pending {
		m2.Add(k, st, latest)
	}
	eq(t, states(m2, t0), []string{"f/t:TASK_RUNNING(latest TASK_FINISHED)"})
	if _, _, err := m2.Acknowledge(k, []byte{2}); err != nil {
		t.Fatal(err)
	}
	eq(t, states(m2, t0), []string{"f/t:TASK_FINISHED(latest TASK_FINISHED)"})
	// The list is a copy.
	pending[0].State = "changed"
	if p, _ := m.List(k); p[0].State != mesos.TaskRunning {
		t.Fatal("List shares the manager's memory")
	}
	if p, l := m.List(Key{"f", "none"}); p != nil || l != "" {
		t.Fatalf("List of an unknown task = %v, %q", p, l)
	}
}
