package tlsconfig

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// sniffTimeout bounds how long a new connection may stay silent before its
// first byte decides TLS or plain; a silent connection is then closed.
const sniffTimeout = 10 * time.Second

// rejectTimeout bounds reading the request of a plain-text client that is
// about to be told to use HTTPS.
const rejectTimeout = 5 * time.Second

// tlsHandshake is the record type that starts every TLS connection.
const tlsHandshake = 0x16

// Listen serves TLS and plain HTTP on one listener. Each accepted
// connection is classified by its first byte in its own goroutine, so a
// client that connects and sends nothing delays only itself (and is closed
// after 10 s). A connection starting with a TLS handshake is returned as a
// *tls.Conn (so net/http fills in Request.TLS); any other is returned as
// is when plain is true, or answered "400 Bad Request" naming the https://
// address and closed when plain is false (--tls-only).
//
// With a nil cfg there is nothing to sniff for and ln is returned unchanged.
func Listen(ln net.Listener, cfg *tls.Config, plain bool) net.Listener {
	if cfg == nil {
		return ln
	}
	l := &listener{
		inner:   ln,
		cfg:     cfg,
		plain:   plain,
		ready:   make(chan accepted),
		done:    make(chan struct{}),
		sniffed: make(map[net.Conn]struct{}),
	}
	go l.acceptLoop()
	return l
}

type accepted struct {
	conn net.Conn
	err  error
}

type listener struct {
	inner net.Listener
	cfg   *tls.Config
	plain bool

	ready chan accepted // classified connections and Accept errors
	done  chan struct{} // closed by Close
	once  sync.Once

	mu      sync.Mutex
	sniffed map[net.Conn]struct{} // connections still being classified
	closed  bool
}

func (l *listener) Addr() net.Addr { return l.inner.Addr() }

func (l *listener) Accept() (net.Conn, error) {
	select {
	case a := <-l.ready:
		return a.conn, a.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and closes connections still being classified;
// connections already returned by Accept belong to the caller.
func (l *listener) Close() error {
	err := net.ErrClosed
	l.once.Do(func() {
		close(l.done)
		err = l.inner.Close()
		l.mu.Lock()
		l.closed = true
		for c := range l.sniffed {
			c.Close()
		}
		l.sniffed = nil
		l.mu.Unlock()
	})
	return err
}

func (l *listener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.inner.Accept()
		if err != nil {
			if !l.deliver(accepted{err: err}) || errors.Is(err, net.ErrClosed) {
				return
			}
			// Same pacing as net/http for errors such as EMFILE, so a
			// persistent failure does not spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-l.done:
				return
			}
			continue
		}
		backoff = 0
		if !l.track(c) {
			c.Close()
			return
		}
		go l.classify(c)
	}
}

// deliver hands a result to Accept, or reports false when the listener
// closed first.
func (l *listener) deliver(a accepted) bool {
	select {
	case l.ready <- a:
		return true
	case <-l.done:
		return false
	}
}

func (l *listener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.sniffed[c] = struct{}{}
	return true
}

func (l *listener) untrack(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.sniffed, c)
}

func (l *listener) classify(c net.Conn) {
	var first [1]byte
	c.SetReadDeadline(time.Now().Add(sniffTimeout))
	_, err := io.ReadFull(c, first[:])
	// From here Close no longer reaches c: it is either handed to Accept
	// or closed below.
	l.untrack(c)
	if err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	pc := &prefixConn{Conn: c, prefix: first[:]}
	var out net.Conn
	switch {
	case first[0] == tlsHandshake:
		out = tls.Server(pc, l.cfg)
	case l.plain:
		out = pc
	default:
		refusePlain(pc, l.inner.Addr())
		return
	}
	if !l.deliver(accepted{conn: out}) {
		c.Close()
	}
}

// refusePlain tells a plain-text client to use HTTPS. It reads the
// request first so that closing does not reset the connection before the
// client has read the answer.
func refusePlain(c net.Conn, addr net.Addr) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(rejectTimeout))
	host := addr.String()
	if req, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
		if h := req.Host; h != "" && !strings.ContainsAny(h, " \r\n") {
			host = h
		}
		// Drain a small body so the close is clean; a large one is cut.
		io.Copy(io.Discard, io.LimitReader(req.Body, 64<<10))
	}
	body := fmt.Sprintf("this server only speaks HTTPS; use https://%s\n", host)
	fmt.Fprintf(c, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// prefixConn gives back the byte consumed while classifying.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// CloseWrite lets net/http half-close plain connections as it would a
// *net.TCPConn.
func (p *prefixConn) CloseWrite() error {
	if cw, ok := p.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return p.Conn.Close()
}
