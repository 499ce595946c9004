package consul_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/hashicorp/consul/api"

	"agora/discovery"
	"agora/discovery/consul"
)

func web(eps ...discovery.Endpoint) discovery.Service {
	return discovery.Service{
		Name: "team-web", AppID: "/team/web", PortIndex: 0, ServicePort: 10000,
		Protocol: "tcp", Labels: map[string]string{"HAPROXY_GROUP": "external", "canary": ""},
		Endpoints: eps,
	}
}

func ep(task string, port int, healthy bool) discovery.Endpoint {
	return discovery.Endpoint{
		TaskID: task, AppID: "/team/web", AgentID: "agent-1", Version: "2024-01-01T00:00:00Z",
		Host: "10.0.0.1", Port: port, Healthy: healthy,
	}
}

// held is what Consul would hold after applying services exactly.
func held(services ...discovery.Service) []consul.Registered {
	return consul.Desired(services)
}

func foreign() []consul.Registered {
	return []consul.Registered{
		{ID: "redis-1", Name: "redis", Meta: map[string]string{"agora": "1"}},       // no prefix
		{ID: "agora-manual-0", Name: "manual", Meta: map[string]string{}},           // prefix, no meta
		{ID: "agora-other-0", Name: "other", Meta: map[string]string{"agora": "0"}}, // meta not 1
	}
}

func TestDesiredShape(t *testing.T) {
	regs := consul.Desired([]discovery.Service{web(ep("web.1", 31000, true))})
	if len(regs) != 1 {
		t.Fatalf("got %d registrations, want 1", len(regs))
	}
	got := regs[0]
	want := consul.Registered{
		ID: "agora-web.1-0", Name: "team-web", Address: "10.0.0.1", Port: 31000,
		Tags: []string{"HAPROXY_GROUP=external", "agora", "canary"},
		Meta: map[string]string{
			"agora": "1", "app_id": "/team/web", "version": "2024-01-01T00:00:00Z",
			"task_id": "web.1", "agent_id": "agent-1", "service_port": "10000",
			"port_index": "0", "protocol": "tcp",
		},
		Status: api.HealthPassing, Output: consul.OutputHealthy,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("registration\n got %+v\nwant %+v", got, want)
	}
}

func TestPlan(t *testing.T) {
	draining := ep("web.1", 31000, true)
	draining.Draining = true
	moved := ep("web.1", 31005, true)
	relabelled := web(ep("web.1", 31000, true))
	relabelled.Labels = map[string]string{"HAPROXY_GROUP": "internal"}
	second := web(ep("web.1", 31001, true))
	second.Name, second.PortIndex, second.ServicePort = "team-web-1", 1, 10001

	tests := []struct {
		name       string
		desired    []discovery.Service
		actual     []consul.Registered
		register   []string // ids
		update     []string // ids, "!" suffix when registered again
		deregister []string
		status     map[string]string // id -> status after the plan
		output     map[string]string
	}{
		{name: "nothing", desired: nil, actual: nil},
		{
			name:     "new instances registered, healthy passing and not ready critical",
			desired:  []discovery.Service{web(ep("web.1", 31000, true), ep("web.2", 31001, false))},
			register: []string{"agora-web.1-0", "agora-web.2-0"},
			status:   map[string]string{"agora-web.1-0": api.HealthPassing, "agora-web.2-0": api.HealthCritical},
			output:   map[string]string{"agora-web.2-0": consul.OutputNotReady},
		},
		{
			name:    "in step: nothing to do",
			desired: []discovery.Service{web(ep("web.1", 31000, true))},
			actual:  held(web(ep("web.1", 31000, true))),
		},
		{
			name:       "instance gone: deregistered",
			desired:    []discovery.Service{web(ep("web.1", 31000, true))},
			actual:     held(web(ep("web.1", 31000, true), ep("web.2", 31001, true))),
			deregister: []string{"agora-web.2-0"},
		},
		{
			name:       "whole set gone: all of Agora's deregistered, foreign left",
			desired:    nil,
			actual:     append(held(web(ep("web.1", 31000, true))), foreign()...),
			deregister: []string{"agora-web.1-0"},
		},
		{
			name:    "foreign entries never touched, even with names Agora wants",
			desired: []discovery.Service{web(ep("web.1", 31000, true))},
			actual: append(foreign(), consul.Registered{
				ID: "team-web-manual", Name: "team-web", Address: "10.9.9.9", Port: 80,
			}),
			register: []string{"agora-web.1-0"},
		},
		{
			name:    "health flip passing to critical: check only",
			desired: []discovery.Service{web(ep("web.1", 31000, false))},
			actual:  held(web(ep("web.1", 31000, true))),
			update:  []string{"agora-web.1-0"},
			status:  map[string]string{"agora-web.1-0": api.HealthCritical},
		},
		{
			name:    "health flip critical to passing: check only",
			desired: []discovery.Service{web(ep("web.1", 31000, true))},
			actual:  held(web(ep("web.1", 31000, false))),
			update:  []string{"agora-web.1-0"},
			status:  map[string]string{"agora-web.1-0": api.HealthPassing},
		},
		{
			name:    "draining: critical with output and meta draining, registered again",
			desired: []discovery.Service{web(draining)},
			actual:  held(web(ep("web.1", 31000, true))),
			update:  []string{"agora-web.1-0!"},
			status:  map[string]string{"agora-web.1-0": api.HealthCritical},
			output:  map[string]string{"agora-web.1-0": consul.OutputDraining},
		},
		{
			name:    "moved to another port: registered again",
			desired: []discovery.Service{web(moved)},
			actual:  held(web(ep("web.1", 31000, true))),
			update:  []string{"agora-web.1-0!"},
		},
		{
			name:    "labels changed: registered again with new tags",
			desired: []discovery.Service{relabelled},
			actual:  held(web(ep("web.1", 31000, true))),
			update:  []string{"agora-web.1-0!"},
		},
		{
			name:    "check lost (Consul lost it): set again",
			desired: []discovery.Service{web(ep("web.1", 31000, true))},
			actual: func() []consul.Registered {
				h := held(web(ep("web.1", 31000, true)))
				h[0].Status, h[0].Output = "", ""
				return h
			}(),
			update: []string{"agora-web.1-0"},
		},
		{
			name:     "second port of the same task: its own instance",
			desired:  []discovery.Service{web(ep("web.1", 31000, true)), second},
			actual:   held(web(ep("web.1", 31000, true))),
			register: []string{"agora-web.1-1"},
		},
		{
			name:     "an endpoint listed twice is registered once",
			desired:  []discovery.Service{web(ep("web.1", 31000, true), ep("web.1", 31000, true))},
			register: []string{"agora-web.1-0"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg, upd, dereg := consul.Plan(tc.desired, tc.actual)
			var regIDs, updIDs []string
			after := map[string]consul.Registered{}
			for _, r := range reg {
				regIDs = append(regIDs, r.ID)
				after[r.ID] = r
			}
			for _, u := range upd {
				id := u.ID
				if !u.StatusOnly {
					id += "!"
				}
				updIDs = append(updIDs, id)
				after[u.ID] = u.Registered
			}
			check := func(what string, got, want []string) {
				t.Helper()
				if !slices.Equal(got, want) {
					t.Errorf("%s: got %q, want %q", what, got, want)
				}
			}
			check("register", regIDs, tc.register)
			check("update", updIDs, tc.update)
			check("deregister", dereg, tc.deregister)
			for id, st := range tc.status {
				if after[id].Status != st {
					t.Errorf("%s: status %q, want %q", id, after[id].Status, st)
				}
			}
			for id, out := range tc.output {
				if after[id].Output != out {
					t.Errorf("%s: output %q, want %q", id, after[id].Output, out)
				}
			}
		})
	}
}

