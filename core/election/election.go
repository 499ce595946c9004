// Package election elects one leader among masters through ZooKeeper and
// lets agents, frameworks and the CLI find it.
//
// The recipe is ZooKeeper's, as Mesos uses it: each candidate creates an
// ephemeral sequential znode <path>/json.info_<seq> holding a small JSON
// description of itself; the candidate with the lowest sequence leads.
// When its session ends (it closed, crashed, or lost ZooKeeper for longer
// than the session timeout) ZooKeeper deletes its znode and the next
// candidate leads.
//
// Contract:
//   - Leadership reports every change of this candidate's leadership, in
//     order, never dropping one: true when it becomes leader, false when it
//     stops. A candidate stops being leader the moment its connection to
//     ZooKeeper drops (Disconnected), before ZooKeeper has expired its
//     session and let another lead, so two masters never both believe they
//     lead while each can reach ZooKeeper. On reconnecting it contends
//     again: with the same session its znode (and place in line) are kept;
//     after expiry it creates a new znode at the back of the line.
//   - Leader is the leader this candidate saw last, kept while
//     disconnected.
//   - Close withdraws: deletes the znode, closes the session, and closes
//     the Leadership channel (a closed channel means "not leader").
//   - Leader discovery (DetectLeader, Detector) reads the same znodes and
//     never contends.
package election

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// Election is one candidate's membership in an election.
type Election struct {
	conn *zk.Conn
	path string
	me   Candidate
	info []byte
	logf func(string, ...any)
	acl  []zk.ACL

	kick    chan struct{} // wakes the loop: session state changed
	closing chan struct{}
	done    chan struct{} // closed when the loop has withdrawn
	once    sync.Once
	joined  chan error // the loop's first attempt to create our znode

	// own is our znode's name; only the loop touches it.
	own      string
	ownEpoch int64 // the epoch in which own was last confirmed ours

	mu        sync.Mutex
	epoch     int64 // counts disconnections; a decision taken in an older epoch is stale
	leading   bool
	leader    Candidate
	hasLeader bool
	queue     []bool        // leadership changes not yet delivered
	notify    chan struct{} // wakes the deliverer
	out       chan bool
}

// Join connects to ZooKeeper with its own session, enters the election at
// path (created if missing) as me, and returns once its znode exists or
// ctx ends. logf receives connection problems; nil discards them.
func Join(ctx context.Context, servers []string, path string, sessionTimeout time.Duration, me Candidate, logf func(string, ...any)) (*Election, error) {
	if len(servers) == 0 {
		return nil, errors.New("election: join: servers is empty")
	}
	if err := validPath(path); err != nil {
		return nil, fmt.Errorf("election: join: %w", err)
	}
	if sessionTimeout <= 0 {
		return nil, fmt.Errorf("election: join: sessionTimeout %v must be positive", sessionTimeout)
	}
	if err := me.validate(); err != nil {
		return nil, fmt.Errorf("election: join: %w", err)
	}
	data, err := encodeInfo(me)
	if err != nil {
		return nil, fmt.Errorf("election: join: %w", err)
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	e := &Election{
		path:    path,
		me:      me,
		info:    data,
		logf:    logf,
		acl:     zk.WorldACL(zk.PermAll),
		kick:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		joined:  make(chan error, 1),
		notify:  make(chan struct{}, 1),
		out:     make(chan bool),
	}
	e.conn, _, err = zk.Connect(servers, sessionTimeout,
		zk.WithLogger(zkLogger{logf}), zk.WithLogInfo(false), zk.WithEventCallback(e.sessionEvent))
	if err != nil {
		return nil, fmt.Errorf("election: join %v: %w", servers, err)
	}
	go e.deliver()
	go e.run()
	select {
	case err := <-e.joined:
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("election: join %s as %s: %w", path, me.ID, err)
		}
		return e, nil
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("election: join %s as %s: %w", path, me.ID, ctx.Err())
	}
}

