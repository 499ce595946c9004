// Package master is Agora's master: it admits agents, offers their resources
// to frameworks through the allocator, validates and forwards launches, and
// relays task status updates, speaking the Mesos v1 scheduler and operator
// HTTP APIs.
//
// All master state is owned by one goroutine, the loop: HTTP handlers and
// timers hand it closures (Master.exec) and never touch state themselves.
// The loop does no blocking I/O: events to frameworks and agents go into
// per-stream outboxes, and registry writes go to an ordered background
// writer (persist.go). Decisions about who gets which resources are made by
// the pure allocator (core/allocator).
package master

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"agora/core/acl"
	"agora/core/allocator"
	"agora/core/mesos"
	"agora/core/store"
)

// Version is the version the master reports.
const Version = "0.1.0"

// Config configures a master. Zero durations take the defaults below.
type Config struct {
	// Listen is the HTTP address, default 127.0.0.1:5050.
	Listen string
	// Hostname is advertised in MasterInfo; default: Listen's host.
	Hostname string
	// Store holds the registry. Required.
	Store store.Store

	AllocationInterval   time.Duration // default 1s
	OfferTimeout         time.Duration // default 60s; outstanding offers are then rescinded
	HeartbeatInterval    time.Duration // scheduler HEARTBEAT events, default 15s
	AgentPingTimeout     time.Duration // default 15s
	MaxAgentPingTimeouts int           // default 5
	// AgentReregisterTimeout bounds how long agents recovered from the
	// registry have to re-register after a master restart; default 10m.
	AgentReregisterTimeout time.Duration
	// AgentRemovalTimeout is how long an unreachable agent is kept before it
	// is removed for good and its tasks reported gone; default 1h.
	AgentRemovalTimeout time.Duration
	// Weights are role weights for DRF.
	Weights map[string]float64
	// Seed makes allocation order deterministic (tests).
	Seed int64
	// MaxCompletedTasks and MaxCompletedFrameworks bound history; defaults 1000 and 50.
	MaxCompletedTasks      int
	MaxCompletedFrameworks int

	// Authenticated means an authentication middleware in front of
	// Handler puts every request's principal in its context
	// (authn.WithPrincipal): frameworks must then declare that principal,
	// and agents and frameworks may act only for what they registered.
	Authenticated bool
	// ACLs are the access control lists in force; nil allows everything.
	// The master loads the stored ones at recovery and changes them through
	// UPDATE_ACLS (security.go).
	ACLs *acl.Authorizer
	// ACLFile is the --acls file's content (nil: none given); it is applied
	// at recovery when it differs from the file last applied.
	ACLFile []byte

	Logf func(format string, args ...any)
	// Now is the clock; default time.Now. Tests pass a fake.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:5050"
	}
	if c.Hostname == "" {
		host, _, _ := net.SplitHostPort(c.Listen)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host, _ = os.Hostname()
		}
		c.Hostname = host
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.AllocationInterval, time.Second)
	def(&c.OfferTimeout, 60*time.Second)
	def(&c.HeartbeatInterval, 15*time.Second)
	def(&c.AgentPingTimeout, 15*time.Second)
	def(&c.AgentReregisterTimeout, 10*time.Minute)
	def(&c.AgentRemovalTimeout, time.Hour)
	if c.MaxAgentPingTimeouts == 0 {
		c.MaxAgentPingTimeouts = 5
	}
	if c.MaxCompletedTasks == 0 {
		c.MaxCompletedTasks = 1000
	}
	if c.MaxCompletedFrameworks == 0 {
		c.MaxCompletedFrameworks = 50
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate checks the configuration and names the bad field.
func (c Config) Validate() error {
	if c.Store == nil {
		return errors.New("master config: Store is required")
	}
	for name, d := range map[string]time.Duration{
		"allocation_interval": c.AllocationInterval, "offer_timeout": c.OfferTimeout,
		"heartbeat_interval": c.HeartbeatInterval, "agent_ping_timeout": c.AgentPingTimeout,
		"agent_reregister_timeout": c.AgentReregisterTimeout, "agent_removal_timeout": c.AgentRemovalTimeout,
	} {
		if d < 0 {
			return fmt.Errorf("master config: --%s must not be negative (got %s)", name, d)
		}
	}
	if c.MaxAgentPingTimeouts < 0 {
		return fmt.Errorf("master config: --max_agent_ping_timeouts must be positive (got %d)", c.MaxAgentPingTimeouts)
	}
	for role, w := range c.Weights {
		if !(w > 0) || math.IsInf(w, 0) {
			return fmt.Errorf("master config: --weights: role %q has weight %v; weights must be positive numbers", role, w)
		}
	}
	return nil
}

// Master is a running master. Create with New, then Run.
type Master struct {
	cfg   Config
	info  mesos.MasterInfo
	alloc *allocator.Allocator
	reqs  chan func()
	pers  *persister
	start time.Time

	// Everything below is owned by the loop.
	agents              map[string]*agent
	frameworks          map[string]*framework
	completedFrameworks []*framework
	offers              map[string]*offer
	seq                 uint64
	dirty               map[string]bool // agents whose freed resources await allocation
	goneAgents          map[string]bool // removed for good; refused if they come back
	tasksPending        bool            // task records still being read from the registry
	metrics             metrics
}

// New creates a master and recovers its registry from the store.
func New(cfg Config) (*Master, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	alloc, err := allocator.New(allocator.Config{Weights: cfg.Weights, Seed: cfg.Seed})
	if err != nil {
		return nil, fmt.Errorf("master: allocator: %w", err)
	}
	id := newID()
	host, portStr, _ := net.SplitHostPort(cfg.Listen)
	port, _ := strconv.Atoi(portStr)
	m := &Master{
		cfg:        cfg,
		alloc:      alloc,
		reqs:       make(chan func(), 256),
		pers:       newPersister(cfg.Store, cfg.Logf),
		start:      cfg.Now(),
		agents:     map[string]*agent{},
		frameworks: map[string]*framework{},
		offers:     map[string]*offer{},
		dirty:      map[string]bool{},
		goneAgents: map[string]bool{},
	}
	m.info = mesos.MasterInfo{
		ID: id, IP: ipv4ToUint32(host), Port: uint32(port), PID: "master@" + cfg.Listen,
		Hostname: cfg.Hostname, Version: Version,
		Address: &mesos.Address{Hostname: cfg.Hostname, IP: host, Port: int32(port)},
	}
	if err := m.recover(context.Background()); err != nil {
		return nil, fmt.Errorf("master: recovering registry: %w", err)
	}
	return m, nil
}

// Info returns the master's MasterInfo.
func (m *Master) Info() mesos.MasterInfo { return m.info }

// Run runs the loop until ctx ends, then flushes the registry.
func (m *Master) Run(ctx context.Context) error {
	go m.pers.run()
	if m.tasksPending {
		go m.readTasks(ctx)
	}
	defer m.pers.stop()
	allocTick := time.NewTicker(m.cfg.AllocationInterval)
	defer allocTick.Stop()
	pingTick := time.NewTicker(m.cfg.AgentPingTimeout)
	defer pingTick.Stop()
	housekeep := time.NewTicker(250 * time.Millisecond)
	defer housekeep.Stop()
	for {
		select {
		case <-ctx.Done():
			m.shutdownStreams()
			return nil
		case f := <-m.reqs:
			m.safely("a queued request", f)
		case <-allocTick.C:
			m.safely("allocation", func() { m.allocate(nil) })
		case <-pingTick.C:
			m.safely("agent pings", m.pingAgents)
		case <-housekeep.C:
			m.safely("housekeeping", m.housekeeping)
		}
		if len(m.dirty) > 0 {
			ids := make([]string, 0, len(m.dirty))
			for id := range m.dirty {
				ids = append(ids, id)
			}
			clear(m.dirty)
			m.safely("allocation", func() { m.allocate(ids) })
		}
	}
}

// exec runs f on the loop and waits for it. what names the call for the
// log. It fails if ctx ends first, and with a 500 apiError if f panics:
// the panic is logged and the loop carries on, so one bad request cannot
// take the master down.
func (m *Master) exec(ctx context.Context, what string, f func()) error {
	done := make(chan struct{})
	var perr error
	run := func() {
		defer close(done)
		if p := m.safely(what, f); p != nil {
			perr = &apiError{http.StatusInternalServerError, fmt.Sprintf("internal error handling %s: %v; the master logged it and is still running", what, p)}
		}
	}
	select {
	case m.reqs <- run:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return perr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// safely runs f, recovering and logging a panic (with its stack) so the
// loop goroutine survives it; it returns the panic value, or nil.
func (m *Master) safely(what string, f func()) (p any) {
	defer func() {
		if p = recover(); p != nil {
			m.cfg.Logf("master: panic handling %s: %v\n%s", what, p, debug.Stack())
		}
	}()
	f()
	return nil
}

// post runs f on the loop without waiting.
func (m *Master) post(f func()) {
	go func() { m.reqs <- f }()
}

func (m *Master) now() time.Time { return m.cfg.Now() }

func (m *Master) nextID(kind string) string {
	m.seq++
	return fmt.Sprintf("%s-%s%04d", m.info.ID, kind, m.seq)
}

func (m *Master) shutdownStreams() {
	for _, f := range m.frameworks {
		if f.out != nil {
			f.out.close()
		}
	}
	for _, a := range m.agents {
		if a.out != nil {
			a.out.close()
		}
	}
}

// housekeeping expires offers, framework failover timeouts and agents that
// did not come back in time.
func (m *Master) housekeeping() {
	now := m.now()
	for _, o := range m.offers {
		if !now.Before(o.expires) {
			m.rescindOffer(o, true)
		}
	}
	for _, f := range m.frameworks {
		if f.out == nil && !f.failoverDeadline.IsZero() && !now.Before(f.failoverDeadline) {
			m.cfg.Logf("framework %s (%s) did not re-subscribe within its failover timeout; removing it", f.id, f.info.Name)
			m.removeFramework(f)
		}
	}
	for _, a := range m.agents {
		switch {
		case a.recovered && !now.Before(a.reregisterDeadline):
			m.cfg.Logf("agent %s did not re-register within %s after master recovery", a.id, m.cfg.AgentReregisterTimeout)
			a.recovered = false
			m.markUnreachable(a)
		case a.unreachable && !now.Before(a.unreachableSince.Add(m.cfg.AgentRemovalTimeout)):
			m.removeAgent(a, "agent was unreachable for longer than --agent_removal_timeout")
		}
	}
}

// allocate runs one allocation cycle over the given agents (nil = all) and
// sends the resulting offers.
func (m *Master) allocate(agentIDs []string) {
	start := time.Now()
	now := m.now()
	decisions := m.alloc.Cycle(now, agentIDs...)
	m.metrics.observeCycle(time.Since(start))
	if len(decisions) == 0 {
		return
	}
	byFramework := map[string][]mesos.Offer{}
	for _, d := range decisions {
		f, a := m.frameworks[d.FrameworkID], m.agents[d.AgentID]
		if f == nil || a == nil || f.out == nil || a.unreachable {
			// The allocator's view is stale; hand the resources back.
			m.alloc.Recover(d.AgentID, d.FrameworkID, d.Role, d.Resources)
			continue
		}
		o := &offer{id: m.nextID("O"), framework: f, agent: a, role: d.Role, res: d.Resources, expires: now.Add(m.cfg.OfferTimeout)}
		m.offers[o.id] = o
		f.offers[o.id] = o
		a.offers[o.id] = o
		byFramework[f.id] = append(byFramework[f.id], o.toMesos())
	}
	for fid, offers := range byFramework {
		m.frameworks[fid].send(mesos.Event{Type: mesos.EventOffers, Offers: &mesos.EventOffersBody{Offers: offers}})
		m.metrics.offersSent += uint64(len(offers))
	}
}

// rescindOffer withdraws an outstanding offer and returns its resources.
// notify sends a RESCIND event to the framework.
func (m *Master) rescindOffer(o *offer, notify bool) {
	m.dropOffer(o)
	m.alloc.Recover(o.agent.id, o.framework.id, o.role, o.res)
	m.dirty[o.agent.id] = true
	if notify {
		o.framework.send(mesos.Event{Type: mesos.EventRescind, Rescind: &mesos.EventRescindBody{OfferID: mesos.OfferID{Value: o.id}}})
		m.metrics.offersRescinded++
	}
}

// dropOffer forgets an offer without touching its resources.
func (m *Master) dropOffer(o *offer) {
	delete(m.offers, o.id)
	delete(o.framework.offers, o.id)
	delete(o.agent.offers, o.id)
}

func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func newID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:4]) + "-" + hex.EncodeToString(b[4:])
}

func ipv4ToUint32(host string) uint32 {
	ip := net.ParseIP(host).To4()
	if ip == nil {
		return 0
	}
	// Mesos stores the address in network byte order in a uint32.
	return uint32(ip[0]) | uint32(ip[1])<<8 | uint32(ip[2])<<16 | uint32(ip[3])<<24
}

// Handler returns the master's HTTP API.
func (m *Master) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/scheduler", m.serveScheduler)
	mux.HandleFunc("POST /api/v1", m.serveOperator)
	mux.HandleFunc("POST /agent/api/v1", m.serveAgent)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /metrics", m.serveMetrics)
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, m.versionInfo())
	})
	return mux
}
