package master

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"agora/core/mesos"
)

// logSink collects a master's log lines for assertions.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logSink) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// A handler whose closure panics on the loop answers 500, the panic is
// logged with the call, and the master keeps serving.
func TestPanicOnLoopAnswers500AndMasterSurvives(t *testing.T) {
	var logs logSink
	cfg := fastConfig(openStore(t, t.TempDir()))
	cfg.Logf = logs.logf
	tm := startMaster(t, cfg)

	// A nil agent in the table makes building GET_AGENTS dereference nil
	// on the loop: a stand-in for any bug reachable from a request.
	if err := tm.exec(context.Background(), "test setup", func() { tm.agents["broken"] = nil }); err != nil {
		t.Fatal(err)
	}
	resp, body := post(t, tm.srv.URL+"/api/v1", map[string]string{"type": mesos.GetAgents}, nil)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("GET_AGENTS with a broken agent: %d %s, want 500", resp.StatusCode, body)
	}
	if !strings.Contains(body, "GET_AGENTS") {
		t.Errorf("500 body %q does not name the call", body)
	}
	if !logs.has("panic handling operator call GET_AGENTS") {
		t.Errorf("panic not logged with the call; log: %q", logs.lines)
	}

	if err := tm.exec(context.Background(), "test repair", func() { delete(tm.agents, "broken") }); err != nil {
		t.Fatalf("loop is gone after a panic: %v", err)
	}
	if got := tm.operator(t, mesos.GetAgents); got.GetAgents == nil {
		t.Fatalf("GET_AGENTS after the panic: %+v", got)
	}
	if err := tm.exec(context.Background(), "direct", func() { panic("boom") }); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("exec of a panicking closure: %v, want an error naming the panic", err)
	}
	tm.operator(t, mesos.GetHealth)
}

// Bodies over maxBody are refused with 413 naming the limit, whether the
// client declares the length or streams it.
func TestOversizedBodiesAre413(t *testing.T) {
	tm := startMaster(t, fastConfig(openStore(t, t.TempDir())))
	big := `{"type":"GET_STATE","pad":"` + strings.Repeat("x", maxBody) + `"}`
	for _, path := range []string{"/api/v1/scheduler", "/api/v1", "/agent/api/v1"} {
		for _, chunked := range []bool{false, true} {
			rd := strings.NewReader(big)
			req, _ := http.NewRequest("POST", tm.srv.URL+path, rd)
			if chunked {
				req.ContentLength = -1
				req.Body = io.NopCloser(rd) // hides the length: sent chunked
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				// The server may close the connection while the client is
				// still writing; that is a refusal too, but we want the 413.
				t.Logf("%s chunked=%v: %v", path, chunked, err)
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), fmt.Sprint(maxBody)) {
				t.Errorf("%s chunked=%v: %d %q, want 413 naming %d bytes", path, chunked, resp.StatusCode, b, maxBody)
			}
		}
	}
	tm.operator(t, mesos.GetHealth)
}
