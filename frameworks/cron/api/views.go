package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"agora/core/client"
	"agora/frameworks/cron/core"
	"agora/frameworks/cron/job"
)

// nextRunsShown is how many fire times GET /v1/jobs/{id} lists.
const nextRunsShown = 5

// JobView is a job as the API shows it: the (masked) definition with what
// ?embed= asked for. Its JSON is the job's own fields followed by the
// embedded ones, so a client that knows only Metronome's job JSON reads it.
type JobView struct {
	job.Job
	// ActiveRuns: embed=activeRuns, newest first.
	ActiveRuns []core.Run `json:"activeRuns,omitzero"`
	// History: embed=history.
	History *HistoryView `json:"history,omitempty"`
	// HistorySummary: embed=historySummary (the counts only).
	HistorySummary *HistorySummary `json:"historySummary,omitempty"`
	// NextRuns are the next fire times over the enabled schedules (Agora):
	// always on GET /v1/jobs/{id}, on lists with embed=nextRuns.
	NextRuns []time.Time `json:"nextRuns,omitzero"`
}

// jobViewExtras are JobView's fields besides the definition's.
type jobViewExtras struct {
	ActiveRuns     []core.Run      `json:"activeRuns,omitzero"`
	History        *HistoryView    `json:"history,omitempty"`
	HistorySummary *HistorySummary `json:"historySummary,omitempty"`
	NextRuns       []time.Time     `json:"nextRuns,omitzero"`
}

// viewKeys are the JSON names jobViewExtras adds; a definition read from a
// GET and sent back drops them.
var viewKeys = []string{"activeRuns", "history", "historySummary", "nextRuns"}

// MarshalJSON renders the definition's JSON with the embedded fields
// appended to the same object.
func (v JobView) MarshalJSON() ([]byte, error) {
	def, err := json.Marshal(&v.Job)
	if err != nil {
		return nil, fmt.Errorf("encode job %s: %w", v.ID, err)
	}
	extra, err := json.Marshal(jobViewExtras{v.ActiveRuns, v.History, v.HistorySummary, v.NextRuns})
	if err != nil {
		return nil, fmt.Errorf("encode job %s: %w", v.ID, err)
	}
	return mergeObjects(def, extra), nil
}

// mergeObjects joins two encoded JSON objects' members into one object.
func mergeObjects(a, b []byte) []byte {
	a, b = bytes.TrimSpace(a), bytes.TrimSpace(b)
	if len(b) <= 2 {
		return a
	}
	if len(a) <= 2 {
		return b
	}
	out := make([]byte, 0, len(a)+len(b))
	out = append(out, a[:len(a)-1]...)
	out = append(out, ',')
	return append(out, b[1:]...)
}

// UnmarshalJSON reads a JobView; the definition is decoded without the
// embedded fields, so it decodes whatever way job.Job does.
func (v *JobView) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	var extra jobViewExtras
	if err := json.Unmarshal(data, &extra); err != nil {
		return err
	}
	for _, k := range viewKeys {
		delete(m, k)
	}
	def, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var j job.Job
	if err := json.Unmarshal(def, &j); err != nil {
		return err
	}
	*v = JobView{Job: j, ActiveRuns: extra.ActiveRuns, History: extra.History, HistorySummary: extra.HistorySummary, NextRuns: extra.NextRuns}
	return nil
}

// HistorySummary is Metronome's embed=historySummary; times are null when
// there was no such run.
type HistorySummary struct {
	SuccessCount  int        `json:"successCount"`
	FailureCount  int        `json:"failureCount"`
	LastSuccessAt *time.Time `json:"lastSuccessAt"`
	LastFailureAt *time.Time `json:"lastFailureAt"`
}

// HistoryView is Metronome's embed=history: the summary and the finished
// runs the framework keeps, newest first. Every finished run other than a
// success (failed, missed, skipped, stopped) is among the failed ones; its
// status says which.
type HistoryView struct {
	HistorySummary
	SuccessfulFinishedRuns []FinishedRun `json:"successfulFinishedRuns"`
	FailedFinishedRuns     []FinishedRun `json:"failedFinishedRuns"`
}

