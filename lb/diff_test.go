package lb

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"agora/discovery"
)

func ep(host string, port int) discovery.Endpoint {
	return discovery.Endpoint{Host: host, Port: port, Healthy: true}
}

func svc(name string, port int, labels map[string]string, eps ...discovery.Endpoint) discovery.Service {
	return discovery.Service{Name: name, ServicePort: port, Protocol: "tcp", Labels: labels, Endpoints: eps}
}

func commands(ops []Op) string {
	var out []string
	for _, o := range ops {
		out = append(out, o.Command())
	}
	return strings.Join(out, "\n")
}

func TestDiff(t *testing.T) {
	cfg := DefaultConfig("/tmp/s.sock")
	base := []discovery.Service{
		svc("web", 10000, nil, ep("10.0.0.1", 80), ep("10.0.0.2", 80)),
		svc("db", 10001, nil, ep("10.0.0.9", 5432)),
	}
	cases := []struct {
		name   string
		next   []discovery.Service
		reload bool
		ops    string
	}{
		{name: "same set", next: base},
		{name: "endpoint added takes a free slot",
			next: []discovery.Service{svc("web", 10000, nil, ep("10.0.0.1", 80), ep("10.0.0.2", 80), ep("10.0.0.3", 80)), base[1]},
			ops:  "set server be_web/s3 addr 10.0.0.3 port 80\nset server be_web/s3 state ready"},
		{name: "endpoint removed goes to maint, others keep their slots",
			next: []discovery.Service{svc("web", 10000, nil, ep("10.0.0.2", 80)), base[1]},
			ops:  "set server be_web/s1 state maint"},
		{name: "moved endpoint: new address in a free slot first, old slot to maint after",
			next: []discovery.Service{svc("web", 10000, nil, ep("10.0.0.1", 80), ep("10.0.0.7", 8080)), base[1]},
			ops:  "set server be_web/s3 addr 10.0.0.7 port 8080\nset server be_web/s3 state ready\nset server be_web/s2 state maint"},
		{name: "draining endpoint",
			next: []discovery.Service{svc("web", 10000, nil, ep("10.0.0.1", 80),
				discovery.Endpoint{Host: "10.0.0.2", Port: 80, Healthy: true, Draining: true}), base[1]},
			ops: "set server be_web/s2 state drain"},
		{name: "unhealthy endpoint is taken out",
			next: []discovery.Service{svc("web", 10000, nil, ep("10.0.0.1", 80), discovery.Endpoint{Host: "10.0.0.2", Port: 80}), base[1]},
			ops:  "set server be_web/s2 state maint"},
		{name: "more endpoints than slots reloads",
			next: []discovery.Service{svc("web", 10000, nil, ep("10.0.0.1", 80), ep("10.0.0.2", 80), ep("10.0.0.3", 80),
				ep("10.0.0.4", 80), ep("10.0.0.5", 80)), base[1]},
			reload: true},
		{name: "new service reloads, others still get ops",
			next:   []discovery.Service{svc("web", 10000, nil, ep("10.0.0.1", 80)), base[1], svc("cache", 10002, nil)},
			reload: true, ops: "set server be_web/s2 state maint"},
		{name: "removed service reloads", next: base[:1], reload: true},
		{name: "service port change reloads",
			next:   []discovery.Service{base[0], svc("db", 10005, nil, ep("10.0.0.9", 5432))},
			reload: true},
		{name: "vhost change reloads",
			next:   []discovery.Service{svc("web", 10000, map[string]string{"HAPROXY_0_VHOST": "a.example"}, ep("10.0.0.1", 80), ep("10.0.0.2", 80)), base[1]},
			reload: true},
		{name: "balance change reloads",
			next:   []discovery.Service{svc("web", 10000, map[string]string{"HAPROXY_0_BALANCE": "leastconn"}, ep("10.0.0.1", 80), ep("10.0.0.2", 80)), base[1]},
			reload: true},
		{name: "a bad label alone changes nothing",
			next: []discovery.Service{svc("web", 10000, map[string]string{"HAPROXY_0_BALANCE": "bogus"}, ep("10.0.0.1", 80), ep("10.0.0.2", 80)), base[1]}},
		{name: "another group's service is ignored",
			next: append([]discovery.Service{svc("other", 10009, map[string]string{"HAPROXY_GROUP": "internal"}, ep("10.0.0.5", 1))}, base...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, old, _ := Render(base, cfg)
			ops, reload := Diff(old, c.next)
			if reload != c.reload {
				t.Errorf("reload = %v, want %v", reload, c.reload)
			}
			if got := commands(ops); got != c.ops {
				t.Errorf("ops:\n%s\nwant:\n%s", got, c.ops)
			}
		})
	}
}

// TestDiffSlotsAreStable: an endpoint keeps its slot across membership
// changes, so an existing connection's server is never readdressed under it.
func TestDiffSlotsAreStable(t *testing.T) {
	cfg := DefaultConfig("/tmp/s.sock")
	_, cur, _ := Render([]discovery.Service{svc("web", 10000, nil, ep("10.0.0.1", 80), ep("10.0.0.2", 80), ep("10.0.0.3", 80))}, cfg)
	steps := [][]discovery.Endpoint{
		{ep("10.0.0.2", 80), ep("10.0.0.3", 80)},
		{ep("10.0.0.2", 80), ep("10.0.0.3", 80), ep("10.0.0.4", 80)},
		{ep("10.0.0.4", 80), ep("10.0.0.1", 80)},
	}
	for i, eps := range steps {
		next, _ := Plan(&cur, []discovery.Service{svc("web", 10000, nil, eps...)}, cfg)
		if _, reload := DiffLayouts(cur, next); reload {
			t.Fatalf("step %d reloads", i)
		}
		where := map[string]string{}
		for _, s := range cur.Backends[0].Slots {
			if s.State != Maint {
				where[s.key()] = s.Name
			}
		}
		for _, s := range next.Backends[0].Slots {
			if old, ok := where[s.key()]; ok && s.State != Maint && old != s.Name {
				t.Errorf("step %d: %s moved from %s to %s", i, s.key(), old, s.Name)
			}
		}
		cur = next
	}
	got := fmt.Sprint(cur.Backends[0].Slots)
	want := "[{s1 10.0.0.4 80 ready} {s2 10.0.0.2 80 maint} {s3 10.0.0.3 80 maint} {s4 10.0.0.1 80 ready}]"
	if got != want {
		t.Errorf("slots %s\nwant %s", got, want)
	}
}

func TestKeepStructureAfterRefusedReload(t *testing.T) {
	cfg := DefaultConfig("/tmp/s.sock")
	_, cur, _ := Render([]discovery.Service{svc("a", 10000, nil, ep("10.0.0.1", 80)), svc("b", 10001, nil)}, cfg)
	next, _ := Plan(&cur, []discovery.Service{svc("a", 10000, nil, ep("10.0.0.2", 80)), svc("b", 10005, nil), svc("c", 10002, nil)}, cfg)
	kept := keepStructure(cur, next)
	if len(kept.Backends) != 2 || kept.Backends[1].ServicePort != 10001 {
		t.Fatalf("structure changed: %+v", kept.Backends)
	}
	if !reflect.DeepEqual(kept.Backends[0].Slots, next.Backends[0].Slots) {
		t.Errorf("a's slots not taken: %v", kept.Backends[0].Slots)
	}
	if ops, _ := DiffLayouts(kept, next); len(ops) != 0 {
		t.Errorf("ops left after keeping: %s", commands(ops))
	}
}
