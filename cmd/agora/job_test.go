package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cronapi "agora/frameworks/cron/api"
	"agora/frameworks/cron/core"
	"agora/frameworks/cron/job"
)

// fakeCron is a cron Backend whose runs play out as they are looked at:
// each read of an active run moves it one step (INITIAL, ACTIVE, then the
// job's scripted end), so `job run --wait` sees progress and an end
// without any timing.
type fakeCron struct {
	mu       sync.Mutex
	now      time.Time
	jobs     map[string]*job.Job
	active   map[string][]core.Run // newest first
	finished map[string][]core.Run // newest first
	// exit is the exit code a job's runs end with (0: success).
	exit map[string]int
	n    int
}

func newFakeCron() *fakeCron {
	return &fakeCron{now: time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC), jobs: map[string]*job.Job{},
		active: map[string][]core.Run{}, finished: map[string][]core.Run{}, exit: map[string]int{}}
}

func (f *fakeCron) serve(t *testing.T) string {
	srv := httptest.NewServer(cronapi.New(f, cronapi.Options{}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (f *fakeCron) Jobs() []*job.Job {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*job.Job, 0, len(f.jobs))
	for _, j := range f.jobs {
		out = append(out, j)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

func (f *fakeCron) Job(id string) (*job.Job, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[id]
	return j, ok
}

func (f *fakeCron) Runs(jobID string) []core.Run {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]core.Run(nil), f.active[jobID]...)
}

// RunByID advances an active run by one step before answering.
func (f *fakeCron) RunByID(jobID, runID string) (core.Run, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.active[jobID] {
		if r.ID != runID {
			continue
		}
		f.now = f.now.Add(time.Minute)
		switch r.Status {
		case core.StatusInitial:
			r.Status, r.StartedAt = core.StatusActive, f.now
			r.Tasks = []core.Task{{ID: jobID + "." + runID + ".1", State: "TASK_RUNNING"}}
			f.active[jobID][i] = r
		default:
			code := f.exit[jobID]
			r.FinishedAt, r.Tasks[0].ExitCode = f.now, &code
			r.Status, r.Tasks[0].State = core.StatusSuccess, "TASK_FINISHED"
			if code != 0 {
				r.Status, r.Tasks[0].State, r.Message = core.StatusFailed, "TASK_FAILED", "the task failed"
			}
			f.active[jobID] = append(f.active[jobID][:i:i], f.active[jobID][i+1:]...)
			f.finished[jobID] = append([]core.Run{r}, f.finished[jobID]...)
		}
		return r, true
	}
	for _, r := range f.finished[jobID] {
		if r.ID == runID {
			return r, true
		}
	}
	return core.Run{}, false
}

func (f *fakeCron) History(jobID string) (core.History, []core.Run) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var h core.History
	for _, r := range f.finished[jobID] {
		if r.Status == core.StatusSuccess {
			h.SuccessCount++
		} else {
			h.FailureCount++
		}
	}
	return h, append([]core.Run(nil), f.finished[jobID]...)
}

// NextFires: every enabled schedule fires on the hour.
func (f *fakeCron) NextFires(jobID string, n int) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	j := f.jobs[jobID]
	if j == nil {
		return nil
	}
	for _, s := range j.Schedules {
		if s.IsEnabled() {
			var out []time.Time
			for i := 1; i <= n; i++ {
				out = append(out, time.Date(2026, 3, 1, 12+i, 0, 0, 0, time.UTC))
			}
			return out
		}
	}
	return nil
}

func (f *fakeCron) PutJob(ctx context.Context, j *job.Job) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	cp := *j
	f.jobs[j.ID] = &cp
	return nil
}

func (f *fakeCron) DeleteJob(ctx context.Context, id string, stopRuns bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.active[id]) > 0 && !stopRuns {
		return &core.ConflictError{Msg: fmt.Sprintf("job '%s' has %d active run(s)", id, len(f.active[id]))}
	}
	delete(f.jobs, id)
	delete(f.active, id)
	return nil
}

func (f *fakeCron) RunNow(ctx context.Context, id string) (core.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.jobs[id]; !ok {
		return core.Run{}, fmt.Errorf("%w: job %s", core.ErrNotFound, id)
	}
	f.n++
	r := core.Run{ID: fmt.Sprintf("20260301T123000Z-manual-%d", f.n), JobID: id, Trigger: core.TriggerManual, CreatedAt: f.now, Status: core.StatusInitial}
	f.active[id] = append([]core.Run{r}, f.active[id]...)
	return r, nil
}

