package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	cronapi "agora/frameworks/cron/api"
	"agora/frameworks/cron/core"
	"agora/frameworks/cron/job"
)

// The `agora job` verb: the cron framework's jobs over its Metronome API
// (/v1 on the master's port). `job run --wait` follows the run to its end
// and exits non-zero when it fails, so a script can `agora job run backup
// --wait && ...`.

const jobUsage = `agora job <subcommand> [flags]

subcommands:
  add -f FILE [--replace]        create a job (JSON or YAML); --replace replaces an existing one (its schedules kept when FILE has none)
  list [--json]                  list jobs with their schedules, next run, last run's status and active runs
  show JOB [--json]              show a job's definition (secrets masked) and its next five runs
  run JOB [--wait] [--timeout D] start a run now and print its id; --wait follows it and fails when it fails
  history JOB [--json]           list the job's finished runs
  suspend JOB                    disable every schedule of the job
  resume JOB                     enable every schedule of the job
  delete JOB [--stop-runs]       remove the job; --stop-runs stops its active runs first

Every subcommand takes --master (default $AGORA_MASTER or ` + defaultMaster + `).`

// runJob is the command table's entry.
func runJob(args []string) error { return withCLI((*cli).job)(args) }

func (c *cli) job(args []string) error {
	if len(args) == 0 {
		return usagef("job: missing subcommand\n\nusage: %s", jobUsage)
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "-h", "--help", "help":
		fmt.Fprintf(c.stdout, "usage: %s\n", jobUsage)
		return nil
	case "add":
		return c.jobAdd(rest)
	case "list", "ls":
		return c.jobList(rest)
	case "show":
		return c.jobShow(rest)
	case "run":
		return c.jobRun(rest)
	case "history":
		return c.jobHistory(rest)
	case "suspend":
		return c.jobSetEnabled(rest, false)
	case "resume":
		return c.jobSetEnabled(rest, true)
	case "delete", "rm":
		return c.jobDelete(rest)
	}
	return usagef("job: unknown subcommand %q\n\nusage: %s", sub, jobUsage)
}

// jobArgs parses a subcommand's flags and checks how many positional
// arguments it got.
func (c *cli) jobArgs(f *verbFlags, args []string, minPos, maxPos int) (pos []string, help bool, err error) {
	pos, help, err = c.parse(f, args)
	if help {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, &usageError{err.Error()}
	}
	if len(pos) < minPos || len(pos) > maxPos {
		return nil, false, usagef("%s: want %s, got %d argument(s) (usage: %s)", f.fs.Name(), argCount(minPos, maxPos), len(pos), f.usage)
	}
	return pos, false, nil
}

// oneJob parses the arguments of a verb that names one job and connects to
// the cron API; done is true when the verb has nothing left to do (help
// was shown, or an error).
func (c *cli) oneJob(f *verbFlags, args []string) (id string, cl *cronapi.Client, base string, done bool, err error) {
	pos, help, err := c.jobArgs(f, args, 1, 1)
	if help || err != nil {
		return "", nil, "", true, err
	}
	if cl, base, err = c.cron(f); err != nil {
		return "", nil, "", true, err
	}
	return pos[0], cl, base, false, nil
}

// cron returns a client of the cron API on the master, finding the leader
// in ZooKeeper when --master is a zk:// URL.
func (c *cli) cron(f *verbFlags) (*cronapi.Client, string, error) {
	base, err := c.masterBase(f.master)
	if err != nil {
		return nil, "", err
	}
	return cronapi.NewClient(base, c.hc), base, nil
}

// explainJobAPI turns an API error into a message naming the field, job or
// run at fault, and a transport error into advice.
func explainJobAPI(base, subject string, err error) error {
	var ae *cronapi.Error
	if !errors.As(err, &ae) {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("%s: interrupted", subject)
		}
		return fmt.Errorf("%s: cron API at %s: %w; is a master running there? start one with `agora dev` or set --master", subject, base, err)
	}
	switch ae.Status {
	case http.StatusUnprocessableEntity, http.StatusBadRequest:
		var b strings.Builder
		fmt.Fprintf(&b, "%s is invalid", subject)
		if ae.Message != "" && len(ae.Details) == 0 {
			fmt.Fprintf(&b, ": %s", ae.Message)
		}
		for _, d := range ae.Details {
			fmt.Fprintf(&b, "\n  %s: %s", fieldName(d.Path), strings.Join(d.Errors, "; "))
		}
		return errors.New(b.String())
	case http.StatusConflict:
		return fmt.Errorf("%s: conflict: %s", subject, ae.Message)
	case http.StatusNotFound:
		return fmt.Errorf("%s: %s", subject, orDefault(ae.Message, "not found"))
	case http.StatusForbidden:
		return fmt.Errorf("%s: %s", subject, orDefault(ae.Message, "access denied"))
	case http.StatusServiceUnavailable:
		return fmt.Errorf("%s: the cron framework at %s is not ready yet (%s); try again in a moment", subject, base, ae.Message)
	}
	return fmt.Errorf("%s: %w", subject, ae)
}

