package api

import (
	"fmt"
	"net/http"

	"agora/frameworks/services/app"
)

// Authorizer decides what the calling principal may do; nil allows everything.
type Authorizer interface {
	// Allowed reports whether principal may do action on object, and why not.
	Allowed(principal, action, object string) (ok bool, reason string)
}

// Actions an Authorizer is asked about.
const (
	// ActionViewApps: object is the app id.
	ActionViewApps = "view_apps"
	// ActionManageApps: object is the app id.
	ActionManageApps = "manage_apps"
	// ActionRunTasks: object is the user the app's tasks run as (the app's
	// user, else the framework's).
	ActionRunTasks = "run_tasks"
)

// principal is who the request acts for ("" without Options.Principal).
func (s *server) principal(r *http.Request) string {
	if s.opts.Principal == nil {
		return ""
	}
	return s.opts.Principal(r)
}

// allowed asks the Authorizer; nil allows everything.
func (s *server) allowed(principal, action, object string) (bool, string) {
	if s.opts.Authorizer == nil {
		return true, ""
	}
	return s.opts.Authorizer.Allowed(principal, action, object)
}

// viewFilter returns canView bound to one request's principal, for lists.
func (s *server) viewFilter(r *http.Request) func(id string) bool {
	if s.opts.Authorizer == nil {
		return func(string) bool { return true }
	}
	p := s.principal(r)
	return func(id string) bool {
		ok, _ := s.opts.Authorizer.Allowed(p, ActionViewApps, id)
		return ok
	}
}

// runAs is the user a's tasks run as: its own, else the framework's.
func (s *server) runAs(a *app.App) string {
	if a.User != "" {
		return a.User
	}
	return s.b.Info().MarathonConfig.MesosUser
}

// mayView answers 403 and returns false when the principal may not see the
// app id.
func (s *server) mayView(w http.ResponseWriter, r *http.Request, id string) bool {
	p := s.principal(r)
	if ok, why := s.allowed(p, ActionViewApps, id); !ok {
		forbidden(w, p, ActionViewApps, id, "", why)
		return false
	}
	return true
}

// mayWrite answers 403 and returns false unless the principal may manage
// every app given and run tasks as each one's user. Nothing is changed
// before it returns true.
func (s *server) mayWrite(w http.ResponseWriter, r *http.Request, apps ...*app.App) bool {
	if s.opts.Authorizer == nil {
		return true
	}
	p := s.principal(r)
	for _, a := range apps {
		id := a.ID()
		if ok, why := s.allowed(p, ActionManageApps, id); !ok {
			forbidden(w, p, ActionManageApps, id, "", why)
			return false
		}
		user := s.runAs(a)
		if ok, why := s.allowed(p, ActionRunTasks, user); !ok {
			forbidden(w, p, ActionRunTasks, id, user, why)
			return false
		}
	}
	return true
}

// forbidden answers 403 with Marathon's message body naming the app, the
// action and the Authorizer's reason.
func forbidden(w http.ResponseWriter, principal, action, appID, user, reason string) {
	who := fmt.Sprintf("principal %q", principal)
	if principal == "" {
		who = "the anonymous principal"
	}
	what := fmt.Sprintf("%s on app '%s'", action, appID)
	if action == ActionRunTasks {
		what = fmt.Sprintf("%s as user %q for app '%s'", action, user, appID)
	}
	msg := fmt.Sprintf("Access denied: %s may not %s", who, what)
	if reason != "" {
		msg += ": " + reason
	}
	writeMessage(w, http.StatusForbidden, msg)
}
