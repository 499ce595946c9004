package election_test

import (
	"context"
	"log"
	"time"

	"agora/core/election"
)

// A master contends for leadership and acts on every change.
func ExampleJoin() {
	servers, path, _, err := election.ParseURL("zk://127.0.0.1:2181/agora")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	me := election.Candidate{ID: "master-1", Address: "http://10.0.0.1:5050"}
	e, err := election.Join(ctx, servers, path, 10*time.Second, me, log.Printf)
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	for leading := range e.Leadership() {
		if leading {
			log.Print("leader: recover the registry, accept schedulers and agents")
		} else {
			log.Print("not leader: stop making decisions now; redirect to e.Leader()")
		}
	}
}

// An agent or a framework follows the leading master.
func ExampleNewDetector() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := election.NewDetector(ctx, "zk://127.0.0.1:2181/agora", log.Printf)
	if err != nil {
		log.Fatal(err)
	}
	for leader := range d.Changes() {
		if leader.ID == "" {
			log.Print("no master is running")
			continue
		}
		log.Printf("leading master: %s at %s", leader.ID, leader.Address)
	}
}

// The CLI looks the leader up once.
func ExampleDetectLeader() {
	leader, err := election.DetectLeader(context.Background(), "zk://127.0.0.1:2181/agora", 10*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("leading master at %s", leader.Address)
}
