// Package allocator is the master's resource allocator: a pure state machine
// that decides which framework is offered which agent's free resources, by
// hierarchical Dominant Resource Fairness (DRF) across weighted roles and then
// across the frameworks of each role, as Mesos's HierarchicalDRF allocator.
//
// Contract:
//   - No I/O, no goroutines, no clock reads: time is passed in (Cycle, Filter).
//   - Not safe for concurrent use: the master owns one *Allocator and calls it
//     from a single goroutine.
//   - "Allocated" covers offered and in-use resources alike. An offer counts
//     as allocated to its framework and role the moment Cycle returns it; the
//     master hands back what is not used with Recover.
//   - Each cycle gives an agent's whole free pool to exactly one framework and
//     role (no splitting), so agents are not fragmented needlessly.
//   - Given the same Config (Seed included) and the same sequence of calls,
//     the decisions are identical.
//
// Resources returned in offers share their port-range slices with the
// allocator's bookkeeping; callers must treat them as read-only (every
// resources.Resources operation already does).
package allocator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"agora/core/resources"
)

// Default minimum allocatable resources, as in Mesos: an agent whose free pool
// holds less than both is not worth an offer.
const (
	DefaultMinCPUs = 0.01
	DefaultMinMem  = 32 // MB
)

// DefaultRole is the role of a framework that names none, as in Mesos.
const DefaultRole = "*"

// Config configures an Allocator.
type Config struct {
	Weights map[string]float64 // role -> weight; missing roles weigh 1
	Seed    int64              // shuffles agent order deterministically each cycle
	// MinAllocatable: an agent's free resources are offered only if they hold at least
	// min cpus OR min mem (defaults 0.01 cpus, 32 MB, as Mesos). Zero means default.
	MinCPUs, MinMem float64
}

// Validate checks the weights (> 0 and finite; the error names the role) and
// the minimums (>= 0 and finite).
func (c Config) Validate() error {
	if err := validateWeights("weights", c.Weights); err != nil {
		return err
	}
	if c.MinCPUs < 0 || math.IsNaN(c.MinCPUs) || math.IsInf(c.MinCPUs, 0) {
		return fmt.Errorf("min_cpus: %v must be a finite number >= 0", c.MinCPUs)
	}
	if c.MinMem < 0 || math.IsNaN(c.MinMem) || math.IsInf(c.MinMem, 0) {
		return fmt.Errorf("min_mem: %v must be a finite number >= 0", c.MinMem)
	}
	return nil
}

func validateWeights(field string, w map[string]float64) error {
	for role, v := range w {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("%s[%q]: %v must be a positive finite number", field, role, v)
		}
	}
	return nil
}

// Offer is one decision of a cycle: the whole free pool of AgentID, offered
// to FrameworkID for Role.
type Offer struct {
	AgentID, FrameworkID, Role string
	Resources                  resources.Resources
}

// Allocator is the allocation state machine. Create it with New.
type Allocator struct {
	minCPUs, minMem float64
	weights         map[string]float64
	rng             *rand.Rand

	// Dense slots: an id maps to an index; removed slots are reused.
	agents     []agent
	agentIdx   map[string]int32
	freeAgents []int32
	fws        []framework
	fwIdx      map[string]int32
	freeFws    []int32
	roles      []role
	roleIdx    map[string]int32

	total resources.Resources // sum of agent totals, scalars only

	// Tie-break ranks (position in id order), rebuilt when ids change.
	rankDirty bool
	fwRank    []int32
	roleRank  []int32

	// Cycle scratch, kept between cycles so a cycle does not allocate.
	inv       [4]float64 // 1/cluster total per scalar, 0 where the total is 0
	cands     []cand
	roleHeap  minHeap
	order     []int32
	skipFws   minHeap
	skipRoles minHeap
	sortBuf   []int32

	last CycleStats
}