// fieldName renders a 422 path (a JSON pointer, "/run/cpus") as a user
// writes the field: "run.cpus", "schedules[0].cron".
func fieldName(path string) string {
	path = strings.TrimPrefix(path, "/")
	if path == "" {
		return "(the definition)"
	}
	var b strings.Builder
	for i, seg := range strings.Split(path, "/") {
		seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
		switch {
		case isIndex(seg):
			b.WriteString("[" + seg + "]")
		case i == 0:
			b.WriteString(seg)
		default:
			b.WriteString("." + seg)
		}
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// --- add ---

func (c *cli) jobAdd(args []string) error {
	f := c.newFlags("job add", "agora job add -f FILE [--replace]",
		"Create the job defined in FILE (JSON or YAML, Metronome's job JSON with \"schedules\"). With --replace an existing job's definition is replaced (its schedules are kept when FILE names none) and a missing one is created.")
	file := f.fs.String("f", "", "job definition file, JSON or YAML (- reads stdin)")
	replace := f.fs.Bool("replace", false, "replace the job if it exists")
	if _, help, err := c.jobArgs(f, args, 0, 0); help || err != nil {
		return err
	}
	raw, id, err := readJobFile(*file)
	if err != nil {
		return err
	}
	cl, base, err := c.cron(f)
	if err != nil {
		return err
	}
	subject := "job " + id
	verb := "created"
	var v *cronapi.JobView
	if *replace {
		v, err = cl.PutJob(c.ctx, raw)
		verb = "replaced"
		if cronapi.IsNotFound(err) {
			v, err = cl.CreateJob(c.ctx, raw)
			verb = "created"
		}
	} else {
		v, err = cl.CreateJob(c.ctx, raw)
		var ae *cronapi.Error
		if errors.As(err, &ae) && ae.Status == http.StatusConflict {
			return fmt.Errorf("%s already exists; use `agora job add -f %s --replace` to replace it", subject, *file)
		}
	}
	if err != nil {
		return explainJobAPI(base, subject, err)
	}
	if f.json {
		return writeIndented(c.stdout, v)
	}
	fmt.Fprintf(c.stdout, "job %s %s", v.ID, verb)
	if n := len(v.Schedules); n > 0 {
		fmt.Fprintf(c.stdout, " with %d schedule(s)", n)
	}
	fmt.Fprintln(c.stdout)
	return nil
}

// readJobFile reads -f and returns the definition as JSON and its id.
func readJobFile(path string) ([]byte, string, error) {
	if path == "" {
		return nil, "", usagef("missing -f FILE: the job definition, JSON or YAML")
	}
	var raw []byte
	var err error
	if path == "-" {
		raw, err = io.ReadAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, "", fmt.Errorf("-f %s: %w", path, err)
	}
	// Only the id is needed here; the API validates the rest and names the
	// bad fields.
	data, id, err := cronapi.DefinitionJSON(raw)
	if err != nil {
		return nil, "", fmt.Errorf("-f %s: %w", path, err)
	}
	return data, id, nil
}

// --- list and show ---

func (c *cli) jobList(args []string) error {
	f := c.newFlags("job list", "agora job list [--json]", "List jobs: their schedules, next run, the last finished run's status and how many runs are active.")
	if _, help, err := c.jobArgs(f, args, 0, 0); help || err != nil {
		return err
	}
	cl, base, err := c.cron(f)
	if err != nil {
		return err
	}
	jobs, err := cl.ListJobs(c.ctx, cronapi.EmbedActiveRuns, cronapi.EmbedHistory, cronapi.EmbedNextRuns)
	if err != nil {
		return explainJobAPI(base, "jobs", err)
	}
	if f.json {
		return writeIndented(c.stdout, jobs)
	}
	if len(jobs) == 0 {
		fmt.Fprintf(c.stderr, "no jobs on %s; create one with `agora job add -f job.yaml`\n", base)
		return nil
	}
	rows := make([][]string, 0, len(jobs))
	for _, v := range jobs {
		next := "-"
		if len(v.NextRuns) > 0 {
			next = v.NextRuns[0].Format(time.RFC3339)
		}
		last := "-"
		if r, ok := lastFinished(v.History); ok {
			last = r.Status
		}
		rows = append(rows, []string{v.ID, scheduleSummary(&v.Job), next, last, fmt.Sprint(len(v.ActiveRuns))})
	}
	return writeTable(c.stdout, []string{"ID", "SCHEDULE", "NEXT RUN", "LAST RUN STATUS", "ACTIVE"}, rows)
}

// scheduleSummary says when a job runs: its cron expressions (with their
// zone when not UTC, and "suspended" when disabled), its parents, or "-".
func scheduleSummary(j *job.Job) string {
	var parts []string
	for _, s := range j.Schedules {
		p := s.Cron
		if s.Timezone != "" && s.Timezone != "UTC" {
			p += " " + s.Timezone
		}
		if !s.IsEnabled() {
			p += " (suspended)"
		}
		parts = append(parts, p)
	}
	if len(j.Dependencies) > 0 {
		ids := make([]string, len(j.Dependencies))
		for i, d := range j.Dependencies {
			ids[i] = d.ID
		}
		parts = append(parts, "after "+strings.Join(ids, "+"))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}

// finishedRuns merges a history's runs, newest finished first.
func finishedRuns(h *cronapi.HistoryView) []cronapi.FinishedRun {
	if h == nil {
		return nil
	}
	out := append(append([]cronapi.FinishedRun(nil), h.SuccessfulFinishedRuns...), h.FailedFinishedRuns...)
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].FinishedAt.Equal(out[j].FinishedAt) {
			return out[i].FinishedAt.After(out[j].FinishedAt)
		}
		return out[i].ID > out[j].ID
	})
	return out
}

