package ratelimit

import (
	"math"
	"sync"
	"time"
)

// Limiter is a token bucket per limited principal plus one shared by the
// principals not listed. Each bucket has its own lock, so principals do
// not contend with each other; the set of buckets is fixed by the Limits.
type Limiter struct {
	limits    *Limits
	buckets   map[string]*bucket // read-only after New
	aggregate *bucket            // nil when unlisted principals are unlimited
}

type bucket struct {
	limit Limit

	mu     sync.Mutex
	tokens float64
	last   time.Time // when tokens was last brought up to date
	primed bool      // a bucket starts full at its first use
}

// New builds a Limiter; nil limits allow everything.
func New(l *Limits) *Limiter {
	lim := &Limiter{limits: l, buckets: map[string]*bucket{}}
	if l == nil {
		return lim
	}
	for p, pl := range l.principals {
		if !pl.Unlimited() {
			lim.buckets[p] = &bucket{limit: pl}
		}
	}
	if !l.aggregate.Unlimited() {
		lim.aggregate = &bucket{limit: l.aggregate}
	}
	return lim
}

// Limit is the limit applying to principal and whether it is the shared
// aggregate one.
func (l *Limiter) Limit(principal string) (Limit, bool) { return l.limits.For(principal) }

// Allow takes a token from principal's bucket at time now. When none is
// left it reports false and how long until one will be.
func (l *Limiter) Allow(principal string, now time.Time) (ok bool, retryAfter time.Duration) {
	b, ok := l.buckets[principal]
	if !ok {
		if _, shared := l.limits.For(principal); !shared {
			return true, 0 // listed without a rate
		}
		b = l.aggregate
	}
	if b == nil {
		return true, 0
	}
	return b.take(now)
}

func (b *bucket) take(now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.primed {
		b.tokens, b.last, b.primed = b.limit.Capacity, now, true
	} else if elapsed := now.Sub(b.last); elapsed > 0 {
		// A clock that steps back adds nothing rather than draining.
		b.tokens = math.Min(b.limit.Capacity, b.tokens+elapsed.Seconds()*b.limit.QPS)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := (1 - b.tokens) / b.limit.QPS
	return false, time.Duration(math.Ceil(wait * float64(time.Second)))
}