type agent struct {
	id     string
	live   bool
	active bool
	total  resources.Resources
	free   resources.Resources // total minus allocations, clamped at zero
	allocs []allocation        // one entry per framework+role holding resources here
	// filters are the decline filters naming this agent, at most one per
	// framework. Kept on the agent because the cycle already has it in hand,
	// so checking a candidate is a scan of a few entries, not a map lookup.
	filters []filter
}

type allocation struct {
	fw, role int32
	res      resources.Resources
}

type framework struct {
	id   string
	live bool
	// registered is false for a placeholder created by Allocate before the
	// framework re-subscribed (master failover): it holds resources, gets no offers.
	registered bool
	active     bool
	roles      []fwRole
	// gen voids the framework's filters at once (Revive, removal): a filter
	// is live only while its gen matches. It survives slot reuse.
	gen uint32
}

type fwRole struct {
	role       int32
	subscribed bool
	suppressed bool
	alloc      resources.Resources // scalars only
}

type filter struct {
	fw      int32
	gen     uint32
	refused resources.Resources
	until   time.Time
}

type role struct {
	name       string
	weight     float64
	alloc      resources.Resources // scalars only
	frameworks []int32             // frameworks with an entry for this role
	heap       minHeap             // cycle scratch: candidates of this role
}

// New returns an empty allocator.
func New(cfg Config) (*Allocator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("allocator config: %w", err)
	}
	a := &Allocator{
		minCPUs:  cfg.MinCPUs,
		minMem:   cfg.MinMem,
		weights:  make(map[string]float64, len(cfg.Weights)),
		rng:      rand.New(rand.NewPCG(uint64(cfg.Seed), 0x61676f7261)),
		agentIdx: make(map[string]int32),
		fwIdx:    make(map[string]int32),
		roleIdx:  make(map[string]int32),
	}
	if a.minCPUs == 0 {
		a.minCPUs = DefaultMinCPUs
	}
	if a.minMem == 0 {
		a.minMem = DefaultMinMem
	}
	for r, w := range cfg.Weights {
		a.weights[normRole(r)] = w
	}
	return a, nil
}

// ---- Agents ----

// AddAgent adds an active agent with the given total resources. Adding a
// known agent again (re-registration) updates its total, activates it and
// keeps its allocations.
func (a *Allocator) AddAgent(agentID string, total resources.Resources) {
	if i, ok := a.agentIdx[agentID]; ok {
		a.UpdateAgentTotal(agentID, total)
		a.agents[i].active = true
		return
	}
	var i int32
	if n := len(a.freeAgents); n > 0 {
		i = a.freeAgents[n-1]
		a.freeAgents = a.freeAgents[:n-1]
	} else {
		i = int32(len(a.agents))
		a.agents = append(a.agents, agent{})
	}
	ag := &a.agents[i]
	ag.id, ag.live, ag.active = agentID, true, true
	ag.total, ag.free = total, total
	a.agentIdx[agentID] = i
	a.total = addScalars(a.total, total)
}

// RemoveAgent forgets an agent, dropping its allocations and any filters
// naming it.
func (a *Allocator) RemoveAgent(agentID string) {
	i, ok := a.agentIdx[agentID]
	if !ok {
		return
	}
	ag := &a.agents[i]
	for _, al := range ag.allocs {
		a.unaccount(al.fw, al.role, al.res)
	}
	a.total = subScalars(a.total, ag.total)
	clear(ag.allocs)
	clear(ag.filters)
	*ag = agent{allocs: ag.allocs[:0], filters: ag.filters[:0]}
	delete(a.agentIdx, agentID)
	a.freeAgents = append(a.freeAgents, i)
}

// ActivateAgent makes an agent's free resources offerable again.
func (a *Allocator) ActivateAgent(agentID string) {
	if i, ok := a.agentIdx[agentID]; ok {
		a.agents[i].active = true
	}
}

// DeactivateAgent stops offering an agent (unreachable or draining); its
// allocations are kept and it still counts in the cluster total.
func (a *Allocator) DeactivateAgent(agentID string) {
	if i, ok := a.agentIdx[agentID]; ok {
		a.agents[i].active = false
	}
}

