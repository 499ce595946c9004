package services

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"agora/discovery"
)

// recordingRegistry keeps every set it is given.
type recordingRegistry struct {
	mu   sync.Mutex
	sets [][]discovery.Service
}

func (r *recordingRegistry) Sync(ctx context.Context, s []discovery.Service) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sets = append(r.sets, s)
	return nil
}

func (r *recordingRegistry) Watch(ctx context.Context) (<-chan []discovery.Service, error) {
	return nil, fmt.Errorf("not watched in this test")
}

func (r *recordingRegistry) latest() []discovery.Service {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sets) == 0 {
		return nil
	}
	return r.sets[len(r.sets)-1]
}

// everSaw reports whether some set had an endpoint matching ok.
func (r *recordingRegistry) everSaw(ok func(discovery.Endpoint) bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, set := range r.sets {
		for _, s := range set {
			for _, e := range s.Endpoints {
				if ok(e) {
					return true
				}
			}
		}
	}
	return false
}

// Running instances reach the registry with their host and port, a planned
// kill shows them draining before they go, and a deleted app leaves nothing.
func TestInstancesPublished(t *testing.T) {
	c := newCluster(t, true)
	c.addAgent("127.0.0.1", "cpus:2;mem:1024;disk:1000;ports:[31400-31410]")
	reg := &recordingRegistry{}
	f, _ := c.startFramework(Config{Registry: reg})
	ctx := context.Background()
	a := mustParse(t, `{"id":"/team/web","cmd":"sleep 300","cpus":0.1,"mem":16,"instances":2,
		"portDefinitions":[{"port":10080,"name":"http"}],"labels":{"HAPROXY_GROUP":"external"}}`)
	if _, err := f.PutApp(ctx, a, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "two healthy endpoints published", func() (bool, string) {
		set := reg.latest()
		if len(set) != 1 {
			return false, fmt.Sprint(set)
		}
		s := set[0]
		healthy := 0
		for _, e := range s.Endpoints {
			if e.Healthy && e.Host == "127.0.0.1" && e.Port >= 31400 && e.Port <= 31410 {
				healthy++
			}
		}
		return s.Name == "team-web" && s.ServicePort == 10080 && s.Labels["HAPROXY_GROUP"] == "external" && healthy == 2, fmt.Sprint(set)
	})
	a.Instances = 1
	if _, err := f.PutApp(ctx, a, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "one endpoint left", func() (bool, string) {
		set := reg.latest()
		return len(set) == 1 && len(set[0].Endpoints) == 1 && set[0].Endpoints[0].Healthy, fmt.Sprint(set)
	})
	if !reg.everSaw(func(e discovery.Endpoint) bool { return e.Draining && !e.Healthy }) {
		t.Fatal("the scaled-down instance was never published as draining before it went")
	}
	if _, err := f.DeleteApp(ctx, "/team/web", false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "nothing published", func() (bool, string) {
		set := reg.latest()
		return len(set) == 0, fmt.Sprint(set)
	})
}