func (f *fakeCron) StopRun(ctx context.Context, jobID, runID string) error {
	return fmt.Errorf("%w: run %s", core.ErrNotFound, runID)
}

func (f *fakeCron) Info() cronapi.Info { return cronapi.Info{Name: "cron", Elected: true} }

// jobCLI runs `agora job ARGS...` against master and returns stdout, stderr
// and the exit status main would give.
func jobCLI(t *testing.T, master string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, out, errOut := testCLI(ctx, master)
	c.poll = time.Millisecond
	err := c.job(args)
	if err != nil {
		fmt.Fprintf(errOut, "agora: %v\n", err)
	}
	return out.String(), errOut.String(), exitCode(err)
}

const jobSecret = "hunter2-db-password"

const backupYAML = `id: backup
description: nightly backup
run:
  cmd: backup --all
  cpus: 0.1
  mem: 32
  disk: 0
  env:
    DB_PASS: {secret: db}
  secrets:
    db: {value: ` + jobSecret + `}
schedules:
  - id: nightly
    cron: "0 2 * * *"
    timezone: Europe/Berlin
`

func addBackup(t *testing.T, url string) {
	t.Helper()
	if out, errOut, code := jobCLI(t, url, "add", "-f", writeAppFile(t, "backup.yaml", backupYAML)); code != 0 {
		t.Fatalf("job add: exit %d\n%s%s", code, out, errOut)
	}
}

func TestJobAddListShow(t *testing.T) {
	f := newFakeCron()
	url := f.serve(t)
	out, errOut, code := jobCLI(t, url, "add", "-f", writeAppFile(t, "backup.yaml", backupYAML))
	if code != 0 || !strings.Contains(out, "job backup created with 1 schedule(s)") {
		t.Fatalf("add: exit %d\n%s%s", code, out, errOut)
	}
	if j, _ := f.Job("backup"); j == nil || j.Run.Secrets["db"].Value != jobSecret {
		t.Fatalf("stored %+v", j)
	}
	_, errOut, code = jobCLI(t, url, "add", "-f", writeAppFile(t, "manual.json", `{"id":"manual","run":{"cmd":"true","cpus":0.1,"mem":32,"disk":0}}`))
	if code != 0 {
		t.Fatalf("add JSON: exit %d %s", code, errOut)
	}
	f.finished["backup"] = []core.Run{{ID: "r1", JobID: "backup", Status: core.StatusFailed, FinishedAt: f.now.Add(-time.Hour)}}
	f.active["backup"] = []core.Run{{ID: "r2", JobID: "backup", Status: core.StatusActive}}

	out, errOut, code = jobCLI(t, url, "list")
	if code != 0 {
		t.Fatalf("list: exit %d %s", code, errOut)
	}
	rows := fields(out)
	if len(rows) != 3 || strings.Join(rows[0], " ") != "ID SCHEDULE NEXT RUN LAST RUN STATUS ACTIVE" {
		t.Fatalf("list:\n%s", out)
	}
	if got := strings.Join(rows[1], " "); got != "backup 0 2 * * * Europe/Berlin 2026-03-01T13:00:00Z FAILED 1" {
		t.Errorf("backup row %q", got)
	}
	if got := strings.Join(rows[2], " "); got != "manual - - - 0" {
		t.Errorf("manual row %q", got)
	}

	out, errOut, code = jobCLI(t, url, "show", "backup")
	if code != 0 {
		t.Fatalf("show: exit %d %s", code, errOut)
	}
	if strings.Contains(out, jobSecret) || !strings.Contains(out, `"value": "`) {
		t.Errorf("show does not mask the secret:\n%s", out)
	}
	_, next, ok := strings.Cut(out, "next runs:\n")
	if !ok || len(strings.Fields(strings.Split(next, "\n\n")[0])) != 5 || !strings.HasPrefix(next, "  2026-03-01T13:00:00Z") {
		t.Errorf("show's next runs:\n%s", out)
	}
	if !strings.Contains(out, `"cmd": "backup --all"`) || !strings.Contains(out, "r2  ACTIVE") {
		t.Errorf("show:\n%s", out)
	}
	for _, args := range [][]string{{"show", "backup", "--json"}, {"list", "--json"}} {
		out, _, _ := jobCLI(t, url, args...)
		if strings.Contains(out, jobSecret) || !strings.Contains(out, `"id": "backup"`) {
			t.Errorf("%v:\n%s", args, out)
		}
	}
}