// UpdateAgentTotal changes an agent's total; its free pool becomes the new
// total minus what is allocated there.
func (a *Allocator) UpdateAgentTotal(agentID string, total resources.Resources) {
	i, ok := a.agentIdx[agentID]
	if !ok {
		return
	}
	ag := &a.agents[i]
	a.total = addScalars(subScalars(a.total, ag.total), total)
	ag.total = total
	ag.recomputeFree()
}

func (ag *agent) recomputeFree() {
	switch len(ag.allocs) {
	case 0:
		ag.free = ag.total
	case 1:
		ag.free = ag.total.Sub(ag.allocs[0].res)
	default:
		var used resources.Resources
		for _, al := range ag.allocs {
			used = used.Add(al.res)
		}
		ag.free = ag.total.Sub(used)
	}
}

// ---- Frameworks ----

// AddFramework adds an active, unsuppressed framework subscribed to roles
// (none means DefaultRole). Adding a known framework again (re-subscription)
// replaces its roles, activates and unsuppresses it, and keeps its
// allocations and filters.
func (a *Allocator) AddFramework(frameworkID string, roles []string) {
	fi := a.framework(frameworkID)
	fw := &a.fws[fi]
	fw.registered, fw.active = true, true
	for s := range fw.roles {
		fw.roles[s].subscribed, fw.roles[s].suppressed = false, false
	}
	if len(roles) == 0 {
		roles = []string{DefaultRole}
	}
	for _, name := range roles {
		s := a.fwRoleSlot(fi, a.role(name))
		a.fws[fi].roles[s].subscribed = true
	}
}

// RemoveFramework forgets a framework; everything allocated to it is freed.
// It walks every agent, which is fine for an event as rare as a teardown.
func (a *Allocator) RemoveFramework(frameworkID string) {
	fi, ok := a.fwIdx[frameworkID]
	if !ok {
		return
	}
	for i := range a.agents {
		ag := &a.agents[i]
		if !ag.live {
			continue
		}
		kept := ag.allocs[:0]
		for _, al := range ag.allocs {
			if al.fw == fi {
				a.roles[al.role].alloc = subScalars(a.roles[al.role].alloc, al.res)
				continue
			}
			kept = append(kept, al)
		}
		if len(kept) != len(ag.allocs) {
			clear(ag.allocs[len(kept):])
			ag.allocs = kept
			ag.recomputeFree()
		}
	}
	fw := &a.fws[fi]
	for _, fr := range fw.roles {
		r := &a.roles[fr.role]
		for k, f := range r.frameworks {
			if f == fi {
				r.frameworks = append(r.frameworks[:k], r.frameworks[k+1:]...)
				break
			}
		}
	}
	*fw = framework{roles: fw.roles[:0], gen: fw.gen + 1}
	delete(a.fwIdx, frameworkID)
	a.freeFws = append(a.freeFws, fi)
	a.rankDirty = true
}

// ActivateFramework resumes offers to a framework.
func (a *Allocator) ActivateFramework(frameworkID string) {
	if fi, ok := a.fwIdx[frameworkID]; ok {
		a.fws[fi].active = true
	}
}

// DeactivateFramework stops offers to a disconnected framework; its
// allocations are kept.
func (a *Allocator) DeactivateFramework(frameworkID string) {
	if fi, ok := a.fwIdx[frameworkID]; ok {
		a.fws[fi].active = false
	}
}

// Suppress stops offers to a framework for the given roles (empty: all its
// roles) until Revive.
func (a *Allocator) Suppress(frameworkID string, roles []string) {
	a.setSuppressed(frameworkID, roles, true)
}

// Revive un-suppresses the given roles (empty: all) and clears all the
// framework's decline filters.
func (a *Allocator) Revive(frameworkID string, roles []string) {
	if a.setSuppressed(frameworkID, roles, false) {
		a.fws[a.fwIdx[frameworkID]].gen++
	}
}

