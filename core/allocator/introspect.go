package allocator

import (
	"sort"

	"agora/core/resources"
)

// RoleInfo describes a role for the operator API and metrics. Allocated holds
// scalars only (ports are per agent; a union across agents means nothing).
// Share is the role's dominant share of the cluster, before weighting.
// Frameworks lists, sorted, the frameworks subscribed to the role or holding
// resources in it.
type RoleInfo struct {
	Name       string
	Weight     float64
	Allocated  resources.Resources
	Frameworks []string
	Share      float64
}

// Roles lists, sorted by name, every role that has frameworks, allocations or
// a configured weight.
func (a *Allocator) Roles() []RoleInfo {
	inv := inverse(a.total)
	var out []RoleInfo
	seen := make(map[string]bool, len(a.roles))
	for ri := range a.roles {
		r := &a.roles[ri]
		info := RoleInfo{Name: r.name, Weight: r.weight, Allocated: r.alloc, Share: dominant(r.alloc, &inv)}
		for _, fi := range r.frameworks {
			fw := &a.fws[fi]
			for _, fr := range fw.roles {
				if int(fr.role) == ri && (fr.subscribed || !fr.alloc.IsEmpty()) {
					info.Frameworks = append(info.Frameworks, fw.id)
				}
			}
		}
		_, weighted := a.weights[r.name]
		if len(info.Frameworks) == 0 && r.alloc.IsEmpty() && !weighted {
			continue
		}
		sort.Strings(info.Frameworks)
		seen[r.name] = true
		out = append(out, info)
	}
	for name, w := range a.weights {
		if !seen[name] {
			out = append(out, RoleInfo{Name: name, Weight: w})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// FrameworkShare is the framework's dominant share of the cluster over all
// its roles (0 for an unknown framework).
func (a *Allocator) FrameworkShare(frameworkID string) float64 {
	fi, ok := a.fwIdx[frameworkID]
	if !ok {
		return 0
	}
	var sum resources.Resources
	for _, fr := range a.fws[fi].roles {
		sum = addScalars(sum, fr.alloc)
	}
	inv := inverse(a.total)
	return dominant(sum, &inv)
}

// Free is the agent's unallocated resources (zero for an unknown agent).
func (a *Allocator) Free(agentID string) resources.Resources {
	i, ok := a.agentIdx[agentID]
	if !ok {
		return resources.Resources{}
	}
	f := a.agents[i].free
	f.Ports = append(resources.Ranges(nil), f.Ports...)
	return f
}

// Total is the sum of all agents' totals, active or not (scalars only).
func (a *Allocator) Total() resources.Resources { return a.total }

// LastCycle reports what the most recent Cycle did.
func (a *Allocator) LastCycle() CycleStats { return a.last }
