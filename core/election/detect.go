package election

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// DefaultPort is ZooKeeper's client port, used when a zk URL's host has
// none.
const DefaultPort = 2181

// DetectorSessionTimeout is the session timeout of a Detector's connection.
const DetectorSessionTimeout = 10 * time.Second

// ErrNoLeader means the election has no candidates.
var ErrNoLeader = errors.New("election: no leader")

// ParseURL splits "zk://host1:2181,host2:2181/agora" into its servers and
// path. ok is false, with no error, for strings that are not zk URLs (a
// plain master address); a zk URL that is malformed yields an error naming
// the problem.
func ParseURL(s string) (servers []string, path string, ok bool, err error) {
	const scheme = "zk://"
	if len(s) < len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) {
		return nil, "", false, nil
	}
	rest := s[len(scheme):]
	if strings.ContainsAny(rest, "?#") {
		return nil, "", true, fmt.Errorf("zk URL %q: query strings and fragments are not supported", s)
	}
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		return nil, "", true, fmt.Errorf("zk URL %q: missing path (e.g. zk://host:2181/agora)", s)
	}
	hosts, path := rest[:slash], rest[slash:]
	if strings.Contains(hosts, "@") {
		return nil, "", true, fmt.Errorf("zk URL %q: credentials are not supported", s)
	}
	if hosts == "" {
		return nil, "", true, fmt.Errorf("zk URL %q: no servers", s)
	}
	for _, h := range strings.Split(hosts, ",") {
		server, err := parseServer(h)
		if err != nil {
			return nil, "", true, fmt.Errorf("zk URL %q: %w", s, err)
		}
		servers = append(servers, server)
	}
	if err := validPath(path); err != nil {
		return nil, "", true, fmt.Errorf("zk URL %q: %w", s, err)
	}
	return servers, path, true, nil
}

// parseServer checks one "host[:port]" and adds the default port.
func parseServer(h string) (string, error) {
	if h == "" {
		return "", errors.New("empty server in the server list")
	}
	host, port := h, strconv.Itoa(DefaultPort)
	if strings.HasPrefix(h, "[") || strings.Count(h, ":") == 1 {
		var err error
		if host, port, err = net.SplitHostPort(h); err != nil {
			// "[::1]" without a port.
			if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
				host, port = h[1:len(h)-1], strconv.Itoa(DefaultPort)
			} else {
				return "", fmt.Errorf("server %q: %w", h, err)
			}
		}
	} else if strings.Contains(h, ":") {
		return "", fmt.Errorf("server %q: an IPv6 address needs brackets, e.g. [::1]:2181", h)
	}
	if host == "" {
		return "", fmt.Errorf("server %q: empty host", h)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("server %q: port %q is not a number from 1 to 65535", h, port)
	}
	return net.JoinHostPort(host, port), nil
}

// DetectLeader reads the current leader once: the candidate with the
// lowest sequence. It gives up after timeout or when ctx ends.
func DetectLeader(ctx context.Context, zkURL string, timeout time.Duration) (Candidate, error) {
	servers, path, ok, err := ParseURL(zkURL)
	if err != nil {
		return Candidate{}, fmt.Errorf("election: detect leader: %w", err)
	}
	if !ok {
		return Candidate{}, fmt.Errorf("election: detect leader: %q is not a zk:// URL", zkURL)
	}
	if timeout <= 0 {
		return Candidate{}, fmt.Errorf("election: detect leader: timeout %v must be positive", timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, _, err := zk.Connect(servers, max(timeout, time.Second), zk.WithLogger(zkLogger{func(string, ...any) {}}), zk.WithLogInfo(false))
	if err != nil {
		return Candidate{}, fmt.Errorf("election: detect leader at %s: %w", zkURL, err)
	}
	defer conn.Close()
	type result struct {
		c   Candidate
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Retry while the connection is not up yet: the client fails
		// requests queued before it connects.
		backoff := 50 * time.Millisecond
		for {
			c, _, err := readLeader(conn, path)
			if err == nil || !connectionError(err) || ctx.Err() != nil {
				done <- result{c, err}
				return
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, time.Second)
		}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return Candidate{}, fmt.Errorf("election: detect leader at %s: %w", zkURL, r.err)
		}
		return r.c, nil
	case <-ctx.Done():
		return Candidate{}, fmt.Errorf("election: detect leader at %s: %w", zkURL, ctx.Err())
	}
}

// readLeader reads the lowest candidate at path and its znode's name,
// looking again when it leaves between the listing and the read.
func readLeader(conn *zk.Conn, path string) (Candidate, string, error) {
	for {
		children, _, err := conn.Children(path)
		if errors.Is(err, zk.ErrNoNode) {
			return Candidate{}, "", ErrNoLeader
		}
		if err != nil {
			return Candidate{}, "", err
		}
		line := candidates(children)
		if len(line) == 0 {
			return Candidate{}, "", ErrNoLeader
		}
		data, _, err := conn.Get(path + "/" + line[0])
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return Candidate{}, "", err
		}
		c, err := decodeInfo(path+"/"+line[0], data)
		return c, line[0], err
	}
}

