// Package resources holds the arithmetic of agent resources: scalar cpus,
// mem (MB), disk (MB) and gpus, and port ranges. Resources is a compact value
// type so that the allocator can add, subtract and compare tens of thousands
// of agents per cycle without allocating; conversions to and from the Mesos
// JSON form ([]mesos.Resource) validate their input and name the bad field.
//
// Scalars are kept at Mesos's fixed-point precision of three decimal places,
// so repeated additions and subtractions do not drift.
package resources

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"agora/core/mesos"
)

// Resources is an amount of cpus, memory, disk, gpus and ports.
type Resources struct {
	CPUs  float64
	Mem   float64
	Disk  float64
	GPUs  float64
	Ports Ranges
}

// Known resource names.
const (
	NameCPUs  = "cpus"
	NameMem   = "mem"
	NameDisk  = "disk"
	NameGPUs  = "gpus"
	NamePorts = "ports"
)

func round(v float64) float64 { return math.Round(v*1000) / 1000 }

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{
		CPUs:  round(r.CPUs + o.CPUs),
		Mem:   round(r.Mem + o.Mem),
		Disk:  round(r.Disk + o.Disk),
		GPUs:  round(r.GPUs + o.GPUs),
		Ports: r.Ports.Union(o.Ports),
	}
}

// Sub returns r - o. Scalars never go below zero; ports in o are removed.
func (r Resources) Sub(o Resources) Resources {
	return Resources{
		CPUs:  math.Max(0, round(r.CPUs-o.CPUs)),
		Mem:   math.Max(0, round(r.Mem-o.Mem)),
		Disk:  math.Max(0, round(r.Disk-o.Disk)),
		GPUs:  math.Max(0, round(r.GPUs-o.GPUs)),
		Ports: r.Ports.Difference(o.Ports),
	}
}

// Contains reports whether r holds at least o.
func (r Resources) Contains(o Resources) bool {
	return r.CPUs >= o.CPUs && r.Mem >= o.Mem && r.Disk >= o.Disk && r.GPUs >= o.GPUs &&
		r.Ports.Contains(o.Ports)
}

// IsEmpty reports whether r holds nothing.
func (r Resources) IsEmpty() bool {
	return r.CPUs <= 0 && r.Mem <= 0 && r.Disk <= 0 && r.GPUs <= 0 && len(r.Ports) == 0
}

// Equal reports whether r and o are the same amounts.
func (r Resources) Equal(o Resources) bool {
	return r.CPUs == o.CPUs && r.Mem == o.Mem && r.Disk == o.Disk && r.GPUs == o.GPUs && r.Ports.Equal(o.Ports)
}

// Scalar returns the named scalar (ports counts its ports).
func (r Resources) Scalar(name string) float64 {
	switch name {
	case NameCPUs:
		return r.CPUs
	case NameMem:
		return r.Mem
	case NameDisk:
		return r.Disk
	case NameGPUs:
		return r.GPUs
	case NamePorts:
		return float64(r.Ports.Size())
	}
	return 0
}

// String renders r in the command-line form Parse reads.
func (r Resources) String() string {
	var parts []string
	add := func(name string, v float64) {
		if v > 0 {
			parts = append(parts, name+":"+strconv.FormatFloat(v, 'f', -1, 64))
		}
	}
	add(NameCPUs, r.CPUs)
	add(NameMem, r.Mem)
	add(NameDisk, r.Disk)
	add(NameGPUs, r.GPUs)
	if len(r.Ports) > 0 {
		parts = append(parts, NamePorts+":"+r.Ports.String())
	}
	return strings.Join(parts, ";")
}

