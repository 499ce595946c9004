package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"agora/core/mesos"
	"agora/frameworks/services/core"
	"agora/frameworks/services/state"
)

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sseReader reads raw Server-Sent Events frames.
type sseReader struct {
	t  *testing.T
	br *bufio.Reader
}

// next returns the next event's type and data, skipping comments.
func (r *sseReader) next() (string, string) {
	r.t.Helper()
	var typ, data string
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			r.t.Fatalf("event stream ended: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && data != "":
			return typ, data
		case strings.HasPrefix(line, "event: "):
			typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

func openStream(t *testing.T, ctx context.Context, url string) *sseReader {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events answered %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &sseReader{t: t, br: bufio.NewReader(resp.Body)}
}

func TestEventsInOrderFilteredWithMarathonFields(t *testing.T) {
	f, srv := newServer(t, Options{})
	f.mu.Lock()
	f.ins = []core.Instance{{Instance: state.Instance{TaskID: "web.1", AppID: "/web", AgentID: "s1", Host: "h1", Ports: []uint64{31001}, Version: "v1", State: mesos.TaskRunning}}}
	f.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := openStream(t, ctx, srv.URL+"/v2/events?event_type=status_update_event&event_type=api_post_event")
	waitFor(t, "the stream to subscribe", func() bool { return f.subscribers() == 1 })

	f.publish(core.Event{Type: core.EventDeploymentInfo, Time: t0, AppID: "/web", DeploymentID: "d1"})
	for i := 0; i < 50; i++ {
		f.publish(core.Event{Type: core.EventStatusUpdate, Time: t0, AppID: "/web", TaskID: "web.1", State: mesos.TaskRunning, Message: fmt.Sprint(i)})
		f.publish(core.Event{Type: core.EventHealthChanged, Time: t0, AppID: "/web", TaskID: "web.1"})
	}
	for i := 0; i < 50; i++ {
		typ, data := r.next()
		if typ != core.EventStatusUpdate {
			t.Fatalf("event %d is %s; the filter lets only status updates and api posts through", i, typ)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Fatal(err)
		}
		if m["message"] != fmt.Sprint(i) {
			t.Fatalf("event %d out of order: %s", i, data)
		}
		for k, want := range map[string]any{"eventType": "status_update_event", "appId": "/web", "taskId": "web.1", "taskStatus": "TASK_RUNNING", "slaveId": "s1", "host": "h1", "version": "v1"} {
			if m[k] != want {
				t.Fatalf("%s = %v, want %v in %s", k, m[k], want, data)
			}
		}
		if ports, _ := m["ports"].([]any); len(ports) != 1 || ports[0] != 31001.0 {
			t.Fatalf("ports in %s", data)
		}
		if _, ok := m["timestamp"]; !ok {
			t.Fatalf("no timestamp in %s", data)
		}
	}

	expect(t, call(t, srv, "PUT", "/v2/apps/web", `{"cmd":"httpd"}`), http.StatusCreated)
	typ, data := r.next()
	var post Event
	if err := json.Unmarshal([]byte(data), &post); err != nil {
		t.Fatal(err)
	}
	if typ != EventAPIPost || post.AppDefinition == nil || post.AppDefinition.Cmd != "httpd" || post.URI != "/v2/apps/web" || post.ClientIP == "" {
		t.Fatalf("api_post_event %s", data)
	}

	// A dry run is no write: no event. The next event is the next write's.
	expect(t, call(t, srv, "PUT", "/v2/apps/web?dryRun=true", `{"cmd":"other"}`), http.StatusOK)
	expect(t, call(t, srv, "DELETE", "/v2/apps/web", ""), http.StatusOK)
	_, data = r.next()
	if !strings.Contains(data, `"uri":"/v2/apps/web"`) || !strings.Contains(data, `"cmd":"httpd"`) {
		t.Fatalf("event after the dry run: %s", data)
	}
}

func TestEventsKeepAliveAndDetach(t *testing.T) {
	f, srv := newServer(t, Options{KeepAlive: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	r := openStream(t, ctx, srv.URL+"/v2/events")
	// The stream opens with its own attach event.
	if typ, _ := r.next(); typ != EventStreamAttached {
		t.Fatalf("first event %s", typ)
	}
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, ":") {
			break
		}
	}
	cancel()
	waitFor(t, "the subscription to end with the client", func() bool { return f.subscribers() == 0 })
}

func TestSlowEventClientIsDroppedWithoutBlockingTheFramework(t *testing.T) {
	f, srv := newServer(t, Options{EventBuffer: 8, WriteTimeout: 500 * time.Millisecond})
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /v2/events HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n")
	waitFor(t, "the stream to subscribe", func() bool { return f.subscribers() == 1 })

	// The client reads nothing. Every publish must still go through.
	const n = 5000
	big := strings.Repeat("x", 8<<10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			f.publish(core.Event{Type: core.EventStatusUpdate, Time: t0, AppID: "/web", TaskID: fmt.Sprint(i), Message: big})
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("publishing to a stalled client blocked the framework")
	}
	waitFor(t, "the slow client to be dropped", func() bool { return f.subscribers() == 0 })

	// What the client gets is a prefix of the stream, then its end.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	data, _ := io.ReadAll(conn)
	if got := strings.Count(string(data), "event: status_update_event"); got >= n {
		t.Errorf("the dropped client got all %d events", got)
	}
}

func TestEventsBadFilter(t *testing.T) {
	_, srv := newServer(t, Options{})
	expect(t, call(t, srv, "GET", "/v2/events?event_type=", ""), http.StatusBadRequest)
}
