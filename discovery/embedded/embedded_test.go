package embedded_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"agora/discovery"
	"agora/discovery/embedded"
)

func svc(name string, ports ...int) discovery.Service {
	s := discovery.Service{Name: name, AppID: "/" + name, ServicePort: 10000, Protocol: "tcp"}
	for i, p := range ports {
		s.Endpoints = append(s.Endpoints, discovery.Endpoint{
			TaskID: fmt.Sprintf("%s.%d", name, i), AppID: "/" + name, Host: "127.0.0.1", Port: p, Healthy: true,
		})
	}
	return s
}

func recv(t *testing.T, ch <-chan []discovery.Service) []discovery.Service {
	t.Helper()
	select {
	case set, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return set
	case <-time.After(10 * time.Second):
		t.Fatal("no set from the watch within 10s")
		return nil
	}
}

// names summarises a set as name:endpoint-count.
func names(set []discovery.Service) []string {
	var out []string
	for _, s := range set {
		out = append(out, fmt.Sprintf("%s:%d", s.Name, len(s.Endpoints)))
	}
	return out
}

func TestWatchGetsCurrentSetThenChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := embedded.New()
	if err := r.Sync(ctx, []discovery.Service{svc("web", 31000)}); err != nil {
		t.Fatal(err)
	}
	ch, err := r.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(recv(t, ch)); fmt.Sprint(got) != "[web:1]" {
		t.Fatalf("first set %v, want [web:1]", got)
	}
	// Same set in another order: nobody is woken; the next set seen is
	// the real change after it.
	a, b := svc("api", 32000), svc("web", 31000)
	if err := r.Sync(ctx, []discovery.Service{b}); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx, []discovery.Service{b, a}); err != nil {
		t.Fatal(err)
	}
	if got := names(recv(t, ch)); fmt.Sprint(got) != "[api:1 web:1]" {
		t.Fatalf("after adding api: %v, want [api:1 web:1]", got)
	}
	if err := r.Sync(ctx, []discovery.Service{a, b}); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx, []discovery.Service{svc("web", 31000, 31001)}); err != nil {
		t.Fatal(err)
	}
	if got := names(recv(t, ch)); fmt.Sprint(got) != "[web:2]" {
		t.Fatalf("after scaling web and removing api: %v, want [web:2]", got)
	}
}

func TestEmptyRegistrySendsEmptySet(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := embedded.New().Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if set := recv(t, ch); set == nil || len(set) != 0 {
		t.Fatalf("first set %#v, want an empty, non-nil set", set)
	}
}

func TestSlowWatcherNeverBlocksSyncAndGetsTheLatest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := embedded.New()
	ch, err := r.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recv(t, ch) // the empty set
	// Nobody reads while 1,000 changes are made: Sync must not block.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= 1000; i++ {
			ports := make([]int, i%7+1)
			for j := range ports {
				ports[j] = 30000 + i
			}
			if err := r.Sync(ctx, []discovery.Service{svc("web", ports...)}); err != nil {
				t.Error(err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Sync blocked on a watcher that does not read")
	}
	// The watcher catches up with at most one set in between.
	for i := 0; i < 2; i++ {
		set := recv(t, ch)
		if len(set) == 1 && set[0].Endpoints[0].Port == 31000 {
			if got := len(set[0].Endpoints); got != 1000%7+1 {
				t.Fatalf("latest set has %d endpoints, want %d", got, 1000%7+1)
			}
			return
		}
	}
	t.Fatal("watcher did not get the latest set within two reads")
}

func TestWatchersGetTheirOwnCopies(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := embedded.New()
	if err := r.Sync(ctx, []discovery.Service{svc("web", 31000)}); err != nil {
		t.Fatal(err)
	}
	ch1, _ := r.Watch(ctx)
	ch2, _ := r.Watch(ctx)
	s1, s2 := recv(t, ch1), recv(t, ch2)
	s1[0].Endpoints[0].Port = 1
	if s2[0].Endpoints[0].Port != 31000 || r.Services()[0].Endpoints[0].Port != 31000 {
		t.Fatal("a watcher changing its set changed another's or the registry's")
	}
}

func TestWatchClosesWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := embedded.New()
	ch, err := r.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recv(t, ch)
	cancel()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				// A closed watch is forgotten: Sync still works.
				if err := r.Sync(context.Background(), []discovery.Service{svc("web", 1)}); err != nil {
					t.Fatal(err)
				}
				return
			}
		case <-deadline:
			t.Fatal("watch channel not closed after the context ended")
		}
	}
}

func BenchmarkSyncUnchanged(b *testing.B) {
	r := embedded.New()
	set := make([]discovery.Service, 1000)
	for i := range set {
		set[i] = svc(fmt.Sprintf("app-%d", i), 31000, 31001, 31002, 31003, 31004)
	}
	ctx := context.Background()
	_ = r.Sync(ctx, set)
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Sync(ctx, set); err != nil {
			b.Fatal(err)
		}
	}
}
