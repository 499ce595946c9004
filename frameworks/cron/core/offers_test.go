package core

import (
	"slices"
	"testing"
	"time"

	"agora/core/mesos"
	"agora/core/resources"
	"agora/frameworks/cron/job"
)

func manual(t *testing.T, s *sim, jobID string, now time.Time) Run {
	t.Helper()
	r, d, err := s.c.RunNow(jobID, now)
	if err != nil {
		t.Fatal(err)
	}
	s.apply(d)
	return r
}

func envOf(ti mesos.TaskInfo) map[string]mesos.EnvironmentVariable {
	m := map[string]mesos.EnvironmentVariable{}
	if ti.Command.Environment != nil {
		for _, v := range ti.Command.Environment.Variables {
			m[v.Name] = v
		}
	}
	return m
}

func TestTaskInfo(t *testing.T) {
	s := newSim(t, Config{DefaultUser: "nobody", Role: "batch"})
	s.put(newJob("team.backup", func(j *job.Job) {
		j.Run.Cmd = ""
		j.Run.Args = []string{"--full", "/data"}
		j.Run.Docker = &job.Docker{Image: "alpine:3", ForcePullImage: true}
		j.Run.User = "backup"
		j.Run.Disk = 10
		j.Run.Env = map[string]job.EnvVar{"MODE": {Value: "full"}, "DB_PASS": {Secret: "db"}}
		j.Run.Secrets = map[string]job.Secret{"db": {Value: "hunter2"}}
		j.Run.Volumes = []job.Volume{{ContainerPath: "/data", HostPath: "/srv/data", Mode: "RO"}}
	}), t0)
	r := manual(t, s, "team.backup", t0)
	o := mesos.Offer{ID: mesos.OfferID{Value: "o1"}, AgentID: mesos.AgentID{Value: "a1"}, Hostname: "h1",
		Resources: resources.Resources{CPUs: 2, Mem: 1024, Disk: 100}.ToMesos("batch")}
	d := s.apply(s.c.Offers([]mesos.Offer{o}, t0))
	if len(d.Launch) != 1 || d.Launch[0].OfferID.Value != "o1" {
		t.Fatalf("launches %+v", d.Launch)
	}
	ti := d.Launch[0].Task
	if want := "team.backup." + r.ID + ".1"; ti.TaskID.Value != want || ti.Name != "team.backup" || ti.AgentID.Value != "a1" {
		t.Errorf("task id %q name %q agent %q; want %q, the job id, a1", ti.TaskID.Value, ti.Name, ti.AgentID.Value, want)
	}
	got, err := resources.FromMesos("task", ti.Resources)
	if err != nil || !got.Equal(resources.Resources{CPUs: 0.5, Mem: 64, Disk: 10}) {
		t.Errorf("resources %v (%v), want cpus 0.5 mem 64 disk 10", got, err)
	}
	for _, res := range ti.Resources {
		if res.AllocationInfo == nil || res.AllocationInfo.Role != "batch" {
			t.Errorf("resource %s without allocation role batch", res.Name)
		}
	}
	c := ti.Command
	if c.User != "backup" || c.IsShell() || c.Value != "" || !slices.Equal(c.Arguments, []string{"--full", "/data"}) {
		t.Errorf("command %+v: want user backup, args after the entrypoint, no shell", c)
	}
	env := envOf(ti)
	if v := env["MODE"]; v.Value != "full" || v.Type == "SECRET" {
		t.Errorf("MODE = %+v", v)
	}
	if v := env["DB_PASS"]; v.Type != "SECRET" || v.Secret == nil || v.Secret.Type != "VALUE" || string(v.Secret.Value.Data) != "hunter2" {
		t.Errorf("DB_PASS = %+v, want a SECRET with the inline value", v)
	}
	ci := ti.Container
	if ci == nil || ci.Type != "DOCKER" || ci.Docker.Image != "alpine:3" || ci.Docker.Network != "HOST" || !ci.Docker.ForcePullImage {
		t.Fatalf("container %+v", ci)
	}
	if len(ci.Volumes) != 1 || ci.Volumes[0] != (mesos.Volume{ContainerPath: "/data", HostPath: "/srv/data", Mode: "RO"}) {
		t.Errorf("volumes %+v", ci.Volumes)
	}
	labels := map[string]string{}
	for _, l := range ti.Labels.Labels {
		labels[l.Key] = l.Value
	}
	if labels[LabelJob] != "team.backup" || labels[LabelRun] != r.ID {
		t.Errorf("labels %v", labels)
	}

	// A shell command without Docker, as the default user.
	s.put(newJob("plain"), t0)
	manual(t, s, "plain", t0)
	o.ID.Value = "o2"
	d = s.apply(s.c.Offers([]mesos.Offer{o}, t0))
	if len(d.Launch) != 1 {
		t.Fatalf("plain: launches %v", launched(d))
	}
	ti = d.Launch[0].Task
	if ti.Command.Value != "echo plain" || !ti.Command.IsShell() || ti.Command.User != "nobody" || ti.Container != nil {
		t.Errorf("plain task: command %+v container %+v", ti.Command, ti.Container)
	}
}

func TestTaskIDIsSafe(t *testing.T) {
	if got := taskID("a.b", "20240301T000000Z-s 1/x", 2); got != "a.b.20240301T000000Z-s_1_x.2" {
		t.Errorf("taskID = %q", got)
	}
}

