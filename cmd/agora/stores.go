package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"agora/core/election"
	"agora/core/store"
	"agora/core/store/boltstore"
	"agora/core/store/zkstore"
)

// openBolt opens the embedded store file in dir, creating dir; flag names
// the flag that chose dir, for errors.
func openBolt(flag, dir, file string) (store.Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	st, err := boltstore.Open(filepath.Join(dir, file))
	if err != nil {
		return nil, fmt.Errorf("opening the state in %s: %w", dir, err)
	}
	return st, nil
}

// openZK opens the store kept in ZooKeeper under the zk:// URL's path, in
// <path>/state, and returns the URL's servers and path too.
func openZK(zkURL string, timeout time.Duration, logf func(string, ...any)) (st store.Store, servers []string, path string, err error) {
	servers, path, ok, err := election.ParseURL(zkURL)
	if err != nil || !ok {
		return nil, nil, "", fmt.Errorf("--zk: %v; want e.g. zk://127.0.0.1:2181/agora", orNotZK(err, zkURL))
	}
	zs, err := zkstore.Open(servers, path+"/state", timeout, logf)
	if err != nil {
		return nil, nil, "", fmt.Errorf("opening the state in ZooKeeper at %s: %w", zkURL, err)
	}
	return zs, servers, path, nil
}
