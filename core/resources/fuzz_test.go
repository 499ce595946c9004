package resources

import (
	"math"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors name the
// resource or range at fault, and that an accepted value is finite,
// non-negative and survives String -> Parse unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"cpus:4;mem:8192;disk:20000;ports:[31000-32000,33000-33010]",
		"cpus:0.5",
		"cpus(*):2;mem(role):128",
		"ports:[1-1,3-5,2-2]",
		"ports:80",
		"gpus:1;cpus:0.1;cpus:0.2",
		"cpus:-1",
		"cpus:NaN",
		"mem:1e400",
		"cpus:1e306",
		"ports:[5-1]",
		"ports:[70000]",
		"bogus:1",
		"cpus",
		"",
		";;",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "resource ") && !strings.HasPrefix(msg, "range ") {
				t.Fatalf("Parse(%q) error %q does not name the resource", s, msg)
			}
			return
		}
		for _, v := range []float64{r.CPUs, r.Mem, r.Disk, r.GPUs} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("Parse(%q) = %+v: scalar %v is not a finite amount >= 0", s, r, v)
			}
		}
		for i, pr := range r.Ports {
			if pr.Begin > pr.End || (i > 0 && r.Ports[i-1].End+1 >= pr.Begin) {
				t.Fatalf("Parse(%q) ports %v are not sorted, disjoint and non-adjacent", s, r.Ports)
			}
		}
		again, err := Parse(r.String())
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, r.String(), err)
		}
		if !again.Equal(r) {
			t.Fatalf("Parse(%q) = %+v, but Parse(String()) = %+v", s, r, again)
		}
	})
}
