package api

import (
	"net/http"

	"agora/frameworks/access"
	"agora/frameworks/httpapi"
	"agora/frameworks/services/app"
)

// Authorizer decides what the calling principal may do; nil allows
// everything.
type Authorizer = access.Authorizer

// Actions an Authorizer is asked about: view and manage an app (the
// object is its id), and run its tasks as a user (the app's user, else the
// framework's).
const (
	ActionViewApps   = "view_apps"
	ActionManageApps = "manage_apps"
	ActionRunTasks   = access.RunTasks
)

// guard applies the Options' Authorizer to apps.
func (s *server) guard() access.Guard {
	return access.Guard{Authorizer: s.opts.Authorizer, Principal: s.opts.Principal, Kind: "app", View: ActionViewApps, Manage: ActionManageApps}
}

// viewFilter returns a may-view test bound to the request's caller.
func (s *server) viewFilter(r *http.Request) func(id string) bool { return s.guard().Filter(r) }

// runAs is the user a's tasks run as: its own, else the framework's.
func (s *server) runAs(a *app.App) string {
	if a.User != "" {
		return a.User
	}
	return s.b.Info().MarathonConfig.MesosUser
}

// mayView answers 403 and returns false when the caller may not see the
// app id.
func (s *server) mayView(w http.ResponseWriter, r *http.Request, id string) bool {
	return httpapi.Permitted(w, s.guard().Read(r, id))
}

// mayWrite answers 403 and returns false unless the caller may manage
// every app given and run tasks as each one's user. Nothing is changed
// before it returns true.
func (s *server) mayWrite(w http.ResponseWriter, r *http.Request, apps ...*app.App) bool {
	if s.opts.Authorizer == nil {
		return true
	}
	objs := make([]access.Object, len(apps))
	for i, a := range apps {
		objs[i] = access.Object{ID: a.ID(), User: s.runAs(a)}
	}
	return httpapi.Permitted(w, s.guard().Write(r, objs...))
}