func TestJobAddTwiceAndReplace(t *testing.T) {
	f := newFakeCron()
	url := f.serve(t)
	addBackup(t, url)
	_, errOut, code := jobCLI(t, url, "add", "-f", writeAppFile(t, "backup.yaml", backupYAML))
	if code != 1 || !strings.Contains(errOut, "job backup already exists") || !strings.Contains(errOut, "--replace") {
		t.Errorf("add twice: exit %d %s", code, errOut)
	}
	// No schedules in the file: the job keeps its own.
	noSchedules := strings.Split(backupYAML, "schedules:")[0]
	noSchedules = strings.Replace(noSchedules, "backup --all", "backup --incremental", 1)
	out, errOut, code := jobCLI(t, url, "add", "--replace", "-f", writeAppFile(t, "backup.yaml", noSchedules))
	if code != 0 || !strings.Contains(out, "job backup replaced") {
		t.Fatalf("replace: exit %d %s%s", code, out, errOut)
	}
	j, _ := f.Job("backup")
	if j.Run.Cmd != "backup --incremental" || len(j.Schedules) != 1 {
		t.Errorf("after replace: %+v", j)
	}
	// --replace of a job that does not exist creates it.
	out, errOut, code = jobCLI(t, url, "add", "--replace", "-f", writeAppFile(t, "other.yaml", "id: other\nrun: {cmd: 'true', cpus: 0.1, mem: 32, disk: 0}\n"))
	if code != 0 || !strings.Contains(out, "job other created") {
		t.Errorf("replace a missing job: exit %d %s%s", code, out, errOut)
	}
}

func TestJobAddInvalidFileNamesTheField(t *testing.T) {
	f := newFakeCron()
	url := f.serve(t)
	bad := writeAppFile(t, "bad.yaml", "id: bad\nrun: {cmd: x, cpus: 0.001, mem: 32, disk: 0}\nschedules: [{id: s, cron: 'every day'}]\n")
	_, errOut, code := jobCLI(t, url, "add", "-f", bad)
	if code != 1 {
		t.Fatalf("invalid job: exit %d %s", code, errOut)
	}
	for _, want := range []string{"job bad is invalid", "\n  run.cpus: ", "\n  schedules[0].cron: "} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	noID := writeAppFile(t, "noid.yaml", "run: {cmd: x}\n")
	if _, errOut, code = jobCLI(t, url, "add", "-f", noID); code != 1 || !strings.Contains(errOut, "id:") {
		t.Errorf("a file without id: exit %d %s", code, errOut)
	}
	if len(f.Jobs()) != 0 {
		t.Error("an invalid job was stored")
	}
}

func TestJobRunWaitAndHistory(t *testing.T) {
	f := newFakeCron()
	url := f.serve(t)
	addBackup(t, url)
	out, errOut, code := jobCLI(t, url, "run", "backup")
	if code != 0 || strings.TrimSpace(out) != "20260301T123000Z-manual-1" {
		t.Fatalf("run: exit %d %q %s", code, out, errOut)
	}
	out, errOut, code = jobCLI(t, url, "run", "backup", "--wait")
	if code != 0 || strings.TrimSpace(out) != "20260301T123000Z-manual-2" {
		t.Fatalf("run --wait: exit %d %q %s", code, out, errOut)
	}
	for _, want := range []string{"INITIAL", "ACTIVE", "SUCCESS"} {
		if !strings.Contains(errOut, "run 20260301T123000Z-manual-2 of job backup: "+want) {
			t.Errorf("run --wait did not report %s:\n%s", want, errOut)
		}
	}
	f.exit["backup"] = 3
	out, errOut, code = jobCLI(t, url, "run", "--wait", "backup")
	if code != 1 || !strings.Contains(errOut, "failed: the task failed") || !strings.Contains(errOut, "exited with 3") {
		t.Errorf("failing run --wait: exit %d %q %s", code, out, errOut)
	}

	out, errOut, code = jobCLI(t, url, "history", "backup")
	if code != 0 {
		t.Fatalf("history: exit %d %s", code, errOut)
	}
	rows := fields(out)
	if len(rows) != 3 || strings.Join(rows[0], " ") != "RUN STATUS STARTED FINISHED EXIT TASK" {
		t.Fatalf("history:\n%s", out)
	}
	if rows[1][0] != "20260301T123000Z-manual-3" || rows[1][1] != "FAILED" || rows[1][4] != "3" || rows[1][5] != "backup.20260301T123000Z-manual-3.1" {
		t.Errorf("newest history row %v", rows[1])
	}
	if rows[2][0] != "20260301T123000Z-manual-2" || rows[2][1] != "SUCCESS" || rows[2][4] != "0" {
		t.Errorf("older history row %v", rows[2])
	}
	if _, errOut, code := jobCLI(t, url, "run", "nope", "--wait"); code != 1 || !strings.Contains(errOut, "Job 'nope' does not exist") {
		t.Errorf("run unknown: exit %d %s", code, errOut)
	}
}

