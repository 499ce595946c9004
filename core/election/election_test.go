package election

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"agora/core/zk/zktest"
)

// wait bounds every wait for an election to settle: generous, because a
// loaded machine is slow, and never asserted as a latency.
const wait = 60 * time.Second

// sessionTimeout of test candidates: short enough for expiry tests.
const sessionTimeout = 4 * time.Second

// member is a candidate under test, recording its Leadership channel.
type member struct {
	*Election
	id string

	mu      sync.Mutex
	changes []change
}

type change struct {
	leader bool
	at     int64 // position in the test's global order of changes
}

// order numbers changes across members, so a test can tell which came
// first without comparing clocks.
type order struct{ n atomic.Int64 }

func join(t *testing.T, o *order, servers []string, path, id string) *member {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c := Candidate{ID: id, Address: "http://127.0.0.1:" + fmt.Sprint(5050+len(id)), Data: []byte("data of " + id)}
	e, err := Join(ctx, servers, path, sessionTimeout, c, t.Logf)
	if err != nil {
		t.Fatalf("Join(%s): %v", id, err)
	}
	m := &member{Election: e, id: id}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for v := range e.Leadership() {
			m.mu.Lock()
			m.changes = append(m.changes, change{v, o.n.Add(1)})
			m.mu.Unlock()
		}
	}()
	t.Cleanup(func() { e.Close(); <-done })
	return m
}

// history is the member's leadership changes so far.
func (m *member) history() []change {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]change(nil), m.changes...)
}

// leading reports what the member's Leadership channel last said.
func (m *member) leading() bool {
	h := m.history()
	return len(h) > 0 && h[len(h)-1].leader
}

// eventually polls cond until it holds or wait passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leaders returns the members whose channel last said true.
func leaders(ms ...*member) []string {
	var out []string
	for _, m := range ms {
		if m.leading() {
			out = append(out, m.id)
		}
	}
	return out
}

// oneLeader waits until exactly one member leads, everyone's Leader()
// agrees on it, and it stays so for a moment, and returns it.
func oneLeader(t *testing.T, ms ...*member) *member {
	t.Helper()
	var leader *member
	eventually(t, "exactly one leader that all candidates see", func() bool {
		ids := leaders(ms...)
		if len(ids) != 1 {
			return false
		}
		for _, m := range ms {
			if m.id == ids[0] {
				leader = m
			}
		}
		for _, m := range ms {
			c, ok := m.Leader()
			if !ok || c.ID != leader.id || c.Address != leader.me.Address || string(c.Data) != "data of "+leader.id {
				return false
			}
		}
		return leader.IsLeader()
	})
	return leader
}

func TestThreeCandidatesOneLeader(t *testing.T) {
	z := zktest.Start(t)
	var o order
	a := join(t, &o, z.Servers(), "/agora", "a")
	b := join(t, &o, z.Servers(), "/agora", "b")
	c := join(t, &o, z.Servers(), "/agora", "c")
	// The first to join is first in line.
	if got := oneLeader(t, a, b, c); got != a {
		t.Fatalf("leader is %s, want a (first in line)", got.id)
	}
	for _, m := range []*member{b, c} {
		if h := m.history(); len(h) != 0 {
			t.Fatalf("%s never led but reported %v", m.id, h)
		}
	}
}

func TestClosedLeaderHandsOver(t *testing.T) {
	z := zktest.Start(t)
	var o order
	a := join(t, &o, z.Servers(), "/agora", "a")
	b := join(t, &o, z.Servers(), "/agora", "b")
	c := join(t, &o, z.Servers(), "/agora", "c")
	oneLeader(t, a, b, c)

	a.Close()
	if _, open := <-a.Leadership(); open {
		t.Fatal("Leadership channel still open after Close")
	}
	if got := oneLeader(t, b, c); got != b {
		t.Fatalf("after the leader closed, %s leads; want b (next in line)", got.id)
	}
	b.Close()
	oneLeader(t, c)
}