// Leadership reports this candidate's leadership changes; see the package
// comment. It is closed by Close.
func (e *Election) Leadership() <-chan bool { return e.out }

// IsLeader reports whether this candidate leads now.
func (e *Election) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

// Leader returns the leader as last seen; false before any was seen.
func (e *Election) Leader() (Candidate, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader, e.hasLeader
}

// Close withdraws from the election and waits until the znode is deleted
// (or ZooKeeper is unreachable, in which case the session's expiry deletes
// it). Calling it again does nothing.
func (e *Election) Close() {
	e.once.Do(func() { close(e.closing) })
	<-e.done
}

// sessionEvent runs on the client's goroutine for every event; it must
// not block. Losing the connection ends leadership here, at once, rather
// than when the loop next runs.
func (e *Election) sessionEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	switch ev.State {
	case zk.StateDisconnected, zk.StateExpired:
		e.mu.Lock()
		e.epoch++
		if e.leading {
			e.logf("election: %s: %s lost ZooKeeper (%s): no longer leader", e.path, e.me.ID, ev.State)
		}
		e.setLeadingLocked(false)
		e.mu.Unlock()
	}
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// setLeadingLocked records a leadership change for delivery.
func (e *Election) setLeadingLocked(v bool) {
	if e.leading == v {
		return
	}
	e.leading = v
	e.queue = append(e.queue, v)
	select {
	case e.notify <- struct{}{}:
	default:
	}
}

// deliver hands queued changes to the Leadership channel in order, so the
// election never waits for a slow reader.
func (e *Election) deliver() {
	defer close(e.out)
	for {
		e.mu.Lock()
		if len(e.queue) > 0 {
			v := e.queue[0]
			e.queue = e.queue[1:]
			e.mu.Unlock()
			select {
			case e.out <- v:
			case <-e.done:
				return
			}
			continue
		}
		e.mu.Unlock()
		select {
		case <-e.notify:
		case <-e.done:
			return
		}
	}
}

// run contends until Close: whenever connected it makes sure it has a
// znode in this session, reads the line, and decides.
func (e *Election) run() {
	defer close(e.done)
	defer e.withdraw()
	backoff := 50 * time.Millisecond
	firstTry := true
	wait := func(changed <-chan zk.Event, d time.Duration) bool {
		var timer <-chan time.Time
		if d > 0 {
			timer = time.After(d)
		}
		select {
		case <-changed:
		case <-e.kick:
		case <-timer:
		case <-e.closing:
			return false
		}
		return true
	}
	failed := func(what string, err error) bool {
		if firstTry && !connectionError(err) {
			e.joined <- fmt.Errorf("%s: %w", what, err)
			firstTry = false
		}
		if !connectionError(err) {
			e.logf("election: %s: %s: %s: %v", e.path, e.me.ID, what, err)
		}
		ok := wait(nil, backoff)
		backoff = min(2*backoff, 2*time.Second)
		return ok
	}
	for {
		select {
		case <-e.closing:
			return
		default:
		}
		e.mu.Lock()
		epoch := e.epoch
		e.mu.Unlock()
		if e.conn.State() != zk.StateHasSession {
			if !wait(nil, time.Second) {
				return
			}
			continue
		}
		if err := e.ensureOwn(epoch); err != nil {
			if !failed("create candidate znode", err) {
				return
			}
			continue
		}
		if firstTry {
			e.joined <- nil
			firstTry = false
		}
		children, _, changed, err := e.conn.ChildrenW(e.path)
		if err != nil {
			if !failed("list candidates", err) {
				return
			}
			continue
		}
		line := candidates(children)
		if !contains(line, e.own) {
			e.own = "" // our znode went with an expired session: rejoin
			continue
		}
		leader, err := e.read(line[0])
		if errors.Is(err, zk.ErrNoNode) {
			continue // the leader left meanwhile: look again
		}
		if err != nil {
			if !failed("read leader", err) {
				return
			}
			continue
		}
		backoff = 50 * time.Millisecond
		e.mu.Lock()
		// A disconnection since this pass began makes its view stale: the
		// callback has already stepped down, and the next pass decides.
		if e.epoch == epoch {
			e.leader, e.hasLeader = leader, true
			if !e.leading && line[0] == e.own {
				e.logf("election: %s: %s is leader", e.path, e.me.ID)
			}
			e.setLeadingLocked(line[0] == e.own)
		}
		e.mu.Unlock()
		if !wait(changed, 0) {
			return
		}
	}
}

