// Package state persists the services framework's state in Agora's store
// (core/store): its framework id, each app's current definition, every
// definition an app had (for /v2/apps/{id}/versions and rollback), the
// active deployment of each app, and the instances it launched.
//
// Contract:
//   - One JSON record per object, never one blob for everything, and every
//     record is refused above MaxRecordBytes with an error naming the app,
//     so the state fits a ZooKeeper-backed store (znodes hold 1 MB).
//   - App definitions are written with compare-and-set: PutApp takes the
//     store version it read and returns store.ErrConflict (wrapped) when
//     another writer got there first, so no update is lost.
//   - A record that does not decode is reported with its key, never dropped
//     silently: List* return what decoded together with a *CorruptError for
//     each record that did not.
//   - At most MaxVersions (default 50) versions are kept per app; the oldest
//     are pruned on PutVersion.
//
// A Store holds no state of its own beyond its configuration, so several
// goroutines (or framework replicas) can use it at once; the store's
// versions arbitrate.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"agora/core/store"
	"agora/frameworks/services/app"
)

// MaxRecordBytes bounds one stored record, well under ZooKeeper's 1 MB
// znode limit.
const MaxRecordBytes = 512 << 10

// DefaultMaxVersions is how many versions of an app are kept by default.
const DefaultMaxVersions = 50

// ErrTooLarge is wrapped by writes refused for their size.
var ErrTooLarge = errors.New("record too large")

// CorruptError reports a stored record that could not be decoded.
type CorruptError struct {
	Key string
	Err error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("state: corrupt record %s: %v", e.Key, e.Err)
}
func (e *CorruptError) Unwrap() error { return e.Err }

// Store is the services framework's state in a store.Store.
type Store struct {
	st          store.Store
	root        string
	rootErr     error
	maxVersions int
}

// New returns the framework's state kept under root (e.g. "/services") in
// st. An invalid root is reported by every call.
func New(st store.Store, root string) *Store {
	s := &Store{st: st, root: root, maxVersions: DefaultMaxVersions}
	if err := store.ValidKey(root); err != nil {
		s.rootErr = fmt.Errorf("state: root: %w", err)
	}
	return s
}

// WithMaxVersions sets how many versions per app PutVersion keeps (at
// least 1) and returns s.
func (s *Store) WithMaxVersions(n int) *Store {
	s.maxVersions = max(n, 1)
	return s
}

func (s *Store) key(parts ...string) string {
	return s.root + "/" + strings.Join(parts, "/")
}

// frameworkRecord wraps the id so that every record is JSON.
type frameworkRecord struct {
	ID string `json:"id"`
}

// FrameworkID returns the id the framework registered with, so that it
// re-subscribes as the same framework after a restart or failover; a
// wrapped store.ErrNotFound before the first SetFrameworkID.
func (s *Store) FrameworkID(ctx context.Context) (string, error) {
	if s.rootErr != nil {
		return "", s.rootErr
	}
	key := s.key(frameworkIDKey)
	kv, err := s.st.Get(ctx, key)
	if err != nil {
		return "", fmt.Errorf("state: framework id: %w", err)
	}
	var r frameworkRecord
	if err := json.Unmarshal(kv.Value, &r); err != nil || r.ID == "" {
		if err == nil {
			err = errors.New("empty id")
		}
		return "", &CorruptError{Key: key, Err: err}
	}
	return r.ID, nil
}

// SetFrameworkID records the framework's id.
func (s *Store) SetFrameworkID(ctx context.Context, id string) error {
	if s.rootErr != nil {
		return s.rootErr
	}
	if id == "" {
		return errors.New("state: framework id: must not be empty")
	}
	_, err := s.put(ctx, s.key(frameworkIDKey), "framework id", frameworkRecord{ID: id}, store.Any)
	return err
}

// put marshals v, checks its size and writes it; what names the object in
// errors.
func (s *Store) put(ctx context.Context, key, what string, v any, expect int64) (int64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("state: %s: encode: %w", what, err)
	}
	if len(data) > MaxRecordBytes {
		return 0, fmt.Errorf("state: %s: record is %d bytes, over the %d-byte limit: %w", what, len(data), MaxRecordBytes, ErrTooLarge)
	}
	ver, err := s.st.Put(ctx, key, data, expect)
	if err != nil {
		return 0, fmt.Errorf("state: %s: write %s: %w", what, key, err)
	}
	return ver, nil
}

// appID is the normalized id of a, or an error naming the field.
func appID(a *app.App) (string, error) {
	if a == nil {
		return "", errors.New("state: app: nil")
	}
	id, err := normalizeID(a.ID())
	if err != nil {
		return "", fmt.Errorf("state: %w", err)
	}
	return id, nil
}

