// Package access is how a built-in framework's API acts for its caller:
// who is calling, whether they may see an object (an app, a job), and
// whether they may change it and run its tasks as its user. The API owns
// its answers; this package only decides and words the refusal.
//
// Contract:
//   - A nil Authorizer allows everything (authentication off, dev mode).
//   - Write checks every object: manage on its id, then run_tasks as its
//     user, and reports the first refusal; nothing is decided as changed
//     before it returns.
//   - Denial messages name the principal, the action, the object and the
//     Authorizer's reason, for a 403 body.
package access

import (
	"fmt"
	"net/http"
)

// Authorizer decides what a principal may do; core/acl's Authorizer
// serves through an adapter.
type Authorizer interface {
	// Allowed reports whether principal may do action on object, and why not.
	Allowed(principal, action, object string) (ok bool, reason string)
}

// RunTasks is the action asked about the user an object's tasks run as.
const RunTasks = "run_tasks"

// Guard applies an Authorizer to one kind of object.
type Guard struct {
	Authorizer Authorizer
	// Principal names the caller of a request; nil: "".
	Principal func(*http.Request) string
	// Kind names the objects in messages ("app", "job"); View and Manage
	// are the actions asked about them ("view_apps", "manage_apps").
	Kind, View, Manage string
}

// Object is one thing a write touches: its id and the user its tasks run as.
type Object struct{ ID, User string }

// Denied is a refusal, worded for a 403 body.
type Denied struct {
	Principal, Action, Kind, ID, User, Reason string
}

func (d *Denied) Error() string {
	who := fmt.Sprintf("principal %q", d.Principal)
	if d.Principal == "" {
		who = "the anonymous principal"
	}
	what := fmt.Sprintf("%s on %s '%s'", d.Action, d.Kind, d.ID)
	if d.Action == RunTasks {
		what = fmt.Sprintf("%s as user %q for %s '%s'", d.Action, d.User, d.Kind, d.ID)
	}
	msg := fmt.Sprintf("Access denied: %s may not %s", who, what)
	if d.Reason != "" {
		msg += ": " + d.Reason
	}
	return msg
}

// Who is the request's principal.
func (g Guard) Who(r *http.Request) string {
	if g.Principal == nil {
		return ""
	}
	return g.Principal(r)
}

func (g Guard) allowed(p, action, object string) (bool, string) {
	if g.Authorizer == nil {
		return true, ""
	}
	return g.Authorizer.Allowed(p, action, object)
}

// Filter returns a may-view test bound to the request's caller, for lists.
func (g Guard) Filter(r *http.Request) func(id string) bool {
	if g.Authorizer == nil {
		return func(string) bool { return true }
	}
	p := g.Who(r)
	return func(id string) bool {
		ok, _ := g.Authorizer.Allowed(p, g.View, id)
		return ok
	}
}

// Read is nil when the caller may see the object id.
func (g Guard) Read(r *http.Request, id string) *Denied {
	p := g.Who(r)
	if ok, why := g.allowed(p, g.View, id); !ok {
		return &Denied{Principal: p, Action: g.View, Kind: g.Kind, ID: id, Reason: why}
	}
	return nil
}

// Write is nil when the caller may manage every object and run tasks as
// each one's user.
func (g Guard) Write(r *http.Request, objs ...Object) *Denied {
	if g.Authorizer == nil {
		return nil
	}
	p := g.Who(r)
	for _, o := range objs {
		if ok, why := g.allowed(p, g.Manage, o.ID); !ok {
			return &Denied{Principal: p, Action: g.Manage, Kind: g.Kind, ID: o.ID, Reason: why}
		}
		if ok, why := g.allowed(p, RunTasks, o.User); !ok {
			return &Denied{Principal: p, Action: RunTasks, Kind: g.Kind, ID: o.ID, User: o.User, Reason: why}
		}
	}
	return nil
}