func lastFinished(h *cronapi.HistoryView) (cronapi.FinishedRun, bool) {
	runs := finishedRuns(h)
	if len(runs) == 0 {
		return cronapi.FinishedRun{}, false
	}
	return runs[0], true
}

func (c *cli) jobShow(args []string) error {
	f := c.newFlags("job show", "agora job show JOB [--json]", "Show a job's definition (secret values masked), its next five runs and its active runs.")
	id, cl, base, done, err := c.oneJob(f, args)
	if done {
		return err
	}
	v, err := cl.GetJob(c.ctx, id, cronapi.EmbedActiveRuns)
	if err != nil {
		return explainJobAPI(base, "job "+id, err)
	}
	if f.json {
		return writeIndented(c.stdout, v)
	}
	return writeJobShow(c.stdout, v)
}

func writeJobShow(out io.Writer, v *cronapi.JobView) error {
	def, err := json.MarshalIndent(&v.Job, "", "  ")
	if err != nil {
		return fmt.Errorf("job %s: %w", v.ID, err)
	}
	fmt.Fprintf(out, "%s\n\nnext runs:\n", def)
	if len(v.NextRuns) == 0 {
		fmt.Fprintln(out, "  none (no enabled schedule)")
	}
	for _, t := range v.NextRuns {
		fmt.Fprintf(out, "  %s\n", t.Format(time.RFC3339))
	}
	if len(v.ActiveRuns) > 0 {
		fmt.Fprintln(out, "\nactive runs:")
		for _, r := range v.ActiveRuns {
			fmt.Fprintf(out, "  %s  %s  created %s\n", r.ID, r.Status, r.CreatedAt.Format(time.RFC3339))
		}
	}
	return nil
}

// --- run ---

func (c *cli) jobRun(args []string) error {
	f := c.newFlags("job run", "agora job run JOB [--wait] [--timeout D]",
		"Start a run of the job now and print its id. With --wait, follow the run to its end; the command fails when the run does not succeed.")
	wait := f.fs.Bool("wait", false, "follow the run until it finishes; exit non-zero unless it succeeds")
	timeout := f.fs.Duration("timeout", 0, "with --wait, stop following after this long (the run goes on); 0 waits as long as it takes")
	id, cl, base, done, err := c.oneJob(f, args)
	if done {
		return err
	}
	run, err := cl.RunNow(c.ctx, id)
	if err != nil {
		return explainJobAPI(base, "job "+id, err)
	}
	fmt.Fprintln(c.stdout, run.ID)
	if !*wait {
		return nil
	}
	return c.followRun(cl, base, run, *timeout)
}

// followRun polls a run until it finishes and says how it ended; a run
// that does not succeed is an error.
func (c *cli) followRun(cl *cronapi.Client, base string, run core.Run, timeout time.Duration) error {
	ctx := c.ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	subject := fmt.Sprintf("run %s of job %s", run.ID, run.JobID)
	last := run.Status
	fmt.Fprintf(c.stderr, "%s: %s\n", subject, last)
	tick := time.NewTicker(c.poll)
	defer tick.Stop()
	for !core.Finished(run.Status) {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s: still %s after %s; it goes on (see `agora job show %s`)", subject, run.Status, timeout, run.JobID)
			}
			return fmt.Errorf("%s: interrupted; the run goes on (see `agora job show %s`)", subject, run.JobID)
		case <-tick.C:
		}
		r, err := cl.Run(ctx, run.JobID, run.ID)
		if err != nil {
			if ctx.Err() != nil {
				continue // the select above says why
			}
			return explainJobAPI(base, subject, err)
		}
		run = r
		if run.Status != last {
			last = run.Status
			fmt.Fprintf(c.stderr, "%s: %s\n", subject, last)
		}
	}
	if run.Status == core.StatusSuccess {
		return nil
	}
	return fmt.Errorf("%s %s", subject, describeEnd(run))
}

