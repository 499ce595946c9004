package client

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"agora/core/mesos"
	"agora/core/recordio"
)

// fakeMaster speaks the scheduler and operator APIs well enough to test the
// client: SUBSCRIBE gets a RecordIO stream the test feeds through events;
// other calls are recorded and answered 202, or 400 when reject is set.
type fakeMaster struct {
	t           *testing.T
	srv         *httptest.Server
	events      chan mesos.Event // written to the open stream
	closeStream chan struct{}

	mu        sync.Mutex
	calls     []mesos.Call
	streamIDs []string // Mesos-Stream-Id of each non-SUBSCRIBE call
	subscribe []mesos.Call
	reject    string
	heartbeat float64
}

func newFakeMaster(t *testing.T) *fakeMaster {
	f := &fakeMaster{t: t, events: make(chan mesos.Event, 16), closeStream: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+SchedulerPath, f.scheduler)
	mux.HandleFunc("POST "+OperatorPath, f.operator)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeMaster) scheduler(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		http.Error(w, "Content-Type must be application/json, got "+ct, http.StatusUnsupportedMediaType)
		return
	}
	var c mesos.Call
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		http.Error(w, "bad call: "+err.Error(), http.StatusBadRequest)
		return
	}
	if c.Type != mesos.CallSubscribe {
		f.mu.Lock()
		f.calls = append(f.calls, c)
		f.streamIDs = append(f.streamIDs, r.Header.Get(StreamIDHeader))
		reject := f.reject
		f.mu.Unlock()
		if reject != "" {
			http.Error(w, reject, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	f.mu.Lock()
	f.subscribe = append(f.subscribe, c)
	hb := f.heartbeat
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(StreamIDHeader, "stream-1")
	w.WriteHeader(http.StatusOK)
	write := func(ev mesos.Event) {
		b, _ := json.Marshal(ev)
		_ = recordio.Write(w, b)
		w.(http.Flusher).Flush()
	}
	id := "fw-1"
	if c.Subscribe.FrameworkInfo.ID != nil {
		id = c.Subscribe.FrameworkInfo.ID.Value
	}
	write(mesos.Event{Type: mesos.EventSubscribed, Subscribed: &mesos.EventSubscribedBody{
		FrameworkID: mesos.FrameworkID{Value: id}, HeartbeatIntervalSeconds: hb}})
	for {
		select {
		case ev := <-f.events:
			write(ev)
		case <-f.closeStream:
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (f *fakeMaster) operator(w http.ResponseWriter, r *http.Request) {
	var c mesos.OperatorCall
	_ = json.NewDecoder(r.Body).Decode(&c)
	switch c.Type {
	case mesos.GetHealth:
		_ = json.NewEncoder(w).Encode(mesos.OperatorResponse{Type: c.Type, GetHealth: &mesos.HealthInfo{Healthy: true}})
	default:
		http.Error(w, "call type "+c.Type+" is not supported", http.StatusBadRequest)
	}
}

func (f *fakeMaster) recorded() ([]mesos.Call, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]mesos.Call(nil), f.calls...), append([]string(nil), f.streamIDs...)
}

// next receives one event or fails after a generous deadline.
func next(t *testing.T, ch <-chan mesos.Event) mesos.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("event stream closed early")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return mesos.Event{}
}

// waitClosed waits for the stream channel to close, discarding events.
func waitClosed(t *testing.T, ch <-chan mesos.Event) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("event stream did not close within 10s")
		}
	}
}

