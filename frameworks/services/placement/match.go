package placement

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	"agora/core/resources"
)

// Request is what Match places: Instances copies of one app instance.
type Request struct {
	Instances int
	// Resources each instance needs: cpus, mem, disk and gpus. Ports are
	// asked for through HostPorts, not here.
	Resources resources.Resources
	// HostPorts lists one entry per host port an instance needs: 0 for any
	// free port of the offer, or a fixed port number (requirePorts, or a
	// portMapping's non-zero hostPort). Chosen ports come back in the same
	// order in Launch.Ports.
	HostPorts   []uint64
	Constraints []Constraint
}

// Validate checks the request and names the bad field.
func (r Request) Validate() error {
	if r.Instances < 0 {
		return fmt.Errorf("instances: %d is negative", r.Instances)
	}
	for _, s := range [...]struct {
		name string
		v    float64
	}{{"cpus", r.Resources.CPUs}, {"mem", r.Resources.Mem}, {"disk", r.Resources.Disk}, {"gpus", r.Resources.GPUs}} {
		if math.IsNaN(s.v) || math.IsInf(s.v, 0) || s.v < 0 {
			return fmt.Errorf("resources.%s: %v is not a non-negative number", s.name, s.v)
		}
	}
	if len(r.Resources.Ports) > 0 {
		return fmt.Errorf("resources.ports: give ports in hostPorts (0 for any port)")
	}
	seen := make(map[uint64]int, len(r.HostPorts))
	for i, p := range r.HostPorts {
		if p > 65535 {
			return fmt.Errorf("hostPorts[%d]: %d is above 65535", i, p)
		}
		if p == 0 {
			continue
		}
		if j, dup := seen[p]; dup {
			return fmt.Errorf("hostPorts[%d]: port %d is already hostPorts[%d]", i, p, j)
		}
		seen[p] = i
	}
	for i, c := range r.Constraints {
		if c == nil {
			return fmt.Errorf("constraints[%d]: is nil", i)
		}
	}
	return nil
}

// Launch is one placed instance: the offer to accept, the agent, the
// resources to launch with (including the chosen ports) and the chosen host
// ports in the order of Request.HostPorts.
type Launch struct {
	OfferID   string
	Agent     Agent
	Resources resources.Resources
	Ports     []uint64
}

// Rejection counts the agents that turned an instance down for one reason.
type Rejection struct {
	Reason string
	Agents int
}

// Plan is Match's answer.
type Plan struct {
	Launches []Launch
	// Unplaced is how many instances no offer could take.
	Unplaced int
	// Rejections, when Unplaced > 0, counts the agents per reason they could
	// not take the next instance, most agents first. Constraint reasons are
	// keyed "constraint <name>", e.g. "constraint hostname:UNIQUE".
	Rejections []Rejection
	// AgentReasons gives each offering agent's own reason, by agent id, e.g.
	// "rack:r1 already has 2 instances (MAX_PER 2)".
	AgentReasons map[string]string
}

// Match places up to req.Instances instances on offers, given the app's
// instances already placed. It is a pure function of its arguments.
//
// Instances are placed one at a time; each placement counts for the
// constraints of the next, and takes its resources and ports out of its
// offer, so an offer is never over-committed. Among the offers that can take
// an instance Match picks, in order of preference:
//
//  1. the offer whose GROUP_BY values have the fewest instances, so the app
//     spreads over every value visible in the offers, not only the first;
//  2. an offer without GPUs when the app needs none, keeping GPU agents for
//     the apps that need them;
//  3. best fit: the offer left with the smallest share of its cpus, mem,
//     disk and gpus unused (the sum over those of free/offered after the
//     placement), so instances fill partly used agents before whole empty
//     ones are broken into, and large apps still find whole agents;
//  4. the earliest offer in the input, so equal inputs give equal plans.
//
// Fixed host ports are taken as given; ports of 0 get the lowest free ports
// of the offer. Checks run cheapest first: constraints that depend on the
// agent alone (LIKE, UNLIKE, IS, CLUSTER with a value) once per agent, then
// per instance scalar resources, ports and the remaining constraints. Offers
// refused for a reason that cannot go away as instances are added (resources,
// ports, UNIQUE, MAX_PER, CLUSTER) are not looked at again.
func Match(req Request, offers []Offer, placed []Placement) (Plan, error) {
	if err := req.Validate(); err != nil {
		return Plan{}, err
	}
	m := newMatcher(req, offers, placed)
	return m.run(), nil
}

// Why an offer was last refused; formatted into text only for the Plan.
const (
	whyNone = iota
	whyScalar
	whyPortFixed
	whyPortCount
	whyRule
	whyCustom
)