// decodeApp parses a stored definition and checks it is the app its key
// names, so a record written under the wrong key is not served as another
// app.
func decodeApp(key, wantID string, data []byte) (*app.App, error) {
	a, err := app.Parse(data)
	if err != nil {
		return nil, &CorruptError{Key: key, Err: err}
	}
	if got := a.ID(); got != wantID {
		return nil, &CorruptError{Key: key, Err: fmt.Errorf("id %q does not match the key's %q", got, wantID)}
	}
	return a, nil
}

// PutApp writes a's current definition if the app's store version is still
// expectVersion (store.Absent for a new app, store.Any to overwrite) and
// returns the new store version; a wrapped store.ErrConflict means another
// writer changed the app first: re-read and retry.
func (s *Store) PutApp(ctx context.Context, a *app.App, expectVersion int64) (int64, error) {
	if s.rootErr != nil {
		return 0, s.rootErr
	}
	id, err := appID(a)
	if err != nil {
		return 0, err
	}
	return s.put(ctx, s.key(appsDir, appSegment(id)), "app "+id, a, expectVersion)
}

// GetApp returns the app's current definition and its store version (for
// PutApp), or a wrapped store.ErrNotFound.
func (s *Store) GetApp(ctx context.Context, id string) (*app.App, int64, error) {
	if s.rootErr != nil {
		return nil, 0, s.rootErr
	}
	id, err := normalizeID(id)
	if err != nil {
		return nil, 0, fmt.Errorf("state: %w", err)
	}
	key := s.key(appsDir, appSegment(id))
	kv, err := s.st.Get(ctx, key)
	if err != nil {
		return nil, 0, fmt.Errorf("state: app %s: %w", id, err)
	}
	a, err := decodeApp(key, id, kv.Value)
	if err != nil {
		return nil, 0, err
	}
	return a, kv.Version, nil
}

// ListApps returns every app, those in groups ("/team/web") included,
// sorted by id. Records that do not decode are reported in the error (one
// *CorruptError each) alongside the apps that did.
func (s *Store) ListApps(ctx context.Context) ([]*app.App, error) {
	if s.rootErr != nil {
		return nil, s.rootErr
	}
	kvs, err := s.st.List(ctx, s.key(appsDir))
	if err != nil {
		return nil, fmt.Errorf("state: list apps: %w", err)
	}
	var apps []*app.App
	var errs []error
	for _, kv := range kvs {
		id, err := appIDOfSegment(lastSegment(kv.Key))
		if err != nil {
			errs = append(errs, &CorruptError{Key: kv.Key, Err: err})
			continue
		}
		a, err := decodeApp(kv.Key, id, kv.Value)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		apps = append(apps, a)
	}
	slices.SortFunc(apps, func(x, y *app.App) int { return strings.Compare(x.ID(), y.ID()) })
	return apps, errors.Join(errs...)
}

// ListGroup returns the apps in group and its subgroups ("/team" lists
// "/team/web" and "/team/db/primary", not "/teamx/web"), sorted by id.
func (s *Store) ListGroup(ctx context.Context, group string) ([]*app.App, error) {
	all, err := s.ListApps(ctx)
	prefix := strings.TrimSuffix(group, "/") + "/"
	if !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	var out []*app.App
	for _, a := range all {
		if strings.HasPrefix(a.ID(), prefix) {
			out = append(out, a)
		}
	}
	return out, err
}

// DeleteApp removes the app with its versions and its deployment. The app
// record goes last, so a DeleteApp cut short leaves the app visible and a
// retry finishes the job. A wrapped store.ErrNotFound means there was no
// app (leftover versions and deployment are removed all the same).
//
// Instance records are kept: the instances may still run, and the
// framework needs them to kill them and reconcile; it deletes each with
// DeleteInstance once its task has ended.
func (s *Store) DeleteApp(ctx context.Context, id string) error {
	if s.rootErr != nil {
		return s.rootErr
	}
	id, err := normalizeID(id)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	seg := appSegment(id)
	kv, getErr := s.st.Get(ctx, s.key(appsDir, seg))
	if getErr != nil && !errors.Is(getErr, store.ErrNotFound) {
		return fmt.Errorf("state: delete app %s: %w", id, getErr)
	}
	if err := s.st.Delete(ctx, s.key(deploymentsDir, seg), store.Any); err != nil {
		return fmt.Errorf("state: delete app %s: deployment: %w", id, err)
	}
	if err := s.deleteAll(ctx, s.key(versionsDir, seg)); err != nil {
		return fmt.Errorf("state: delete app %s: versions: %w", id, err)
	}
	if getErr != nil {
		return fmt.Errorf("state: delete app %s: %w", id, getErr)
	}
	// Conditional, so an update made meanwhile is not deleted unseen: the
	// caller gets ErrConflict and decides again.
	if err := s.st.Delete(ctx, s.key(appsDir, seg), kv.Version); err != nil {
		return fmt.Errorf("state: delete app %s: %w", id, err)
	}
	return nil
}

