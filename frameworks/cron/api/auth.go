package api

import (
	"net/http"

	"agora/frameworks/access"
	"agora/frameworks/cron/job"
	"agora/frameworks/httpapi"
)

// Authorizer decides what the calling principal may do; nil allows
// everything.
type Authorizer = access.Authorizer

// Actions an Authorizer is asked about: view and manage a job (the object
// is its id), and run its tasks as a user (its run.user, else
// Options.DefaultUser).
const (
	ActionViewJobs   = "view_jobs"
	ActionManageJobs = "manage_jobs"
	ActionRunTasks   = access.RunTasks
)

// guard applies the Options' Authorizer to jobs.
func (s *server) guard() access.Guard {
	return access.Guard{Authorizer: s.opts.Authorizer, Principal: s.opts.Principal, Kind: "job", View: ActionViewJobs, Manage: ActionManageJobs}
}

// viewFilter returns a may-view test bound to the request's caller.
func (s *server) viewFilter(r *http.Request) func(id string) bool { return s.guard().Filter(r) }

// runAs is the user j's tasks run as: its own, else the framework's.
func (s *server) runAs(j *job.Job) string {
	if j.Run.User != "" {
		return j.Run.User
	}
	return s.opts.DefaultUser
}

// mayView answers 403 and returns false when the caller may not see the
// job id.
func (s *server) mayView(w http.ResponseWriter, r *http.Request, id string) bool {
	return httpapi.Permitted(w, s.guard().Read(r, id))
}

// mayWrite answers 403 and returns false unless the caller may manage
// every job given and run tasks as each one's user. Nil jobs are skipped
// (no current definition). Nothing is changed before it returns true.
func (s *server) mayWrite(w http.ResponseWriter, r *http.Request, jobs ...*job.Job) bool {
	if s.opts.Authorizer == nil {
		return true
	}
	var objs []access.Object
	for _, j := range jobs {
		if j != nil {
			objs = append(objs, access.Object{ID: j.ID, User: s.runAs(j)})
		}
	}
	return httpapi.Permitted(w, s.guard().Write(r, objs...))
}
