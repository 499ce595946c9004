package gc

import (
	"fmt"
	"testing"
	"time"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func TestSelect(t *testing.T) {
	policy := Policy{Delay: 7 * day, DiskThreshold: 0.9}
	cands := []Candidate{
		{ID: "new", Completed: now.Add(-time.Hour), Size: 100},
		{ID: "week-old", Completed: now.Add(-7 * day), Size: 100},
		{ID: "month-old", Completed: now.Add(-30 * day), Size: 100},
		{ID: "two-days", Completed: now.Add(-2 * day), Size: 300},
		{ID: "six-days", Completed: now.Add(-6 * day), Size: 200},
	}
	for _, tc := range []struct {
		name   string
		policy Policy
		cands  []Candidate
		disk   Disk
		want   []string
	}{
		{"nothing to collect", policy, nil, Disk{Used: 950, Total: 1000}, nil},
		{"age only: exactly gc_delay old goes", policy, cands, Disk{Used: 100, Total: 1000},
			[]string{"month-old", "week-old"}},
		{"disk over threshold: oldest young ones go until under it", policy, cands, Disk{Used: 1300, Total: 1000},
			// 1300-100-100 = 1100 > 900; -200 (six-days) = 900: at the threshold, done.
			[]string{"month-old", "week-old", "six-days"}},
		{"disk just over: the expired ones suffice", policy, cands, Disk{Used: 1050, Total: 1000},
			[]string{"month-old", "week-old"}},
		{"disk hopelessly full: everything goes", policy, cands, Disk{Used: 5000, Total: 1000},
			[]string{"month-old", "week-old", "six-days", "two-days", "new"}},
		{"unknown disk size: age only", policy, cands, Disk{Used: 5000},
			[]string{"month-old", "week-old"}},
		{"zero delay: everything completed goes", Policy{DiskThreshold: 0.9}, cands, Disk{Total: 1000},
			[]string{"month-old", "week-old", "six-days", "two-days", "new"}},
		{"ties by id", policy, []Candidate{{ID: "b", Completed: now.Add(-8 * day)}, {ID: "a", Completed: now.Add(-8 * day)}}, Disk{},
			[]string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Select(tc.policy, tc.cands, tc.disk, now)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Select = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, p := range []Policy{{Delay: -1, DiskThreshold: 0.5}, {Delay: day}, {Delay: day, DiskThreshold: 1.5}} {
		if p.Validate() == nil {
			t.Errorf("%+v is valid, want an error", p)
		}
	}
	if err := (Policy{Delay: day, DiskThreshold: 1}).Validate(); err != nil {
		t.Error(err)
	}
}

func BenchmarkSelect10k(b *testing.B) {
	cands := make([]Candidate, 10000)
	for i := range cands {
		cands[i] = Candidate{ID: fmt.Sprint(i), Completed: now.Add(-time.Duration(i) * time.Minute), Size: 1 << 20}
	}
	for b.Loop() {
		Select(Policy{Delay: 7 * day, DiskThreshold: 0.9}, cands, Disk{Used: 950 << 30, Total: 1000 << 30}, now)
	}
}
