// Package audit keeps a log of every mutating call made to Agora: who
// (principal), what (method, path, call type), the outcome (status), from
// where (remote address) and when, as one JSON object per line:
//
//	{"time":"2025-01-01T12:00:00.123Z","principal":"ops","method":"POST","path":"/api/v1","call":"TEARDOWN","status":200,"remote":"127.0.0.1:4242"}
//
// Contract:
//   - Record never waits for the disk: entries go to a memory buffer that a
//     background writer flushes at least every second, sooner when it
//     grows, and on Close.
//   - A write error is reported once through logf; every entry lost (to
//     write errors, a full buffer while the disk is stuck, or recording
//     after Close) is counted in Errors.
//   - Middleware records each request whose method is not GET, HEAD or
//     OPTIONS once its status is known, except Mesos API calls whose type
//     starts with "GET_" (reads sent as POST). The type is read as the API
//     handlers read it (the last top-level "type", any case), so a
//     mutating call cannot pass itself off as a read.
package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Entry is one audited request.
type Entry struct {
	Time      time.Time
	Principal string
	Method    string
	Path      string
	Call      string // the body's "type" on the Mesos API endpoints
	Status    int
	Remote    string
}

type entryJSON struct {
	Time      string `json:"time"`
	Principal string `json:"principal"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Call      string `json:"call"`
	Status    int    `json:"status"`
	Remote    string `json:"remote"`
}

// MarshalJSON writes the line format, with the time in UTC.
func (e Entry) MarshalJSON() ([]byte, error) { return json.Marshal(e.wire()) }

func (e Entry) wire() entryJSON {
	return entryJSON{
		Time:      e.Time.UTC().Format(time.RFC3339Nano),
		Principal: e.Principal,
		Method:    e.Method,
		Path:      e.Path,
		Call:      e.Call,
		Status:    e.Status,
		Remote:    e.Remote,
	}
}

// UnmarshalJSON reads the line format back, for tools and tests.
func (e *Entry) UnmarshalJSON(data []byte) error {
	var j entryJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, j.Time)
	if err != nil {
		return fmt.Errorf("audit entry time: %w", err)
	}
	*e = Entry{Time: t, Principal: j.Principal, Method: j.Method, Path: j.Path, Call: j.Call, Status: j.Status, Remote: j.Remote}
	return nil
}

const (
	// flushEvery bounds how long a recorded entry waits in memory.
	flushEvery = time.Second
	// flushAt wakes the writer early once this much is buffered.
	flushAt = 64 << 10
	// maxBuffered is how much may pile up while the disk is stuck before
	// entries are dropped (and counted) rather than memory grown without
	// bound.
	maxBuffered = 8 << 20
)

// Log appends entries to a writer through a background flusher.
type Log struct {
	w      io.Writer
	file   *os.File // set by Open: synced and closed by Close
	logf   func(string, ...any)
	kick   chan struct{}
	closed chan struct{}
	done   chan struct{}

	mu       sync.Mutex
	buf      []byte
	pending  uint64 // entries in buf
	isClosed bool

	errors   atomic.Uint64
	reported atomic.Bool
	closeErr error
}

// Open appends to the file at path, creating it with mode 0600 (and its
// parent directories with 0700), since the log names principals.
func Open(path string, logf func(string, ...any)) (*Log, error) {
	if path == "" {
		return nil, fmt.Errorf("audit log: path is empty")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	l := New(f, logf)
	l.file = f
	return l, nil
}

// New appends to w; Close flushes but does not close w. A nil logf
// discards the report of a write error (Errors still counts it).
func New(w io.Writer, logf func(string, ...any)) *Log {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	l := &Log{
		w:      w,
		logf:   logf,
		kick:   make(chan struct{}, 1),
		closed: make(chan struct{}),
		done:   make(chan struct{}),
	}
	go l.run()
	return l
}

// Record queues e for writing.
func (l *Log) Record(e Entry) {
	// The wire struct directly: going through MarshalJSON would make
	// encoding/json re-validate the output.
	line, err := json.Marshal(e.wire())
	if err != nil {
		// Entry holds only strings, an int and a time; this is a bug.
		l.lose(1, fmt.Errorf("encode entry: %w", err))
		return
	}
	line = append(line, '\n')
	l.mu.Lock()
	switch {
	case l.isClosed:
		l.mu.Unlock()
		l.lose(1, fmt.Errorf("entry recorded after Close"))
		return
	case len(l.buf)+len(line) > maxBuffered:
		l.mu.Unlock()
		l.lose(1, fmt.Errorf("%d bytes waiting for the disk; dropping entries", len(l.buf)))
		return
	}
	l.buf = append(l.buf, line...)
	l.pending++
	big := len(l.buf) >= flushAt
	l.mu.Unlock()
	if big {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// Errors is how many entries have been lost.
func (l *Log) Errors() uint64 { return l.errors.Load() }

// Close writes what is buffered and stops the writer; for a log made by
// Open it also syncs and closes the file. It returns the first error of
// that final flush or close.
func (l *Log) Close() error {
	l.mu.Lock()
	already := l.isClosed
	l.isClosed = true
	l.mu.Unlock()
	if !already {
		close(l.closed)
	}
	<-l.done
	return l.closeErr
}

func (l *Log) run() {
	defer close(l.done)
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-l.kick:
		case <-l.closed:
			err := l.flush()
			if l.file != nil {
				if serr := l.file.Sync(); err == nil && serr != nil {
					err = serr
				}
				if cerr := l.file.Close(); err == nil && cerr != nil {
					err = cerr
				}
			}
			if err != nil {
				l.closeErr = fmt.Errorf("audit log: %w", err)
			}
			return
		}
		l.flush()
	}
}

// flush writes the buffer outside the lock, so Record only ever waits for
// a slice swap.
func (l *Log) flush() error {
	l.mu.Lock()
	buf, n := l.buf, l.pending
	l.buf, l.pending = nil, 0
	l.mu.Unlock()
	if len(buf) == 0 {
		return nil
	}
	_, err := l.w.Write(buf)
	if err != nil {
		l.lose(n, err)
	}
	if cap(buf) <= 1<<20 {
		// Reuse the buffer when nothing was recorded during the write.
		l.mu.Lock()
		if l.buf == nil {
			l.buf = buf[:0]
		}
		l.mu.Unlock()
	}
	return err
}

// lose counts n lost entries and reports the first loss.
func (l *Log) lose(n uint64, err error) {
	l.errors.Add(n)
	if l.reported.CompareAndSwap(false, true) {
		l.logf("audit log: %v (%d entries lost; later losses are only counted)", err, n)
	}
}