type why struct {
	kind int
	i    int    // scalar dimension, or constraint index
	port uint64 // fixed port not free
	text string // custom constraint's reason
}

var dimNames = [4]string{resources.NameCPUs, resources.NameMem, resources.NameDisk, resources.NameGPUs}

type offerState struct {
	free   [4]float64
	cap    [4]float64
	ports  resources.Ranges
	nports uint64
	agent  int
	why    why
}

// ruleState is a built-in constraint with its values interned per agent.
type ruleState struct {
	r      rule
	spread bool // GROUP_BY: prefer the least used values
	ids    map[string]int
	values []string
	c      counter
}

func (s *ruleState) intern(v string) int {
	id, ok := s.ids[v]
	if !ok {
		id = len(s.values)
		s.ids[v] = id
		s.values = append(s.values, v)
		s.c.grow(len(s.values))
	}
	return id
}

func (s *ruleState) tally(id int) tally {
	t := tally{total: s.c.total, groups: s.c.groups, min: s.c.min}
	if id >= 0 {
		t.n = s.c.counts[id]
	}
	return t
}

type matcher struct {
	req       Request
	need      [4]float64
	fixed     resources.Ranges // fixed host ports, normalized
	anyPorts  uint64
	offers    []Offer
	st        []offerState
	agents    []Agent
	agentDead []why // static refusal per agent
	rules     []ruleState
	dynamic   []int // indexes into rules that are checked per instance
	vals      []int // vals[agent*len(rules)+rule]: value id, -1 if missing
	customs   []int // indexes into req.Constraints that are not rules
	ruleAt    []int // constraint index -> rules index, -1 for customs
	placed    []Placement
}

func newMatcher(req Request, offers []Offer, placed []Placement) *matcher {
	m := &matcher{
		req:    req,
		need:   [4]float64{req.Resources.CPUs, req.Resources.Mem, req.Resources.Disk, req.Resources.GPUs},
		offers: offers,
		st:     make([]offerState, len(offers)),
		ruleAt: make([]int, len(req.Constraints)),
	}
	for _, p := range req.HostPorts {
		if p == 0 {
			m.anyPorts++
		} else {
			m.fixed = m.fixed.Union(resources.Ranges{{Begin: p, End: p}})
		}
	}
	for i, c := range req.Constraints {
		r, ok := c.(rule)
		if !ok {
			m.ruleAt[i] = -1
			m.customs = append(m.customs, i)
			continue
		}
		m.ruleAt[i] = len(m.rules)
		_, spread := r.(groupBy)
		rs := ruleState{r: r, spread: spread, ids: map[string]int{}}
		rs.c.init(0)
		if !r.static() {
			m.dynamic = append(m.dynamic, len(m.rules))
		}
		m.rules = append(m.rules, rs)
	}
	if len(m.customs) > 0 {
		m.placed = append(make([]Placement, 0, len(placed)+req.Instances), placed...)
	}

	agentIdx := make(map[string]int, len(offers))
	for i := range offers {
		o := &offers[i]
		a, ok := agentIdx[o.Agent.ID]
		if !ok {
			a = len(m.agents)
			agentIdx[o.Agent.ID] = a
			m.agents = append(m.agents, o.Agent)
		}
		r := o.Resources
		s := &m.st[i]
		s.free = [4]float64{r.CPUs, r.Mem, r.Disk, r.GPUs}
		s.cap = s.free
		s.ports = r.Ports
		s.nports = r.Ports.Size()
		s.agent = a
	}

	nr := len(m.rules)
	m.vals = make([]int, len(m.agents)*nr)
	m.agentDead = make([]why, len(m.agents))
	for a, ag := range m.agents {
		for ri := range m.rules {
			rs := &m.rules[ri]
			v, ok := ag.Field(rs.r.field())
			id := -1
			if ok {
				id = rs.intern(v)
			}
			m.vals[a*nr+ri] = id
			if rs.r.static() && m.agentDead[a].kind == whyNone && !rs.r.allow(v, ok, tally{}) {
				m.agentDead[a] = why{kind: whyRule, i: ri}
			}
		}
	}
	for _, p := range placed {
		m.count(p.Agent)
	}
	return m
}

// count records one more instance on agent a in every rule's tally.
func (m *matcher) count(a Agent) {
	for ri := range m.rules {
		rs := &m.rules[ri]
		if v, ok := a.Field(rs.r.field()); ok {
			rs.c.add(rs.intern(v))
		}
	}
}