// Parse reads the agent command-line form
// "cpus:4;mem:8192;disk:20000;ports:[31000-32000,33000-33010]".
func Parse(s string) (Resources, error) {
	var r Resources
	s = strings.TrimSpace(s)
	if s == "" {
		return r, nil
	}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, ":")
		if !ok {
			return r, fmt.Errorf("resource %q: want name:value, e.g. cpus:4", part)
		}
		name = strings.TrimSpace(name)
		// Mesos allows a role suffix, name(role); only unreserved "*" is kept.
		if i := strings.Index(name, "("); i >= 0 {
			name = name[:i]
		}
		val = strings.TrimSpace(val)
		if name == NamePorts {
			pr, err := ParseRanges(val)
			if err != nil {
				return r, fmt.Errorf("resource ports: %w", err)
			}
			r.Ports = r.Ports.Union(pr)
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return r, fmt.Errorf("resource %s: %q is not a number", name, val)
		}
		if v < 0 {
			return r, fmt.Errorf("resource %s: %v is negative; amounts must be >= 0", name, v)
		}
		if err := r.setScalar(name, v); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (r *Resources) setScalar(name string, v float64) error {
	var dst *float64
	switch name {
	case NameCPUs:
		dst = &r.CPUs
	case NameMem:
		dst = &r.Mem
	case NameDisk:
		dst = &r.Disk
	case NameGPUs:
		dst = &r.GPUs
	default:
		return fmt.Errorf("resource %q is unknown; use cpus, mem, disk, gpus or ports", name)
	}
	// Round the sum, not just the part, so a repeated name such as
	// "cpus:0.1;cpus:0.2" gives what String prints (0.3); rounding scales
	// by 1000, so amounts near the float limit overflow to +Inf.
	sum := round(*dst + v)
	if math.IsInf(sum, 0) {
		return fmt.Errorf("resource %s: %v is too large", name, v)
	}
	*dst = sum
	return nil
}

// FromMesos converts and validates resources in the Mesos JSON form. field
// names the enclosing field for error messages (e.g. "task_infos[0].resources").
func FromMesos(field string, rs []mesos.Resource) (Resources, error) {
	var r Resources
	for i, res := range rs {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch res.Name {
		case NamePorts:
			if res.Type != mesos.Ranges || res.Ranges == nil {
				return r, fmt.Errorf("%s: ports must have type RANGES and a ranges field", f)
			}
			var pr Ranges
			for _, x := range res.Ranges.Range {
				if x.Begin > x.End {
					return r, fmt.Errorf("%s.ranges: begin %d is after end %d", f, x.Begin, x.End)
				}
				if x.End > 65535 {
					return r, fmt.Errorf("%s.ranges: port %d is above 65535", f, x.End)
				}
				pr = pr.Union(Ranges{{x.Begin, x.End}})
			}
			r.Ports = r.Ports.Union(pr)
		case NameCPUs, NameMem, NameDisk, NameGPUs:
			if res.Type != mesos.Scalar || res.Scalar == nil {
				return r, fmt.Errorf("%s: %s must have type SCALAR and a scalar field", f, res.Name)
			}
			v := res.Scalar.Value
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return r, fmt.Errorf("%s.scalar.value: %v is not a non-negative number", f, v)
			}
			_ = r.setScalar(res.Name, v)
		case "":
			return r, fmt.Errorf("%s.name: missing; use cpus, mem, disk, gpus or ports", f)
		default:
			return r, fmt.Errorf("%s.name: %q is unknown; use cpus, mem, disk, gpus or ports", f, res.Name)
		}
	}
	return r, nil
}

// ToMesos converts r to the Mesos JSON form. A non-empty allocationRole sets
// allocation_info, as Mesos does for offered and allocated resources.
func (r Resources) ToMesos(allocationRole string) []mesos.Resource {
	out := make([]mesos.Resource, 0, 5)
	var ai *mesos.AllocationInfo
	if allocationRole != "" {
		ai = &mesos.AllocationInfo{Role: allocationRole}
	}
	scalar := func(name string, v float64) {
		if v > 0 {
			out = append(out, mesos.Resource{Name: name, Type: mesos.Scalar, Scalar: &mesos.ValueScalar{Value: v}, Role: "*", AllocationInfo: ai})
		}
	}
	scalar(NameCPUs, r.CPUs)
	scalar(NameMem, r.Mem)
	scalar(NameDisk, r.Disk)
	scalar(NameGPUs, r.GPUs)
	if len(r.Ports) > 0 {
		rr := make([]mesos.ValueRange, len(r.Ports))
		for i, p := range r.Ports {
			rr[i] = mesos.ValueRange{Begin: p.Begin, End: p.End}
		}
		out = append(out, mesos.Resource{Name: NamePorts, Type: mesos.Ranges, Ranges: &mesos.ValueRanges{Range: rr}, Role: "*", AllocationInfo: ai})
	}
	return out
}