// Applying a plan to what Consul held gives exactly the desired instances,
// whatever the starting point.
func TestPlanConverges(t *testing.T) {
	desired := []discovery.Service{web(ep("web.1", 31000, true), ep("web.3", 31002, false))}
	actual := append(held(web(ep("web.1", 31009, false), ep("web.2", 31001, true))), foreign()...)
	reg, upd, dereg := consul.Plan(desired, actual)
	state := map[string]consul.Registered{}
	for _, a := range actual {
		state[a.ID] = a
	}
	for _, r := range reg {
		state[r.ID] = r
	}
	for _, u := range upd {
		state[u.ID] = u.Registered
	}
	for _, id := range dereg {
		delete(state, id)
	}
	var next []consul.Registered
	for _, r := range state {
		next = append(next, r)
	}
	reg, upd, dereg = consul.Plan(desired, next)
	if len(reg)+len(upd)+len(dereg) != 0 {
		t.Fatalf("second plan not empty: %v %v %v", reg, upd, dereg)
	}
	for _, f := range foreign() {
		if _, ok := state[f.ID]; !ok {
			t.Errorf("foreign entry %s removed", f.ID)
		}
	}
}

func benchSet(services, endpoints int) []discovery.Service {
	set := make([]discovery.Service, services)
	for i := range set {
		s := discovery.Service{
			Name: fmt.Sprintf("app-%d", i), AppID: fmt.Sprintf("/app-%d", i), ServicePort: 10000 + i,
			Protocol: "tcp", Labels: map[string]string{"HAPROXY_GROUP": "external", "team": "t"},
		}
		for j := 0; j < endpoints; j++ {
			s.Endpoints = append(s.Endpoints, discovery.Endpoint{
				TaskID: fmt.Sprintf("app-%d.%d", i, j), AppID: s.AppID, AgentID: "a", Version: "v1",
				Host: "10.0.0.1", Port: 31000 + j, Healthy: true,
			})
		}
		set[i] = s
	}
	return set
}

// BenchmarkPlan: 1,000 services x 5 endpoints, in step with Consul except
// one health flip per service (the common anti-entropy pass).
func BenchmarkPlan(b *testing.B) {
	desired := benchSet(1000, 5)
	actual := consul.Desired(desired)
	for i := 0; i < len(actual); i += 5 {
		actual[i].Status = api.HealthCritical
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, upd, _ := consul.Plan(desired, actual)
		if len(upd) != 1000 {
			b.Fatalf("%d updates, want 1000", len(upd))
		}
	}
}
