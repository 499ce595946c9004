package master

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"agora/core/acl"
	"agora/core/authn"
	"agora/core/mesos"
	"agora/core/store"
)

// Who may do what. Authentication happens in front of the master (an
// authn middleware puts the principal in the request context); the master
// checks what that principal asks for against the ACLs, in Mesos's model:
//
//   - SUBSCRIBE: FrameworkInfo.principal must be the caller (when
//     Config.Authenticated) and register_frameworks must allow each role;
//     re-subscribing an existing framework takes the same principal.
//   - every other scheduler call must come from the framework's principal;
//   - each launched task needs run_tasks for its user (command.user, else
//     the framework's user), or it fails with TASK_ERROR,
//     REASON_TASK_UNAUTHORIZED;
//   - agents need register_agents for their hostname, and later calls for an
//     agent come from the principal that registered it;
//   - operator reads are filtered by view_frameworks, view_tasks and
//     view_agents; TEARDOWN needs teardown_frameworks; MARK_AGENT_GONE needs
//     mark_agents_gone; GET_ACLS and UPDATE_ACLS need manage_acls.
//
// A denial answers 403 naming the rule that decided, and changes nothing.

// aclsKey holds the ACLs in force (see aclRecord).
const aclsKey = "/registry/acls"

// aclRecord is the stored ACLs and the digest of the --acls file they last
// came from: the file wins when it changes, changes made through the API
// win until it does.
type aclRecord struct {
	ACLs       json.RawMessage `json:"acls"`
	FileSHA256 string          `json:"file_sha256,omitempty"`
}

// principalOf is the authenticated caller ("" when authentication is off).
func principalOf(r *http.Request) string {
	p, _ := authn.PrincipalFrom(r.Context())
	return p
}

func forbidden(format string, args ...any) *apiError {
	return &apiError{http.StatusForbidden, fmt.Sprintf(format, args...)}
}

// allowed asks the ACLs; no ACLs allow everything.
func (m *Master) allowed(principal string, action acl.Action, object string) (bool, string) {
	if m.cfg.ACLs == nil {
		return true, ""
	}
	return m.cfg.ACLs.Why(principal, action, object)
}

// authorize is allowed as an error for handlers.
func (m *Master) authorize(principal string, action acl.Action, object string) error {
	if ok, why := m.allowed(principal, action, object); !ok {
		return forbidden("principal %q may not %s %q: %s", principal, action, object, why)
	}
	return nil
}

// samePrincipal checks that a call about an object registered by owner
// comes from owner. Without authentication there is nobody to compare; an
// object registered while authentication was off (no owner) is adopted by
// the first principal allowed to register it.
func (m *Master) samePrincipal(caller, owner, what string) error {
	if m.cfg.Authenticated && owner != "" && caller != owner {
		return forbidden("%s belongs to principal %q; principal %q may not act for it", what, owner, caller)
	}
	return nil
}

// checkSubscriber vets a framework's SUBSCRIBE before the loop sees it.
func (m *Master) checkSubscriber(principal string, fi *mesos.FrameworkInfo) error {
	if m.cfg.Authenticated {
		switch {
		case fi.Principal == "":
			return forbidden("framework_info.principal: empty; set it to the principal you authenticate as (%q)", principal)
		case fi.Principal != principal:
			return forbidden("framework_info.principal: %q is not the principal you authenticated as (%q)", fi.Principal, principal)
		}
	}
	for _, role := range fi.EffectiveRoles() {
		if err := m.authorize(principal, acl.RegisterFrameworks, role); err != nil {
			return err
		}
	}
	return nil
}

// taskUser is the user a task runs as: its command's, else its framework's.
func taskUser(f *framework, ti *mesos.TaskInfo) string {
	if ti.Command != nil && ti.Command.User != "" {
		return ti.Command.User
	}
	return f.info.User
}

// canView filters operator answers; without ACLs everything is visible.
func (m *Master) canView(principal string, action acl.Action, object string) bool {
	ok, _ := m.allowed(principal, action, object)
	return ok
}