// Range is an inclusive range of ports.
type Range struct{ Begin, End uint64 }

// Ranges is a sorted list of disjoint, non-adjacent ranges.
type Ranges []Range

// ParseRanges reads "[31000-32000,33000-33010]" (brackets optional).
func ParseRanges(s string) (Ranges, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "[")
	s = strings.TrimSuffix(s, "]")
	var out Ranges
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		b, e, ok := strings.Cut(p, "-")
		if !ok {
			e = b
		}
		bv, err1 := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
		ev, err2 := strconv.ParseUint(strings.TrimSpace(e), 10, 16)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("range %q: want begin-end with ports 0-65535, e.g. [31000-32000]", p)
		}
		if bv > ev {
			return nil, fmt.Errorf("range %q: begin is after end", p)
		}
		out = out.Union(Ranges{{bv, ev}})
	}
	return out, nil
}

// Size is the number of ports in rs.
func (rs Ranges) Size() uint64 {
	var n uint64
	for _, r := range rs {
		n += r.End - r.Begin + 1
	}
	return n
}

// String renders "[a-b,c-d]".
func (rs Ranges) String() string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%d-%d", r.Begin, r.End)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// Equal reports whether rs and o hold the same ports.
func (rs Ranges) Equal(o Ranges) bool {
	if len(rs) != len(o) {
		return false
	}
	for i := range rs {
		if rs[i] != o[i] {
			return false
		}
	}
	return true
}

// Union returns the ports in rs or o, normalized.
func (rs Ranges) Union(o Ranges) Ranges {
	if len(o) == 0 {
		return rs
	}
	if len(rs) == 0 {
		return normalize(append(Ranges(nil), o...))
	}
	all := make(Ranges, 0, len(rs)+len(o))
	all = append(all, rs...)
	all = append(all, o...)
	return normalize(all)
}

func normalize(all Ranges) Ranges {
	sort.Slice(all, func(i, j int) bool { return all[i].Begin < all[j].Begin })
	out := all[:0]
	for _, r := range all {
		if n := len(out); n > 0 && r.Begin <= out[n-1].End+1 {
			if r.End > out[n-1].End {
				out[n-1].End = r.End
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// Contains reports whether every port of o is in rs.
func (rs Ranges) Contains(o Ranges) bool {
	i := 0
	for _, r := range o {
		for i < len(rs) && rs[i].End < r.Begin {
			i++
		}
		if i == len(rs) || rs[i].Begin > r.Begin || rs[i].End < r.End {
			return false
		}
	}
	return true
}

// Difference returns the ports of rs not in o.
func (rs Ranges) Difference(o Ranges) Ranges {
	if len(o) == 0 || len(rs) == 0 {
		return rs
	}
	var out Ranges
	j := 0
	for _, r := range rs {
		cur := r
		for j < len(o) && o[j].End < cur.Begin {
			j++
		}
		k := j
		empty := false
		for k < len(o) && o[k].Begin <= cur.End {
			if o[k].Begin > cur.Begin {
				out = append(out, Range{cur.Begin, o[k].Begin - 1})
			}
			if o[k].End >= cur.End {
				empty = true
				break
			}
			cur.Begin = o[k].End + 1
			k++
		}
		if !empty {
			out = append(out, cur)
		}
	}
	return out
}

// Take returns the first n ports of rs, or false if rs has fewer.
func (rs Ranges) Take(n uint64) (Ranges, bool) {
	var out Ranges
	for _, r := range rs {
		if n == 0 {
			break
		}
		size := r.End - r.Begin + 1
		if size >= n {
			out = append(out, Range{r.Begin, r.Begin + n - 1})
			n = 0
			break
		}
		out = append(out, r)
		n -= size
	}
	return out, n == 0
}
