// Package consul is a discovery.Registry over Consul's agent, catalog and
// health APIs.
//
// Contract:
//   - Each endpoint of each service is one Consul service instance with id
//     InstanceID(task, port index), the service's name, the endpoint's
//     address and port, the app's labels as tags (plus "agora"), meta naming
//     the app, version, task, agent and ports, and two TTL checks owned by
//     Agora: the health check, passing only when the endpoint is healthy,
//     ready and not draining and critical otherwise (output "draining"
//     while draining), and the alive check, passing while Agora refreshes
//     it. Consul offers an instance only when both pass.
//   - Sync reads what the local Consul agent holds, computes the difference
//     with Plan (a pure function) and applies it; it touches only Agora's
//     entries (IsAgora). A Sync of the set last applied does no I/O.
//   - Run keeps the entries alive: it refreshes the TTL checks every
//     Config.RefreshInterval and re-applies the last set every
//     Config.SyncInterval, so a restarted Consul is repopulated and stale
//     entries go. If Agora stops, checks turn critical after Config.TTL and
//     Consul removes the entries Config.DeregisterAfter later (only the
//     alive check does this, so an instance long not ready is kept).
//   - Watch turns Consul's view back into []discovery.Service with blocking
//     queries (see watch.go).
//
// Consul holds instances, not services: a service without endpoints is not
// in Consul, so Watch does not return it.
package consul

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"agora/discovery"
)

// Config configures a Registry.
type Config struct {
	// Address is Consul's HTTP API, host:port (default 127.0.0.1:8500).
	Address string
	// Token is an ACL token, if Consul needs one.
	Token string
	// TTL is how long a check stays as Agora last set it without a
	// refresh (default 30s).
	TTL time.Duration
	// RefreshInterval is how often Run refreshes the checks (default 10s);
	// it must be shorter than TTL.
	RefreshInterval time.Duration
	// DeregisterAfter is how long an instance may stay critical before
	// Consul removes it (default 1m, Consul's minimum).
	DeregisterAfter time.Duration
	// SyncInterval is how often Run re-applies the last set (default 30s).
	SyncInterval time.Duration
	// Debounce is how long Watch waits for more changes before it sends
	// a set (default 50ms).
	Debounce time.Duration
	// Parallel is how many requests Sync and Run have in flight at once
	// (default 8).
	Parallel int
	// Logf receives log lines (default log.Printf).
	Logf func(format string, args ...any)
}

func (c *Config) setDefaults() {
	if c.Address == "" {
		c.Address = "127.0.0.1:8500"
	}
	if c.TTL == 0 {
		c.TTL = 30 * time.Second
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = c.TTL / 3
	}
	if c.DeregisterAfter == 0 {
		c.DeregisterAfter = time.Minute
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = 30 * time.Second
	}
	if c.Debounce == 0 {
		c.Debounce = 50 * time.Millisecond
	}
	if c.Parallel == 0 {
		c.Parallel = 8
	}
	if c.Logf == nil {
		c.Logf = log.Printf
	}
}

// Validate reports the first bad field of a Config with defaults applied.
func (c Config) Validate() error {
	c.setDefaults()
	switch {
	case c.TTL < time.Second:
		return fmt.Errorf("consul: ttl %v: must be at least 1s", c.TTL)
	case c.RefreshInterval <= 0 || c.RefreshInterval >= c.TTL:
		return fmt.Errorf("consul: refresh interval %v: must be positive and shorter than the ttl %v", c.RefreshInterval, c.TTL)
	case c.DeregisterAfter < time.Minute:
		return fmt.Errorf("consul: deregister after %v: Consul's minimum is 1m", c.DeregisterAfter)
	case c.SyncInterval <= 0:
		return fmt.Errorf("consul: sync interval %v: must be positive", c.SyncInterval)
	case c.Debounce < 0:
		return fmt.Errorf("consul: debounce %v: must not be negative", c.Debounce)
	case c.Parallel < 0:
		return fmt.Errorf("consul: parallel %d: must not be negative", c.Parallel)
	}
	return nil
}

// Registry publishes Agora's services in Consul and watches them there.
type Registry struct {
	cfg    Config
	client *api.Client

	// syncMu serialises Sync, Run's re-syncs and refreshes, so two plans
	// are never applied over each other.
	syncMu sync.Mutex
	// desired is the last set Sync was given, normalized.
	desired []discovery.Service
	hasSet  bool
	// applied is the set last applied without error; Sync of it is free.
	applied    []discovery.Service
	hasApplied bool
}

