package master

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"agora/core/agentapi"
	"agora/core/mesos"
	"agora/core/recordio"
	"agora/core/resources"
	"agora/core/store"
	"agora/core/store/boltstore"
)

// testMaster is a master on a loopback httptest server with short timers.
type testMaster struct {
	*Master
	auth   string // Authorization header of the helpers' requests (see as)
	srv    *httptest.Server
	st     store.Store
	cancel context.CancelFunc
	done   chan struct{}
}

func fastConfig(st store.Store) Config {
	return Config{
		Store: st, Listen: "127.0.0.1:5050", Seed: 1,
		AllocationInterval: 50 * time.Millisecond, OfferTimeout: time.Minute, HeartbeatInterval: time.Minute,
		AgentPingTimeout: 100 * time.Millisecond, MaxAgentPingTimeouts: 3,
	}
}

func openStore(t testing.TB, dir string) store.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(dir, "registry.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return st
}

func startMaster(t testing.TB, cfg Config) *testMaster {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tm := &testMaster{Master: m, srv: httptest.NewServer(m.Handler()), st: cfg.Store, cancel: cancel, done: make(chan struct{})}
	go func() { m.Run(ctx); close(tm.done) }()
	t.Cleanup(tm.stop)
	return tm
}

// as returns the master seen by a caller with this bearer token.
func (tm *testMaster) as(token string) *testMaster {
	c := *tm
	c.auth = "Bearer " + token
	return &c
}

// hdr adds the caller's Authorization to a request's extra headers.
func (tm *testMaster) hdr(kv ...string) map[string]string {
	h := map[string]string{}
	if tm.auth != "" {
		h["Authorization"] = tm.auth
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}

func (tm *testMaster) stop() {
	select {
	case <-tm.done:
		return
	default:
	}
	tm.cancel()
	<-tm.done
	tm.srv.CloseClientConnections()
	tm.srv.Close()
}

func post(t testing.TB, url string, body any, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		b, _ = json.Marshal(v)
	}
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

// stream reads RecordIO-framed JSON events into a channel.
func stream[T any](t testing.TB, url string, body any, hdr ...map[string]string) (chan T, http.Header, func()) {
	t.Helper()
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for _, h := range hdr {
		for k, v := range h {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("subscribe %s: %v", url, err)
	}
	if resp.StatusCode != 200 {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("subscribe %s: %d %s", url, resp.StatusCode, msg)
	}
	ch := make(chan T, 1000)
	go func() {
		defer close(ch)
		rd := recordio.NewReader(resp.Body)
		for {
			rec, err := rd.Read()
			if err != nil {
				return
			}
			var ev T
			if json.Unmarshal(rec, &ev) == nil {
				ch <- ev
			}
		}
	}()
	stop := func() { cancel(); resp.Body.Close() }
	t.Cleanup(stop)
	return ch, resp.Header, stop
}

// fakeAgent speaks the agent protocol without running anything.
type fakeAgent struct {
	t        testing.TB
	tm       *testMaster
	id       string
	streamID string
	events   chan agentapi.Event
	stop     func()
	autoPong bool
}

func (tm *testMaster) agent(t testing.TB, res string, sub *agentapi.Subscribe) *fakeAgent {
	t.Helper()
	r, err := resources.Parse(res)
	if err != nil {
		t.Fatal(err)
	}
	if sub == nil {
		sub = &agentapi.Subscribe{}
	}
	if sub.AgentInfo.Hostname == "" {
		sub.AgentInfo.Hostname = "127.0.0.1"
		sub.AgentInfo.Port = 5051
	}
	sub.AgentInfo.Resources = r.ToMesos("")
	if sub.Containerizers == nil {
		sub.Containerizers = []string{"process"}
	}
	ch, hdr, stop := stream[agentapi.Event](t, tm.srv.URL+agentapi.Path, agentapi.Call{Type: agentapi.CallSubscribe, Subscribe: sub}, tm.hdr())
	fa := &fakeAgent{t: t, tm: tm, streamID: hdr.Get(agentapi.StreamHeader), events: make(chan agentapi.Event, 1000), stop: stop, autoPong: true}
	reg := <-ch
	if reg.Type != agentapi.EventRegistered {
		t.Fatalf("first agent event = %s, want REGISTERED", reg.Type)
	}
	fa.id = reg.Registered.AgentID.Value
	go func() {
		defer close(fa.events)
		for ev := range ch {
			if ev.Type == agentapi.EventPing {
				if fa.autoPong {
					b, _ := json.Marshal(agentapi.Call{Type: agentapi.CallPong, AgentID: &mesos.AgentID{Value: fa.id}})
					req, _ := http.NewRequest("POST", tm.srv.URL+agentapi.Path, bytes.NewReader(b))
					req.Header.Set(agentapi.StreamHeader, fa.streamID)
					if tm.auth != "" {
						req.Header.Set("Authorization", tm.auth)
					}
					if resp, err := http.DefaultClient.Do(req); err == nil {
						resp.Body.Close()
					}
				}
				continue
			}
			fa.events <- ev
		}
	}()
	return fa
}

func (fa *fakeAgent) next(typ string) agentapi.Event {
	fa.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-fa.events:
			if !ok {
				fa.t.Fatalf("agent stream closed while waiting for %s", typ)
			}
			if ev.Type == typ {
				return ev
			}
		case <-timeout:
			fa.t.Fatalf("agent: no %s event within 10s", typ)
		}
	}
}

