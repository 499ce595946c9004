package core

import (
	"math"
	"strconv"
	"strings"
	"time"

	"agora/frameworks/cron/job"
)

// The effective settings of a job: the job package applies defaults when
// it parses JSON, but a job built in Go may leave them zero.

func startingDeadline(s job.Schedule) int {
	if s.StartingDeadlineSeconds > 0 {
		return s.StartingDeadlineSeconds
	}
	return job.DefaultStartingDeadlineSeconds
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

// policyFor is the concurrency policy a run is subject to: its schedule's,
// else (manual and dependency runs) the job's first schedule's, else ALLOW.
func policyFor(j *job.Job, scheduleID string) string {
	p := ""
	for _, s := range j.Schedules {
		if s.ID == scheduleID {
			p = s.ConcurrencyPolicy
			break
		}
	}
	if scheduleID == "" && len(j.Schedules) > 0 {
		p = j.Schedules[0].ConcurrencyPolicy
	}
	if p == "" {
		return job.Allow
	}
	return p
}

func maxLaunchDelay(r job.Run) int {
	if r.MaxLaunchDelay > 0 {
		return r.MaxLaunchDelay
	}
	return job.DefaultMaxLaunchDelay
}

func retries(r job.Run) int {
	if r.Restart.Retries != nil {
		return *r.Restart.Retries
	}
	return job.DefaultRetries
}

// backoff is the wait before the attempt after the n-th failure:
// BackoffSeconds * BackoffFactor^(n-1), capped at MaxLaunchDelay.
func backoff(r job.Run, n int) time.Duration {
	base, factor := r.Restart.BackoffSeconds, r.Restart.BackoffFactor
	if base <= 0 {
		base = job.DefaultBackoffSeconds
	}
	if factor <= 0 {
		factor = job.DefaultBackoffFactor
	}
	s := base * math.Pow(factor, float64(max(n, 1)-1))
	if m := float64(maxLaunchDelay(r)); s > m || math.IsInf(s, 0) || math.IsNaN(s) {
		s = m
	}
	return time.Duration(s * float64(time.Second))
}

// exitCode parses "... exited with status N" ("Command exited with status
// 3", "exited with status 137"); nil when the message has none.
func exitCode(msg string) *int {
	const marker = "exited with status "
	i := strings.LastIndex(msg, marker)
	if i < 0 {
		return nil
	}
	rest := msg[i+len(marker):]
	end := 0
	for end < len(rest) && (rest[end] >= '0' && rest[end] <= '9' || end == 0 && rest[end] == '-') {
		end++
	}
	n, err := strconv.Atoi(rest[:end])
	if err != nil {
		return nil
	}
	return &n
}

// idTime is the fire time's form in run ids.
const idTime = "20060102T150405Z"

// scheduledRunID derives a scheduled run's id from its schedule and fire
// time, so one fire can only ever make one run.
func scheduledRunID(scheduleID string, at time.Time) string {
	return at.UTC().Format(idTime) + "-" + scheduleID
}

// otherRunID is "<time>-<trigger>-<n>" with the first n unused by the job.
func (js *jobState) otherRunID(trigger string, now time.Time) string {
	base := now.UTC().Format(idTime) + "-" + trigger + "-"
	for n := 1; ; n++ {
		id := base + strconv.Itoa(n)
		if js.runs[id] == nil {
			return id
		}
	}
}

// taskID is "<jobId>.<runId>.<attempt>" with every character outside
// [A-Za-z0-9._-] replaced by '_', so it is a safe Mesos task id and path.
func taskID(jobID, runID string, attempt int) string {
	s := []byte(jobID + "." + runID + "." + strconv.Itoa(attempt))
	for i, b := range s {
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '.', b == '_', b == '-':
		default:
			s[i] = '_'
		}
	}
	return string(s)
}
