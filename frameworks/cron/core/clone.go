package core

import (
	"maps"
	"slices"

	"agora/frameworks/cron/job"
)

// The views and Decisions hand out copies, so the driver and the API never
// share memory with the core.

func cloneRun(r Run) Run {
	r.Tasks = slices.Clone(r.Tasks)
	for i := range r.Tasks {
		if ec := r.Tasks[i].ExitCode; ec != nil {
			v := *ec
			r.Tasks[i].ExitCode = &v
		}
	}
	return r
}

func cloneCursor(c Cursor) Cursor {
	c.Schedules = maps.Clone(c.Schedules)
	c.Parents = maps.Clone(c.Parents)
	return c
}

func cloneJob(j *job.Job) *job.Job {
	if j == nil {
		return nil
	}
	out := *j
	out.Labels = maps.Clone(j.Labels)
	out.Schedules = slices.Clone(j.Schedules)
	for i, s := range out.Schedules {
		if s.Enabled != nil {
			v := *s.Enabled
			out.Schedules[i].Enabled = &v
		}
	}
	out.Dependencies = slices.Clone(j.Dependencies)
	r := &out.Run
	r.Args = slices.Clone(j.Run.Args)
	r.Env = maps.Clone(j.Run.Env)
	r.Secrets = maps.Clone(j.Run.Secrets)
	r.Volumes = slices.Clone(j.Run.Volumes)
	if j.Run.Docker != nil {
		d := *j.Run.Docker
		r.Docker = &d
	}
	if j.Run.Placement != nil {
		p := *j.Run.Placement
		p.Constraints = slices.Clone(p.Constraints)
		r.Placement = &p
	}
	if j.Run.Restart.Retries != nil {
		v := *j.Run.Restart.Retries
		r.Restart.Retries = &v
	}
	return &out
}