var _ discovery.Registry = (*Registry)(nil)

// New returns a Registry for the Consul at cfg.Address. It does not
// contact Consul.
func New(cfg Config) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	apiCfg := api.DefaultConfig()
	apiCfg.Address = cfg.Address
	apiCfg.Token = cfg.Token
	// Blocking queries hold a connection per watched service, and Sync
	// runs Parallel requests: keep that many connections open.
	apiCfg.Transport.MaxIdleConnsPerHost = 64
	client, err := api.NewClient(apiCfg)
	if err != nil {
		return nil, fmt.Errorf("consul: client for %s: %w", cfg.Address, err)
	}
	return &Registry{cfg: cfg, client: client}, nil
}

// Client is the Consul API client the Registry uses.
func (r *Registry) Client() *api.Client { return r.client }

// Sync makes Consul hold exactly services among Agora's entries. The set
// is kept for Run even when Consul cannot be reached.
func (r *Registry) Sync(ctx context.Context, services []discovery.Service) error {
	next := discovery.Normalize(services)
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	r.desired, r.hasSet = next, true
	if r.hasApplied && discovery.Equal(r.applied, next) {
		return nil
	}
	return r.syncLocked(ctx)
}

// Resync reads Consul again and applies the last set given to Sync, even
// if nothing changed on Agora's side (Run does this every SyncInterval).
// It does nothing before the first Sync.
func (r *Registry) Resync(ctx context.Context) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	if !r.hasSet {
		return nil
	}
	return r.syncLocked(ctx)
}

func (r *Registry) syncLocked(ctx context.Context) error {
	r.hasApplied = false
	actual, err := r.read(ctx)
	if err != nil {
		return err
	}
	reg, upd, dereg := Plan(r.desired, actual)
	if err := r.apply(ctx, reg, upd, dereg); err != nil {
		return err
	}
	r.applied, r.hasApplied = r.desired, true
	return nil
}

// read returns Agora's instances the local agent holds, with their
// checks' state.
func (r *Registry) read(ctx context.Context) ([]Registered, error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	agent := r.client.Agent()
	services, err := agent.ServicesWithFilterOpts(fmt.Sprintf("Meta.%s == \"1\"", MetaAgora), q)
	if err != nil {
		return nil, fmt.Errorf("consul: reading services from %s: %w", r.cfg.Address, err)
	}
	checks, err := agent.ChecksWithFilterOpts(fmt.Sprintf("ServiceID matches \"^%s\"", IDPrefix), q)
	if err != nil {
		return nil, fmt.Errorf("consul: reading checks from %s: %w", r.cfg.Address, err)
	}
	out := make([]Registered, 0, len(services))
	for _, s := range services {
		if !IsAgora(s.ID, s.Meta) {
			continue
		}
		reg := Registered{ID: s.ID, Name: s.Service, Address: s.Address, Port: s.Port, Tags: s.Tags, Meta: s.Meta}
		// A missing check, or a lapsed alive check, reads as no status,
		// which Plan sees as a difference and repairs.
		health, okH := checks[CheckID(s.ID)]
		alive, okA := checks[AliveCheckID(s.ID)]
		if okH && okA && alive.Status == api.HealthPassing {
			reg.Status, reg.Output = health.Status, health.Output
		}
		out = append(out, reg)
	}
	return out, nil
}

// apply carries out a plan, Config.Parallel requests at a time, and
// returns every failure joined.
func (r *Registry) apply(ctx context.Context, register []Registered, update []Update, deregister []string) error {
	var ops []func() error
	for _, reg := range register {
		ops = append(ops, func() error { return r.register(ctx, reg) })
	}
	for _, u := range update {
		if u.StatusOnly {
			ops = append(ops, func() error { return r.setCheck(ctx, u.Registered) })
		} else {
			ops = append(ops, func() error { return r.register(ctx, u.Registered) })
		}
	}
	for _, id := range deregister {
		ops = append(ops, func() error {
			q := (&api.QueryOptions{}).WithContext(ctx)
			if err := r.client.Agent().ServiceDeregisterOpts(id, q); err != nil {
				return fmt.Errorf("consul: deregister %s: %w", id, err)
			}
			return nil
		})
	}
	return r.parallel(ops)
}