func (a *Allocator) setSuppressed(frameworkID string, roles []string, v bool) bool {
	fi, ok := a.fwIdx[frameworkID]
	if !ok {
		return false
	}
	fw := &a.fws[fi]
	for s := range fw.roles {
		if len(roles) == 0 {
			fw.roles[s].suppressed = v
			continue
		}
		name := a.roles[fw.roles[s].role].name
		for _, r := range roles {
			if normRole(r) == name {
				fw.roles[s].suppressed = v
			}
		}
	}
	return true
}

// UpdateWeights sets the weights of the listed roles (others keep theirs, as
// Mesos's UPDATE_WEIGHTS). Nothing changes if any weight is invalid.
func (a *Allocator) UpdateWeights(w map[string]float64) error {
	if err := validateWeights("weights", w); err != nil {
		return fmt.Errorf("update weights: %w", err)
	}
	for name, v := range w {
		name = normRole(name)
		a.weights[name] = v
		if ri, ok := a.roleIdx[name]; ok {
			a.roles[ri].weight = v
		}
	}
	return nil
}

// ---- Resource flow ----

// Allocate records resources in use on an agent by a framework and role, as
// learnt from outside (agent re-registration, master failover). An unknown
// framework is remembered as a placeholder that holds resources but gets no
// offers until AddFramework. An unknown agent is ignored: there is nothing to
// account against until it registers.
func (a *Allocator) Allocate(agentID, frameworkID, roleName string, r resources.Resources) {
	ai, ok := a.agentIdx[agentID]
	if !ok || r.IsEmpty() {
		return
	}
	fi := a.framework(frameworkID)
	ri := a.role(roleName)
	s := a.fwRoleSlot(fi, ri)
	fr := &a.fws[fi].roles[s]
	fr.alloc = addScalars(fr.alloc, r)
	a.roles[ri].alloc = addScalars(a.roles[ri].alloc, r)
	ag := &a.agents[ai]
	ag.addAlloc(fi, ri, r)
	ag.free = ag.free.Sub(r)
}

// Recover gives resources back: a declined or rescinded offer, the unused
// part of an accepted offer, or a finished task's resources. Only what the
// framework and role actually hold on the agent is recovered.
func (a *Allocator) Recover(agentID, frameworkID, roleName string, r resources.Resources) {
	ai, ok := a.agentIdx[agentID]
	if !ok {
		return
	}
	fi, ok := a.fwIdx[frameworkID]
	if !ok {
		return
	}
	ri, ok := a.roleIdx[normRole(roleName)]
	if !ok {
		return
	}
	ag := &a.agents[ai]
	for k := range ag.allocs {
		al := &ag.allocs[k]
		if al.fw != fi || al.role != ri {
			continue
		}
		left := al.res.Sub(r)
		removed := al.res.Sub(left)
		a.unaccount(fi, ri, removed)
		if left.IsEmpty() {
			last := len(ag.allocs) - 1
			ag.allocs[k] = ag.allocs[last]
			ag.allocs[last] = allocation{}
			ag.allocs = ag.allocs[:last]
		} else {
			al.res = left
		}
		ag.recomputeFree()
		return
	}
}

// Filter records a decline: until `until`, the agent is not offered to the
// framework if the offer would be contained in refused (so more free
// resources later mean an offer again). A later Filter for the same pair
// replaces the earlier one; Revive clears all of the framework's filters.
func (a *Allocator) Filter(frameworkID, agentID string, refused resources.Resources, until time.Time) {
	fi, ok := a.fwIdx[frameworkID]
	if !ok {
		return
	}
	ai, ok := a.agentIdx[agentID]
	if !ok {
		return
	}
	f := filter{fw: fi, gen: a.fws[fi].gen, refused: refused, until: until}
	ag := &a.agents[ai]
	for k := range ag.filters {
		if ag.filters[k].fw == fi {
			ag.filters[k] = f
			return
		}
	}
	ag.filters = append(ag.filters, f)
}

// ---- helpers ----

