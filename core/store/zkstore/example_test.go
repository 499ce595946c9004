package zkstore_test

import (
	"context"
	"log"
	"time"

	"agora/core/store"
	"agora/core/store/zkstore"
)

// A master opens the registry on the cluster's ZooKeeper ensemble.
func ExampleOpen() {
	s, err := zkstore.Open([]string{"10.0.0.1:2181", "10.0.0.2:2181", "10.0.0.3:2181"}, "/agora/registry", 10*time.Second, log.Printf)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Put(ctx, "/frameworks/fw-1", []byte(`{"name":"services"}`), store.Absent); err != nil {
		log.Fatal(err)
	}
	kvs, err := s.List(ctx, "/frameworks")
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("%d frameworks", len(kvs))
}