func (r *Registry) parallel(ops []func() error) error {
	if len(ops) == 0 {
		return nil
	}
	work := make(chan func() error)
	errs := make([]error, r.cfg.Parallel)
	var wg sync.WaitGroup
	for i := 0; i < r.cfg.Parallel && i < len(ops); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for op := range work {
				errs[i] = errors.Join(errs[i], op())
			}
		}()
	}
	for _, op := range ops {
		work <- op
	}
	close(work)
	wg.Wait()
	return errors.Join(errs...)
}

func (r *Registry) register(ctx context.Context, reg Registered) error {
	svc := &api.AgentServiceRegistration{
		ID:      reg.ID,
		Name:    reg.Name,
		Address: reg.Address,
		Port:    reg.Port,
		Tags:    reg.Tags,
		Meta:    reg.Meta,
		Checks: api.AgentServiceChecks{
			{
				CheckID: CheckID(reg.ID),
				Name:    "Agora task health",
				Notes:   "Set by Agora from the task's health, readiness and draining.",
				TTL:     r.cfg.TTL.String(),
				Status:  reg.Status,
			},
			{
				CheckID:                        AliveCheckID(reg.ID),
				Name:                           "Agora alive",
				Notes:                          "Refreshed while Agora runs; Consul removes the instance when Agora is gone.",
				TTL:                            r.cfg.TTL.String(),
				Status:                         api.HealthPassing,
				DeregisterCriticalServiceAfter: r.cfg.DeregisterAfter.String(),
			},
		},
	}
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := r.client.Agent().ServiceRegisterOpts(svc, opts); err != nil {
		return fmt.Errorf("consul: register %s (%s at %s:%d): %w", reg.ID, reg.Name, reg.Address, reg.Port, err)
	}
	// The registration sets the status and starts both TTLs, but does not
	// set the health check's output: set it.
	q := (&api.QueryOptions{}).WithContext(ctx)
	if err := r.client.Agent().UpdateTTLOpts(CheckID(reg.ID), reg.Output, reg.Status, q); err != nil {
		return fmt.Errorf("consul: set check of %s to %s: %w", reg.ID, reg.Status, err)
	}
	return nil
}

// setCheck sets the health check and restarts both checks' TTLs.
func (r *Registry) setCheck(ctx context.Context, reg Registered) error {
	q := (&api.QueryOptions{}).WithContext(ctx)
	if err := r.client.Agent().UpdateTTLOpts(CheckID(reg.ID), reg.Output, reg.Status, q); err != nil {
		return fmt.Errorf("consul: set check of %s to %s: %w", reg.ID, reg.Status, err)
	}
	if err := r.client.Agent().UpdateTTLOpts(AliveCheckID(reg.ID), "Agora is alive", api.HealthPassing, q); err != nil {
		return fmt.Errorf("consul: refresh alive check of %s: %w", reg.ID, err)
	}
	return nil
}

// Refresh sets every check of the last applied set again, restarting its
// TTL. If a check is gone (Consul restarted), it re-syncs at once.
func (r *Registry) Refresh(ctx context.Context) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	if !r.hasSet {
		return nil
	}
	if !r.hasApplied {
		return r.syncLocked(ctx)
	}
	want := Desired(r.applied)
	ops := make([]func() error, len(want))
	for i := range want {
		ops[i] = func() error { return r.setCheck(ctx, want[i]) }
	}
	if err := r.parallel(ops); err != nil {
		if ctx.Err() != nil {
			return err
		}
		r.cfg.Logf("consul: refreshing checks: %v; re-syncing", err)
		return r.syncLocked(ctx)
	}
	return nil
}

// Run refreshes the checks every RefreshInterval and re-syncs every
// SyncInterval until ctx ends, logging failures and trying again at the
// next tick. It returns ctx's error.
func (r *Registry) Run(ctx context.Context) error {
	refresh := time.NewTicker(r.cfg.RefreshInterval)
	defer refresh.Stop()
	resync := time.NewTicker(r.cfg.SyncInterval)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-refresh.C:
			if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
				r.cfg.Logf("consul: %v", err)
			}
		case <-resync.C:
			if err := r.Resync(ctx); err != nil && ctx.Err() == nil {
				r.cfg.Logf("consul: anti-entropy: %v", err)
			}
		}
	}
}
