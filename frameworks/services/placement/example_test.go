package placement_test

import (
	"fmt"

	"agora/core/resources"
	"agora/frameworks/services/placement"
)

// An app of three instances, one per host, each with one host port, on two
// agents: two instances are placed, and the plan says why the third is not.
func ExampleMatch() {
	unique, err := placement.Parse([]string{"hostname", "UNIQUE"})
	if err != nil {
		panic(err)
	}
	offers := []placement.Offer{
		{ID: "o1", Agent: placement.Agent{ID: "a1", Hostname: "node1"},
			Resources: resources.Resources{CPUs: 4, Mem: 4096, Ports: resources.Ranges{{Begin: 31000, End: 31099}}}},
		{ID: "o2", Agent: placement.Agent{ID: "a2", Hostname: "node2"},
			Resources: resources.Resources{CPUs: 4, Mem: 4096, Ports: resources.Ranges{{Begin: 31000, End: 31099}}}},
	}
	plan, err := placement.Match(placement.Request{
		Instances:   3,
		Resources:   resources.Resources{CPUs: 0.5, Mem: 256},
		HostPorts:   []uint64{0},
		Constraints: []placement.Constraint{unique},
	}, offers, nil)
	if err != nil {
		panic(err)
	}
	for _, l := range plan.Launches {
		fmt.Println("launch on", l.Agent.Hostname, "from", l.OfferID, "port", l.Ports[0], "with", l.Resources)
	}
	fmt.Println("unplaced:", plan.Unplaced)
	for _, r := range plan.Rejections {
		fmt.Printf("%s: %d agents\n", r.Reason, r.Agents)
	}
	fmt.Println("node1:", plan.AgentReasons["a1"])
	// Output:
	// launch on node1 from o1 port 31000 with cpus:0.5;mem:256;ports:[31000-31000]
	// launch on node2 from o2 port 31000 with cpus:0.5;mem:256;ports:[31000-31000]
	// unplaced: 1
	// constraint hostname:UNIQUE: 2 agents
	// node1: hostname:node1 already has an instance (UNIQUE)
}
