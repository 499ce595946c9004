package core

import (
	"cmp"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"agora/core/mesos"
	"agora/core/resources"
	"agora/frameworks/cron/job"
	"agora/frameworks/services/placement"
)

// Task labels naming a task's job and run.
const (
	LabelJob = "agora.cron.job"
	LabelRun = "agora.cron.run"
)

func offerRole(o mesos.Offer) string {
	for _, r := range o.Resources {
		if r.AllocationInfo != nil && r.AllocationInfo.Role != "" {
			return r.AllocationInfo.Role
		}
	}
	return ""
}

// slot is what is left of one offer during a call.
type slot struct {
	offer mesos.Offer
	agent placement.Agent
	left  resources.Resources
	role  string
	used  bool
}

// Offers launches waiting runs, oldest first, on offers that hold their
// resources and meet their constraints; every other offer is declined.
func (c *Core) Offers(offers []mesos.Offer, now time.Time) Decisions {
	c.timers(now) // a run past its deadline must not launch late
	slots := make([]slot, 0, len(offers))
	for _, o := range offers {
		po, err := placement.OfferFromMesos(o)
		role := offerRole(o)
		if err != nil || (role != "" && role != c.cfg.Role) {
			c.out.decline = append(c.out.decline, o.ID)
			continue
		}
		c.agents[po.Agent.ID] = po.Agent
		slots = append(slots, slot{offer: o, agent: po.Agent, left: po.Resources, role: cmp.Or(role, c.cfg.Role)})
	}
	var waiting []*Run
	for _, r := range c.active {
		if launchable(r, now) {
			waiting = append(waiting, r)
		}
	}
	slices.SortFunc(waiting, func(a, b *Run) int {
		if r := runOrder(a, b); r != 0 {
			return r
		}
		return strings.Compare(a.JobID, b.JobID)
	})
	placed := map[string][]placement.Placement{}
	for _, r := range waiting {
		if len(slots) == 0 {
			break
		}
		js := c.jobs[r.JobID]
		need := resources.Resources{CPUs: js.job.Run.CPUs, Mem: js.job.Run.Mem, Disk: js.job.Run.Disk}
		ps, seen := placed[r.JobID]
		if !seen && len(js.cons) > 0 {
			ps = c.placements(js)
		}
		for i := range slots {
			s := &slots[i]
			if !s.left.Contains(need) || !fits(js.cons, s.agent, ps) {
				continue
			}
			s.left = s.left.Sub(need)
			s.used = true
			c.launch(js, r, s, need, now)
			if len(js.cons) > 0 {
				placed[r.JobID] = append(ps, placement.Placement{Agent: s.agent})
			}
			break
		}
	}
	for _, s := range slots {
		if !s.used {
			c.out.decline = append(c.out.decline, s.offer.ID)
		}
	}
	return c.finish(now)
}

func fits(cons []placement.Constraint, a placement.Agent, placed []placement.Placement) bool {
	for _, k := range cons {
		if !k.Check(a, placed).OK {
			return false
		}
	}
	return true
}

// placements are the agents js's live tasks run on, as constraints see
// them (with the attributes offers showed, when known).
func (c *Core) placements(js *jobState) []placement.Placement {
	var out []placement.Placement
	for _, r := range js.activeRuns() {
		t := liveTask(r)
		if t == nil || t.AgentID == "" {
			continue
		}
		a, ok := c.agents[t.AgentID]
		if !ok {
			a = placement.Agent{ID: t.AgentID, Hostname: t.Hostname}
		}
		out = append(out, placement.Placement{Agent: a})
	}
	return out
}