func (s *Store) deleteAll(ctx context.Context, prefix string) error {
	kvs, err := s.st.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		if err := s.st.Delete(ctx, kv.Key, store.Any); err != nil {
			return fmt.Errorf("%s: %w", kv.Key, err)
		}
	}
	return nil
}

// PutVersion records a's definition under its version (a.Version, a
// timestamp) and prunes the app's oldest versions beyond the limit.
// Writing the same version again replaces it.
func (s *Store) PutVersion(ctx context.Context, a *app.App) error {
	if s.rootErr != nil {
		return s.rootErr
	}
	id, err := appID(a)
	if err != nil {
		return err
	}
	if a.Version == "" {
		return fmt.Errorf("state: app %s: version: must not be empty", id)
	}
	seg := appSegment(id)
	if _, err := s.put(ctx, s.key(versionsDir, seg, escapeSegment(a.Version, false)), "app "+id+" version "+a.Version, a, store.Any); err != nil {
		return err
	}
	versions, err := s.versionKeys(ctx, id)
	if err != nil {
		return err
	}
	for len(versions) > s.maxVersions {
		// Oldest first; ErrNotFound cannot happen with Any, and a
		// concurrent pruner deleting the same key is harmless.
		if err := s.st.Delete(ctx, versions[0].key, store.Any); err != nil {
			return fmt.Errorf("state: app %s: prune version %s: %w", id, versions[0].version, err)
		}
		versions = versions[1:]
	}
	return nil
}

type versionKey struct {
	version string
	key     string
}

// versionKeys lists an app's versions, oldest first.
func (s *Store) versionKeys(ctx context.Context, id string) ([]versionKey, error) {
	kvs, err := s.st.List(ctx, s.key(versionsDir, appSegment(id)))
	if err != nil {
		return nil, fmt.Errorf("state: app %s: list versions: %w", id, err)
	}
	out := make([]versionKey, 0, len(kvs))
	var errs []error
	for _, kv := range kvs {
		v, err := unescapeSegment(lastSegment(kv.Key), false)
		if err != nil {
			errs = append(errs, &CorruptError{Key: kv.Key, Err: err})
			continue
		}
		out = append(out, versionKey{version: v, key: kv.Key})
	}
	slices.SortFunc(out, func(x, y versionKey) int { return compareVersions(x.version, y.version) })
	return out, errors.Join(errs...)
}

// compareVersions orders version timestamps by time; versions that are not
// RFC 3339 timestamps sort before all others, by text, so the order is
// total and such oddities are pruned first.
func compareVersions(x, y string) int {
	tx, ex := time.Parse(time.RFC3339Nano, x)
	ty, ey := time.Parse(time.RFC3339Nano, y)
	switch {
	case ex == nil && ey == nil:
		if c := tx.Compare(ty); c != 0 {
			return c
		}
	case ex == nil:
		return 1
	case ey == nil:
		return -1
	}
	return strings.Compare(x, y)
}

// ListVersions returns the app's stored versions, newest first (as
// Marathon's /v2/apps/{id}/versions does).
func (s *Store) ListVersions(ctx context.Context, id string) ([]string, error) {
	if s.rootErr != nil {
		return nil, s.rootErr
	}
	id, err := normalizeID(id)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	vks, err := s.versionKeys(ctx, id)
	out := make([]string, len(vks))
	for i, vk := range vks {
		out[len(vks)-1-i] = vk.version
	}
	return out, err
}

// GetVersion returns the app's definition at version, or a wrapped
// store.ErrNotFound.
func (s *Store) GetVersion(ctx context.Context, id, version string) (*app.App, error) {
	if s.rootErr != nil {
		return nil, s.rootErr
	}
	id, err := normalizeID(id)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if version == "" {
		return nil, fmt.Errorf("state: app %s: version: must not be empty", id)
	}
	key := s.key(versionsDir, appSegment(id), escapeSegment(version, false))
	kv, err := s.st.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("state: app %s version %s: %w", id, version, err)
	}
	return decodeApp(key, id, kv.Value)
}