// describeEnd says how a finished run ended: its status, why and its last
// task's exit code.
func describeEnd(r core.Run) string {
	s := strings.ToLower(r.Status)
	if r.Message != "" {
		s += ": " + r.Message
	}
	if n := len(r.Tasks); n > 0 {
		t := r.Tasks[n-1]
		if t.ExitCode != nil {
			s += fmt.Sprintf(" (task %s exited with %d)", t.ID, *t.ExitCode)
		} else {
			s += fmt.Sprintf(" (task %s %s)", t.ID, t.State)
		}
	}
	return s
}

// --- history ---

func (c *cli) jobHistory(args []string) error {
	f := c.newFlags("job history", "agora job history JOB [--json]", "List the job's finished runs, newest first: status, start, end, the last attempt's exit code and task.")
	id, cl, base, done, err := c.oneJob(f, args)
	if done {
		return err
	}
	h, err := cl.History(c.ctx, id)
	if err != nil {
		return explainJobAPI(base, "job "+id, err)
	}
	if f.json {
		return writeIndented(c.stdout, h)
	}
	runs := finishedRuns(h)
	if len(runs) == 0 {
		fmt.Fprintf(c.stderr, "job %s has no finished runs yet\n", id)
		return nil
	}
	rows := make([][]string, 0, len(runs))
	for _, r := range runs {
		exit, task := "-", "-"
		if n := len(r.Tasks); n > 0 {
			t := r.Tasks[n-1]
			task = t.ID
			if t.ExitCode != nil {
				exit = fmt.Sprint(*t.ExitCode)
			}
		}
		rows = append(rows, []string{r.ID, r.Status, fmtTime(r.StartedAt), fmtTime(r.FinishedAt), exit, task})
	}
	return writeTable(c.stdout, []string{"RUN", "STATUS", "STARTED", "FINISHED", "EXIT", "TASK"}, rows)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// --- suspend, resume, delete ---

func (c *cli) jobSetEnabled(args []string, enabled bool) error {
	name, summary := "suspend", "Disable every schedule of the job: it runs only when started by hand (or by its parents) until resumed."
	if enabled {
		name, summary = "resume", "Enable every schedule of the job again."
	}
	f := c.newFlags("job "+name, "agora job "+name+" JOB", summary)
	id, cl, base, done, err := c.oneJob(f, args)
	if done {
		return err
	}
	v, err := cl.GetJob(c.ctx, id)
	if err != nil {
		return explainJobAPI(base, "job "+id, err)
	}
	if len(v.Schedules) == 0 {
		return fmt.Errorf("job %s has no schedules to %s", id, name)
	}
	changed := 0
	for i := range v.Schedules {
		if v.Schedules[i].IsEnabled() != enabled {
			changed++
		}
		e := enabled
		v.Schedules[i].Enabled = &e
	}
	if changed > 0 {
		// One write for every schedule; the masked secrets in the
		// definition keep their stored values.
		body, err := json.Marshal(&v.Job)
		if err != nil {
			return fmt.Errorf("job %s: %w", id, err)
		}
		if _, err := cl.PutJob(c.ctx, body); err != nil {
			return explainJobAPI(base, "job "+id, err)
		}
	}
	word := "suspended"
	if enabled {
		word = "resumed"
	}
	fmt.Fprintf(c.stdout, "job %s %s: %d of %d schedule(s) changed\n", id, word, changed, len(v.Schedules))
	return nil
}

func (c *cli) jobDelete(args []string) error {
	f := c.newFlags("job delete", "agora job delete JOB [--stop-runs]", "Remove the job. A job with active runs is refused unless --stop-runs stops them first.")
	stop := f.fs.Bool("stop-runs", false, "stop the job's active runs, then remove it")
	id, cl, base, done, err := c.oneJob(f, args)
	if done {
		return err
	}
	if _, err := cl.DeleteJob(c.ctx, id, *stop); err != nil {
		var ae *cronapi.Error
		if errors.As(err, &ae) && ae.Status == http.StatusConflict && !*stop {
			return fmt.Errorf("job %s: %s; use --stop-runs to stop them and delete it", id, ae.Message)
		}
		return explainJobAPI(base, "job "+id, err)
	}
	fmt.Fprintf(c.stdout, "job %s deleted\n", id)
	return nil
}
