package state

import (
	"fmt"
	"path/filepath"
	"testing"

	"agora/core/store"
	"agora/core/store/boltstore"
)

// BenchmarkListApps1000 measures a failover's reload of 1,000 app
// definitions from the embedded store.
func BenchmarkListApps1000(b *testing.B) {
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s := New(st, "/services")
	for i := range 1000 {
		if _, err := s.PutApp(ctx, mkApp(b, fmt.Sprintf("/team%d/app%d", i%10, i), "2024-01-01T00:00:00Z"), store.Absent); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		apps, err := s.ListApps(ctx)
		if err != nil || len(apps) != 1000 {
			b.Fatalf("ListApps: %d apps, %v", len(apps), err)
		}
	}
}

// BenchmarkPutApp measures one compare-and-set app write (embedded store).
func BenchmarkPutApp(b *testing.B) {
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s := New(st, "/services")
	a := mkApp(b, "/team/web", "2024-01-01T00:00:00Z")
	ver := store.Absent
	for b.Loop() {
		if ver, err = s.PutApp(ctx, a, ver); err != nil {
			b.Fatal(err)
		}
	}
}
