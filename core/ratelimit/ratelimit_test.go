package ratelimit

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func mustParse(t testing.TB, s string) *Limits {
	t.Helper()
	l, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse(%s): %v", s, err)
	}
	return l
}

// take calls Allow n times at now and counts the grants.
func take(l *Limiter, p string, now time.Time, n int) int {
	got := 0
	for i := 0; i < n; i++ {
		if ok, _ := l.Allow(p, now); ok {
			got++
		}
	}
	return got
}

func TestBurstThenRefill(t *testing.T) {
	l := New(mustParse(t, `{"limits":[{"principal":"ci","qps":2,"capacity":4}]}`))
	if got := take(l, "ci", t0, 4); got != 4 {
		t.Fatalf("burst: %d of 4 allowed", got)
	}
	ok, retry := l.Allow("ci", t0)
	if ok || retry != 500*time.Millisecond {
		t.Fatalf("5th request at once: ok=%v retry=%v, want refused, retry 500ms", ok, retry)
	}
	ok, retry = l.Allow("ci", t0.Add(250*time.Millisecond))
	if ok || retry != 250*time.Millisecond {
		t.Fatalf("after 250ms: ok=%v retry=%v, want refused, retry 250ms", ok, retry)
	}
	if ok, _ := l.Allow("ci", t0.Add(500*time.Millisecond)); !ok {
		t.Fatal("after 500ms at 2 qps: refused, want one token")
	}
	if ok, _ := l.Allow("ci", t0.Add(500*time.Millisecond)); ok {
		t.Fatal("second request after 500ms: allowed, want refused")
	}
	// A long idle refills only up to the burst.
	if got := take(l, "ci", t0.Add(time.Hour), 10); got != 4 {
		t.Fatalf("after an hour idle: %d allowed, want the burst of 4", got)
	}
}

func TestDefaultCapacityIsTheRateAtLeastOne(t *testing.T) {
	l := New(mustParse(t, `{"limits":[{"principal":"fast","qps":50},{"principal":"slow","qps":0.5}]}`))
	if got := take(l, "fast", t0, 100); got != 50 {
		t.Fatalf("fast: %d allowed at once, want 50", got)
	}
	if got := take(l, "slow", t0, 10); got != 1 {
		t.Fatalf("slow: %d allowed at once, want 1", got)
	}
	if _, retry := l.Allow("slow", t0); retry != 2*time.Second {
		t.Fatalf("slow retry = %v, want 2s", retry)
	}
}

func TestPrincipalsAreIndependent(t *testing.T) {
	l := New(mustParse(t, `{"limits":[{"principal":"ci","qps":1},{"principal":"ops","qps":1}]}`))
	if got := take(l, "ci", t0, 5); got != 1 {
		t.Fatalf("ci: %d allowed, want 1", got)
	}
	if ok, _ := l.Allow("ops", t0); !ok {
		t.Fatal("ops refused after ci used up its own bucket")
	}
}

func TestUnlistedPrincipalsShareTheAggregateBucket(t *testing.T) {
	l := New(mustParse(t, `{"limits":[{"principal":"ci","qps":1}],
		"aggregate_default_qps":1,"aggregate_default_capacity":3}`))
	if take(l, "alice", t0, 2) != 2 || take(l, "bob", t0, 1) != 1 {
		t.Fatal("the first 3 unlisted requests should fit the shared burst of 3")
	}
	if ok, retry := l.Allow("carol", t0); ok || retry != time.Second {
		t.Fatalf("carol after alice and bob: ok=%v retry=%v, want refused, retry 1s", ok, retry)
	}
	if ok, _ := l.Allow("", t0); ok {
		t.Fatal("unauthenticated caller allowed from an empty shared bucket")
	}
	if ok, _ := l.Allow("ci", t0); !ok {
		t.Fatal("listed principal ci refused: it must not draw from the shared bucket")
	}
	if ok, _ := l.Allow("carol", t0.Add(time.Second)); !ok {
		t.Fatal("carol refused after the shared bucket refilled")
	}
}

func TestUnlimitedPrincipals(t *testing.T) {
	l := New(mustParse(t, `{"limits":[{"principal":"batch"},{"principal":"ci","qps":1}]}`))
	if got := take(l, "batch", t0, 10000); got != 10000 {
		t.Fatalf("batch (listed without qps): %d of 10000 allowed", got)
	}
	if got := take(l, "anyone", t0, 10000); got != 10000 {
		t.Fatalf("unlisted without aggregate defaults: %d of 10000 allowed", got)
	}
	if got := take(New(nil), "x", t0, 100); got != 100 {
		t.Fatalf("New(nil): %d of 100 allowed", got)
	}
	if got := take(New(mustParse(t, `{}`)), "x", t0, 100); got != 100 {
		t.Fatalf("empty limits: %d of 100 allowed", got)
	}
}

func TestClockSteppingBackDoesNotRefill(t *testing.T) {
	l := New(mustParse(t, `{"limits":[{"principal":"ci","qps":1}]}`))
	take(l, "ci", t0, 1)
	if ok, _ := l.Allow("ci", t0.Add(-time.Hour)); ok {
		t.Fatal("a clock stepping back an hour granted a token")
	}
	if ok, _ := l.Allow("ci", t0.Add(time.Second)); !ok {
		t.Fatal("refused a second after the last grant")
	}
}

