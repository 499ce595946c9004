// Package httpapi holds the JSON-over-HTTP plumbing the built-in
// frameworks' REST APIs (Marathon's /v2, Metronome's /v1) share, on both
// sides: answers in the {"message": ...} shape both projects use, 405s,
// boolean query parameters, /ping, 403s from access, and the client's round
// trip (re-sendable bodies, so a standby's 307 to the leader is followed).
// The APIs keep what differs: their bodies, paths and error mapping.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"agora/frameworks/access"
)

// message is the body of every answer that is only a message.
type message struct {
	Message string `json:"message"`
}

// WriteJSON answers v as JSON (a 500 message if it cannot be encoded).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(message{fmt.Sprintf("encode answer: %v", err)})
	}
	WriteRaw(w, status, data)
}

// WriteRaw answers already encoded JSON.
func WriteRaw(w http.ResponseWriter, status int, data []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// WriteMessage answers {"message": msg}.
func WriteMessage(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, message{msg})
}

// Allow answers 405 with an Allow header unless r's method is one of
// methods.
func Allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	WriteMessage(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path))
	return false
}

// BadParam answers 400 naming the query parameter.
func BadParam(w http.ResponseWriter, name, value, want string) {
	WriteMessage(w, http.StatusBadRequest, fmt.Sprintf("query parameter %s: %q is not %s", name, value, want))
}

// BoolParam reads an optional boolean query parameter; ok is false after a
// 400 was written.
func BoolParam(w http.ResponseWriter, r *http.Request, name string) (v, ok bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return false, true
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		BadParam(w, name, s, "true or false")
		return false, false
	}
	return b, true
}

// Ping answers GET and HEAD /ping with "pong".
func Ping(w http.ResponseWriter, r *http.Request) {
	if !Allow(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("pong\n"))
}

// Permitted answers a refusal with 403 and its message; true when there
// was none.
func Permitted(w http.ResponseWriter, d *access.Denied) bool {
	if d != nil {
		WriteMessage(w, http.StatusForbidden, d.Error())
	}
	return d == nil
}

// maxAnswer bounds an answer a client reads.
const maxAnswer = 64 << 20

// Do sends one request to base+path with query q and body (JSON, nil for
// none) and returns the answer and its body, whatever its status; errors
// are transport errors only, naming the method and path.
func Do(ctx context.Context, hc *http.Client, base, method, path string, q url.Values, body []byte) (*http.Response, []byte, error) {
	u := base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		// A *bytes.Reader lets net/http set GetBody, which a 307 needs.
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp, nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return resp, data, nil
}
