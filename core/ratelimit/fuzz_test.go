package ratelimit

import (
	"testing"
	"time"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, an error
// must say something, and accepted limits must be usable: every limited
// bucket grants its first request and holds at least one token.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"limits": [{"principal": "ci", "qps": 50, "capacity": 100}, {"principal": "batch"}], "aggregate_default_qps": 200, "aggregate_default_capacity": 400}`))
	f.Add([]byte(`{"limits":[{"principal":"ci","qps":-1}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"limits":[{"principal":"a","qps":1e308,"capacity":1e308}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		lim := New(l)
		check := func(p string, limit Limit) {
			if limit.Unlimited() {
				return
			}
			if !(limit.Capacity >= 1) || !(limit.QPS > 0) {
				t.Fatalf("principal %q: accepted limit %+v cannot grant a request", p, limit)
			}
		}
		for _, p := range l.Principals() {
			limit, shared := l.For(p)
			if shared {
				t.Fatalf("listed principal %q is reported as shared", p)
			}
			check(p, limit)
			if ok, _ := lim.Allow(p, time.Unix(0, 0)); !ok {
				t.Fatalf("principal %q refused its first request under %+v", p, limit)
			}
		}
		check("(aggregate)", l.Aggregate())
	})
}