func TestParse(t *testing.T) {
	l := mustParse(t, `{"limits": [{"principal": "ci", "qps": 50, "capacity": 100}, {"principal": "batch"}],
		"aggregate_default_qps": 200, "aggregate_default_capacity": 400}`)
	if lim, shared := l.For("ci"); shared || lim != (Limit{50, 100}) {
		t.Errorf("ci = %+v shared=%v", lim, shared)
	}
	if lim, shared := l.For("batch"); shared || !lim.Unlimited() {
		t.Errorf("batch = %+v shared=%v, want unlimited", lim, shared)
	}
	if lim, shared := l.For("other"); !shared || lim != (Limit{200, 400}) {
		t.Errorf("other = %+v shared=%v, want the aggregate 200/400", lim, shared)
	}
	if got := fmt.Sprint(l.Principals()); got != "[ci batch]" {
		t.Errorf("Principals = %s", got)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"limits":[{"principal":"ci","qps":-1}]}`, "limits[0].qps: -1 must be positive"},
		{`{"limits":[{"principal":"ci","qps":0}]}`, "limits[0].qps: 0 must be positive"},
		{`{"limits":[{"principal":"a"},{"qps":1}]}`, "limits[1].principal: is required"},
		{`{"limits":[{"principal":""}]}`, "limits[0].principal: is required"},
		{`{"limits":[{"principal":"ci"},{"principal":"ci"}]}`, `limits[1].principal: "ci" is listed more than once`},
		{`{"limits":[{"principal":"ci","qps":1,"capacity":0}]}`, "limits[0].capacity: 0 must be a whole number of at least 1"},
		{`{"limits":[{"principal":"ci","qps":1,"capacity":1.5}]}`, "limits[0].capacity: 1.5 must be a whole number"},
		{`{"limits":[{"principal":"ci","capacity":5}]}`, "limits[0].capacity: 5 is given without limits[0].qps"},
		{`{"limits":[{"principal":"ci","burst":5}]}`, "limits[0].burst: unknown field"},
		{`{"limits":[{"principal":"ci","qps":"50"}]}`, "limits[0].qps: got a JSON string, want a number"},
		{`{"limits":[{"principal":7}]}`, "limits[0].principal: got a JSON number, want a string"},
		{`{"limits":{"principal":"ci"}}`, "limits: got a JSON object, want a list"},
		{`{"limit":[]}`, "limit: unknown field"},
		{`{"aggregate_default_qps":-5}`, "aggregate_default_qps: -5 must be positive"},
		{`{"aggregate_default_capacity":10}`, "aggregate_default_capacity: 10 is given without aggregate_default_qps"},
		{`{"aggregate_default_qps":1,"aggregate_default_capacity":0.5}`, "aggregate_default_capacity: 0.5 must be a whole number"},
		{`{} {}`, "rate limits: unexpected data after the JSON object"},
		{`{"limits":[`, "rate limits:"},
		{`[]`, "rate limits: got a JSON array, want an object"},
	} {
		_, err := Parse([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%s) = %v, want an error containing %q", c.in, err, c.want)
		}
	}
}

func TestMiddleware(t *testing.T) {
	l := New(mustParse(t, `{"limits":[{"principal":"ci","qps":0.4,"capacity":2}],"aggregate_default_qps":10}`))
	now := t0
	served := 0
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++ }), l,
		func(r *http.Request) string { return r.Header.Get("X-Principal") },
		func() time.Time { return now })
	do := func(p string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/api/v1", nil)
		r.Header.Set("X-Principal", p)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := 0; i < 2; i++ {
		if w := do("ci"); w.Code != 200 {
			t.Fatalf("request %d within the burst: %d", i+1, w.Code)
		}
	}
	w := do("ci")
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("over the burst: %d, want 429", w.Code)
	}
	// 1 token at 0.4 qps is 2.5 s away: rounded up to whole seconds.
	if got := w.Header().Get("Retry-After"); got != "3" {
		t.Errorf("Retry-After = %q, want 3", got)
	}
	body := w.Body.String()
	for _, want := range []string{`principal "ci"`, "0.4 requests per second (burst 2)"} {
		if !strings.Contains(body, want) {
			t.Errorf("429 body %q does not mention %q", body, want)
		}
	}
	if served != 2 {
		t.Fatalf("handler ran %d times, want 2 (the refused request must not reach it)", served)
	}
	now = now.Add(2500 * time.Millisecond)
	if w := do("ci"); w.Code != 200 {
		t.Fatalf("after Retry-After: %d, want 200", w.Code)
	}

	// A shared-bucket refusal says so, and a sub-second wait is 1 s.
	for i := 0; i < 10; i++ {
		do("anon")
	}
	w = do("")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("unauthenticated over the shared limit: %d Retry-After %q, want 429 and 1", w.Code, w.Header().Get("Retry-After"))
	}
	if body := w.Body.String(); !strings.Contains(body, "unauthenticated requests share the default limit of 10 requests per second") {
		t.Errorf("shared 429 body = %q", body)
	}
}

func BenchmarkAllow(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"limits":[`)
	principals := make([]string, 100)
	for i := range principals {
		principals[i] = fmt.Sprintf("p%d", i)
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"principal":%q,"qps":1000000}`, principals[i])
	}
	sb.WriteString(`]}`)
	l := New(mustParse(b, sb.String()))
	b.ReportAllocs()
	b.ResetTimer()
	var worker atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		// Workers start on different principals, as real callers would.
		i := int(worker.Add(1)) * 37
		for pb.Next() {
			l.Allow(principals[i%len(principals)], t0.Add(time.Duration(i)*time.Microsecond))
			i++
		}
	})
}