// TestPartitionedLeaderStepsDown: a leader cut off from ZooKeeper steps
// down as soon as its connection drops, before its session expires and
// another candidate takes over; when it reaches ZooKeeper again it rejoins
// at the back of the line.
func TestPartitionedLeaderStepsDown(t *testing.T) {
	z := zktest.Start(t)
	p := z.Proxy(t)
	var o order
	a := join(t, &o, p.Servers(), "/agora", "a")
	b := join(t, &o, z.Servers(), "/agora", "b")
	c := join(t, &o, z.Servers(), "/agora", "c")
	oneLeader(t, a, b, c)

	p.Cut()
	eventually(t, "partitioned leader reports false", func() bool { return !a.leading() && !a.IsLeader() })
	// a, cut off, cannot see who leads now.
	if got := oneLeader(t, b, c); got != b || a.leading() {
		t.Fatalf("after the leader's session expired, %s leads (a leading: %v); want b alone", got.id, a.leading())
	}
	// a stepped down before b took over.
	ha, hb := a.history(), b.history()
	if ha[len(ha)-1].at > hb[0].at {
		t.Fatalf("b became leader (change %d) before the partitioned a stepped down (change %d)", hb[0].at, ha[len(ha)-1].at)
	}
	// a's Leader() still names itself as last seen; it must not say it leads.
	if a.IsLeader() {
		t.Fatal("partitioned a still says it leads")
	}

	p.Heal()
	// a's session has expired: it rejoins behind b and c.
	eventually(t, "a sees b lead after rejoining", func() bool {
		l, ok := a.Leader()
		return ok && l.ID == "b"
	})
	if got := oneLeader(t, a, b, c); got != b {
		t.Fatalf("after a rejoined, %s leads; want b", got.id)
	}
	b.Close()
	if got := oneLeader(t, a, c); got != c {
		t.Fatalf("after b left, %s leads; want c (a rejoined behind it)", got.id)
	}
}

// TestZooKeeperDown: with ZooKeeper gone nobody leads; when it is back,
// exactly one candidate does.
func TestZooKeeperDown(t *testing.T) {
	z := zktest.Start(t)
	var o order
	a := join(t, &o, z.Servers(), "/agora", "a")
	b := join(t, &o, z.Servers(), "/agora", "b")
	c := join(t, &o, z.Servers(), "/agora", "c")
	oneLeader(t, a, b, c)

	z.Stop()
	eventually(t, "no candidate leads while ZooKeeper is down", func() bool {
		return len(leaders(a, b, c)) == 0 && !a.IsLeader() && !b.IsLeader() && !c.IsLeader()
	})
	z.Restart()
	oneLeader(t, a, b, c)
}

func TestDetection(t *testing.T) {
	z := zktest.Start(t)
	url := z.URL("/agora/masters")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Nothing there yet: no leader, and the detector waits for one.
	if _, err := DetectLeader(ctx, url, wait); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("DetectLeader with no masters: err = %v, want ErrNoLeader", err)
	}
	d, err := NewDetector(ctx, url, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	next := func(want string) {
		t.Helper()
		deadline := time.After(wait)
		for {
			select {
			case c, ok := <-d.Changes():
				if !ok {
					t.Fatal("Changes closed")
				}
				if c.ID == want {
					if l, ok := d.Leader(); ok != (want != "") || l.ID != want {
						t.Fatalf("Leader() = %+v, %v after change to %q", l, ok, want)
					}
					return
				}
			case <-deadline:
				t.Fatalf("detector did not report leader %q", want)
			}
		}
	}
	next("")

	var o order
	a := join(t, &o, z.Servers(), "/agora/masters", "a")
	b := join(t, &o, z.Servers(), "/agora/masters", "b")
	next("a")
	got, err := DetectLeader(ctx, url, wait)
	if err != nil || got.ID != "a" || got.Address != a.me.Address || string(got.Data) != "data of a" {
		t.Fatalf("DetectLeader = %+v, %v; want a", got, err)
	}

	a.Close()
	next("b")
	if got, err := DetectLeader(ctx, url, wait); err != nil || got.ID != "b" {
		t.Fatalf("DetectLeader after a left = %+v, %v; want b", got, err)
	}
	b.Close()
	next("")

	cancel()
	for range d.Changes() {
	}
}

