package master

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"agora/core/agentapi"
	"agora/core/client"
	"agora/core/mesos"
)

// fakeElector is driven by the test.
type fakeElector struct {
	ch     chan bool
	mu     sync.Mutex
	leader string
}

func (f *fakeElector) Leadership() <-chan bool { return f.ch }
func (f *fakeElector) LeaderAddress() (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leader, f.leader != ""
}
func (f *fakeElector) setLeader(a string) { f.mu.Lock(); f.leader = a; f.mu.Unlock() }

func TestHAStandbyRedirectsAndLeaderTakesOver(t *testing.T) {
	st := openStore(t, t.TempDir())
	// A built-in framework that runs beside whichever master leads, keeping
	// its framework id across moves.
	var builtinID atomic.Value
	builtinID.Store("")
	start := func() (*HA, *fakeElector, *httptest.Server) {
		el := &fakeElector{ch: make(chan bool, 4)}
		h, err := NewHA(fastConfig(st), el)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		h.Beside(func(ctx context.Context, m *Master) {
			info := mesos.FrameworkInfo{User: "root", Name: "builtin", FailoverTimeout: 3600}
			if id := builtinID.Load().(string); id != "" {
				info.ID = &mesos.FrameworkID{Value: id}
			}
			c := client.NewScheduler(srv.URL, nil)
			events, err := c.Subscribe(ctx, info)
			if err != nil {
				return
			}
			for ev := range events {
				switch ev.Type {
				case mesos.EventSubscribed:
					builtinID.Store(ev.Subscribed.FrameworkID.Value)
				case mesos.EventOffers:
					for _, o := range ev.Offers.Offers {
						c.Decline(ctx, []mesos.OfferID{o.ID}, &mesos.Filters{RefuseSeconds: ptr(3600.0)})
					}
				}
			}
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { h.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done; srv.CloseClientConnections(); srv.Close() })
		return h, el, srv
	}
	a, elA, srvA := start()
	b, elB, srvB := start()

	// Nobody leads: standbys answer 503, health answers.
	resp, body := post(t, srvB.URL+"/api/v1", map[string]string{"type": "GET_HEALTH"}, nil)
	if resp.StatusCode != 503 {
		t.Fatalf("no leader: %d %s", resp.StatusCode, body)
	}
	// A leads; B redirects to it with 307, keeping the path.
	elA.setLeader(srvA.URL)
	elB.setLeader(srvA.URL)
	elA.ch <- true
	if !a.waitLeading(true, 5*time.Second) {
		t.Fatal("A did not start leading")
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("POST", srvB.URL+"/api/v1/scheduler", nil)
	r, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 307 || r.Header.Get("Location") != srvA.URL+"/api/v1/scheduler" {
		t.Fatalf("standby answered %d Location %q", r.StatusCode, r.Header.Get("Location"))
	}

	// A framework and an agent on A.
	tmA := &testMaster{srv: srvA}
	builtinOn(t, tmA, true)
	ag := tmA.agent(t, "cpus:2;mem:1024", nil)
	fw := tmA.framework(t, mesos.FrameworkInfo{User: "u", Name: "ha", FailoverTimeout: 3600})
	o := fw.next(mesos.EventOffers).Offers.Offers[0]
	fw.mustCall(launchCall(o, taskInfo("t1", "cpus:1")))
	ag.next(agentapi.EventRunTask)
	ag.update(fw.id, "t1", mesos.TaskRunning, "u1")
	fw.update(mesos.TaskRunning)
	// Wait until the registry holds the running task.
	deadline := time.Now().Add(5 * time.Second)
	for {
		kvs, _ := st.List(context.Background(), tasksPrefix)
		if len(kvs) == 1 && strings.Contains(string(kvs[0].Value), mesos.TaskRunning) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry never held the running task: %v", kvs)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A loses leadership: it stops acting at once and redirects; B takes over
	// with the registry A wrote.
	elA.setLeader(srvB.URL)
	elB.setLeader(srvB.URL)
	elA.ch <- false
	if !a.waitLeading(false, 5*time.Second) {
		t.Fatal("A did not step down")
	}
	elB.ch <- true
	if !b.waitLeading(true, 5*time.Second) {
		t.Fatal("B did not take over")
	}
	tmB := &testMaster{srv: srvB}
	// The built-in framework moved with the leadership, under its id.
	builtinOn(t, tmB, true)
	fws := tmB.operator(t, mesos.GetFrameworks).GetFrameworks
	var found bool
	for _, f := range fws.Frameworks {
		found = found || f.FrameworkInfo.ID.Value == fw.id
	}
	if len(fws.Frameworks) != 2 || !found {
		t.Fatalf("B's frameworks = %+v", fws)
	}
	if tasks := tmB.operator(t, mesos.GetTasks).GetTasks; len(tasks.Tasks) != 1 || tasks.Tasks[0].TaskID.Value != "t1" {
		t.Fatalf("B's tasks = %+v", tasks)
	}
	// A's old API now redirects to B.
	r, err = noFollow.Do(mustReq("POST", srvA.URL+"/api/v1"))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 307 {
		t.Fatalf("A after stepping down answered %d", r.StatusCode)
	}
}

func mustReq(method, url string) *http.Request {
	r, err := http.NewRequest(method, url, nil)
	if err != nil {
		panic(err)
	}
	return r
}

// builtinOn waits until the built-in framework is subscribed (connected) at tm.
func builtinOn(t *testing.T, tm *testMaster, connected bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, f := range tm.operator(t, mesos.GetFrameworks).GetFrameworks.Frameworks {
			if f.FrameworkInfo.Name == "builtin" && f.Connected == connected {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("built-in framework not connected=%v at %s", connected, tm.srv.URL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLeading polls until the master leads (or stands by), as wanted.
func (h *HA) waitLeading(want bool, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if h.Leading() == want {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