// loadACLs puts the ACLs in force at recovery: the --acls file when it is
// new or changed since it was last applied (and then stores it), else what
// the store holds (the file, or later changes through UPDATE_ACLS).
func (m *Master) loadACLs(ctx context.Context) error {
	if m.cfg.ACLs == nil {
		return nil
	}
	var rec aclRecord
	kv, err := m.cfg.Store.Get(ctx, aclsKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("reading the ACLs: %w", err)
	default:
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return fmt.Errorf("%s: corrupt record: %v", aclsKey, err)
		}
	}
	if m.cfg.ACLFile != nil {
		sum := sha256.Sum256(m.cfg.ACLFile)
		if digest := hex.EncodeToString(sum[:]); digest != rec.FileSHA256 {
			a, err := acl.Parse(m.cfg.ACLFile)
			if err != nil {
				return fmt.Errorf("--acls: %w", err)
			}
			m.cfg.ACLs.Set(a)
			m.cfg.Logf("ACLs: applied the --acls file (changed since it was last applied)")
			return m.storeACLs(ctx, a, digest)
		}
	}
	if rec.ACLs != nil {
		a, err := acl.Parse(rec.ACLs)
		if err != nil {
			return fmt.Errorf("%s: stored ACLs no longer parse: %w", aclsKey, err)
		}
		m.cfg.ACLs.Set(a)
		m.cfg.Logf("ACLs: using the stored ACLs")
	}
	return nil
}

// storeACLs writes the ACLs in force; digest is the --acls file's they came
// from, kept across API changes so an unchanged file does not undo them.
func (m *Master) storeACLs(ctx context.Context, a *acl.ACLs, digest string) error {
	data, err := a.Marshal()
	if err != nil {
		return err
	}
	val, err := json.Marshal(aclRecord{ACLs: data, FileSHA256: digest})
	if err != nil {
		return err
	}
	if _, err := m.cfg.Store.Put(ctx, aclsKey, val, store.Any); err != nil {
		return fmt.Errorf("storing the ACLs: %w", err)
	}
	return nil
}

// updateACLs is UPDATE_ACLS: the new ACLs are stored, then put in force.
func (m *Master) updateACLs(ctx context.Context, principal string, raw json.RawMessage) error {
	if m.cfg.ACLs == nil {
		return badRequest("update_acls: this master runs without ACLs (dev mode); start it with authentication to manage ACLs")
	}
	if err := m.authorize(principal, acl.ManageACLs, "*"); err != nil {
		return err
	}
	if len(raw) == 0 {
		return badRequest("update_acls.acls: required; the whole ACL document, as in the --acls file")
	}
	a, err := acl.Parse(raw)
	if err != nil {
		return &apiError{http.StatusUnprocessableEntity, "update_acls.acls: " + err.Error()}
	}
	var rec aclRecord
	if kv, err := m.cfg.Store.Get(ctx, aclsKey); err == nil {
		_ = json.Unmarshal(kv.Value, &rec)
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("reading the ACLs: %w", err)
	}
	if err := m.storeACLs(ctx, a, rec.FileSHA256); err != nil {
		return err
	}
	m.cfg.ACLs.Set(a)
	m.cfg.Logf("ACLs: replaced by principal %q through UPDATE_ACLS", principal)
	return nil
}

// markAgentGone is MARK_AGENT_GONE: it needs mark_agents_gone for the
// agent's hostname.
func (m *Master) markAgentGone(principal, id string) error {
	a := m.agents[id]
	if a == nil {
		return &apiError{http.StatusNotFound, fmt.Sprintf("mark_agent_gone.agent_id: agent %q is not known", id)}
	}
	if err := m.authorize(principal, acl.MarkAgentsGone, a.info.Hostname); err != nil {
		return err
	}
	m.removeAgent(a, "marked gone by an operator")
	return nil
}

// teardown is the operator's TEARDOWN: it needs teardown_frameworks for the
// framework's principal.
func (m *Master) teardown(principal, id string) error {
	f := m.frameworks[id]
	if f == nil {
		return &apiError{http.StatusNotFound, fmt.Sprintf("teardown.framework_id: framework %q is not active on this master", id)}
	}
	if err := m.authorize(principal, acl.TeardownFrameworks, f.info.Principal); err != nil {
		return err
	}
	m.cfg.Logf("framework %s (%s) torn down by principal %q", f.id, f.info.Name, principal)
	m.removeFramework(f)
	return nil
}
