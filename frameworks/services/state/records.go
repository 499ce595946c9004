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
	"agora/frameworks/services/deploy"
)

// PutDeployment records the app's active deployment, replacing the
// previous one: an app has at most one.
func (s *Store) PutDeployment(ctx context.Context, appID string, d *deploy.Deployment) error {
	if s.rootErr != nil {
		return s.rootErr
	}
	id, err := normalizeID(appID)
	if err != nil {
		return fmt.Errorf("state: deployment: %w", err)
	}
	if d == nil || d.ID == "" {
		return fmt.Errorf("state: app %s: deployment id: must not be empty", id)
	}
	_, err = s.put(ctx, s.key(deploymentsDir, appSegment(id)), "app "+id+" deployment "+d.ID, d, store.Any)
	return err
}

func decodeDeployment(key string, data []byte) (*deploy.Deployment, error) {
	var d deploy.Deployment
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, &CorruptError{Key: key, Err: err}
	}
	if d.ID == "" {
		return nil, &CorruptError{Key: key, Err: errors.New("deployment id is empty")}
	}
	return &d, nil
}

// GetDeployment returns the app's deployment, or a wrapped
// store.ErrNotFound when it has none.
func (s *Store) GetDeployment(ctx context.Context, appID string) (*deploy.Deployment, error) {
	if s.rootErr != nil {
		return nil, s.rootErr
	}
	id, err := normalizeID(appID)
	if err != nil {
		return nil, fmt.Errorf("state: deployment: %w", err)
	}
	key := s.key(deploymentsDir, appSegment(id))
	kv, err := s.st.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("state: app %s deployment: %w", id, err)
	}
	return decodeDeployment(key, kv.Value)
}

// DeleteDeployment removes the app's deployment; none is not an error.
func (s *Store) DeleteDeployment(ctx context.Context, appID string) error {
	if s.rootErr != nil {
		return s.rootErr
	}
	id, err := normalizeID(appID)
	if err != nil {
		return fmt.Errorf("state: deployment: %w", err)
	}
	if err := s.st.Delete(ctx, s.key(deploymentsDir, appSegment(id)), store.Any); err != nil {
		return fmt.Errorf("state: app %s deployment: delete: %w", id, err)
	}
	return nil
}

// ListDeployments returns every deployment by app id. Records that do not
// decode are reported in the error alongside the ones that did.
func (s *Store) ListDeployments(ctx context.Context) (map[string]*deploy.Deployment, error) {
	if s.rootErr != nil {
		return nil, s.rootErr
	}
	kvs, err := s.st.List(ctx, s.key(deploymentsDir))
	if err != nil {
		return nil, fmt.Errorf("state: list deployments: %w", err)
	}
	out := make(map[string]*deploy.Deployment, len(kvs))
	var errs []error
	for _, kv := range kvs {
		id, err := appIDOfSegment(lastSegment(kv.Key))
		if err != nil {
			errs = append(errs, &CorruptError{Key: kv.Key, Err: err})
			continue
		}
		d, err := decodeDeployment(kv.Key, kv.Value)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[id] = d
	}
	return out, errors.Join(errs...)
}

// Instance is one task the framework launched for an app. It is recorded
// before the launch is sent, so that after a failover reconciliation asks
// the master about every task that may exist: none is lost, and none is
// launched twice.
type Instance struct {
	TaskID string `json:"taskId"`
	AppID  string `json:"appId"`
	// Version is the app version (run configuration) it was launched from.
	Version    string    `json:"version"`
	AgentID    string    `json:"agentId,omitempty"` // empty until placed
	Host       string    `json:"host,omitempty"`
	LaunchedAt time.Time `json:"launchedAt"`
	// State is the last known Mesos task state (mesos.TaskRunning...).
	State string `json:"state,omitempty"`
	// Healthy is the last health result; nil when unknown or unchecked.
	Healthy   *bool     `json:"healthy,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Ports are the host ports the instance was launched with, in the
	// order of the app's ports that have one.
	Ports []uint64 `json:"ports,omitempty"`
	// StartedAt is when the task first reported TASK_RUNNING (zero before).
	StartedAt time.Time `json:"startedAt,omitzero"`
}

// PutInstance records or updates an instance.
func (s *Store) PutInstance(ctx context.Context, in Instance) error {
	if s.rootErr != nil {
		return s.rootErr
	}
	id, err := normalizeID(in.AppID)
	if err != nil {
		return fmt.Errorf("state: instance %s: %w", in.TaskID, err)
	}
	if in.TaskID == "" {
		return fmt.Errorf("state: app %s: instance taskId: must not be empty", id)
	}
	in.AppID = id
	_, err = s.put(ctx, s.key(instancesDir, appSegment(id), escapeSegment(in.TaskID, false)), "app "+id+" instance "+in.TaskID, in, store.Any)
	return err
}

// DeleteInstance forgets an instance; a missing one is not an error.
func (s *Store) DeleteInstance(ctx context.Context, appID, taskID string) error {
	if s.rootErr != nil {
		return s.rootErr
	}
	id, err := normalizeID(appID)
	if err != nil {
		return fmt.Errorf("state: instance %s: %w", taskID, err)
	}
	if taskID == "" {
		return fmt.Errorf("state: app %s: instance taskId: must not be empty", id)
	}
	if err := s.st.Delete(ctx, s.key(instancesDir, appSegment(id), escapeSegment(taskID, false)), store.Any); err != nil {
		return fmt.Errorf("state: app %s instance %s: delete: %w", id, taskID, err)
	}
	return nil
}

// ListInstances returns the app's instances, or every app's when appID is
// empty, sorted by app then task id. Records that do not decode are
// reported in the error alongside the ones that did.
func (s *Store) ListInstances(ctx context.Context, appID string) ([]Instance, error) {
	if s.rootErr != nil {
		return nil, s.rootErr
	}
	prefix := s.key(instancesDir)
	if appID != "" {
		id, err := normalizeID(appID)
		if err != nil {
			return nil, fmt.Errorf("state: instances: %w", err)
		}
		prefix = s.key(instancesDir, appSegment(id))
	}
	kvs, err := s.st.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("state: list instances: %w", err)
	}
	out := make([]Instance, 0, len(kvs))
	var errs []error
	for _, kv := range kvs {
		var in Instance
		if err := json.Unmarshal(kv.Value, &in); err != nil {
			errs = append(errs, &CorruptError{Key: kv.Key, Err: err})
			continue
		}
		if want, err := unescapeSegment(lastSegment(kv.Key), false); err != nil || in.TaskID != want {
			errs = append(errs, &CorruptError{Key: kv.Key, Err: fmt.Errorf("taskId %q does not match the key", in.TaskID)})
			continue
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(x, y Instance) int {
		if c := strings.Compare(x.AppID, y.AppID); c != 0 {
			return c
		}
		return strings.Compare(x.TaskID, y.TaskID)
	})
	return out, errors.Join(errs...)
}