func TestSubscribeDeliversEventsAndCallsCarryIDs(t *testing.T) {
	f := newFakeMaster(t)
	s := NewScheduler(strings.TrimPrefix(f.srv.URL, "http://"), nil) // bare host:port form
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	ch, err := s.Subscribe(ctx, mesos.FrameworkInfo{User: "root", Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.StreamID(); got != "stream-1" {
		t.Errorf("StreamID() = %q, want stream-1", got)
	}
	ev := next(t, ch)
	if ev.Type != mesos.EventSubscribed {
		t.Fatalf("first event %s, want SUBSCRIBED", ev.Type)
	}
	// Recorded before delivery, so a scheduler can call right away.
	if got := s.FrameworkID(); got != "fw-1" {
		t.Fatalf("FrameworkID() = %q right after SUBSCRIBED, want fw-1", got)
	}

	f.events <- mesos.Event{Type: mesos.EventOffers, Offers: &mesos.EventOffersBody{Offers: []mesos.Offer{{ID: mesos.OfferID{Value: "o1"}}}}}
	ev = next(t, ch)
	if ev.Type != mesos.EventOffers || ev.Offers.Offers[0].ID.Value != "o1" {
		t.Fatalf("second event %+v, want OFFERS with o1", ev)
	}

	refuse := 5.0
	if err := s.Decline(ctx, []mesos.OfferID{{Value: "o1"}}, &mesos.Filters{RefuseSeconds: &refuse}); err != nil {
		t.Fatal(err)
	}
	if err := s.Revive(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	calls, sids := f.recorded()
	if len(calls) != 2 {
		t.Fatalf("master saw %d calls, want 2", len(calls))
	}
	for i, c := range calls {
		if c.FrameworkID == nil || c.FrameworkID.Value != "fw-1" {
			t.Errorf("call %s framework_id = %v, want fw-1", c.Type, c.FrameworkID)
		}
		if sids[i] != "stream-1" {
			t.Errorf("call %s %s = %q, want stream-1", c.Type, StreamIDHeader, sids[i])
		}
	}
	if calls[0].Type != mesos.CallDecline || calls[0].Decline.OfferIDs[0].Value != "o1" || *calls[0].Decline.Filters.RefuseSeconds != 5 {
		t.Errorf("decline call = %+v", calls[0])
	}
	if calls[1].Type != mesos.CallRevive || calls[1].Revive.Roles[0] != "web" {
		t.Errorf("revive call = %+v", calls[1])
	}

	if err := s.Err(); err != nil {
		t.Errorf("Err() while streaming = %v, want nil", err)
	}
	close(f.closeStream)
	waitClosed(t, ch)
	if err := s.Err(); !errors.Is(err, ErrStreamClosed) {
		t.Errorf("Err() after master closed = %v, want ErrStreamClosed", err)
	}
}

func TestResubscribeKeepsFrameworkID(t *testing.T) {
	f := newFakeMaster(t)
	s := NewScheduler(f.srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := s.Subscribe(ctx, mesos.FrameworkInfo{User: "root", Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	next(t, ch)
	cancel()
	waitClosed(t, ch)
	if err := s.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err() after cancel = %v, want context.Canceled", err)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	if _, err := s.Subscribe(ctx2, mesos.FrameworkInfo{User: "root", Name: "test"}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	second := f.subscribe[1]
	f.mu.Unlock()
	if second.FrameworkID == nil || second.FrameworkID.Value != "fw-1" ||
		second.Subscribe.FrameworkInfo.ID == nil || second.Subscribe.FrameworkInfo.ID.Value != "fw-1" {
		t.Errorf("re-SUBSCRIBE = %+v, want framework_id and framework_info.id fw-1", second)
	}
}

func TestSubscribeFollowsRedirectToLeader(t *testing.T) {
	leader := newFakeMaster(t)
	for _, form := range []string{"absolute", "protocol-relative"} {
		t.Run(form, func(t *testing.T) {
			var standbyHits int
			var mu sync.Mutex
			standby := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				standbyHits++
				mu.Unlock()
				loc := leader.srv.URL + r.URL.Path
				if form == "protocol-relative" {
					loc = strings.TrimPrefix(loc, "http:") // Mesos's "//host:port/path"
				}
				w.Header().Set("Location", loc)
				w.WriteHeader(http.StatusTemporaryRedirect)
			}))
			defer standby.Close()

			s := NewScheduler(standby.URL, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch, err := s.Subscribe(ctx, mesos.FrameworkInfo{User: "root", Name: "test"})
			if err != nil {
				t.Fatal(err)
			}
			next(t, ch)
			if s.Master() != leader.srv.URL {
				t.Errorf("Master() = %s after redirect, want the leader %s", s.Master(), leader.srv.URL)
			}
			if err := s.Suppress(ctx); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			hits := standbyHits
			mu.Unlock()
			if hits != 1 {
				t.Errorf("standby saw %d requests, want 1 (later calls go to the leader)", hits)
			}

			op := NewOperator(standby.URL, nil)
			r, err := op.Call(ctx, mesos.GetHealth)
			if err != nil {
				t.Fatal(err)
			}
			if !r.GetHealth.Healthy {
				t.Errorf("GET_HEALTH through redirect = %+v", r)
			}
		})
	}
}

func TestRedirectLoopGivesUp(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", srv.URL+r.URL.Path)
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	_, err := NewOperator(srv.URL, nil).Call(context.Background(), mesos.GetHealth)
	if err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("err = %v, want a redirect-loop error", err)
	}
}

func TestNon2xxIsAPIErrorWithMessage(t *testing.T) {
	f := newFakeMaster(t)
	f.reject = "offer_ids[0]: offer o9 is unknown"
	s := NewScheduler(f.srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := s.Subscribe(ctx, mesos.FrameworkInfo{User: "root", Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	next(t, ch)
	err = s.Accept(ctx, []mesos.OfferID{{Value: "o9"}}, nil, nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v (%T), want *APIError", err, err)
	}
	if apiErr.Status != http.StatusBadRequest || apiErr.Message != f.reject {
		t.Errorf("APIError = %d %q, want 400 %q", apiErr.Status, apiErr.Message, f.reject)
	}

	_, err = NewOperator(f.srv.URL, nil).Call(ctx, "GET_NONSENSE")
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || !strings.Contains(apiErr.Message, "GET_NONSENSE") {
		t.Errorf("operator err = %v, want APIError 400 naming the call", err)
	}
}

func TestSubscribeRejectedIsAPIError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "framework_info.user: must not be empty", http.StatusBadRequest)
	}))
	defer srv.Close()
	_, err := NewScheduler(srv.URL, nil).Subscribe(context.Background(), mesos.FrameworkInfo{Name: "x"})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Message != "framework_info.user: must not be empty" {
		t.Fatalf("err = %v, want APIError with the master's message", err)
	}
}

func TestAcknowledgeWithoutUUIDSendsNothing(t *testing.T) {
	f := newFakeMaster(t)
	s := NewScheduler(f.srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := s.Subscribe(ctx, mesos.FrameworkInfo{User: "root", Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	next(t, ch)
	agent := &mesos.AgentID{Value: "a1"}
	if err := s.Acknowledge(ctx, mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t1"}, State: mesos.TaskRunning, AgentID: agent}); err != nil {
		t.Fatal(err)
	}
	if calls, _ := f.recorded(); len(calls) != 0 {
		t.Fatalf("acknowledging a uuid-less status sent %d calls, want 0", len(calls))
	}
	if err := s.Acknowledge(ctx, mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t1"}, AgentID: agent, UUID: []byte{1, 2}}); err != nil {
		t.Fatal(err)
	}
	calls, _ := f.recorded()
	if len(calls) != 1 || calls[0].Acknowledge.TaskID.Value != "t1" || calls[0].Acknowledge.AgentID.Value != "a1" || len(calls[0].Acknowledge.UUID) != 2 {
		t.Fatalf("acknowledge calls = %+v", calls)
	}
}

func TestCallBeforeSubscribedNamesTheProblem(t *testing.T) {
	s := NewScheduler("127.0.0.1:1", nil)
	err := s.Kill(context.Background(), mesos.TaskID{Value: "t1"}, nil)
	if err == nil || !strings.Contains(err.Error(), "framework_id") {
		t.Fatalf("err = %v, want one naming framework_id", err)
	}
}

func TestHeartbeatSilenceEndsStream(t *testing.T) {
	f := newFakeMaster(t)
	f.heartbeat = 0.02 // the stream then goes silent
	s := NewScheduler(f.srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := s.Subscribe(ctx, mesos.FrameworkInfo{User: "root", Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	next(t, ch)
	waitClosed(t, ch)
	if err := s.Err(); !errors.Is(err, ErrHeartbeatTimeout) {
		t.Fatalf("Err() = %v, want ErrHeartbeatTimeout", err)
	}
}

func TestUnreachableMasterNamesAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now

	_, err = NewOperator(addr, nil).Call(context.Background(), mesos.GetAgents)
	var un *UnreachableError
	if !errors.As(err, &un) {
		t.Fatalf("err = %v (%T), want *UnreachableError", err, err)
	}
	want := "cannot reach master at http://" + addr + ": connection refused"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q, want it to contain %q", err, want)
	}
}

func TestBaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5050":         "http://127.0.0.1:5050",
		"http://127.0.0.1:5050/": "http://127.0.0.1:5050",
		"https://m.example:5050": "https://m.example:5050",
		" localhost:5050 ":       "http://localhost:5050",
	} {
		got, err := BaseURL(in)
		if err != nil || got != want {
			t.Errorf("BaseURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ftp://x:1", "http://"} {
		if _, err := BaseURL(bad); err == nil {
			t.Errorf("BaseURL(%q) accepted, want an error", bad)
		}
	}
}

// fakeAgent serves /files/read over one file, at most max bytes per read.
func fakeAgent(t *testing.T, path, content string, max int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != FilesReadPath || q.Get("path") != path {
			http.Error(w, "file "+q.Get("path")+" not found", http.StatusNotFound)
			return
		}
		off, err := strconv.Atoi(q.Get("offset"))
		if err != nil {
			http.Error(w, "offset: not a number", http.StatusBadRequest)
			return
		}
		if off == -1 {
			_ = json.NewEncoder(w).Encode(map[string]any{"data": "", "offset": len(content)})
			return
		}
		n := max
		if l, err := strconv.Atoi(q.Get("length")); err == nil && l > 0 {
			n = min(l, max)
		}
		end := min(len(content), off+n)
		data := ""
		if off < end {
			data = content[off:end]
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data, "offset": off})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestReadFile(t *testing.T) {
	path := SandboxPath("fw-1", "t1", "stdout")
	if path != "/frameworks/fw-1/tasks/t1/stdout" {
		t.Fatalf("SandboxPath = %s", path)
	}
	agent := fakeAgent(t, path, "hello world\n", 5)
	addr := strings.TrimPrefix(agent.URL, "http://")
	ctx := context.Background()

	_, size, err := ReadFile(ctx, nil, addr, path, -1, 0)
	if err != nil || size != 12 {
		t.Fatalf("size = %d, %v; want 12", size, err)
	}
	var got []byte
	for off := int64(0); ; {
		data, nextOff, err := ReadFile(ctx, nil, addr, path, off, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			break
		}
		if nextOff != off+int64(len(data)) {
			t.Fatalf("newOffset = %d after reading %d bytes at %d", nextOff, len(data), off)
		}
		got = append(got, data...)
		off = nextOff
	}
	if string(got) != "hello world\n" {
		t.Errorf("read %q, want the whole file", got)
	}

	_, _, err = ReadFile(ctx, nil, addr, "/frameworks/fw-1/tasks/t2/stdout", 0, 0)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 404 || !strings.Contains(err.Error(), "t2/stdout") {
		t.Errorf("missing file err = %v, want APIError 404 naming the path", err)
	}
}
