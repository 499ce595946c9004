package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"agora/core/client"
	"agora/core/election"
	"agora/core/mesos"
	"agora/core/zk/zktest"
)

// haMaster is one `agora master --zk` process.
type haMaster struct {
	p   *proc
	url string
}

func startHAMaster(t testing.TB, zkURL string) *haMaster {
	t.Helper()
	addr := freeAddr(t)
	p := start(t, "master", "--authenticate=false", "--zk", zkURL, "--quorum", "2", "--listen", addr, "--zk_session_timeout", "2s",
		"--allocation_interval", "100ms", "--agent_ping_timeout", "500ms", "--agent_reregister_timeout", "30s")
	m := &haMaster{p: p, url: "http://" + addr}
	waitHealthy(t, m.url)
	return m
}

// acting reports whether the master says it leads (its /health answers
// "ok" rather than "ok (standby)").
func (m *haMaster) acting() bool {
	resp, err := http.Get(m.url + "/health")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == 200 && strings.TrimSpace(string(b)) == "ok"
}

func (m *haMaster) kill9(t testing.TB) {
	t.Helper()
	m.p.cmd.Process.Signal(syscall.SIGKILL)
	m.p.cmd.Wait()
}

// waitFor polls cond for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leaderOf returns the only acting master among ms.
func leaderOf(t testing.TB, ms []*haMaster) *haMaster {
	t.Helper()
	var leader *haMaster
	waitFor(t, 30*time.Second, "exactly one acting leader", func() bool {
		n := 0
		for _, m := range ms {
			if m.acting() {
				n++
				leader = m
			}
		}
		return n == 1
	})
	return leader
}

func TestHighlyAvailableMasters(t *testing.T) {
	zk := zktest.Start(t)
	zkURL := zk.URL("/agora")
	proxy := zk.Proxy(t) // the third master reaches ZooKeeper through a link the test can cut
	proxyURL := "zk://" + proxy.Addr() + "/agora"

	a := startHAMaster(t, zkURL)
	leaderOf(t, []*haMaster{a}) // the first master leads
	b := startHAMaster(t, zkURL)
	c := startHAMaster(t, proxyURL)
	all := []*haMaster{a, b, c}
	if l := leaderOf(t, all); l != a {
		t.Fatalf("leader is %s, want the first master %s", l.url, a.url)
	}
	// Leader discovery through ZooKeeper names it.
	ctx := context.Background()
	if cand, err := election.DetectLeader(ctx, zkURL, 10*time.Second); err != nil || cand.Address != a.url {
		t.Fatalf("DetectLeader = %+v, %v; want %s", cand, err, a.url)
	}

	for i := 0; i < 2; i++ {
		start(t, "agent", "--authenticate=false", "--switch_user=false", "--master", zkURL, "--listen", freeAddr(t), "--work_dir", t.TempDir(), "--resources", "cpus:2;mem:1024;disk:100")
	}
	waitAgents(t, a.url, 2)

	// A framework, found through ZooKeeper, runs two tasks.
	info := mesos.FrameworkInfo{User: "nobody", Name: "ha", FailoverTimeout: 3600}
	s := subscribe(t, zkURL, info)
	for _, id := range []string{"a1", "a2"} {
		s.launch(s.offer(), id, "cpus:0.5;mem:32", mesos.CommandInfo{Value: "sleep 600"})
		s.state(id, mesos.TaskRunning)
	}
	fid := s.c.FrameworkID()
	running := tasksByID(t, a.url)

	// kill -9 the leader: the next master leads and recovers everything.
	a.kill9(t)
	rest := []*haMaster{b, c}
	if l := leaderOf(t, rest); l != b {
		t.Fatalf("after the leader died %s leads, want %s", l.url, b.url)
	}
	waitAgents(t, b.url, 2)
	// The framework comes back under its id; its tasks were untouched and
	// its next launch works.
	info.ID = &mesos.FrameworkID{Value: fid}
	s2 := subscribe(t, zkURL, info)
	s2.launch(s2.offer(), "b1", "cpus:0.5;mem:32", mesos.CommandInfo{Value: "sleep 600"})
	s2.state("b1", mesos.TaskRunning)
	after := tasksByID(t, b.url)
	for id, agentID := range running {
		if after[id] != agentID {
			t.Fatalf("task %s: after failover on agent %q state map %v; before on %q", id, after[id], after, agentID)
		}
	}
	if len(after) != 3 {
		t.Fatalf("tasks after failover = %v, want a1, a2, b1 (no duplicates)", after)
	}

	// ZooKeeper down: nobody leads. Back up: one master leads again with the
	// same registry.
	zk.Stop()
	waitFor(t, 20*time.Second, "every master stands by while ZooKeeper is down", func() bool { return !b.acting() && !c.acting() })
	zk.Restart()
	l := leaderOf(t, rest)
	waitAgents(t, l.url, 2)
	waitFor(t, 30*time.Second, "the three tasks running after ZooKeeper returned", func() bool { return len(tasksByID(t, l.url)) == 3 })

	// Make c lead, then cut it off from ZooKeeper: it steps down.
	if l == b {
		b.kill9(t)
	}
	if leaderOf(t, []*haMaster{c}) != c {
		t.Fatal("c does not lead")
	}
	proxy.Cut()
	waitFor(t, 10*time.Second, "a master cut off from ZooKeeper stops acting as leader", func() bool { return !c.acting() })
	proxy.Heal()
	leaderOf(t, []*haMaster{c})
	waitAgents(t, c.url, 2)
	if got := tasksByID(t, c.url); len(got) != 3 {
		t.Fatalf("tasks after c took over = %v", got)
	}
	// Clean up the tasks through the API.
	s3 := subscribe(t, zkURL, info)
	for _, id := range []string{"a1", "a2", "b1"} {
		if err := s3.c.Kill(ctx, mesos.TaskID{Value: id}, nil); err != nil {
			t.Fatal(err)
		}
		s3.state(id, mesos.TaskKilled)
	}
}

// tasksByID maps each running task id to its agent id, as the master at url
// reports them.
func tasksByID(t testing.TB, url string) map[string]string {
	t.Helper()
	resp, err := client.NewOperator(url, nil).Call(context.Background(), mesos.GetTasks)
	if err != nil {
		t.Fatalf("GET_TASKS at %s: %v", url, err)
	}
	out := map[string]string{}
	for _, tk := range resp.GetTasks.Tasks {
		if tk.State == mesos.TaskRunning {
			out[tk.TaskID.Value] = tk.AgentID.Value
		}
	}
	return out
}