func (m *matcher) countAgent(a int) {
	nr := len(m.rules)
	for ri := range m.rules {
		if id := m.vals[a*nr+ri]; id >= 0 {
			m.rules[ri].c.add(id)
		}
	}
}

// fits reports why offer s cannot take one more instance, or whyNone.
func (m *matcher) fits(s *offerState) why {
	for d := range 4 {
		if s.free[d] < m.need[d] {
			return why{kind: whyScalar, i: d}
		}
	}
	if m.anyPorts > 0 || len(m.fixed) > 0 {
		if len(m.fixed) > 0 && !s.ports.Contains(m.fixed) {
			for _, r := range m.fixed {
				if !s.ports.Contains(resources.Ranges{r}) {
					return why{kind: whyPortFixed, port: r.Begin}
				}
			}
		}
		if s.nports < uint64(len(m.req.HostPorts)) {
			return why{kind: whyPortCount}
		}
	}
	return why{}
}

// key orders the offers that can take an instance; lower is better. See
// Match for the order.
type key struct {
	spread int
	gpu    bool
	fit    float64
}

func (a key) less(b key) bool {
	if a.spread != b.spread {
		return a.spread < b.spread
	}
	if a.gpu != b.gpu {
		return !a.gpu
	}
	return a.fit < b.fit
}

func (m *matcher) score(i int) key {
	s := &m.st[i]
	k := key{gpu: m.need[3] == 0 && s.cap[3] > 0}
	base := s.agent * len(m.rules)
	for _, ri := range m.dynamic {
		if rs := &m.rules[ri]; rs.spread {
			if id := m.vals[base+ri]; id >= 0 {
				k.spread += rs.c.counts[id]
			}
		}
	}
	for d := range 4 {
		if s.cap[d] > 0 {
			k.fit += (s.free[d] - m.need[d]) / s.cap[d]
		}
	}
	return k
}

// refuse checks the constraints Match could not settle once per agent.
// drop is true when the refusal will hold for every later instance.
func (m *matcher) refuse(s *offerState) (refused, drop bool) {
	base := s.agent * len(m.rules)
	for _, ri := range m.dynamic {
		rs := &m.rules[ri]
		id := m.vals[base+ri]
		v := ""
		if id >= 0 {
			v = rs.values[id]
		}
		if !rs.r.allow(v, id >= 0, rs.tally(id)) {
			s.why = why{kind: whyRule, i: ri}
			return true, rs.r.monotone()
		}
	}
	for _, ci := range m.customs {
		if res := m.req.Constraints[ci].Check(m.agents[s.agent], m.placed); !res.OK {
			s.why = why{kind: whyCustom, i: ci, text: res.Reason}
			return true, false
		}
	}
	return false, false
}

// run places instances one at a time. Offers wait in a heap ordered by key;
// keys are refreshed lazily, which is sound because an offer's key only
// grows (GROUP_BY counts rise) except for the offer just used, which is
// re-scored at once. The first offer off the heap whose fresh key still
// ranks first and that passes every check is the best one, so each instance
// costs O(log offers) rather than a scan of all offers.
func (m *matcher) run() Plan {
	plan := Plan{Launches: make([]Launch, 0, m.req.Instances)}
	h := offerHeap{keys: make([]key, len(m.st))}
	for i := range m.st {
		if w := m.agentDead[m.st[i].agent]; w.kind != whyNone {
			m.st[i].why = w
			continue
		}
		h.keys[i] = m.score(i)
		h.items = append(h.items, i)
	}
	h.init()
	var deferred []int // refused for now by GROUP_BY or custom constraints
	for k := 0; k < m.req.Instances; k++ {
		best := -1
		for len(h.items) > 0 {
			i := h.items[0]
			s := &m.st[i]
			if w := m.fits(s); w.kind != whyNone {
				s.why = w // resources only shrink: drop the offer for good
				h.pop()
				continue
			}
			if refused, drop := m.refuse(s); refused {
				h.pop()
				if !drop {
					deferred = append(deferred, i)
				}
				continue
			}
			if fresh := m.score(i); fresh != h.keys[i] {
				h.keys[i] = fresh
				h.down(0)
				continue
			}
			best = i
			break
		}
		if best < 0 {
			plan.Unplaced = m.req.Instances - k
			m.explain(&plan)
			return plan
		}
		plan.Launches = append(plan.Launches, m.place(best))
		h.keys[best] = m.score(best)
		h.down(0)
		// A placement may lift a GROUP_BY or custom refusal.
		for _, i := range deferred {
			h.keys[i] = m.score(i)
			h.push(i)
		}
		deferred = deferred[:0]
	}
	return plan
}

