package docker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Stream identifiers of Docker's multiplexed log format.
const (
	streamStdout = 1
	streamStderr = 2
	streamSystem = 3
)

// maxFrame bounds one frame of the log stream: Docker splits lines at 16
// KiB, so anything near this is a corrupt stream, not a long line.
const maxFrame = 16 << 20

// readFrames demultiplexes a non-TTY log stream, calling fn once per frame
// (one log message) with its stream and payload. The payload is only valid
// during the call. It returns nil at a clean end of stream.
func readFrames(r io.Reader, fn func(stream byte, payload []byte) error) error {
	var hdr [8]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("log stream header: %w", err)
		}
		size := binary.BigEndian.Uint32(hdr[4:])
		if size > maxFrame {
			return fmt.Errorf("log stream: frame of %d bytes is implausible", size)
		}
		if cap(buf) < int(size) {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(r, buf); err != nil {
			return fmt.Errorf("log stream frame: %w", err)
		}
		switch hdr[0] {
		case streamStdout, streamStderr:
			if err := fn(hdr[0], buf); err != nil {
				return err
			}
		case streamSystem:
			return fmt.Errorf("docker daemon: %s", bytes.TrimSpace(buf))
		default:
			return fmt.Errorf("log stream: unknown stream %d", hdr[0])
		}
	}
}

// splitTimestamp cuts the "2006-01-02T15:04:05.000000000Z " prefix that
// Docker puts before every message when asked for timestamps.
func splitTimestamp(payload []byte) (time.Time, []byte, error) {
	i := bytes.IndexByte(payload, ' ')
	if i < 0 {
		return time.Time{}, nil, fmt.Errorf("log message without timestamp: %.40q", payload)
	}
	ts, err := time.Parse(time.RFC3339Nano, string(payload[:i]))
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("log message timestamp: %w", err)
	}
	return ts, payload[i+1:], nil
}

// sandboxLog is one of Sandbox/stdout and Sandbox/stderr, opened for
// appending. After each message it sets the file's modification time to
// the daemon's timestamp of that message, so that the file itself records
// how far the copy got: a recovered container resumes copying from there
// (ContainerLogs since) without duplicating or, short of two messages in
// the same nanosecond, losing output.
type sandboxLog struct {
	path string
	f    *os.File
	last time.Time // daemon timestamp of the last message written
}

func openSandboxLog(sandbox, name string) (*sandboxLog, error) {
	p := filepath.Join(sandbox, name)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sandbox %s: %w", name, err)
	}
	return &sandboxLog{path: p, f: f}, nil
}

func (l *sandboxLog) write(ts time.Time, msg []byte) error {
	if _, err := l.f.Write(msg); err != nil {
		return fmt.Errorf("write %s: %w", l.path, err)
	}
	l.last = ts
	if err := os.Chtimes(l.path, time.Time{}, ts); err != nil {
		return fmt.Errorf("mark %s: %w", l.path, err)
	}
	return nil
}

// resumeAt is where copying into this file continues after an agent
// restart: just after the last message copied, as recorded in the file's
// modification time.
func (l *sandboxLog) resumeAt() (time.Time, error) {
	fi, err := l.f.Stat()
	if err != nil {
		return time.Time{}, fmt.Errorf("stat %s: %w", l.path, err)
	}
	return fi.ModTime().Add(time.Nanosecond), nil
}

func (l *sandboxLog) close() error { return l.f.Close() }

// logSink routes a container's messages into its two sandbox files and
// remembers the position, so that a broken stream can be resumed.
type logSink struct {
	mu     sync.Mutex
	stdout *sandboxLog
	stderr *sandboxLog
}

func openSinks(sandbox string) (*logSink, error) {
	out, err := openSandboxLog(sandbox, "stdout")
	if err != nil {
		return nil, err
	}
	errLog, err := openSandboxLog(sandbox, "stderr")
	if err != nil {
		out.close()
		return nil, err
	}
	return &logSink{stdout: out, stderr: errLog}, nil
}

// consume copies a timestamped log stream into the files. Messages at or
// before the position already reached on their stream are skipped, so
// overlapping reads (a resumed stream) do not duplicate output.
func (s *logSink) consume(r io.Reader) error {
	return readFrames(r, func(stream byte, payload []byte) error {
		ts, msg, err := splitTimestamp(payload)
		if err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		l := s.stdout
		if stream == streamStderr {
			l = s.stderr
		}
		if !l.last.IsZero() && !ts.After(l.last) {
			return nil
		}
		return l.write(ts, msg)
	})
}

// since is the earliest position of the two files, from which a new log
// request must start so neither stream misses anything.
func (s *logSink) since() (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.stdout.resumeAt()
	if err != nil {
		return time.Time{}, err
	}
	b, err := s.stderr.resumeAt()
	if err != nil {
		return time.Time{}, err
	}
	// Prime the duplicate filter from the files, which matters after a
	// restart when nothing has been written by this process yet.
	if s.stdout.last.IsZero() {
		s.stdout.last = a.Add(-time.Nanosecond)
	}
	if s.stderr.last.IsZero() {
		s.stderr.last = b.Add(-time.Nanosecond)
	}
	if b.Before(a) {
		return b, nil
	}
	return a, nil
}

func (s *logSink) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.stdout.close(), s.stderr.close())
}
