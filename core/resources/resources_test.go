package resources

import (
	"strings"
	"testing"

	"agora/core/mesos"
)

func TestParse(t *testing.T) {
	r, err := Parse("cpus:4;mem:8192;disk:20000;ports:[31000-32000,33000-33010]")
	if err != nil {
		t.Fatal(err)
	}
	if r.CPUs != 4 || r.Mem != 8192 || r.Disk != 20000 || r.Ports.Size() != 1001+11 {
		t.Fatalf("Parse = %+v", r)
	}
	if got := r.String(); got != "cpus:4;mem:8192;disk:20000;ports:[31000-32000,33000-33010]" {
		t.Fatalf("String = %q", got)
	}
	for in, want := range map[string]string{
		"cpus:-1":         "negative",
		"cpus:abc":        "not a number",
		"cpus":            "name:value",
		"bogus:1":         "unknown",
		"ports:[5-1]":     "begin is after end",
		"ports:[1-70000]": "0-65535",
		"mem:NaN":         "not a number",
	} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) error = %v, want %q", in, err, want)
		}
	}
}

func TestArithmetic(t *testing.T) {
	a, _ := Parse("cpus:1;mem:100;ports:[10-20]")
	b, _ := Parse("cpus:0.1;mem:50;ports:[12-13,20-20]")
	if !a.Contains(b) || b.Contains(a) {
		t.Fatal("Contains is wrong")
	}
	d := a.Sub(b)
	if d.CPUs != 0.9 || d.Mem != 50 || d.Ports.String() != "[10-11,14-19]" {
		t.Fatalf("Sub = %s", d)
	}
	if s := d.Add(b); !s.Equal(a) {
		t.Fatalf("Add(Sub) = %s, want %s", s, a)
	}
	// Fixed-point: ten additions of 0.1 make exactly 1.
	var sum Resources
	for i := 0; i < 10; i++ {
		sum = sum.Add(Resources{CPUs: 0.1})
	}
	if sum.CPUs != 1 {
		t.Fatalf("0.1 x 10 = %v", sum.CPUs)
	}
	if got := a.Sub(Resources{CPUs: 5}).CPUs; got != 0 {
		t.Fatalf("Sub below zero = %v", got)
	}
}

func TestRanges(t *testing.T) {
	r, _ := ParseRanges("[1-5,7-9,6-6]")
	if r.String() != "[1-9]" {
		t.Fatalf("normalize = %s", r)
	}
	taken, ok := Ranges{{1, 2}, {10, 20}}.Take(4)
	if !ok || taken.String() != "[1-2,10-11]" {
		t.Fatalf("Take = %s %v", taken, ok)
	}
	if _, ok := (Ranges{{1, 2}}).Take(3); ok {
		t.Fatal("Take beyond size succeeded")
	}
	if (Ranges{{1, 10}}).Contains(Ranges{{5, 11}}) {
		t.Fatal("Contains past the end")
	}
}

func TestMesosRoundTrip(t *testing.T) {
	r, _ := Parse("cpus:2;mem:512;disk:10;ports:[31000-31005]")
	ms := r.ToMesos("web")
	if ms[0].AllocationInfo.Role != "web" || ms[0].Role != "*" {
		t.Fatalf("ToMesos = %+v", ms[0])
	}
	back, err := FromMesos("resources", ms)
	if err != nil || !back.Equal(r) {
		t.Fatalf("FromMesos = %s, %v", back, err)
	}
	bad := []mesos.Resource{{Name: "cpus", Type: mesos.Scalar, Scalar: &mesos.ValueScalar{Value: 1}}, {Name: "mem", Type: mesos.Scalar, Scalar: &mesos.ValueScalar{Value: -5}}}
	if _, err := FromMesos("task_infos[0].resources", bad); err == nil || !strings.Contains(err.Error(), "task_infos[0].resources[1].scalar.value") {
		t.Fatalf("negative mem error = %v", err)
	}
	if _, err := FromMesos("r", []mesos.Resource{{Name: "ports", Type: mesos.Scalar}}); err == nil || !strings.Contains(err.Error(), "RANGES") {
		t.Fatalf("ports as scalar error = %v", err)
	}
}
