// Package store defines the master's persistence contract: a small
// hierarchical key/value store with versioned keys, compare-and-set writes,
// deletes and prefix watches. Keys are slash-separated paths
// ("/frameworks/<id>") so that a ZooKeeper implementation can map one key to
// one znode; values are small (one object per key, well under 1 MB).
//
// Implementations: boltstore (embedded, single master, dev mode). Every
// implementation must pass the shared conformance suite in storetest.
package store

import (
	"context"
	"errors"
)

// Version numbers. A key that does not exist has version 0; the first write
// makes it 1 and each later write adds one.
const (
	// Any makes Put and Delete unconditional.
	Any int64 = -1
	// Absent makes Put succeed only when the key does not exist yet.
	Absent int64 = 0
)

var (
	// ErrNotFound is returned by Get and conditional Delete for a missing key.
	ErrNotFound = errors.New("store: key not found")
	// ErrConflict is returned when a write's expected version does not match.
	ErrConflict = errors.New("store: version conflict")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store: closed")
)

// KV is one stored key with its value and version.
type KV struct {
	Key     string
	Value   []byte
	Version int64
}

// EventType says what happened to a watched key.
type EventType int

const (
	// Put means the key was created or updated.
	Put EventType = iota + 1
	// Delete means the key was removed.
	Delete
)

// Event is one change seen by a watch. For Delete, KV.Value is nil.
type Event struct {
	Type EventType
	KV   KV
}

// Store is the persistence interface the master and the frameworks use.
type Store interface {
	// Get returns the key, or ErrNotFound.
	Get(ctx context.Context, key string) (KV, error)
	// List returns every key under prefix (prefix "/a" lists "/a/x" and
	// "/a/x/y", not "/ab"), sorted by key.
	List(ctx context.Context, prefix string) ([]KV, error)
	// Put writes value if the key's current version is expect (Any skips
	// the check, Absent requires that the key not exist) and returns the new
	// version, or ErrConflict.
	Put(ctx context.Context, key string, value []byte, expect int64) (int64, error)
	// Delete removes the key if its version is expect (Any skips the check).
	// Deleting a missing key with Any is not an error.
	Delete(ctx context.Context, key string, expect int64) error
	// Watch reports changes under prefix made after Watch returns, in the
	// order they were made, until ctx ends; then the channel is closed.
	Watch(ctx context.Context, prefix string) (<-chan Event, error)
	// Close releases the store.
	Close() error
}
