package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// peekLimit is how much of a request body is read to find its call type
// (one byte more is read to tell whether the body goes on).
const peekLimit = 64 << 10

// namesCall reports whether path is a Mesos API endpoint whose body's
// top-level "type" names the call: operator, scheduler, agent.
func namesCall(path string) bool {
	switch path {
	case "/api/v1", "/api/v1/scheduler", "/agent/api/v1":
		return true
	}
	return false
}

// Middleware records every mutating request to l once its status is
// known: at WriteHeader (or the first Write or Flush), or when the handler
// returns without writing (a handler that panics is recorded as 500). GET,
// HEAD and OPTIONS are not recorded. On the Mesos API endpoints (/api/v1,
// /api/v1/scheduler, /agent/api/v1) the body's top-level "type" is the
// Call, read from a peek at the first 64 KiB that the handler still sees
// as part of the whole body; a call whose type starts with "GET_" is a
// read and not recorded, unless the body is longer than the peek (then
// the type is not certain and the request is recorded). principal names
// the caller; now is the clock (nil: time.Now). A nil Log records nothing.
func Middleware(next http.Handler, l *Log, principal func(*http.Request) string, now func() time.Time) http.Handler {
	if l == nil {
		return next
	}
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		call := ""
		if namesCall(r.URL.Path) && r.Body != nil && r.Body != http.NoBody {
			var certain bool
			call, certain = peekCall(r)
			// Only skip what is surely a read, so a mutating call cannot
			// hide behind a "GET_" type the handler would not act on.
			if certain && strings.HasPrefix(call, "GET_") {
				next.ServeHTTP(w, r)
				return
			}
		}
		p := ""
		if principal != nil {
			p = principal(r)
		}
		rec := &recorder{ResponseWriter: w, record: func(status int) {
			l.Record(Entry{
				Time:      now(),
				Principal: p,
				Method:    r.Method,
				Path:      r.URL.Path,
				Call:      call,
				Status:    status,
				Remote:    r.RemoteAddr,
			})
		}}
		finished := false
		defer func() {
			if !finished {
				// The handler panicked: net/http answers 500 or aborts,
				// and the attempt is still worth recording.
				rec.done(http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(rec, r)
		finished = true
		rec.done(http.StatusOK)
	})
}

// peekCall reads up to peekLimit bytes of the body, puts them back in
// front of the rest, and returns the top-level "type" and whether it is
// certain (the whole body was seen).
func peekCall(r *http.Request) (call string, certain bool) {
	head, err := io.ReadAll(io.LimitReader(r.Body, peekLimit+1))
	body := r.Body
	r.Body = &peekedBody{Reader: io.MultiReader(bytes.NewReader(head), errReader{err}, body), Closer: body}
	if err != nil {
		return "", false
	}
	return topLevelType(head)
}

type peekedBody struct {
	io.Reader
	io.Closer
}

// errReader replays a read error hit while peeking, so the handler sees
// the same failure (e.g. a client that went away) after the peeked bytes.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

// topLevelType finds the call type as the API handlers' encoding/json
// will: the last top-level key matching "type" without regard to case.
// The answer is certain only for a whole body; a body cut off at
// peekLimit might hold another "type" after the cut.
func topLevelType(data []byte) (call string, certain bool) {
	if len(data) <= peekLimit {
		var c struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(data, &c) != nil {
			return "", true // not a call the handlers will run as a read
		}
		return c.Type, true
	}
	dec := json.NewDecoder(bytes.NewReader(data[:peekLimit]))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", true // not a JSON object: the handler refuses it
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return call, false
		}
		if k, _ := key.(string); strings.EqualFold(k, "type") {
			if tok, err := dec.Token(); err == nil {
				if s, ok := tok.(string); ok {
					call = s
				}
			}
			continue
		}
		// Skip the value without decoding it.
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return call, false
		}
	}
	return call, false
}

// recorder learns the status as the handler sets it and records it once.
type recorder struct {
	http.ResponseWriter
	record   func(status int)
	recorded bool
}

func (r *recorder) done(status int) {
	if !r.recorded {
		r.recorded = true
		r.record(status)
	}
}

func (r *recorder) WriteHeader(code int) {
	// 1xx other than 101 are interim; the final status follows.
	if code >= 200 || code == http.StatusSwitchingProtocols {
		r.done(code)
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.done(http.StatusOK)
	return r.ResponseWriter.Write(b)
}

// Flush keeps event streams working through the wrapper.
func (r *recorder) Flush() {
	r.done(http.StatusOK)
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack passes through for handlers that take over the connection.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	r.done(http.StatusSwitchingProtocols)
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer (write
// deadlines, full-duplex).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
