package store

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// ValidKey enforces the key rules every Store applies. They are
// ZooKeeper's path rules, characters ZooKeeper refuses included, so a key
// accepted by the embedded store is accepted by a ZooKeeper-backed cluster.
func ValidKey(key string) error {
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
	case !utf8.ValidString(key):
		why = "must be valid UTF-8"
	default:
		for _, r := range key {
			if badRune(r) {
				why = fmt.Sprintf("must not contain %U (ZooKeeper refuses it in a path)", r)
				break
			}
		}
		if why != "" {
			break
		}
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

// badRune lists the characters ZooKeeper's PathUtils refuses (NUL included).
func badRune(r rune) bool {
	return r <= 0x1f ||
		(r >= 0x7f && r <= 0x9f) ||
		(r >= 0xd800 && r <= 0xf8ff) ||
		(r >= 0xfff0 && r <= 0xffff)
}

// ValidPrefix accepts any valid key, and "/" for the whole store.
func ValidPrefix(prefix string) error {
	if prefix == "/" {
		return nil
	}
	if err := ValidKey(prefix); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	return nil
}

// Under reports whether key is strictly below prefix in the key hierarchy.
func Under(key, prefix string) bool {
	if prefix == "/" {
		return true
	}
	return len(key) > len(prefix) && key[len(prefix)] == '/' && strings.HasPrefix(key, prefix)
}
