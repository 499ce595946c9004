package zktest

import (
	"net"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// quiet drops the client's log: it logs from its own goroutines, which may
// outlive the test.
type quiet struct{}

func (quiet) Printf(string, ...any) {}

// connect returns a client session on s, closed at test end.
func connect(t *testing.T, s *Server) *zk.Conn {
	t.Helper()
	c, _, err := zk.Connect(s.Servers(), 10*time.Second, zk.WithLogInfo(false), zk.WithLogger(quiet{}))
	if err != nil {
		t.Fatalf("connect to %s: %v", s.Addr(), err)
	}
	t.Cleanup(c.Close)
	return c
}

// retry runs op until it succeeds or a generous deadline passes: a client
// reconnects to a restarted server on its own schedule.
func retry(t *testing.T, what string, op func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := op()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 30s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestStopRestartKeepsData(t *testing.T) {
	s := Start(t)
	c := connect(t, s)
	retry(t, "create /kept", func() error {
		_, err := c.Create("/kept", []byte("value"), 0, zk.WorldACL(zk.PermAll))
		return err
	})

	s.Stop()
	if conn, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		conn.Close()
		t.Fatalf("after Stop, %s still accepts connections", s.Addr())
	}

	s.Restart()
	var got []byte
	retry(t, "get /kept after restart", func() error {
		var err error
		got, _, err = c.Get("/kept")
		return err
	})
	if string(got) != "value" {
		t.Fatalf("after restart /kept = %q, want %q", got, "value")
	}
}

func TestServersAreIndependent(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers share %s", a.Addr())
	}
	ca, cb := connect(t, a), connect(t, b)
	retry(t, "create on a", func() error {
		_, err := ca.Create("/only-a", nil, 0, zk.WorldACL(zk.PermAll))
		return err
	})
	retry(t, "exists on b", func() error {
		ok, _, err := cb.Exists("/only-a")
		if err == nil && ok {
			t.Fatalf("a znode created on %s is visible on %s", a.Addr(), b.Addr())
		}
		return err
	})
	if got := a.URL("/agora"); got != "zk://"+a.Addr()+"/agora" {
		t.Fatalf("URL = %q", got)
	}
}

// TestProxyCutAndHeal: a client through a cut proxy loses its connection
// while the server stays up for others; after Heal it reconnects.
func TestProxyCutAndHeal(t *testing.T) {
	s := Start(t)
	p := s.Proxy(t)
	c, events, err := zk.Connect(p.Servers(), 10*time.Second, zk.WithLogInfo(false), zk.WithLogger(quiet{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	retry(t, "create through the proxy", func() error {
		_, err := c.Create("/via-proxy", nil, 0, zk.WorldACL(zk.PermAll))
		return err
	})

	p.Cut()
	deadline := time.After(30 * time.Second)
	for disconnected := false; !disconnected; {
		select {
		case ev := <-events:
			disconnected = ev.State == zk.StateDisconnected
		case <-deadline:
			t.Fatal("client not disconnected 30s after the proxy was cut")
		}
	}
	direct := connect(t, s)
	retry(t, "server still serves others", func() error {
		_, _, err := direct.Get("/via-proxy")
		return err
	})

	p.Heal()
	retry(t, "read through the healed proxy", func() error {
		_, _, err := c.Get("/via-proxy")
		return err
	})
}
