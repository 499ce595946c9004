package acl

import (
	"fmt"
	"strings"
	"testing"
)

// benchACLs has 200 run_tasks rules, each naming 5 principals and 5 users,
// none of which match the benchmark's request, so every decision scans all
// of them before permissive decides: the worst case for a long file.
func benchACLs(b *testing.B) *ACLs {
	var rules []string
	for i := 0; i < 200; i++ {
		rules = append(rules, fmt.Sprintf(
			`{"principals":{"values":["p%d-0","p%d-1","p%d-2","p%d-3","p%d-4"]},"users":{"values":["u%d-0","u%d-1","u%d-2","u%d-3","u%d-4"]}}`,
			i, i, i, i, i, i, i, i, i, i))
	}
	a, err := Parse([]byte(`{"permissive":false,"run_tasks":[` + strings.Join(rules, ",") + `]}`))
	if err != nil {
		b.Fatal(err)
	}
	return a
}

func BenchmarkAllowed(b *testing.B) {
	a := benchACLs(b)
	b.Run("no-match", func(b *testing.B) {
		for b.Loop() {
			if a.Allowed("stranger", RunTasks, "nobody") {
				b.Fatal("allowed")
			}
		}
	})
	b.Run("last-rule", func(b *testing.B) {
		for b.Loop() {
			if !a.Allowed("p199-4", RunTasks, "u199-4") {
				b.Fatal("denied")
			}
		}
	})
	b.Run("authorizer", func(b *testing.B) {
		z := NewAuthorizer(a)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				z.Allowed("p199-4", RunTasks, "u199-4")
			}
		})
	})
}
