package lb

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"agora/discovery"
)

func manyServices(n, endpoints int) []discovery.Service {
	svcs := make([]discovery.Service, n)
	for i := range svcs {
		s := discovery.Service{Name: fmt.Sprintf("app%04d", i), ServicePort: 10000 + i, Protocol: "tcp"}
		if i%2 == 0 {
			s.Labels = map[string]string{"HAPROXY_0_VHOST": fmt.Sprintf("app%04d.example.com", i)}
		}
		for k := 0; k < endpoints; k++ {
			s.Endpoints = append(s.Endpoints, discovery.Endpoint{
				Host: fmt.Sprintf("10.%d.%d.%d", i/250, i%250, k+1), Port: 31000 + k, Healthy: true})
		}
		svcs[i] = s
	}
	return svcs
}

// BenchmarkRender1000Services: plan and render haproxy.cfg for 1,000
// services of 3 instances each, half of them virtual hosts.
func BenchmarkRender1000Services(b *testing.B) {
	svcs := manyServices(1000, 3)
	cfg := DefaultConfig("/tmp/s.sock")
	b.ReportAllocs()
	for b.Loop() {
		text, _, errs := Render(svcs, cfg)
		if len(errs) > 0 || !strings.Contains(text, "be_app0999") {
			b.Fatal("bad render", errs)
		}
	}
}

// BenchmarkDiffMembership100Apps: one instance replaced in each of 100
// apps; Diff must answer with runtime ops and no reload.
func BenchmarkDiffMembership100Apps(b *testing.B) {
	cfg := DefaultConfig("/tmp/s.sock")
	svcs := manyServices(100, 3)
	_, old, _ := Render(svcs, cfg)
	next := manyServices(100, 3)
	for i := range next {
		next[i].Endpoints[0].Port = 32000
	}
	b.ReportAllocs()
	for b.Loop() {
		ops, reload := Diff(old, next)
		if reload || len(ops) != 300 {
			b.Fatalf("reload=%v ops=%d", reload, len(ops))
		}
	}
}

// BenchmarkHealthyToRouted: time from a set with a newly healthy instance
// sent to Run until HAProxy routes a request to it (real HAProxy on
// loopback). Each op is one round: add the instance, wait for it, remove
// it again. Reports p50 and p99 of the add.
func BenchmarkHealthyToRouted(b *testing.B) {
	dir := shortDir(b)
	cfg := testConfig(b, dir)
	a, n := newBackend(b, "a"), newBackend(b, "new")
	port := freePort(b)
	f := startDriver(b, dir, cfg, Options{})
	f.d.opts.Logf = func(string, ...any) {}
	base := discovery.Service{Name: "web", ServicePort: port, Protocol: "tcp", Endpoints: eps(a)}
	f.updates <- []discovery.Service{base}
	servedBy(b, port, "", "a")
	var lat []time.Duration
	b.ResetTimer()
	for b.Loop() {
		with := base
		with.Endpoints = eps(a, n)
		start := time.Now()
		f.updates <- []discovery.Service{with}
		for deadline := start.Add(10 * time.Second); ; {
			body, err := get(port, "")
			if err == nil && body == "new" {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("new instance not routed within 10s (last %q %v)", body, err)
			}
		}
		lat = append(lat, time.Since(start))
		before := f.d.Status().Updates
		f.updates <- []discovery.Service{base}
		for f.d.Status().Updates == before {
			time.Sleep(time.Millisecond)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(f.d.Status().Reloads), "reloads")
}

// BenchmarkScale100Apps: 100 apps scale between 1 and 4 instances
// continuously (each op is one set where every app changes size); reports
// the reloads it took (the target is none) and the runtime updates.
func BenchmarkScale100Apps(b *testing.B) {
	dir := shortDir(b)
	cfg := testConfig(b, dir)
	f := startDriver(b, dir, cfg, Options{})
	f.d.opts.Logf = func(string, ...any) {}
	svcs := manyServices(100, 4)
	for i := range svcs {
		svcs[i].ServicePort = 0
	}
	ports := map[int]bool{cfg.HTTPPort: true, cfg.StatsPort: true}
	for i := range svcs {
		for svcs[i].ServicePort == 0 || ports[svcs[i].ServicePort] {
			svcs[i].ServicePort = freePort(b)
		}
		ports[svcs[i].ServicePort] = true
	}
	full := make([][]discovery.Endpoint, len(svcs))
	for i := range svcs {
		full[i] = svcs[i].Endpoints
	}
	set := func(round int) []discovery.Service {
		out := make([]discovery.Service, len(svcs))
		for i := range svcs {
			out[i] = svcs[i]
			out[i].Endpoints = full[i][:1+(round+i)%4]
		}
		return out
	}
	send := func(round int) {
		before := f.d.Status().Updates
		f.updates <- set(round)
		for f.d.Status().Updates == before {
			time.Sleep(time.Millisecond)
		}
	}
	send(0)
	start := f.d.Status()
	round := 1
	for b.Loop() {
		send(round)
		round++
	}
	end := f.d.Status()
	b.ReportMetric(float64(end.Reloads-start.Reloads), "reloads")
	b.ReportMetric(float64(end.RuntimeUpdates-start.RuntimeUpdates)/float64(round-1), "runtime-ops/set")
	if end.Reloads != start.Reloads {
		b.Errorf("membership changes reloaded %d times", end.Reloads-start.Reloads)
	}
}
