package allocator

import (
	"slices"
	"strings"
	"time"

	"agora/core/resources"
)

// CycleStats counts what the last Cycle did and why agents got no offer, so
// an operator can tell "no demand" from "everything is filtered".
type CycleStats struct {
	Agents       int // active agents considered
	Offers       int
	BelowMinimum int // free pool under both MinCPUs and MinMem
	Unwanted     int // no active, unsuppressed, unfiltered framework wanted the agent
	Filtered     int // framework/agent pairs skipped because of a decline filter
}

// cand is a framework+role that wants offers in the current cycle.
type cand struct {
	fw   int32
	slot int32 // index into the framework's roles
}

// Cycle allocates every active agent's free resources (or only the listed
// agents, for event-triggered allocation when resources are freed). Each
// agent's whole free pool goes to ONE framework+role per cycle, chosen by
// hierarchical DRF: roles ordered by weighted dominant share (role allocation
// / cluster total / weight), then the role's frameworks by their dominant
// share in that role; ties broken by id. Frameworks that are inactive,
// suppressed for the role, or filtered for the agent at now are skipped;
// expired filters are dropped. Offered resources count as allocated at once.
//
// Agents are visited in an order shuffled by the seeded generator, so no
// agent is always first. Cost: O(frameworks) to set up, then O(log roles +
// log frameworks) per agent, plus O(log) per filtered framework skipped.
func (a *Allocator) Cycle(now time.Time, agentIDs ...string) []Offer {
	a.last = CycleStats{}
	order := a.order[:0]
	if len(agentIDs) == 0 {
		for i := range a.agents {
			if a.agents[i].live && a.agents[i].active {
				order = append(order, int32(i))
			}
		}
	} else {
		for _, id := range agentIDs {
			if i, ok := a.agentIdx[id]; ok && a.agents[i].active {
				order = append(order, i)
			}
		}
	}
	a.order = order
	a.last.Agents = len(order)
	if len(order) == 0 {
		return nil
	}
	a.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	a.prepare()

	var offers []Offer
	for n, ai := range order {
		if len(a.roleHeap) == 0 {
			// Nobody wants offers: the rest of the agents go unoffered.
			a.last.Unwanted += len(order) - n
			break
		}
		ag := &a.agents[ai]
		if ag.free.CPUs < a.minCPUs && ag.free.Mem < a.minMem {
			a.last.BelowMinimum++
			continue
		}
		if offers == nil {
			offers = make([]Offer, 0, len(order)-n)
		}
		if o, ok := a.offerAgent(ai, now); ok {
			offers = append(offers, o)
		} else {
			a.last.Unwanted++
		}
	}
	a.last.Offers = len(offers)
	return offers
}

// offerAgent finds the first framework+role in DRF order that may take the
// agent, gives it the whole free pool and updates both heaps. Candidates
// skipped for a filter are popped and pushed back afterwards, so the common
// case (no filter) is one sift per heap.
func (a *Allocator) offerAgent(ai int32, now time.Time) (Offer, bool) {
	ag := &a.agents[ai]
	skipRoles := a.skipRoles[:0]
	var o Offer
	found := false
	for len(a.roleHeap) > 0 {
		r := &a.roles[a.roleHeap[0].id]
		skipFws := a.skipFws[:0]
		for len(r.heap) > 0 {
			c := a.cands[r.heap[0].id]
			if a.filtered(c.fw, ai, ag.free, now) {
				a.last.Filtered++
				skipFws = append(skipFws, r.heap.pop())
				continue
			}
			fw := &a.fws[c.fw]
			fr := &fw.roles[c.slot]
			free := ag.free
			o = Offer{AgentID: ag.id, FrameworkID: fw.id, Role: r.name, Resources: free}
			fr.alloc = addScalars(fr.alloc, free)
			r.alloc = addScalars(r.alloc, free)
			ag.addAlloc(c.fw, fr.role, free)
			ag.free = resources.Resources{}
			// Shares only grow during a cycle, so sifting the root down keeps order.
			r.heap[0].key = a.share(fr.alloc)
			r.heap.fixTop()
			a.roleHeap[0].key = a.share(r.alloc) / r.weight
			a.roleHeap.fixTop()
			found = true
			break
		}
		for _, it := range skipFws {
			r.heap.push(it)
		}
		a.skipFws = skipFws[:0]
		if found {
			break
		}
		// Every framework of this role is filtered for the agent: try the next role.
		skipRoles = append(skipRoles, a.roleHeap.pop())
	}
	for _, it := range skipRoles {
		a.roleHeap.push(it)
	}
	a.skipRoles = skipRoles[:0]
	return o, found
}

