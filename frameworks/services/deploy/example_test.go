package deploy_test

import (
	"fmt"
	"time"

	"agora/frameworks/services/deploy"
)

// A driver's loop: step, act, and step again when instances change.
func ExampleStep() {
	prev := deploy.AppSpec{ID: "/web", Version: "v1", Instances: 2,
		UpgradeStrategy: deploy.UpgradeStrategy{MinimumHealthCapacity: 1, MaximumOverCapacity: 0}}
	next := prev
	next.Version = "v2"
	d, err := deploy.New("dep-1", prev, next, 10*time.Minute)
	if err != nil {
		panic(err)
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	old := func(id string, age time.Duration) deploy.Instance {
		return deploy.Instance{ID: id, Version: "v1", State: deploy.Running, Healthy: true, Ready: true, StartedAt: now.Add(-age)}
	}
	snap := deploy.Snapshot{App: next, Instances: []deploy.Instance{old("a", time.Hour), old("b", time.Minute)}}

	a := deploy.Step(d, snap, now)
	fmt.Println(a.Phase, "launch", a.Launch, "kill", a.Kill)

	// The launched instance is up, healthy and ready: one old instance,
	// the youngest (killSelection's default), can go.
	snap.Instances = append(snap.Instances, deploy.Instance{ID: "c", Version: "v2", State: deploy.Running, Healthy: true, Ready: true})
	a = deploy.Step(d, snap, now.Add(time.Minute))
	fmt.Println(a.Phase, "launch", a.Launch, "kill", a.Kill)
	// Output:
	// waiting launch 1 kill []
	// waiting launch 0 kill [b]
}