// Detector follows the leader of an election for as long as its context
// lives, on its own ZooKeeper session.
//
// Changes delivers the leader each time it changes (the first one seen
// included); a zero Candidate means the election has no candidates. Only
// the latest change waits in the channel: a slow reader skips to the
// current leader. While ZooKeeper is unreachable the last leader seen is
// kept. The channel is closed when the context ends.
type Detector struct {
	conn *zk.Conn
	path string
	logf func(string, ...any)

	mu      sync.Mutex
	leader  Candidate
	node    string // the leader's znode, "" for none
	known   bool
	changes chan Candidate
}

// NewDetector starts following the leader at zkURL until ctx ends. It
// returns at once; the first leader arrives on Changes.
func NewDetector(ctx context.Context, zkURL string, logf func(string, ...any)) (*Detector, error) {
	servers, path, ok, err := ParseURL(zkURL)
	if err != nil {
		return nil, fmt.Errorf("election: detector: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("election: detector: %q is not a zk:// URL", zkURL)
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	conn, _, err := zk.Connect(servers, DetectorSessionTimeout, zk.WithLogger(zkLogger{logf}), zk.WithLogInfo(false))
	if err != nil {
		return nil, fmt.Errorf("election: detector %s: %w", zkURL, err)
	}
	d := &Detector{conn: conn, path: path, logf: logf, changes: make(chan Candidate, 1)}
	go d.run(ctx)
	return d, nil
}

// Leader returns the leader as last seen; false when none is known.
func (d *Detector) Leader() (Candidate, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.leader, d.known && d.node != ""
}

// Changes delivers leader changes; see the type's comment.
func (d *Detector) Changes() <-chan Candidate { return d.changes }

func (d *Detector) run(ctx context.Context) {
	defer close(d.changes)
	defer d.conn.Close()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		changed, err := d.look()
		if err != nil {
			if !connectionError(err) {
				d.logf("election: detector %s: %v", d.path, err)
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		select {
		case <-changed:
		case <-ctx.Done():
		}
	}
}

// look reads the line once, publishes a change, and returns a channel that
// fires when the line (or the path's existence) changes.
func (d *Detector) look() (<-chan zk.Event, error) {
	children, _, changed, err := d.conn.ChildrenW(d.path)
	if errors.Is(err, zk.ErrNoNode) {
		// No master has created the path yet: wait for it.
		exists, _, created, err := d.conn.ExistsW(d.path)
		if err != nil {
			return nil, err
		}
		if exists {
			return closedEvents, nil // created meanwhile: look again
		}
		d.publish(Candidate{}, "")
		return created, nil
	}
	if err != nil {
		return nil, err
	}
	line := candidates(children)
	if len(line) == 0 {
		d.publish(Candidate{}, "")
		return changed, nil
	}
	d.mu.Lock()
	same := d.known && d.node == line[0]
	d.mu.Unlock()
	if same {
		return changed, nil
	}
	data, _, err := d.conn.Get(d.path + "/" + line[0])
	if errors.Is(err, zk.ErrNoNode) {
		return closedEvents, nil // it left meanwhile: look again
	}
	if err != nil {
		return nil, err
	}
	c, err := decodeInfo(d.path+"/"+line[0], data)
	if err != nil {
		return nil, err
	}
	d.publish(c, line[0])
	return changed, nil
}

// publish records the leader and, if it changed, replaces whatever change
// is still waiting in the channel.
func (d *Detector) publish(c Candidate, node string) {
	d.mu.Lock()
	if d.known && d.node == node {
		d.mu.Unlock()
		return
	}
	d.leader, d.node, d.known = c, node, true
	d.mu.Unlock()
	select {
	case <-d.changes: // drop the stale one
	default:
	}
	d.changes <- c
}

// closedEvents fires at once: "look again".
var closedEvents = func() <-chan zk.Event {
	ch := make(chan zk.Event)
	close(ch)
	return ch
}()
