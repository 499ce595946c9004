package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// syncBuffer is a writer the test can read while the log writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func readEntries(t *testing.T, data string) []Entry {
	t.Helper()
	var out []Entry
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		var e Entry
		if err := e.UnmarshalJSON(sc.Bytes()); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func summary(es []Entry) string {
	var lines []string
	for _, e := range es {
		lines = append(lines, fmt.Sprintf("%s %s %s %d %s", e.Method, e.Path, e.Call, e.Status, e.Principal))
	}
	return strings.Join(lines, "\n")
}

func TestEntryLineFormat(t *testing.T) {
	zone := time.FixedZone("CET", 3600)
	e := Entry{Time: time.Date(2025, 1, 1, 13, 0, 0, 123000000, zone), Principal: "ops", Method: "POST",
		Path: "/api/v1", Call: "TEARDOWN", Status: 200, Remote: "127.0.0.1:4242"}
	got, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2025-01-01T12:00:00.123Z","principal":"ops","method":"POST","path":"/api/v1","call":"TEARDOWN","status":200,"remote":"127.0.0.1:4242"}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestMiddlewareRecordsMutatingCallsOnly(t *testing.T) {
	var buf syncBuffer
	l := New(&buf, t.Logf)
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "PUT":
			w.WriteHeader(http.StatusCreated)
		case r.Method == "DELETE":
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/forbidden":
			http.Error(w, "no", http.StatusForbidden)
		case r.URL.Path == "/written":
			io.WriteString(w, "ok")
		}
		// Otherwise: return without writing, an implicit 200.
	}), l, func(r *http.Request) string { return r.Header.Get("X-Principal") }, func() time.Time { return t0 })

	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1", `{"type":"TEARDOWN","teardown":{"framework_id":{"value":"f1"}}}`},
		{"POST", "/api/v1", `{"type":"GET_STATE"}`},
		{"POST", "/api/v1", `{"get_tasks":{},"type":"GET_TASKS"}`},
		{"GET", "/v2/apps", ""},
		{"HEAD", "/v2/apps", ""},
		{"OPTIONS", "/v2/apps", ""},
		{"PUT", "/v2/apps/web", `{"id":"web"}`},
		{"DELETE", "/v2/apps/web", ""},
		{"POST", "/api/v1/scheduler", `{"framework_id":{"value":"f1"},"type":"ACCEPT","accept":{}}`},
		{"POST", "/agent/api/v1", `{"type":"UPDATE"}`},
		{"POST", "/agent/api/v1", `{"type":"PONG"}`},
		{"POST", "/api/v1", `not json`},
		// The handler's decoder takes the last "type": this is a TEARDOWN.
		{"POST", "/api/v1", `{"type":"GET_STATE","type":"TEARDOWN"}`},
		// Cut off at the peek: maybe not a read after all, so recorded.
		{"POST", "/api/v1", `{"type":"GET_STATE","pad":"` + strings.Repeat("x", 70<<10) + `"}`},
		{"POST", "/forbidden", `{"type":"TEARDOWN"}`}, // not a call path: no call type
		{"PATCH", "/written", ""},
	} {
		r := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		r.Header.Set("X-Principal", "ops")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := readEntries(t, buf.String())
	want := strings.Join([]string{
		"POST /api/v1 TEARDOWN 200 ops",
		"PUT /v2/apps/web  201 ops",
		"DELETE /v2/apps/web  204 ops",
		"POST /api/v1/scheduler ACCEPT 200 ops",
		"POST /agent/api/v1 UPDATE 200 ops",
		"POST /agent/api/v1 PONG 200 ops",
		"POST /api/v1  200 ops",
		"POST /api/v1 TEARDOWN 200 ops",
		"POST /api/v1 GET_STATE 200 ops",
		"POST /forbidden  403 ops",
		"PATCH /written  200 ops",
	}, "\n")
	if s := summary(got); s != want {
		t.Fatalf("entries:\n%s\nwant:\n%s", s, want)
	}
	if !got[0].Time.Equal(t0) || got[0].Remote != "192.0.2.1:1234" {
		t.Errorf("first entry time %v remote %q, want %v and httptest's 192.0.2.1:1234", got[0].Time, got[0].Remote, t0)
	}
	if l.Errors() != 0 {
		t.Errorf("Errors = %d", l.Errors())
	}
}

func TestHandlerStillReadsTheWholeBody(t *testing.T) {
	var buf syncBuffer
	l := New(&buf, t.Logf)
	var seen [][32]byte
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("handler read: %v", err)
		}
		seen = append(seen, sha256.Sum256(b))
	}), l, nil, func() time.Time { return t0 })

	pad := strings.Repeat("x", 200<<10)
	bodies := []string{
		`{"type":"ACCEPT","accept":{"note":"` + pad + `"}}`, // type first, body past the peek
		`{"accept":{"note":"` + pad + `"},"type":"ACCEPT"}`, // type past the peek
		`{"type":"KILL"}`, // small
		`{"nested":{"type":"GET_STATE"},"type":"SUBSCRIBE"}`, // only the top-level type counts
	}
	for _, b := range bodies {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/api/v1/scheduler", strings.NewReader(b)))
	}
	l.Close()
	for i, b := range bodies {
		if seen[i] != sha256.Sum256([]byte(b)) {
			t.Errorf("body %d: the handler did not see the body as sent", i)
		}
	}
	calls := []string{}
	for _, e := range readEntries(t, buf.String()) {
		calls = append(calls, e.Call)
	}
	if got, want := strings.Join(calls, ","), "ACCEPT,,KILL,SUBSCRIBE"; got != want {
		t.Errorf("calls = %q, want %q", got, want)
	}
}

