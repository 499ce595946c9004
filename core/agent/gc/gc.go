// Package gc decides which completed tasks' sandboxes an agent deletes, as
// a Mesos agent's --gc_delay and disk watermark do.
//
// Contract: Select is a pure function of the policy, the candidates (tasks
// whose terminal update was acknowledged, with when that happened and how
// much disk their sandbox holds), the disk's usage and the time. Every
// candidate older than Delay goes; if the disk is still fuller than
// DiskThreshold, more go, oldest first, until the usage the deletions leave
// is at or below the threshold (or nothing is left to delete).
package gc

import (
	"fmt"
	"sort"
	"time"
)

// Mesos's defaults.
const (
	DefaultDelay         = 7 * 24 * time.Hour
	DefaultDiskThreshold = 0.9
)

// Policy says when sandboxes go.
type Policy struct {
	// Delay is how long a completed task's sandbox is kept.
	Delay time.Duration
	// DiskThreshold is the used fraction of the work directory's disk
	// above which sandboxes go sooner, oldest first; in (0, 1].
	DiskThreshold float64
}

// Validate reports the first invalid field.
func (p Policy) Validate() error {
	if p.Delay < 0 {
		return fmt.Errorf("gc_delay: %v is negative", p.Delay)
	}
	if p.DiskThreshold <= 0 || p.DiskThreshold > 1 {
		return fmt.Errorf("gc_disk_threshold: %v is not a fraction in (0, 1]", p.DiskThreshold)
	}
	return nil
}

// Candidate is one completed task's sandbox.
type Candidate struct {
	ID        string
	Completed time.Time
	// Size is the sandbox's disk usage in bytes; it matters only when the
	// disk is over the threshold.
	Size int64
}

// Disk is the usage of the disk holding the work directory. A zero Total
// (unknown) disables the threshold rule.
type Disk struct {
	Used, Total int64
}

// Select returns the ids of the candidates to delete, oldest first.
func Select(p Policy, candidates []Candidate, disk Disk, now time.Time) []string {
	sorted := append([]Candidate(nil), candidates...)
	sort.Slice(sorted, func(i, j int) bool {
		if !sorted[i].Completed.Equal(sorted[j].Completed) {
			return sorted[i].Completed.Before(sorted[j].Completed)
		}
		return sorted[i].ID < sorted[j].ID
	})
	var out []string
	used := disk.Used
	over := func() bool {
		return disk.Total > 0 && float64(used) > p.DiskThreshold*float64(disk.Total)
	}
	for _, c := range sorted {
		// Oldest first: once one is young enough and the disk is fine, so
		// are the rest.
		expired := !c.Completed.Add(p.Delay).After(now)
		if !expired && !over() {
			break
		}
		out = append(out, c.ID)
		used -= c.Size
	}
	return out
}