// offerHeap is a binary min-heap of offer indexes by (key, index); written
// out rather than container/heap so pushes do not box ints.
type offerHeap struct {
	keys  []key
	items []int
}

func (h *offerHeap) less(a, b int) bool {
	i, j := h.items[a], h.items[b]
	if h.keys[i] != h.keys[j] {
		return h.keys[i].less(h.keys[j])
	}
	return i < j
}

func (h *offerHeap) init() {
	for i := len(h.items)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *offerHeap) down(i int) {
	n := len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && h.less(r, l) {
			c = r
		}
		if !h.less(c, i) {
			return
		}
		h.items[i], h.items[c] = h.items[c], h.items[i]
		i = c
	}
}

func (h *offerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *offerHeap) push(i int) {
	h.items = append(h.items, i)
	h.up(len(h.items) - 1)
}

func (h *offerHeap) pop() {
	n := len(h.items) - 1
	h.items[0] = h.items[n]
	h.items = h.items[:n]
	h.down(0)
}

func round(v float64) float64 { return math.Round(v*1000) / 1000 }

// place takes one instance's resources out of offer i and records it.
func (m *matcher) place(i int) Launch {
	s := &m.st[i]
	for d := range 4 {
		s.free[d] = math.Max(0, round(s.free[d]-m.need[d]))
	}
	l := Launch{
		OfferID: m.offers[i].ID,
		Agent:   m.agents[s.agent],
		Resources: resources.Resources{
			CPUs: m.need[0], Mem: m.need[1], Disk: m.need[2], GPUs: m.need[3],
		},
	}
	if n := len(m.req.HostPorts); n > 0 {
		l.Ports = make([]uint64, n)
		var free []uint64
		if m.anyPorts > 0 {
			taken, _ := s.ports.Difference(m.fixed).Take(m.anyPorts)
			free = make([]uint64, 0, m.anyPorts)
			for _, r := range taken {
				for p := r.Begin; p <= r.End; p++ {
					free = append(free, p)
				}
			}
		}
		var used resources.Ranges
		for j, p := range m.req.HostPorts {
			if p == 0 {
				p, free = free[0], free[1:]
			}
			l.Ports[j] = p
			used = used.Union(resources.Ranges{{Begin: p, End: p}})
		}
		l.Resources.Ports = used
		s.ports = s.ports.Difference(used)
		s.nports = s.ports.Size()
	}
	m.countAgent(s.agent)
	if len(m.customs) > 0 {
		m.placed = append(m.placed, Placement{Agent: l.Agent})
	}
	return l
}

// explain fills the plan's rejection summary from each agent's first offer.
func (m *matcher) explain(plan *Plan) {
	plan.AgentReasons = make(map[string]string, len(m.agents))
	counts := map[string]int{}
	done := make([]bool, len(m.agents))
	for i := range m.st {
		s := &m.st[i]
		if done[s.agent] {
			continue
		}
		done[s.agent] = true
		key, detail := m.describe(s)
		counts[key]++
		plan.AgentReasons[m.agents[s.agent].ID] = detail
	}
	for k, n := range counts {
		plan.Rejections = append(plan.Rejections, Rejection{Reason: k, Agents: n})
	}
	sort.Slice(plan.Rejections, func(i, j int) bool {
		a, b := plan.Rejections[i], plan.Rejections[j]
		if a.Agents != b.Agents {
			return a.Agents > b.Agents
		}
		return a.Reason < b.Reason
	})
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// describe returns the summary key and the agent's own reason for s.why.
func (m *matcher) describe(s *offerState) (key, detail string) {
	w := s.why
	switch w.kind {
	case whyScalar:
		key = fmt.Sprintf("insufficient %s (need %s, have %s)", dimNames[w.i], num(m.need[w.i]), num(s.free[w.i]))
		return key, key
	case whyPortFixed:
		return fmt.Sprintf("host port %d is not offered", w.port),
			fmt.Sprintf("host port %d is not offered (free: %s)", w.port, s.ports)
	case whyPortCount:
		key = fmt.Sprintf("insufficient ports (need %d, have %d)", len(m.req.HostPorts), s.nports)
		return key, key
	case whyRule:
		rs := &m.rules[w.i]
		id := m.vals[s.agent*len(m.rules)+w.i]
		t := rs.tally(id)
		if rs.c.some >= 0 {
			t.some = rs.values[rs.c.some]
		}
		v := ""
		if id >= 0 {
			v = rs.values[id]
		}
		return "constraint " + rs.r.Name(), rs.r.explain(v, id >= 0, t)
	case whyCustom:
		return "constraint " + m.req.Constraints[w.i].Name(), w.text
	}
	return "not considered", "not considered"
}