// launch makes r's next attempt on s: the run is STARTING and persisted in
// the same Decisions as the launch, so it is stored first.
func (c *Core) launch(js *jobState, r *Run, s *slot, need resources.Resources, now time.Time) {
	tid := taskID(r.JobID, r.ID, len(r.Tasks)+1)
	r.Tasks = append(r.Tasks, Task{ID: tid, AgentID: s.agent.ID, Hostname: s.agent.Hostname, Agent: agentURL(s.offer), State: mesos.TaskStaging, LaunchedAt: now})
	r.Status, r.NextAttemptAt = StatusStarting, time.Time{}
	c.byTask[tid] = RunRef{JobID: r.JobID, RunID: r.ID}
	c.persistRun(r)
	c.out.launch = append(c.out.launch, Launch{OfferID: s.offer.ID, Task: c.taskInfo(js.job, r.ID, tid, s.agent.ID, need, s.role)})
}

// taskInfo builds the task of one attempt of a run of j.
func (c *Core) taskInfo(j *job.Job, runID, tid, agentID string, need resources.Resources, role string) mesos.TaskInfo {
	spec := j.Run
	ti := mesos.TaskInfo{
		Name:      j.ID,
		TaskID:    mesos.TaskID{Value: tid},
		AgentID:   mesos.AgentID{Value: agentID},
		Resources: need.ToMesos(role),
		Labels:    &mesos.Labels{Labels: []mesos.Label{{Key: LabelJob, Value: j.ID}, {Key: LabelRun, Value: runID}}},
	}
	cmd := &mesos.CommandInfo{User: cmp.Or(spec.User, c.cfg.DefaultUser)}
	docker := spec.Docker != nil && spec.Docker.Image != ""
	switch {
	case spec.Cmd != "":
		cmd.Value = spec.Cmd
	case len(spec.Args) > 0:
		// args run without a shell; in Docker they follow the image's
		// entrypoint, elsewhere the first one is the program.
		f := false
		cmd.Shell = &f
		cmd.Arguments = slices.Clone(spec.Args)
		if !docker {
			cmd.Value = spec.Args[0]
		}
	case docker:
		f := false
		cmd.Shell = &f // the image's entrypoint alone
	}
	if vars := envVars(spec); len(vars) > 0 {
		cmd.Environment = &mesos.Environment{Variables: vars}
	}
	ti.Command = cmd
	if docker || len(spec.Volumes) > 0 {
		ci := &mesos.ContainerInfo{Type: "MESOS"}
		for _, v := range spec.Volumes {
			ci.Volumes = append(ci.Volumes, mesos.Volume{ContainerPath: v.ContainerPath, HostPath: v.HostPath, Mode: v.Mode})
		}
		if docker {
			ci.Type = "DOCKER"
			ci.Docker = &mesos.DockerInfo{Image: spec.Docker.Image, Network: "HOST", ForcePullImage: spec.Docker.ForcePullImage}
		}
		ti.Container = ci
	}
	return ti
}

// envVars are the run's variables sorted by name; one that references a
// secret is a SECRET variable carrying the secret's value inline.
func envVars(spec job.Run) []mesos.EnvironmentVariable {
	names := make([]string, 0, len(spec.Env))
	for k := range spec.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]mesos.EnvironmentVariable, 0, len(names))
	for _, k := range names {
		v := spec.Env[k]
		if v.Secret != "" {
			// Validate makes every reference name a declared secret.
			out = append(out, mesos.EnvironmentVariable{Name: k, Type: "SECRET", Secret: &mesos.Secret{
				Type:  "VALUE",
				Value: &mesos.SecretValue{Data: []byte(spec.Secrets[v.Secret].Value)},
			}})
			continue
		}
		out = append(out, mesos.EnvironmentVariable{Name: k, Value: v.Value})
	}
	return out
}

// agentURL is the base URL of an offer's agent API, "" when the offer does
// not say.
func agentURL(o mesos.Offer) string {
	if o.URL == nil || o.URL.Address.Port == 0 {
		return ""
	}
	host := cmp.Or(o.URL.Address.Hostname, o.URL.Address.IP)
	return cmp.Or(o.URL.Scheme, "http") + "://" + net.JoinHostPort(host, strconv.Itoa(int(o.URL.Address.Port)))
}
