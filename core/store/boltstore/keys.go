package boltstore

import (
	"fmt"
	"strings"
)

// validKey enforces the key rules of store.Store. They are ZooKeeper's path
// rules, checked here too so that a key accepted in dev mode is accepted by
// a ZooKeeper-backed cluster.
func validKey(key string) error {
	why := ""
	switch {
	case key == "":
		why = "empty"
	case key[0] != '/':
		why = `must start with "/"`
	case key == "/":
		why = `"/" is the root, not a key`
	case strings.HasSuffix(key, "/"):
		why = `must not end with "/"`
	case strings.Contains(key, "//"):
		why = `must not contain "//"`
	case strings.ContainsRune(key, 0):
		why = "must not contain a NUL byte"
	default:
		for _, part := range strings.Split(key[1:], "/") {
			if part == "." || part == ".." {
				why = fmt.Sprintf("must not contain a %q element", part)
				break
			}
		}
	}
	if why != "" {
		return fmt.Errorf("invalid key %q: %s", key, why)
	}
	return nil
}

// validPrefix accepts any valid key, and "/" for the whole store.
func validPrefix(prefix string) error {
	if prefix == "/" {
		return nil
	}
	if err := validKey(prefix); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	return nil
}

// under reports whether key is strictly below prefix in the key hierarchy.
func under(key, prefix string) bool {
	if prefix == "/" {
		return true
	}
	return len(key) > len(prefix) && key[len(prefix)] == '/' && strings.HasPrefix(key, prefix)
}