// filtered reports whether a live decline filter keeps the agent from the
// framework. Expired and voided filters met on the way are dropped.
func (a *Allocator) filtered(fi, ai int32, free resources.Resources, now time.Time) bool {
	ag := &a.agents[ai]
	if len(ag.filters) == 0 {
		return false
	}
	hit := false
	kept := ag.filters[:0]
	for _, f := range ag.filters {
		if !now.Before(f.until) || f.gen != a.fws[f.fw].gen {
			continue
		}
		if f.fw == fi && f.refused.Contains(free) {
			hit = true
		}
		kept = append(kept, f)
	}
	clear(ag.filters[len(kept):])
	ag.filters = kept
	return hit
}

// prepare builds the per-cycle heaps from the current state: every active,
// unsuppressed subscription is a candidate keyed by its dominant share.
func (a *Allocator) prepare() {
	if a.rankDirty {
		a.rebuildRanks()
	}
	a.inv = inverse(a.total)
	for i := range a.roles {
		a.roles[i].heap = a.roles[i].heap[:0]
	}
	a.cands = a.cands[:0]
	for fi := range a.fws {
		fw := &a.fws[fi]
		if !fw.live || !fw.registered || !fw.active {
			continue
		}
		for s := range fw.roles {
			fr := &fw.roles[s]
			if !fr.subscribed || fr.suppressed {
				continue
			}
			r := &a.roles[fr.role]
			r.heap = append(r.heap, item{key: a.share(fr.alloc), rank: a.fwRank[fi], id: int32(len(a.cands))})
			a.cands = append(a.cands, cand{fw: int32(fi), slot: int32(s)})
		}
	}
	a.roleHeap = a.roleHeap[:0]
	for ri := range a.roles {
		r := &a.roles[ri]
		if len(r.heap) == 0 {
			continue
		}
		r.heap.init()
		a.roleHeap = append(a.roleHeap, item{key: a.share(r.alloc) / r.weight, rank: a.roleRank[ri], id: int32(ri)})
	}
	a.roleHeap.init()
}

// rebuildRanks orders frameworks and roles by id so heap ties break by id
// with an integer compare.
func (a *Allocator) rebuildRanks() {
	a.fwRank = growInt32(a.fwRank, len(a.fws))
	buf := a.sortBuf[:0]
	for i := range a.fws {
		if a.fws[i].live {
			buf = append(buf, int32(i))
		}
	}
	slices.SortFunc(buf, func(x, y int32) int { return strings.Compare(a.fws[x].id, a.fws[y].id) })
	for rank, fi := range buf {
		a.fwRank[fi] = int32(rank)
	}
	a.roleRank = growInt32(a.roleRank, len(a.roles))
	buf = buf[:0]
	for i := range a.roles {
		buf = append(buf, int32(i))
	}
	slices.SortFunc(buf, func(x, y int32) int { return strings.Compare(a.roles[x].name, a.roles[y].name) })
	for rank, ri := range buf {
		a.roleRank[ri] = int32(rank)
	}
	a.sortBuf = buf[:0]
	a.rankDirty = false
}

func growInt32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

// inverse returns 1/total per scalar (cpus, mem, disk, gpus), 0 where the
// cluster has none, so a share is a multiply.
func inverse(total resources.Resources) [4]float64 {
	var inv [4]float64
	for i, v := range [4]float64{total.CPUs, total.Mem, total.Disk, total.GPUs} {
		if v > 0 {
			inv[i] = 1 / v
		}
	}
	return inv
}

// share is the dominant share of r: max over scalars of r / cluster total.
func (a *Allocator) share(r resources.Resources) float64 {
	return dominant(r, &a.inv)
}

func dominant(r resources.Resources, inv *[4]float64) float64 {
	s := r.CPUs * inv[0]
	if v := r.Mem * inv[1]; v > s {
		s = v
	}
	if v := r.Disk * inv[2]; v > s {
		s = v
	}
	if v := r.GPUs * inv[3]; v > s {
		s = v
	}
	return s
}

// item is a heap entry: key is a (weighted) dominant share, rank breaks ties
// by id order, id is a candidate or role slot.
type item struct {
	key  float64
	rank int32
	id   int32
}

// minHeap is a binary min-heap of items, inlined rather than container/heap
// to avoid interface calls in the per-agent loop.
type minHeap []item

func (h minHeap) less(i, j int) bool {
	if h[i].key != h[j].key {
		return h[i].key < h[j].key
	}
	return h[i].rank < h[j].rank
}

func (h minHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *minHeap) push(it item) {
	*h = append(*h, it)
	h.up(len(*h) - 1)
}

func (h *minHeap) pop() item {
	old := *h
	n := len(old) - 1
	top := old[0]
	old[0] = old[n]
	*h = old[:n]
	if n > 0 {
		h.down(0)
	}
	return top
}

// fixTop restores order after the root's key grew.
func (h minHeap) fixTop() { h.down(0) }

func (h minHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (h minHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