// TestDetectLeaderUnreachable: a one-shot detection gives up after its
// timeout rather than waiting for ZooKeeper.
func TestDetectLeaderUnreachable(t *testing.T) {
	z := zktest.Start(t)
	z.Stop()
	done := make(chan error, 1)
	go func() {
		_, err := DetectLeader(context.Background(), z.URL("/agora"), 2*time.Second)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("DetectLeader with ZooKeeper down succeeded")
		}
	case <-time.After(wait):
		t.Fatalf("DetectLeader with a 2s timeout still blocked after %v", wait)
	}
}

func TestJoinRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	good := Candidate{ID: "m1", Address: "http://127.0.0.1:5050"}
	cases := []struct {
		name    string
		servers []string
		path    string
		me      Candidate
		want    string
	}{
		{"no servers", nil, "/agora", good, "servers"},
		{"root path", []string{"127.0.0.1:1"}, "/", good, "root"},
		{"relative path", []string{"127.0.0.1:1"}, "agora", good, "must start with /"},
		{"no id", []string{"127.0.0.1:1"}, "/agora", Candidate{Address: good.Address}, "ID"},
		{"bad address", []string{"127.0.0.1:1"}, "/agora", Candidate{ID: "m1", Address: "127.0.0.1:5050"}, "address"},
	}
	for _, c := range cases {
		_, err := Join(ctx, c.servers, c.path, sessionTimeout, c.me, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Join err = %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}

func TestParseURL(t *testing.T) {
	cases := []struct {
		in      string
		servers []string
		path    string
		ok      bool
		err     string // substring; "" for none
	}{
		{"zk://127.0.0.1:2181,127.0.0.1:2182/agora", []string{"127.0.0.1:2181", "127.0.0.1:2182"}, "/agora", true, ""},
		{"zk://zk1/agora/masters", []string{"zk1:2181"}, "/agora/masters", true, ""},
		{"ZK://zk1:2181/agora", []string{"zk1:2181"}, "/agora", true, ""},
		{"zk://[::1]:2181,[::1]/agora", []string{"[::1]:2181", "[::1]:2181"}, "/agora", true, ""},
		{"http://127.0.0.1:5050", nil, "", false, ""},
		{"127.0.0.1:5050", nil, "", false, ""},
		{"", nil, "", false, ""},
		{"zk://127.0.0.1:2181", nil, "", true, "missing path"},
		{"zk:///agora", nil, "", true, "no servers"},
		{"zk://a:1,,b:2/agora", nil, "", true, "empty server"},
		{"zk://a:port/agora", nil, "", true, "port"},
		{"zk://a:70000/agora", nil, "", true, "port"},
		{"zk://::1/agora", nil, "", true, "brackets"},
		{"zk://a:2181/", nil, "", true, "root"},
		{"zk://a:2181/agora/", nil, "", true, "end with"},
		{"zk://a:2181/agora//x", nil, "", true, "empty element"},
		{"zk://a:2181/agora/../x", nil, "", true, `".."`},
		{"zk://user:pw@a:2181/agora", nil, "", true, "credentials"},
		{"zk://a:2181/agora?x=1", nil, "", true, "query"},
	}
	for _, c := range cases {
		servers, path, ok, err := ParseURL(c.in)
		if ok != c.ok {
			t.Errorf("ParseURL(%q) ok = %v, want %v", c.in, ok, c.ok)
		}
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseURL(%q) err = %v, want one mentioning %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURL(%q): %v", c.in, err)
			continue
		}
		if fmt.Sprint(servers) != fmt.Sprint(c.servers) || path != c.path {
			t.Errorf("ParseURL(%q) = %q, %q; want %q, %q", c.in, servers, path, c.servers, c.path)
		}
	}
}

func TestCandidateOrder(t *testing.T) {
	got := candidates([]string{"json.info_0000000010", "log_replicas", "json.info_0000000002", "json.info_x", "json.info_0000000009"})
	want := []string{"json.info_0000000002", "json.info_0000000009", "json.info_0000000010"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("candidates = %q, want %q", got, want)
	}
}
