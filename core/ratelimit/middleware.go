package ratelimit

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Middleware lets a request through to next when its principal's bucket
// has a token at now(), and otherwise answers 429 Too Many Requests with
// Retry-After in whole seconds (at least 1) and a body naming the
// principal and its limit. now is the clock (nil: time.Now). A nil
// Limiter lets everything through.
func Middleware(next http.Handler, l *Limiter, principal func(*http.Request) string, now func() time.Time) http.Handler {
	if l == nil {
		return next
	}
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := ""
		if principal != nil {
			p = principal(r)
		}
		ok, retry := l.Allow(p, now())
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		secs := int64(math.Ceil(retry.Seconds()))
		if secs < 1 {
			secs = 1
		}
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprintf(w, "%s\n", refusal(p, l))
	})
}

// refusal explains a 429.
func refusal(p string, l *Limiter) string {
	lim, shared := l.Limit(p)
	who, verb := fmt.Sprintf("principal %q", p), "shares"
	if p == "" {
		who, verb = "unauthenticated requests", "share"
	}
	if shared {
		return fmt.Sprintf("rate limit exceeded: %s %s the default limit of %s with every principal not listed in --rate_limits", who, verb, lim)
	}
	return fmt.Sprintf("rate limit exceeded: %s is limited to %s", who, lim)
}
