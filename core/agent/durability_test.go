package agent

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"agora/core/agent/checkpoint"
	"agora/core/mesos"
)

// diskGate is a checkpoint Sync hook that can stall every fsync, playing
// a disk that has stopped answering.
type diskGate struct {
	mu      sync.Mutex
	stalled bool
	release chan struct{}
	entered chan struct{} // receives when an fsync is stalled
}

func newDiskGate() *diskGate { return &diskGate{entered: make(chan struct{}, 1)} }

func (g *diskGate) sync(f *os.File) error {
	g.mu.Lock()
	stalled, release := g.stalled, g.release
	g.mu.Unlock()
	if stalled {
		select {
		case g.entered <- struct{}{}:
		default:
		}
		<-release
	}
	return f.Sync()
}

func (g *diskGate) stall() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.stalled {
		g.stalled, g.release = true, make(chan struct{})
	}
}

func (g *diskGate) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stalled {
		g.stalled = false
		close(g.release)
	}
}

// startAgentOnGate starts an agent whose checkpoints go through g.
func startAgentOnGate(t *testing.T, m *fakeMaster, g *diskGate, proc *fakeProcess) *running {
	a := startAgentWith(t, testConfig(t, m), func(a *Agent) {
		meta, err := checkpoint.OpenWith(filepath.Join(a.cfg.WorkDir, metaDir), checkpoint.Options{Sync: g.sync})
		if err != nil {
			t.Fatal(err)
		}
		a.meta = meta
	}, proc)
	t.Cleanup(g.resume) // runs before the agent's stop, which flushes
	return a
}

func (m *fakeMaster) pongCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pongs
}

func (m *fakeMaster) has(tid, state string) bool {
	for _, u := range m.allUpdates() {
		if u.Status.TaskID.Value == tid && u.Status.State == state {
			return true
		}
	}
	return false
}

// waitPongs waits for n more PONGs: the agent keeps reading its event
// stream and its sender keeps running meanwhile.
func (m *fakeMaster) waitPongs(t *testing.T, n int) {
	t.Helper()
	from := m.pongCount()
	eventually(t, "PONGs", func() bool { return m.pongCount() >= from+n })
}

// TestStalledDiskHoldsLaunchesAndUpdatesNotPings: while the disk does not
// answer, the agent launches nothing (a task's info must be on disk
// first) and sends no update (it must be on disk before it is sent), yet
// keeps answering PINGs and serving /state; once the disk answers, the
// task runs and its updates go out.
func TestStalledDiskHoldsLaunchesAndUpdatesNotPings(t *testing.T) {
	m := newFakeMaster(t, 50*time.Millisecond)
	m.autoAck.Store(true)
	g := newDiskGate()
	proc := newFakeProcess()
	a := startAgentOnGate(t, m, g, proc)
	m.waitSubs(t, 1)

	g.stall()
	m.send(runTask(framework("fw"), "t1"))
	<-g.entered
	m.waitPongs(t, 3)
	if s := taskState(t, a.Agent, "t1"); s != mesos.TaskStarting {
		t.Errorf("/state during the stall: t1 is %q, want %s", s, mesos.TaskStarting)
	}
	proc.mu.Lock()
	launched := len(proc.containers)
	proc.mu.Unlock()
	if launched != 0 || len(m.allUpdates()) != 0 {
		t.Fatalf("with the task's records not on disk: %d containers launched, updates sent %+v", launched, m.allUpdates())
	}

	g.resume()
	m.waitUpdate(t, "t1", mesos.TaskStarting)
	m.waitUpdate(t, "t1", mesos.TaskRunning)
}

// TestAcknowledgementOnDiskBeforeNextUpdate: after the master acknowledges
// STARTING, RUNNING is not sent until the acknowledgement is on disk, so a
// restart can never resend an update the master already acknowledged
// after a later one.
func TestAcknowledgementOnDiskBeforeNextUpdate(t *testing.T) {
	m := newFakeMaster(t, 50*time.Millisecond)
	g := newDiskGate()
	a := startAgentOnGate(t, m, g, newFakeProcess())
	m.waitSubs(t, 1)

	m.send(runTask(framework("fw"), "t1"))
	starting := m.waitUpdate(t, "t1", mesos.TaskStarting)
	eventually(t, "t1 running", func() bool { return taskState(t, a.Agent, "t1") == mesos.TaskRunning })
	a.meta.Flush() // RUNNING is on disk, waiting behind STARTING

	g.stall()
	m.send(ackOf(starting.Update))
	<-g.entered
	m.waitPongs(t, 3)
	if m.has("t1", mesos.TaskRunning) {
		t.Fatal("RUNNING was sent before the acknowledgement of STARTING was on disk")
	}
	g.resume()
	m.waitUpdate(t, "t1", mesos.TaskRunning)
}
