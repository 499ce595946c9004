package main

import (
	"net/http"
	"strings"
	"sync/atomic"
)

// mount serves a built-in framework's API under its path prefixes on the
// master's port, for whichever instance of the framework runs in this
// process now. Without one (a standby master, or the framework turned
// off) the paths go to the master's handler, which redirects to the
// leader or answers 404.
type mount struct {
	prefixes []string
	cur      atomic.Pointer[http.Handler]
}

// set makes h the handler of the prefixes; nil unmounts.
func (m *mount) set(h http.Handler) {
	if h == nil {
		m.cur.Store(nil)
		return
	}
	m.cur.Store(&h)
}

// wrap routes the prefixes to the mounted handler and the rest to next.
func (m *mount) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := m.cur.Load(); h != nil && m.owns(r.URL.Path) {
			(*h).ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (m *mount) owns(path string) bool {
	for _, p := range m.prefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}