func TestJobSuspendResume(t *testing.T) {
	f := newFakeCron()
	url := f.serve(t)
	addBackup(t, url)
	out, errOut, code := jobCLI(t, url, "suspend", "backup")
	if code != 0 || !strings.Contains(out, "job backup suspended: 1 of 1 schedule(s) changed") {
		t.Fatalf("suspend: exit %d %s%s", code, out, errOut)
	}
	j, _ := f.Job("backup")
	if j.Schedules[0].IsEnabled() || j.Run.Secrets["db"].Value != jobSecret {
		t.Errorf("after suspend: schedules %+v, secret %q", j.Schedules, j.Run.Secrets["db"].Value)
	}
	out, _, _ = jobCLI(t, url, "list")
	if rows := fields(out); len(rows) != 2 || !strings.HasSuffix(strings.Join(rows[1], " "), "Europe/Berlin (suspended) - - 0") {
		t.Errorf("list after suspend:\n%s", out)
	}
	if out, errOut, code = jobCLI(t, url, "resume", "backup"); code != 0 {
		t.Fatalf("resume: exit %d %s", code, errOut)
	}
	if j, _ = f.Job("backup"); !j.Schedules[0].IsEnabled() {
		t.Errorf("after resume: %+v", j.Schedules)
	}
	jobCLI(t, url, "add", "-f", writeAppFile(t, "m.yaml", "id: manual\nrun: {cmd: 'true', cpus: 0.1, mem: 32, disk: 0}\n"))
	if _, errOut, code := jobCLI(t, url, "suspend", "manual"); code != 1 || !strings.Contains(errOut, "no schedules") {
		t.Errorf("suspend a job without schedules: exit %d %s", code, errOut)
	}
}

func TestJobDelete(t *testing.T) {
	f := newFakeCron()
	url := f.serve(t)
	addBackup(t, url)
	f.active["backup"] = []core.Run{{ID: "r1", JobID: "backup", Status: core.StatusActive}}
	_, errOut, code := jobCLI(t, url, "delete", "backup")
	if code != 1 || !strings.Contains(errOut, "1 active run(s)") || !strings.Contains(errOut, "--stop-runs") {
		t.Errorf("delete with an active run: exit %d %s", code, errOut)
	}
	if _, ok := f.Job("backup"); !ok {
		t.Fatal("a refused delete removed the job")
	}
	out, errOut, code := jobCLI(t, url, "delete", "backup", "--stop-runs")
	if code != 0 || !strings.Contains(out, "job backup deleted") {
		t.Fatalf("delete --stop-runs: exit %d %s", code, errOut)
	}
	if _, ok := f.Job("backup"); ok {
		t.Error("job still there")
	}
}

func TestJobUsageErrorsExit2(t *testing.T) {
	url := newFakeCron().serve(t)
	for _, args := range [][]string{
		{},
		{"bogus"},
		{"add"},
		{"add", "-f"},
		{"show"},
		{"run"},
		{"run", "a", "b"},
		{"history"},
		{"suspend", "a", "b"},
		{"delete"},
		{"list", "--nope"},
	} {
		if _, errOut, code := jobCLI(t, url, args...); code != 2 {
			t.Errorf("agora job %s: exit %d, want 2 (%s)", strings.Join(args, " "), code, errOut)
		}
	}
	out, _, code := jobCLI(t, url, "run", "-h")
	if code != 0 || !strings.Contains(out, "--wait") {
		t.Errorf("run -h: exit %d, %q", code, out)
	}
}

func TestJobNotFoundAndUnreachable(t *testing.T) {
	url := newFakeCron().serve(t)
	for _, args := range [][]string{{"show", "nope"}, {"history", "nope"}, {"suspend", "nope"}, {"delete", "nope"}} {
		_, errOut, code := jobCLI(t, url, args...)
		if code != 1 || !strings.Contains(errOut, "Job 'nope' does not exist") {
			t.Errorf("agora job %s: exit %d, %s", strings.Join(args, " "), code, errOut)
		}
	}
	_, errOut, code := jobCLI(t, "http://"+freeAddr(t), "list")
	if code != 1 || !strings.Contains(errOut, "agora dev") {
		t.Errorf("no master: exit %d, %s", code, errOut)
	}
}
