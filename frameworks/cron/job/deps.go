package job

import (
	"slices"
	"strconv"
	"strings"
)

// CheckDependencies validates the dependency graph of all jobs (by id):
// every parent must exist, and no job may depend on itself through others.
// An unknown parent is reported at its /dependencies/<i>/id; each cycle
// once at "/dependencies", spelled from its smallest id along the
// "depends on" edges: "cycle: a -> b -> c -> a" means a depends on b, b on
// c and c on a. Results are in id order, so the same graph always gives the
// same errors.
func CheckDependencies(jobs map[string]*Job) FieldErrors {
	var errs FieldErrors
	ids := sortedKeys(jobs)
	for _, id := range ids {
		for i, d := range jobs[id].Dependencies {
			if _, ok := jobs[d.ID]; !ok {
				errs.add("/dependencies/"+strconv.Itoa(i)+"/id", "job %q depends on %q, which does not exist", id, d.ID)
			}
		}
	}
	// Depth-first search; an edge back to a job on the stack closes a cycle.
	const (
		unseen = iota
		onStack
		done
	)
	state := make(map[string]int, len(jobs))
	var stack []string
	reported := map[string]bool{}
	var visit func(id string)
	visit = func(id string) {
		state[id] = onStack
		stack = append(stack, id)
		parents := make([]string, 0, len(jobs[id].Dependencies))
		for _, d := range jobs[id].Dependencies {
			parents = append(parents, d.ID)
		}
		slices.Sort(parents)
		for _, p := range slices.Compact(parents) {
			if _, ok := jobs[p]; !ok {
				continue
			}
			switch state[p] {
			case unseen:
				visit(p)
			case onStack:
				at := slices.Index(stack, p)
				cycle := rotateToMin(slices.Clone(stack[at:]))
				key := strings.Join(cycle, " -> ")
				if !reported[key] {
					reported[key] = true
					errs.add("/dependencies", "cycle: %s -> %s", key, cycle[0])
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = done
	}
	for _, id := range ids {
		if state[id] == unseen {
			visit(id)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// rotateToMin starts a cycle at its smallest id.
func rotateToMin(c []string) []string {
	m := 0
	for i := range c {
		if c[i] < c[m] {
			m = i
		}
	}
	return slices.Concat(c[m:], c[:m])
}
