// Package acl decides what an authenticated principal may do, in Apache
// Mesos's ACL model and with its local authorizer's semantics.
//
// Contract:
//   - An ACLs value is immutable once Parse (or AllowAll, Default) returns
//     it, so it may be shared by any number of goroutines without locks.
//   - Allowed and Why are pure functions of the ACLs and their arguments.
//     For each action the rules are checked in file order; the first rule
//     whose subject (principals) matches the principal and whose object
//     matches the object decides: allowed unless either of its entities is
//     NONE. When no rule matches, "permissive" decides (default true).
//   - An entity is ANY, NONE or SOME values. ANY and NONE match every value;
//     SOME matches a listed value exactly, except for apps and jobs, whose
//     values also cover the ids below them (see ViewApps and ViewJobs). An
//     empty principal (authentication off) is matched only by ANY and NONE.
//   - A nil *ACLs, and a nil *Authorizer, allow everything. An action this
//     package does not know is denied.
//   - Parse is strict: unknown fields, duplicated fields, values given with
//     type ANY or NONE, and malformed app or job ids are errors naming the
//     field (e.g. `run_tasks[1].users.type`). Marshal's output parses back
//     to the same ACLs.
//   - Authorizer holds the ACLs in force and swaps them atomically, so an
//     operator can change them while requests are being decided.
package acl

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// Action is something a principal asks to do; its value is the JSON key of
// the action's rules in an ACLs file.
type Action string

// The actions, with the object each one is checked against.
const (
	RegisterFrameworks Action = "register_frameworks"          // a role the framework asks for
	RunTasks           Action = "run_tasks"                    // the user a task runs as
	TeardownFrameworks Action = "teardown_frameworks"          // the principal of the framework torn down
	ViewFrameworks     Action = "view_frameworks"              // the framework's user
	ViewTasks          Action = "view_tasks"                   // the task's user
	ViewAgents         Action = "view_agents"                  // the agent's hostname
	AccessSandboxes    Action = "access_sandboxes"             // the task's user
	RegisterAgents     Action = "register_agents"              // the agent's hostname
	MarkAgentsGone     Action = "mark_agents_gone"             // the agent's hostname
	UpdateQuotas       Action = "update_quotas"                // a role
	UpdateWeights      Action = "update_weights"               // a role
	UpdateMaintenance  Action = "update_maintenance_schedules" // a machine's hostname
	ManageACLs         Action = "manage_acls"                  // always "*"
	// ViewApps and ManageApps take a services app id ("/team-a/web"). A
	// value covers that id and every id below it on "/" boundaries: "/team-a"
	// covers "/team-a/web" but not "/team-ab"; "/" covers every app.
	ViewApps   Action = "view_apps"
	ManageApps Action = "manage_apps"
	// ViewJobs and ManageJobs take a cron or batch job id ("team-a.nightly").
	// A value covers that id and the ids that continue it after a "." or
	// "/": "team-a" covers "team-a.nightly" but not "team-ab".
	ViewJobs   Action = "view_jobs"
	ManageJobs Action = "manage_jobs"
)

// matchKind says how a SOME entity's values are compared with an object.
type matchKind int

const (
	matchExact matchKind = iota
	matchApp             // path prefix on "/" boundaries
	matchJob             // prefix on "." or "/" boundaries
)

// actionSpec describes one action: the JSON field of its object entity,
// the noun used in reasons, and how its values match.
type actionSpec struct {
	action Action
	object string
	noun   string
	match  matchKind
}

// specs lists the actions in the order Marshal writes them. It is a
// read-only table.
var specs = []actionSpec{
	{RegisterFrameworks, "roles", "role", matchExact},
	{RunTasks, "users", "user", matchExact},
	{TeardownFrameworks, "framework_principals", "framework principal", matchExact},
	{ViewFrameworks, "users", "framework user", matchExact},
	{ViewTasks, "users", "task user", matchExact},
	{ViewAgents, "agents", "agent", matchExact},
	{AccessSandboxes, "users", "task user", matchExact},
	{RegisterAgents, "agents", "agent", matchExact},
	{MarkAgentsGone, "agents", "agent", matchExact},
	{UpdateQuotas, "roles", "role", matchExact},
	{UpdateWeights, "roles", "role", matchExact},
	{UpdateMaintenance, "machines", "machine", matchExact},
	{ManageACLs, "acls", "acls", matchExact},
	{ViewApps, "apps", "app", matchApp},
	{ManageApps, "apps", "app", matchApp},
	{ViewJobs, "jobs", "job", matchJob},
	{ManageJobs, "jobs", "job", matchJob},
}

// specIndex finds an action's position in specs, or -1.
func specIndex(a Action) int {
	for i := range specs {
		if specs[i].action == a {
			return i
		}
	}
	return -1
}

// Actions returns every action this package knows, in file order.
func Actions() []Action {
	out := make([]Action, len(specs))
	for i := range specs {
		out[i] = specs[i].action
	}
	return out
}

// entityType is the type of an entity. The zero value is ANY, which is
// what an omitted entity means.
type entityType int

const (
	typeAny entityType = iota
	typeNone
	typeSome
)

// entity is one side of a rule.
type entity struct {
	typ    entityType
	values []string
}