func TestOffersMatchResourcesRoleAndConstraints(t *testing.T) {
	s := newSim(t, Config{})
	s.put(newJob("big", func(j *job.Job) { j.Run.CPUs = 3 }), t0)
	manual(t, s, "big", t0)
	small := mesos.Offer{ID: mesos.OfferID{Value: "small"}, AgentID: mesos.AgentID{Value: "a1"}, Hostname: "h1",
		Resources: resources.Resources{CPUs: 2, Mem: 4096}.ToMesos("*")}
	other := mesos.Offer{ID: mesos.OfferID{Value: "other-role"}, AgentID: mesos.AgentID{Value: "a2"}, Hostname: "h2",
		Resources: resources.Resources{CPUs: 8, Mem: 4096}.ToMesos("elsewhere")}
	d := s.apply(s.c.Offers([]mesos.Offer{small, other}, t0))
	declined := []string{}
	for _, id := range d.Decline {
		declined = append(declined, id.Value)
	}
	slices.Sort(declined)
	if len(d.Launch) != 0 || !slices.Equal(declined, []string{"other-role", "small"}) {
		t.Errorf("too small / wrong role: launches %d, declined %v", len(d.Launch), d.Decline)
	}

	// UNIQUE hostname: two runs, one roomy offer per host.
	u := newSim(t, Config{})
	u.put(newJob("u", func(j *job.Job) {
		j.Run.Placement = &job.Placement{Constraints: []job.Constraint{{Attribute: "hostname", Operator: "UNIQUE"}}}
	}), t0)
	manual(t, u, "u", t0)
	manual(t, u, "u", t0)
	d = u.offer("h1", t0)
	if len(d.Launch) != 1 {
		t.Fatalf("UNIQUE: %d launches on one host, want 1", len(d.Launch))
	}
	if d = u.offer("h1", t0); len(d.Launch) != 0 || len(d.Decline) != 1 {
		t.Errorf("UNIQUE: second task on h1 (launches %d, declines %d)", len(d.Launch), len(d.Decline))
	}
	if d = u.offer("h2", t0); len(d.Launch) != 1 {
		t.Errorf("UNIQUE: no launch on h2")
	}

	// EQ on an attribute.
	e := newSim(t, Config{})
	e.put(newJob("e", func(j *job.Job) {
		j.Run.Placement = &job.Placement{Constraints: []job.Constraint{{Attribute: "rack", Operator: "EQ", Value: "r2"}}}
	}), t0)
	manual(t, e, "e", t0)
	rack := func(v string) mesos.Attribute {
		return mesos.Attribute{Name: "rack", Type: "TEXT", Text: &mesos.ValueText{Value: v}}
	}
	if d = e.offer("h1", t0, rack("r1")); len(d.Launch) != 0 {
		t.Errorf("EQ r2 launched on r1")
	}
	if d = e.offer("h2", t0, rack("r2")); len(d.Launch) != 1 {
		t.Errorf("EQ r2 not launched on r2")
	}

	// Several runs share one offer while it has room; oldest first.
	m := newSim(t, Config{})
	m.put(newJob("m"), t0)
	first := manual(t, m, "m", t0)
	manual(t, m, "m", t0.Add(time.Second))
	d = m.offer("h", t0.Add(2*time.Second))
	if len(d.Launch) != 2 || d.Launch[0].Task.TaskID.Value != taskID("m", first.ID, 1) {
		t.Errorf("launches %v, want both, the oldest first", launched(d))
	}
	if len(d.PersistRuns) != 2 || d.PersistRuns[0].Status != StatusStarting || d.PersistRuns[0].Tasks[0].LaunchedAt.IsZero() {
		t.Errorf("launched runs not persisted as STARTING with their task: %+v", d.PersistRuns)
	}
}

// Equal call sequences give equal Decisions.
func TestDeterministic(t *testing.T) {
	play := func() []Decisions {
		s := newSim(t, Config{})
		for _, id := range []string{"c", "a", "b"} {
			s.put(newJob(id, sched("* * * * *", policy(job.Replace))), t0)
		}
		for m := 1; m <= 3; m++ {
			now := t0.Add(time.Duration(m) * time.Minute)
			s.tick(now)
			for _, tid := range launched(s.offer("h", now)) {
				s.update(tid, mesos.TaskRunning, "", now)
			}
		}
		return s.all
	}
	a, b := play(), play()
	if len(a) != len(b) {
		t.Fatal("different number of decisions")
	}
	for i := range a {
		if !slices.Equal(runIDs(a[i].PersistRuns), runIDs(b[i].PersistRuns)) || !slices.Equal(killed(a[i]), killed(b[i])) || !slices.Equal(launched(a[i]), launched(b[i])) {
			t.Fatalf("decisions %d differ", i)
		}
	}
}

func TestExitCodeFromMessage(t *testing.T) {
	for msg, want := range map[string]int{
		"Command exited with status 3":        3,
		"exited with status 137":              137,
		"Command exited with status 0 (done)": 0,
		"exited with status -1":               -1,
	} {
		if got := exitCode(msg); got == nil || *got != want {
			t.Errorf("exitCode(%q) = %v, want %d", msg, got, want)
		}
	}
	for _, msg := range []string{"", "Killed", "exited with status", "exited with status x"} {
		if got := exitCode(msg); got != nil {
			t.Errorf("exitCode(%q) = %d, want none", msg, *got)
		}
	}
}