// ensureOwn makes sure we have a znode owned by the current session: it
// keeps a known one, adopts one created by a create whose reply was lost,
// or creates one.
func (e *Election) ensureOwn(epoch int64) error {
	session := e.conn.SessionID()
	if e.own != "" && e.ownEpoch == epoch {
		return nil
	}
	if e.own != "" {
		// Reconnected: the znode survives only if the session did.
		_, stat, err := e.conn.Get(e.path + "/" + e.own)
		switch {
		case err == nil && stat.EphemeralOwner == session:
			e.ownEpoch = epoch
			return nil
		case err != nil && !errors.Is(err, zk.ErrNoNode):
			return err
		}
		e.own = ""
	}
	children, _, err := e.conn.Children(e.path)
	if errors.Is(err, zk.ErrNoNode) {
		if err := e.createPath(); err != nil {
			return err
		}
		children = nil
	} else if err != nil {
		return err
	}
	for _, name := range candidates(children) {
		_, stat, err := e.conn.Get(e.path + "/" + name)
		if err != nil || stat.EphemeralOwner != session {
			continue
		}
		if e.own == "" {
			e.own = name
			continue
		}
		_ = e.conn.Delete(e.path+"/"+name, -1) // a second one of ours: keep our place, not two
	}
	if e.own == "" {
		created, err := e.conn.Create(e.path+"/"+NodePrefix, e.info, zk.FlagEphemeral|zk.FlagSequence, e.acl)
		if err != nil {
			return err
		}
		e.own = created[len(e.path)+1:]
		e.logf("election: %s: %s joined as %s", e.path, e.me.ID, e.own)
	}
	e.ownEpoch = epoch
	return nil
}

// createPath creates the election's path and its parents.
func (e *Election) createPath() error {
	var p string
	for _, part := range splitPath(e.path) {
		p += "/" + part
		if _, err := e.conn.Create(p, nil, 0, e.acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("create %s: %w", p, err)
		}
	}
	return nil
}

// read returns the candidate in a znode, our own without asking.
func (e *Election) read(name string) (Candidate, error) {
	if name == e.own {
		return e.me, nil
	}
	data, _, err := e.conn.Get(e.path + "/" + name)
	if err != nil {
		return Candidate{}, err
	}
	return decodeInfo(e.path+"/"+name, data)
}

// withdraw deletes our znode (best effort: if ZooKeeper is unreachable the
// session's expiry deletes it), steps down and closes the session.
func (e *Election) withdraw() {
	e.mu.Lock()
	e.epoch++
	e.setLeadingLocked(false)
	e.mu.Unlock()
	if e.own != "" && e.conn.State() == zk.StateHasSession {
		if err := e.conn.Delete(e.path+"/"+e.own, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			e.logf("election: %s: %s: withdraw: %v", e.path, e.me.ID, err)
		}
	}
	e.conn.Close()
}

func connectionError(err error) bool {
	return errors.Is(err, zk.ErrNoServer) || errors.Is(err, zk.ErrConnectionClosed) ||
		errors.Is(err, zk.ErrSessionExpired) || errors.Is(err, zk.ErrSessionMoved) ||
		errors.Is(err, zk.ErrClosing)
}

func contains(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

type zkLogger struct{ logf func(string, ...any) }

func (l zkLogger) Printf(format string, args ...any) { l.logf("election: zk client: "+format, args...) }