// rule is one entry of an action's list.
type rule struct {
	subject entity // principals
	object  entity
}

// ACLs is a parsed ACL file. It is immutable; see the package comment.
type ACLs struct {
	permissive bool
	// rules is indexed like specs.
	rules [][]rule
}

// AllowAll returns permissive ACLs with no rules: every principal may do
// everything. It is meant for development.
func AllowAll() *ACLs {
	return &ACLs{permissive: true, rules: make([][]rule, len(specs))}
}

// Default is the master's policy when no --acls file is given: permissive,
// except that no principal may run tasks as root.
func Default() *ACLs {
	a := AllowAll()
	a.rules[specIndex(RunTasks)] = []rule{{
		subject: entity{typ: typeNone},
		object:  entity{typ: typeSome, values: []string{"root"}},
	}}
	return a
}

// Load reads and parses an ACLs file; errors name the path.
func Load(path string) (*ACLs, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("acls: %w", err)
	}
	a, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("acls file %s: %w", path, err)
	}
	return a, nil
}

// Permissive reports what the ACLs decide when no rule matches.
func (a *ACLs) Permissive() bool { return a == nil || a.permissive }

// Allowed reports whether principal may do action on object. It is pure.
func (a *ACLs) Allowed(principal string, action Action, object string) bool {
	ok, _, _ := a.decide(principal, action, object)
	return ok
}

// Why is Allowed with the reason, naming the rule that decided, for 403
// answers and logs.
func (a *ACLs) Why(principal string, action Action, object string) (allowed bool, reason string) {
	ok, si, ri := a.decide(principal, action, object)
	switch {
	case a == nil:
		return true, "no ACLs are configured; everything is allowed"
	case si < 0:
		return false, fmt.Sprintf("unknown action %q", action)
	case ri < 0:
		return ok, fmt.Sprintf("no rule matches; permissive is %t", a.permissive)
	}
	sp := specs[si]
	r := a.rules[si][ri]
	verb := "allows"
	if !ok {
		verb = "denies"
	}
	who := "every principal"
	if r.subject.typ == typeSome {
		who = fmt.Sprintf("principal %q", principal)
	}
	if sp.action == ManageACLs {
		return ok, fmt.Sprintf("%s[%d] %s managing ACLs to %s", sp.action, ri, verb, who)
	}
	return ok, fmt.Sprintf("%s[%d] %s %s %q to %s", sp.action, ri, verb, sp.noun, object, who)
}

// decide returns the decision, the action's index in specs (-1 when the
// action is unknown) and the index of the deciding rule (-1 when no rule
// matched).
func (a *ACLs) decide(principal string, action Action, object string) (allowed bool, si, ri int) {
	if a == nil {
		return true, -1, -1
	}
	si = specIndex(action)
	if si < 0 {
		return false, -1, -1
	}
	kind := specs[si].match
	for i := range a.rules[si] {
		r := &a.rules[si][i]
		if !r.subject.matches(principal, matchExact) || !r.object.matches(object, kind) {
			continue
		}
		return r.subject.typ != typeNone && r.object.typ != typeNone, si, i
	}
	return a.permissive, si, -1
}

// matches reports whether the entity covers v. ANY and NONE cover
// everything (NONE then denies); SOME never covers the empty string, which
// is how an unauthenticated principal escapes named rules.
func (e *entity) matches(v string, kind matchKind) bool {
	if e.typ != typeSome {
		return true
	}
	if v == "" {
		return false
	}
	for _, x := range e.values {
		if valueCovers(x, v, kind) {
			return true
		}
	}
	return false
}

// valueCovers reports whether the rule value x covers the object v.
func valueCovers(x, v string, kind matchKind) bool {
	if x == v {
		return true
	}
	switch kind {
	case matchApp:
		if x == "/" {
			return true
		}
		return len(v) > len(x) && v[len(x)] == '/' && strings.HasPrefix(v, x)
	case matchJob:
		return len(v) > len(x) && (v[len(x)] == '.' || v[len(x)] == '/') && strings.HasPrefix(v, x)
	}
	return false
}

// Authorizer holds the ACLs in force for concurrent readers. The zero
// value and a nil *Authorizer allow everything until Set is called.
type Authorizer struct {
	p atomic.Pointer[ACLs]
}

// NewAuthorizer returns an Authorizer deciding with a (nil allows all).
func NewAuthorizer(a *ACLs) *Authorizer {
	z := &Authorizer{}
	z.p.Store(a)
	return z
}

// ACLs returns the ACLs in force (nil means allow everything).
func (z *Authorizer) ACLs() *ACLs {
	if z == nil {
		return nil
	}
	return z.p.Load()
}

// Set swaps in new ACLs; decisions already under way finish with the old.
func (z *Authorizer) Set(a *ACLs) { z.p.Store(a) }

// Allowed decides with the ACLs in force.
func (z *Authorizer) Allowed(principal string, action Action, object string) bool {
	return z.ACLs().Allowed(principal, action, object)
}

// Why decides with the ACLs in force and says which rule decided.
func (z *Authorizer) Why(principal string, action Action, object string) (bool, string) {
	return z.ACLs().Why(principal, action, object)
}