func (fa *fakeAgent) update(fid string, taskID, state string, uuid string) {
	fa.t.Helper()
	fa.updateLatest(fid, taskID, state, state, uuid)
}

// updateLatest sends an update whose task has already moved on to latest.
func (fa *fakeAgent) updateLatest(fid string, taskID, state, latest string, uuid string) {
	fa.t.Helper()
	s := mesos.TaskStatus{TaskID: mesos.TaskID{Value: taskID}, State: state, Source: mesos.SourceExecutor, AgentID: &mesos.AgentID{Value: fa.id}, UUID: []byte(uuid)}
	resp, body := post(fa.t, fa.tm.srv.URL+agentapi.Path, agentapi.Call{Type: agentapi.CallUpdate, AgentID: &mesos.AgentID{Value: fa.id},
		Update: &agentapi.Update{FrameworkID: mesos.FrameworkID{Value: fid}, Status: s, LatestState: latest}}, fa.tm.hdr(agentapi.StreamHeader, fa.streamID))
	if resp.StatusCode != 202 {
		fa.t.Fatalf("UPDATE: %d %s", resp.StatusCode, body)
	}
}

// testFramework is a scheduler speaking raw HTTP+JSON, as an outside client would.
type testFramework struct {
	t        testing.TB
	tm       *testMaster
	id       string
	streamID string
	events   chan mesos.Event
	stop     func()
	timeout  time.Duration // how long next waits; default 10s
}

func (tm *testMaster) framework(t testing.TB, info mesos.FrameworkInfo) *testFramework {
	t.Helper()
	if info.Name == "" {
		info.Name = "test"
	}
	ch, hdr, stop := stream[mesos.Event](t, tm.srv.URL+"/api/v1/scheduler", mesos.Call{Type: mesos.CallSubscribe, FrameworkID: info.ID, Subscribe: &mesos.CallSubscribeBody{FrameworkInfo: info}}, tm.hdr())
	f := &testFramework{t: t, tm: tm, streamID: hdr.Get("Mesos-Stream-Id"), events: ch, stop: stop}
	if f.streamID == "" {
		t.Fatal("SUBSCRIBE response has no Mesos-Stream-Id header")
	}
	ev := f.next(mesos.EventSubscribed)
	f.id = ev.Subscribed.FrameworkID.Value
	return f
}

func (f *testFramework) next(typ string) mesos.Event {
	f.t.Helper()
	d := f.timeout
	if d == 0 {
		d = 10 * time.Second
	}
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-f.events:
			if !ok {
				f.t.Fatalf("framework stream closed while waiting for %s", typ)
			}
			if ev.Type == typ {
				return ev
			}
		case <-timeout:
			f.t.Fatalf("framework: no %s event within %s", typ, d)
		}
	}
}

// none asserts that no event of type typ arrives within d.
func (f *testFramework) none(typ string, d time.Duration) {
	f.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-f.events:
			if !ok {
				return
			}
			if ev.Type == typ {
				f.t.Fatalf("unexpected %s event: %+v", typ, ev)
			}
		case <-timeout:
			return
		}
	}
}

func (f *testFramework) call(c mesos.Call) (int, string) {
	f.t.Helper()
	if c.FrameworkID == nil {
		c.FrameworkID = &mesos.FrameworkID{Value: f.id}
	}
	resp, body := post(f.t, f.tm.srv.URL+"/api/v1/scheduler", c, f.tm.hdr("Mesos-Stream-Id", f.streamID))
	return resp.StatusCode, strings.TrimSpace(body)
}

func (f *testFramework) mustCall(c mesos.Call) {
	f.t.Helper()
	if code, body := f.call(c); code != 202 {
		f.t.Fatalf("%s: %d %s", c.Type, code, body)
	}
}

func (f *testFramework) update(state string) mesos.TaskStatus {
	f.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-f.events:
			if !ok {
				f.t.Fatalf("stream closed waiting for %s", state)
			}
			if ev.Type == mesos.EventUpdate && ev.Update.Status.State == state {
				return ev.Update.Status
			}
		case <-timeout:
			f.t.Fatalf("no UPDATE %s within 10s", state)
		}
	}
}

func launchCall(o mesos.Offer, tasks ...mesos.TaskInfo) mesos.Call {
	for i := range tasks {
		tasks[i].AgentID = o.AgentID
	}
	return mesos.Call{Type: mesos.CallAccept, Accept: &mesos.CallAcceptBody{
		OfferIDs:   []mesos.OfferID{o.ID},
		Operations: []mesos.Operation{{Type: mesos.OpLaunch, Launch: &mesos.LaunchOperation{TaskInfos: tasks}}},
	}}
}

func taskInfo(id, res string) mesos.TaskInfo {
	r, err := resources.Parse(res)
	if err != nil {
		panic(err)
	}
	return mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, Resources: r.ToMesos(""), Command: &mesos.CommandInfo{Value: "sleep 100"}}
}

func (tm *testMaster) operator(t testing.TB, typ string) mesos.OperatorResponse {
	t.Helper()
	resp, body := post(t, tm.srv.URL+"/api/v1", map[string]string{"type": typ}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", typ, resp.StatusCode, body)
	}
	var out mesos.OperatorResponse
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	return out
}

func offerRes(t testing.TB, o mesos.Offer) resources.Resources {
	t.Helper()
	r, err := resources.FromMesos("offer", o.Resources)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func getURL(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type boltStore = boltstore.Store

func openBolt(dir string) (*boltstore.Store, error) {
	return boltstore.Open(filepath.Join(dir, "registry.db"))
}
