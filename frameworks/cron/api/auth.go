package api

import (
	"fmt"
	"net/http"

	"agora/frameworks/cron/job"
)

// Authorizer decides what the calling principal may do; nil allows everything.
type Authorizer interface {
	// Allowed reports whether principal may do action on object, and why not.
	Allowed(principal, action, object string) (ok bool, reason string)
}

// Actions an Authorizer is asked about.
const (
	// ActionViewJobs: object is the job id.
	ActionViewJobs = "view_jobs"
	// ActionManageJobs: object is the job id.
	ActionManageJobs = "manage_jobs"
	// ActionRunTasks: object is the user the job's tasks run as (its
	// run.user, else Options.DefaultUser).
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

// viewFilter returns a may-view test bound to one request's principal, for
// lists.
func (s *server) viewFilter(r *http.Request) func(id string) bool {
	if s.opts.Authorizer == nil {
		return func(string) bool { return true }
	}
	p := s.principal(r)
	return func(id string) bool {
		ok, _ := s.opts.Authorizer.Allowed(p, ActionViewJobs, id)
		return ok
	}
}

// runAs is the user j's tasks run as: its own, else the framework's.
func (s *server) runAs(j *job.Job) string {
	if j.Run.User != "" {
		return j.Run.User
	}
	return s.opts.DefaultUser
}

// mayView answers 403 and returns false when the principal may not see the
// job id.
func (s *server) mayView(w http.ResponseWriter, r *http.Request, id string) bool {
	p := s.principal(r)
	if ok, why := s.allowed(p, ActionViewJobs, id); !ok {
		forbidden(w, p, ActionViewJobs, id, "", why)
		return false
	}
	return true
}

// mayWrite answers 403 and returns false unless the principal may manage
// every job given and run tasks as each one's user. Nil jobs are skipped
// (no current definition). Nothing is changed before it returns true.
func (s *server) mayWrite(w http.ResponseWriter, r *http.Request, jobs ...*job.Job) bool {
	if s.opts.Authorizer == nil {
		return true
	}
	p := s.principal(r)
	for _, j := range jobs {
		if j == nil {
			continue
		}
		if ok, why := s.allowed(p, ActionManageJobs, j.ID); !ok {
			forbidden(w, p, ActionManageJobs, j.ID, "", why)
			return false
		}
		user := s.runAs(j)
		if ok, why := s.allowed(p, ActionRunTasks, user); !ok {
			forbidden(w, p, ActionRunTasks, j.ID, user, why)
			return false
		}
	}
	return true
}

// forbidden answers 403 with a message naming the job, the action and the
// Authorizer's reason.
func forbidden(w http.ResponseWriter, principal, action, jobID, user, reason string) {
	who := fmt.Sprintf("principal %q", principal)
	if principal == "" {
		who = "the anonymous principal"
	}
	what := fmt.Sprintf("%s on job '%s'", action, jobID)
	if action == ActionRunTasks {
		what = fmt.Sprintf("%s as user %q for job '%s'", action, user, jobID)
	}
	msg := fmt.Sprintf("Access denied: %s may not %s", who, what)
	if reason != "" {
		msg += ": " + reason
	}
	writeMessage(w, http.StatusForbidden, msg)
}
