package core

import (
	"errors"
	"fmt"
	"time"

	"agora/core/mesos"
)

// This file is the shared contract of the cron framework's core: the
// records the driver stores and the API shows, and what the core decides.

// Run statuses. INITIAL..FAILED are Metronome's; MISSED, SKIPPED and
// STOPPED are Agora's: a fire that could not start within its
// startingDeadlineSeconds, a fire that FORBID turned away, and a run
// stopped by a user or replaced by REPLACE.
const (
	StatusInitial  = "INITIAL"  // stored, waiting for an offer (or its backoff)
	StatusStarting = "STARTING" // its task is launched, not yet running
	StatusActive   = "ACTIVE"   // its task runs
	StatusSuccess  = "SUCCESS"
	StatusFailed   = "FAILED"
	StatusMissed   = "MISSED"
	StatusSkipped  = "SKIPPED"
	StatusStopped  = "STOPPED"
)

// Finished reports whether a run status is final.
func Finished(status string) bool {
	switch status {
	case StatusSuccess, StatusFailed, StatusMissed, StatusSkipped, StatusStopped:
		return true
	}
	return false
}

// Triggers: what made a run.
const (
	TriggerSchedule   = "schedule"   // Run.ScheduleID names the schedule
	TriggerManual     = "manual"     // POST /v1/jobs/{id}/runs
	TriggerDependency = "dependency" // all parents succeeded
)

// Run is one run of a job: its intent (stored before anything launches)
// and what became of it. One run may take several attempts (tasks) when
// its restart policy retries.
type Run struct {
	// ID is unique per job. A scheduled run's id is derived from its
	// schedule and fire time ("<yyyymmddThhmmssZ>-<scheduleId>"), so the
	// same fire can never make two runs, even across failovers; other runs
	// get "<yyyymmddThhmmssZ>-<trigger>-<n>".
	ID          string    `json:"id"`
	JobID       string    `json:"jobId"`
	Trigger     string    `json:"trigger"`
	ScheduleID  string    `json:"scheduleId,omitempty"`
	ScheduledAt time.Time `json:"scheduledAt,omitzero"` // the fire time; zero for manual runs
	CreatedAt   time.Time `json:"createdAt"`
	Status      string    `json:"status"`
	// StartedAt is when the first attempt reached TASK_RUNNING; FinishedAt
	// when the run reached a final status.
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// NextAttemptAt is when a retry may launch (backoff); zero: now.
	NextAttemptAt time.Time `json:"nextAttemptAt,omitzero"`
	// Tasks are the attempts, oldest first.
	Tasks []Task `json:"tasks,omitempty"`
	// Message says why a run failed, was missed, skipped or stopped.
	Message string `json:"message,omitempty"`
	// Missed counts the fires this MISSED record stands for (when a
	// master was away for many fires, they are summarised).
	Missed int `json:"missed,omitempty"`
	// Killing is the status the run ends in once the task the core killed
	// ends (STOPPED or FAILED; Message says why); stored so a failover
	// does not mistake our own kill for a failure.
	Killing string `json:"killing,omitempty"`
	// Failures counts the attempts that failed (an attempt found never
	// started after a failover is relaunched without counting).
	Failures int `json:"failures,omitempty"`
}

// Task is one attempt of a run.
type Task struct {
	ID       string `json:"id"`
	AgentID  string `json:"agentId,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	// Agent is the base URL of the agent's API (sandbox files), from the
	// offer the task was launched on.
	Agent       string    `json:"agent,omitempty"`
	State       string    `json:"status"` // the latest Mesos task state
	LaunchedAt  time.Time `json:"launchedAt,omitzero"`
	StartedAt   time.Time `json:"startedAt,omitzero"`
	CompletedAt time.Time `json:"completedAt,omitzero"`
	// ExitCode is parsed from the terminal status message ("Command
	// exited with status N"); nil when unknown (killed, lost).
	ExitCode *int   `json:"exitCode,omitempty"`
	Message  string `json:"message,omitempty"`
}

// Cursor is a job's progress, stored with its runs: up to which fire time
// each schedule has been handled, and which parents have succeeded since
// the job's last dependency-triggered run.
type Cursor struct {
	JobID     string               `json:"jobId"`
	Schedules map[string]time.Time `json:"schedules,omitempty"`
	Parents   map[string]string    `json:"parents,omitempty"` // parent job id -> id of its successful run
	// History is the job's summary, kept here so it survives the trimming
	// of old runs.
	History History `json:"history,omitzero"`
}

// History summarises a job's finished runs (Metronome's embed=history).
type History struct {
	SuccessCount  int       `json:"successCount"`
	FailureCount  int       `json:"failureCount"`
	LastSuccessAt time.Time `json:"lastSuccessAt,omitzero"`
	LastFailureAt time.Time `json:"lastFailureAt,omitzero"`
}

// Launch is one task to launch on an offer.
type Launch struct {
	OfferID mesos.OfferID
	Task    mesos.TaskInfo
}

// Kill is one task to kill.
type Kill struct {
	TaskID  string
	AgentID string
}

// Decisions are what one call to the core asks the driver to do, in this
// order: write Persist (runs, then cursors; deletions last), then send
// Launch (grouped per offer), Decline, Kill, Reconcile, then Suppress or
// Revive.
type Decisions struct {
	PersistRuns    []Run
	PersistCursors []Cursor
	DeleteRuns     []RunRef // history trimmed, or its job deleted
	DeleteCursors  []string // job ids: the cursors of deleted jobs
	Launch         []Launch
	Decline        []mesos.OfferID
	Kill           []Kill
	// Reconcile asks the master about these tasks (after Recover).
	Reconcile []mesos.ReconcileTask
	Suppress  bool
	Revive    bool
}

// RunRef names a stored run.
type RunRef struct {
	JobID, RunID string
}

// ErrNotFound is wrapped by errors about unknown jobs, schedules and runs.
var ErrNotFound = errors.New("not found")

func notFound(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotFound, fmt.Sprintf(format, args...))
}