func TestStreamingStatusIsRecordedWhileTheHandlerStreams(t *testing.T) {
	var buf syncBuffer
	l := New(&buf, t.Logf)
	defer l.Close()
	release := make(chan struct{})
	handlerDone := make(chan struct{})
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		f, ok := w.(http.Flusher)
		if !ok {
			t.Error("the audit wrapper hides http.Flusher")
			return
		}
		w.Header().Set("Content-Type", "application/recordio")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "20\n{\"type\":\"SUBSCRIBED\"}")
		f.Flush()
		<-release
	}), l, nil, time.Now)
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer close(release)

	resp, err := http.Post(srv.URL+"/api/v1/scheduler", "application/json", strings.NewReader(`{"type":"SUBSCRIBE"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The first event arrives only if Flush reached the connection.
	first := make([]byte, len("20\n{\"type\":\"SUBSCRIBED\"}"))
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatalf("reading the flushed event: %v", err)
	}
	// The entry reaches the writer within the flush interval, while the
	// handler is still streaming.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), `"call":"SUBSCRIBE","status":200`) {
		if time.Now().After(deadline) {
			t.Fatalf("no SUBSCRIBE entry after 10s; log: %q", buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-handlerDone:
		t.Fatal("handler finished early; the test did not observe a streaming handler")
	default:
	}
}

func TestOpenCreatesAPrivateFileAndCloseFlushes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "audit", "audit.log")
	l, err := Open(path, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		l.Record(Entry{Time: t0, Principal: "ops", Method: "POST", Path: "/api/v1", Call: "TEARDOWN", Status: 200})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode = %v, want 0600", st.Mode().Perm())
	}
	if dst, _ := os.Stat(filepath.Dir(path)); dst.Mode().Perm() != 0o700 {
		t.Errorf("audit log directory mode = %v, want 0700", dst.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if n := len(readEntries(t, string(data))); n != 3 {
		t.Fatalf("%d entries after Close, want 3", n)
	}

	// Reopening appends.
	l, err = Open(path, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	l.Record(Entry{Time: t0, Method: "DELETE", Path: "/v2/apps/web", Status: 204})
	l.Close()
	data, _ = os.ReadFile(path)
	if es := readEntries(t, string(data)); len(es) != 4 || es[3].Method != "DELETE" {
		t.Fatalf("after reopening: %d entries (%s), want 4 ending with the DELETE", len(es), summary(es))
	}
}

func TestRecordedEntriesReachTheFileWithoutClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Record(Entry{Time: t0, Method: "POST", Path: "/api/v1", Call: "TEARDOWN", Status: 200})
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), "TEARDOWN") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("entry not in the file 10s after Record (flush interval is 1s)")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrorsAreReportedOnceAndCounted(t *testing.T) {
	var mu sync.Mutex
	var reports []string
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, fmt.Sprintf(format, args...))
	}
	l := New(failingWriter{}, logf)
	l.Record(Entry{Time: t0, Method: "POST"})
	l.Record(Entry{Time: t0, Method: "POST"})
	// Wait for a flush to fail, so the next entries are a second failure.
	deadline := time.Now().Add(10 * time.Second)
	for l.Errors() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("Errors = %d 10s after recording 2 entries to a failing writer", l.Errors())
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.Record(Entry{Time: t0, Method: "PUT"})
	if err := l.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Close = %v, want the final flush's error", err)
	}
	l.Record(Entry{Time: t0, Method: "DELETE"}) // after Close: lost
	if got := l.Errors(); got != 4 {
		t.Errorf("Errors = %d, want 4", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 1 || !strings.Contains(reports[0], "disk full") {
		t.Errorf("reports = %q, want one naming the write error", reports)
	}
}

func BenchmarkMiddleware(b *testing.B) {
	l, err := Open(filepath.Join(b.TempDir(), "audit.log"), b.Logf)
	if err != nil {
		b.Fatal(err)
	}
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}), l, func(*http.Request) string { return "ops" }, time.Now)
	body := []byte(`{"type":"ACCEPT","framework_id":{"value":"f1"},"accept":{"offer_ids":[{"value":"o1"}]}}`)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// One request per worker, its body renewed each time, so the
		// figure is the middleware's cost rather than building requests.
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/api/v1/scheduler", nil)
		r.RemoteAddr = "127.0.0.1:4242"
		for pb.Next() {
			r.Body = io.NopCloser(bytes.NewReader(body))
			h.ServeHTTP(w, r)
		}
	})
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	if l.Errors() != 0 {
		b.Fatalf("%d entries lost", l.Errors())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