// FinishedRun is one entry of a history: Metronome's id, createdAt,
// finishedAt and tasks, with Agora's status, trigger, start and message.
type FinishedRun struct {
	ID          string         `json:"id"`
	Status      string         `json:"status"`
	Trigger     string         `json:"trigger,omitempty"`
	ScheduledAt time.Time      `json:"scheduledAt,omitzero"`
	CreatedAt   time.Time      `json:"createdAt"`
	StartedAt   time.Time      `json:"startedAt,omitzero"`
	FinishedAt  time.Time      `json:"finishedAt"`
	Tasks       []FinishedTask `json:"tasks"`
	Message     string         `json:"message,omitempty"`
	Missed      int            `json:"missed,omitempty"`
}

// FinishedTask is one attempt of a finished run.
type FinishedTask struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	ExitCode *int   `json:"exitCode,omitempty"`
	AgentID  string `json:"agentId,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	Message  string `json:"message,omitempty"`
	// Logs reads the task's stdout from its agent's sandbox API (Agora).
	Logs string `json:"logs,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func summaryView(h core.History) *HistorySummary {
	return &HistorySummary{SuccessCount: h.SuccessCount, FailureCount: h.FailureCount,
		LastSuccessAt: timePtr(h.LastSuccessAt), LastFailureAt: timePtr(h.LastFailureAt)}
}

func historyView(h core.History, runs []core.Run, frameworkID string) *HistoryView {
	v := &HistoryView{HistorySummary: *summaryView(h), SuccessfulFinishedRuns: []FinishedRun{}, FailedFinishedRuns: []FinishedRun{}}
	for _, r := range runs {
		fr := finishedRun(r, frameworkID)
		if r.Status == core.StatusSuccess {
			v.SuccessfulFinishedRuns = append(v.SuccessfulFinishedRuns, fr)
		} else {
			v.FailedFinishedRuns = append(v.FailedFinishedRuns, fr)
		}
	}
	return v
}

func finishedRun(r core.Run, frameworkID string) FinishedRun {
	fr := FinishedRun{ID: r.ID, Status: r.Status, Trigger: r.Trigger, ScheduledAt: r.ScheduledAt, CreatedAt: r.CreatedAt,
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Tasks: make([]FinishedTask, 0, len(r.Tasks)), Message: r.Message, Missed: r.Missed}
	for _, t := range r.Tasks {
		ft := FinishedTask{ID: t.ID, Status: t.State, ExitCode: t.ExitCode, AgentID: t.AgentID, Hostname: t.Hostname, Message: t.Message}
		if t.Agent != "" && frameworkID != "" {
			ft.Logs = t.Agent + client.FilesReadPath + "?" + url.Values{"path": {client.SandboxPath(frameworkID, t.ID, "stdout")}}.Encode()
		}
		fr.Tasks = append(fr.Tasks, ft)
	}
	return fr
}

// embeds are what ?embed= asked for.
type embeds struct {
	activeRuns, history, historySummary, nextRuns bool
}

// view is a job as an answer shows it: masked, with the embeds.
func (s *server) view(j *job.Job, e embeds) JobView {
	v := JobView{Job: *j.Masked()}
	if e.activeRuns {
		v.ActiveRuns = s.b.Runs(j.ID)
		if v.ActiveRuns == nil {
			v.ActiveRuns = []core.Run{}
		}
	}
	if e.history || e.historySummary {
		h, runs := s.b.History(j.ID)
		if e.history {
			v.History = historyView(h, runs, s.b.Info().FrameworkID)
		} else {
			v.HistorySummary = summaryView(h)
		}
	}
	if e.nextRuns {
		v.NextRuns = s.b.NextFires(j.ID, nextRunsShown)
		if v.NextRuns == nil {
			v.NextRuns = []time.Time{}
		}
	}
	return v
}