// framework returns the slot of frameworkID, creating an unregistered,
// inactive placeholder if it is unknown.
func (a *Allocator) framework(id string) int32 {
	if fi, ok := a.fwIdx[id]; ok {
		return fi
	}
	var fi int32
	if n := len(a.freeFws); n > 0 {
		fi = a.freeFws[n-1]
		a.freeFws = a.freeFws[:n-1]
	} else {
		fi = int32(len(a.fws))
		a.fws = append(a.fws, framework{})
	}
	fw := &a.fws[fi]
	fw.id, fw.live = id, true // gen is kept: filters of the slot's last owner stay void
	a.fwIdx[id] = fi
	a.rankDirty = true
	return fi
}

func normRole(name string) string {
	if name == "" {
		return DefaultRole
	}
	return name
}

// role returns the slot of the named role, creating it if needed.
func (a *Allocator) role(name string) int32 {
	name = normRole(name)
	if ri, ok := a.roleIdx[name]; ok {
		return ri
	}
	w, ok := a.weights[name]
	if !ok {
		w = 1
	}
	ri := int32(len(a.roles))
	a.roles = append(a.roles, role{name: name, weight: w})
	a.roleIdx[name] = ri
	a.rankDirty = true
	return ri
}

// fwRoleSlot returns the index of role ri in the framework's role list,
// adding an unsubscribed entry if needed.
func (a *Allocator) fwRoleSlot(fi, ri int32) int {
	fw := &a.fws[fi]
	for s := range fw.roles {
		if fw.roles[s].role == ri {
			return s
		}
	}
	fw.roles = append(fw.roles, fwRole{role: ri})
	a.roles[ri].frameworks = append(a.roles[ri].frameworks, fi)
	return len(fw.roles) - 1
}

// unaccount removes r from a framework's and a role's allocated totals.
func (a *Allocator) unaccount(fi, ri int32, r resources.Resources) {
	fw := &a.fws[fi]
	for s := range fw.roles {
		if fw.roles[s].role == ri {
			fw.roles[s].alloc = subScalars(fw.roles[s].alloc, r)
			break
		}
	}
	a.roles[ri].alloc = subScalars(a.roles[ri].alloc, r)
}

// addAlloc merges r into the agent's entry for fw+role.
func (ag *agent) addAlloc(fw, role int32, r resources.Resources) {
	for k := range ag.allocs {
		if ag.allocs[k].fw == fw && ag.allocs[k].role == role {
			ag.allocs[k].res = addWhole(ag.allocs[k].res, r)
			return
		}
	}
	ag.allocs = append(ag.allocs, allocation{fw: fw, role: role, res: r})
}

func round(v float64) float64 { return math.Round(v*1000) / 1000 }

// addScalars adds the scalars of r to acc; aggregates across agents carry no
// ports, because a union of port numbers from different agents means nothing.
func addScalars(acc, r resources.Resources) resources.Resources {
	return resources.Resources{
		CPUs: round(acc.CPUs + r.CPUs),
		Mem:  round(acc.Mem + r.Mem),
		Disk: round(acc.Disk + r.Disk),
		GPUs: round(acc.GPUs + r.GPUs),
	}
}

func subScalars(acc, r resources.Resources) resources.Resources {
	return resources.Resources{
		CPUs: math.Max(0, round(acc.CPUs-r.CPUs)),
		Mem:  math.Max(0, round(acc.Mem-r.Mem)),
		Disk: math.Max(0, round(acc.Disk-r.Disk)),
		GPUs: math.Max(0, round(acc.GPUs-r.GPUs)),
	}
}

// addWhole is x+y that avoids copying ports when only one side has any, the
// common case when an agent's whole free pool is handed over.
func addWhole(x, y resources.Resources) resources.Resources {
	out := addScalars(x, y)
	switch {
	case len(x.Ports) == 0:
		out.Ports = y.Ports
	case len(y.Ports) == 0:
		out.Ports = x.Ports
	default:
		out.Ports = x.Ports.Union(y.Ports)
	}
	return out
}
