package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"agora/core/client"
	"agora/core/election"
	"agora/frameworks/services/api"
	"agora/frameworks/services/deploy"
)

// The `agora app` verb: the services framework's apps over its Marathon API
// (/v2 on the master's port). Writes that start a deployment watch it to
// its end with a progress bar and exit non-zero when it fails, so a script
// can `agora app deploy -f web.yaml && ...`.

const appUsage = `agora app <subcommand> [flags]

subcommands:
  deploy -f FILE [--force] [--detach] [--timeout 10m]   create or update an app (JSON or YAML) and watch its deployment
  plan -f FILE                                          show what deploying FILE would change, changing nothing
  list [PREFIX] [--json]                                list apps
  show APP [--json]                                     show an app, its tasks and its deployment
  scale APP N [--force] [--detach]                      change the number of instances
  restart APP [--force] [--detach]                      replace every instance
  rollback APP [--version V] [--detach]                 go back to version V (default: the one before the current)
  delete APP [--force] [--detach]                       stop every instance and remove the app
  why APP                                               explain why instances wait to launch

Every subcommand takes --master (default $AGORA_MASTER or ` + defaultMaster + `).`

// usageError is a command line the verb cannot run; it exits 2, as a
// missing or unknown verb does.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// exitCode is the process status for an error of the app verb.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

// ExitCode makes dispatch exit 2 for a usage error.
func (e *usageError) ExitCode() int { return 2 }

// runApp is the command table's entry.
func runApp(args []string) error { return withCLI((*cli).app)(args) }

func (c *cli) app(args []string) error {
	if len(args) == 0 {
		return usagef("app: missing subcommand\n\nusage: %s", appUsage)
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "-h", "--help", "help":
		fmt.Fprintf(c.stdout, "usage: %s\n", appUsage)
		return nil
	case "deploy":
		return c.appDeploy(rest)
	case "plan":
		return c.appPlan(rest)
	case "list", "ls":
		return c.appList(rest)
	case "show":
		return c.appShow(rest)
	case "scale":
		return c.appScale(rest)
	case "restart":
		return c.appRestart(rest)
	case "rollback":
		return c.appRollback(rest)
	case "delete", "rm":
		return c.appDelete(rest)
	case "why":
		return c.appWhy(rest)
	}
	return usagef("app: unknown subcommand %q\n\nusage: %s", sub, appUsage)
}

// appFlags are the flags shared by the app subcommands.
type appFlags struct {
	*verbFlags
	file    string
	force   bool
	detach  bool
	timeout time.Duration
}

// appFlags makes a subcommand's flag set; write adds --force, --detach and
// --timeout, file adds -f.
func (c *cli) appFlags(name, usage, summary string, write, file bool) *appFlags {
	f := &appFlags{verbFlags: c.newFlags("app "+name, usage, summary)}
	if write {
		f.fs.BoolVar(&f.force, "force", false, "go ahead even while another deployment of the app runs (it is cancelled)")
		f.fs.BoolVar(&f.detach, "detach", false, "return once the change is accepted, printing the deployment id")
		f.fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "stop watching the deployment after this long (it goes on)")
	}
	if file {
		f.fs.StringVar(&f.file, "f", "", "app definition file, JSON or YAML")
	}
	return f
}

// parseApp parses a subcommand's arguments and checks how many positional
// arguments it got.
func (c *cli) parseApp(f *appFlags, args []string, minPos, maxPos int) (pos []string, help bool, err error) {
	pos, help, err = c.parse(f.verbFlags, args)
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

func argCount(minPos, maxPos int) string {
	switch {
	case minPos == maxPos:
		return strconv.Itoa(minPos) + " argument(s)"
	case minPos == 0:
		return "at most " + strconv.Itoa(maxPos) + " argument(s)"
	}
	return fmt.Sprintf("%d to %d arguments", minPos, maxPos)
}

// services returns a client of the services API on the master, finding the
// leader in ZooKeeper when --master is a zk:// URL.
func (c *cli) services(f *appFlags) (*api.Client, string, error) {
	base, err := c.masterBase(f.master)
	if err != nil {
		return nil, "", err
	}
	return api.NewClient(base, c.hc), base, nil
}

// masterBase is the base URL of the master a framework API verb talks to:
// the leader registered in ZooKeeper for a zk:// URL.
func (c *cli) masterBase(master string) (string, error) {
	if _, _, ok, err := election.ParseURL(master); ok || err != nil {
		if err != nil {
			return "", fmt.Errorf("--master %s: %w", master, err)
		}
		leader, err := election.DetectLeader(c.ctx, master, 10*time.Second)
		if err != nil {
			return "", fmt.Errorf("--master %s: finding the leading master: %w", master, err)
		}
		return leader.Address, nil
	}
	base, err := client.BaseURL(master)
	if err != nil {
		return "", usagef("--master: %v", err)
	}
	return base, nil
}

// explainAPI turns an API error into a message naming the field, app or
// deployment at fault, and a transport error into advice.
func explainAPI(base, subject string, err error) error {
	var ae *api.Error
	if !errors.As(err, &ae) {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("%s: interrupted", subject)
		}
		return fmt.Errorf("%s: services API at %s: %w; is a master running there? start one with `agora dev` or set --master", subject, base, err)
	}
	switch ae.Status {
	case http.StatusUnprocessableEntity, http.StatusBadRequest:
		var b strings.Builder
		fmt.Fprintf(&b, "%s is invalid", subject)
		if ae.Message != "" && len(ae.Details) == 0 {
			fmt.Fprintf(&b, ": %s", ae.Message)
		}
		for _, d := range ae.Details {
			field := strings.TrimPrefix(d.Path, "/")
			if field == "" {
				field = "(the definition)"
			}
			fmt.Fprintf(&b, "\n  %s: %s", field, strings.Join(d.Errors, "; "))
		}
		return errors.New(b.String())
	case http.StatusConflict:
		if len(ae.Deployments) > 0 {
			return fmt.Errorf("%s is locked by deployment %s still running; wait for it (agora app show), cancel it, or use --force", subject, strings.Join(ae.Deployments, ", "))
		}
		return fmt.Errorf("%s: conflict: %s", subject, ae.Message)
	case http.StatusNotFound:
		msg := ae.Message
		if msg == "" {
			msg = "not found"
		}
		return fmt.Errorf("%s: %s", subject, msg)
	case http.StatusServiceUnavailable:
		return fmt.Errorf("%s: the services framework at %s is not ready yet (%s); try again in a moment", subject, base, ae.Message)
	}
	return fmt.Errorf("%s: %w", subject, ae)
}

func appID(s string) string { return "/" + strings.Trim(s, "/") }

// decodeHead decodes the top of an app file, JSON or YAML.
func decodeHead(raw []byte, v any) error {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return errors.New("the file is empty")
	}
	if trimmed[0] == '{' {
		return json.Unmarshal(trimmed, v)
	}
	return yaml.Unmarshal(trimmed, v)
}

// --- deploy and plan ---

func (c *cli) appDeploy(args []string) error {
	f := c.appFlags("deploy", "agora app deploy -f FILE [--force] [--detach] [--timeout 10m]",
		"Create or update the app defined in FILE (JSON or YAML) and watch its deployment until it ends.", true, true)
	if _, help, err := c.parseApp(f, args, 0, 0); help || err != nil {
		return err
	}
	raw, id, err := readAppFile(f.file)
	if err != nil {
		return err
	}
	cl, base, err := c.services(f)
	if err != nil {
		return err
	}
	return c.write(cl, base, f, id, false, func(ctx context.Context) (api.WriteResult, error) {
		res, err := cl.PutApp(ctx, raw, f.force, false)
		if err != nil {
			return api.WriteResult{}, err
		}
		return res.WriteResult, nil
	})
}

// readAppFile reads -f and returns the file and the app id it names.
func readAppFile(path string) ([]byte, string, error) {
	if path == "" {
		return nil, "", usagef("missing -f FILE: the app definition, JSON or YAML")
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
	var head struct {
		ID any `json:"id" yaml:"id"`
	}
	if err := decodeHead(raw, &head); err != nil {
		return nil, "", fmt.Errorf("-f %s: %w", path, err)
	}
	s, ok := head.ID.(string)
	if !ok || strings.Trim(s, "/") == "" {
		return nil, "", fmt.Errorf("-f %s: id: a non-empty string is required (e.g. id: /web)", path)
	}
	return raw, appID(s), nil
}

func (c *cli) appPlan(args []string) error {
	f := c.appFlags("plan", "agora app plan -f FILE",
		"Show what deploying FILE would change (create, scale, restart and its bounds, changed fields), changing nothing.", false, true)
	if _, help, err := c.parseApp(f, args, 0, 0); help || err != nil {
		return err
	}
	raw, id, err := readAppFile(f.file)
	if err != nil {
		return err
	}
	cl, base, err := c.services(f)
	if err != nil {
		return err
	}
	res, err := cl.PutApp(c.ctx, raw, false, true)
	if err != nil {
		return explainAPI(base, "app "+id, err)
	}
	if f.json {
		return writeIndented(c.stdout, res.Plan)
	}
	fmt.Fprint(c.stdout, renderPlan(res.Plan))
	return nil
}

// renderPlan says in words what a dry run found.
func renderPlan(p *api.PlanView) string {
	var b strings.Builder
	if len(p.Steps) == 0 && len(p.ChangedFields) == 0 {
		fmt.Fprintf(&b, "%s: no changes\n", p.App)
		return b.String()
	}
	for _, s := range p.Steps {
		switch {
		case p.Create || s.Action == deploy.StartApplication:
			fmt.Fprintf(&b, "create %s with %d instance(s)\n", s.App, s.Instances)
		case s.Action == deploy.StopApplication:
			fmt.Fprintf(&b, "stop %s: kill %d instance(s)\n", s.App, s.Kill)
		case s.Action == deploy.RestartApplication || p.Restart:
			fmt.Fprintf(&b, "restart %s: replace instances with %d of the new version, keeping at least %d healthy and at most %d in total (minHealthy %d, maxTotal %d)\n",
				s.App, s.Instances, s.MinHealthy, s.MaxTotal, s.MinHealthy, s.MaxTotal)
		default:
			from := s.Instances - s.Launch + s.Kill
			fmt.Fprintf(&b, "scale %s %d→%d", s.App, from, s.Instances)
			if s.Kill > 0 && len(s.KillIDs) > 0 {
				fmt.Fprintf(&b, " (kill %s)", strings.Join(s.KillIDs, ", "))
			}
			b.WriteString("\n")
		}
	}
	if len(p.Steps) == 0 {
		fmt.Fprintf(&b, "%s: no instance changes\n", p.App)
	}
	if len(p.ChangedFields) > 0 {
		label := "changed fields"
		if p.Create {
			label = "fields"
		}
		fmt.Fprintf(&b, "  %s: %s\n", label, strings.Join(p.ChangedFields, ", "))
	}
	b.WriteString("(plan only: nothing was changed)\n")
	return b.String()
}

// --- scale, restart, rollback, delete ---

func (c *cli) appScale(args []string) error {
	f := c.appFlags("scale", "agora app scale APP N [--force] [--detach]", "Change the app's number of instances and watch the deployment.", true, false)
	pos, help, err := c.parseApp(f, args, 2, 2)
	if help || err != nil {
		return err
	}
	n, err := strconv.Atoi(pos[1])
	if err != nil || n < 0 {
		return usagef("app scale: N: %q is not a number of instances (0 or more)", pos[1])
	}
	id := appID(pos[0])
	cl, base, err := c.services(f)
	if err != nil {
		return err
	}
	return c.write(cl, base, f, id, false, func(ctx context.Context) (api.WriteResult, error) {
		return cl.PatchApp(ctx, id, map[string]any{"instances": n}, f.force)
	})
}

func (c *cli) appRestart(args []string) error {
	f := c.appFlags("restart", "agora app restart APP [--force] [--detach]", "Replace every instance of the app (a rolling restart) and watch the deployment.", true, false)
	pos, help, err := c.parseApp(f, args, 1, 1)
	if help || err != nil {
		return err
	}
	id := appID(pos[0])
	cl, base, err := c.services(f)
	if err != nil {
		return err
	}
	return c.write(cl, base, f, id, false, func(ctx context.Context) (api.WriteResult, error) {
		return cl.RestartApp(ctx, id, f.force)
	})
}

func (c *cli) appRollback(args []string) error {
	f := c.appFlags("rollback", "agora app rollback APP [--version V] [--force] [--detach]",
		"Make an earlier version of the app current again (default: the version before the current one) and watch the deployment.", true, false)
	version := f.fs.String("version", "", "the version to go back to (see `agora app show APP --json` or /v2/apps/APP/versions)")
	pos, help, err := c.parseApp(f, args, 1, 1)
	if help || err != nil {
		return err
	}
	id := appID(pos[0])
	cl, base, err := c.services(f)
	if err != nil {
		return err
	}
	v := *version
	if v == "" {
		if v, err = previousVersion(c.ctx, cl, id); err != nil {
			return explainAPI(base, "app "+id, err)
		}
	}
	return c.write(cl, base, f, id, false, func(ctx context.Context) (api.WriteResult, error) {
		return cl.RollbackApp(ctx, id, v, f.force)
	})
}

// previousVersion is the newest stored version of the app other than the
// current one, as Marathon lists them (a scale makes a version too).
func previousVersion(ctx context.Context, cl *api.Client, id string) (string, error) {
	cur, err := cl.GetApp(ctx, id)
	if err != nil {
		return "", err
	}
	vs, err := cl.Versions(ctx, id)
	if err != nil {
		return "", err
	}
	for _, v := range vs {
		if v != cur.Version {
			return v, nil
		}
	}
	return "", fmt.Errorf("has no version before the current one (%s)", cur.Version)
}

func (c *cli) appDelete(args []string) error {
	f := c.appFlags("delete", "agora app delete APP [--force] [--detach]", "Stop every instance of the app, remove it, and watch until they are gone.", true, false)
	pos, help, err := c.parseApp(f, args, 1, 1)
	if help || err != nil {
		return err
	}
	id := appID(pos[0])
	cl, base, err := c.services(f)
	if err != nil {
		return err
	}
	return c.write(cl, base, f, id, true, func(ctx context.Context) (api.WriteResult, error) {
		return cl.DeleteApp(ctx, id, f.force)
	})
}

// write performs one change that may start a deployment and, unless
// --detach, watches it to its end.
func (c *cli) write(cl *api.Client, base string, f *appFlags, id string, deleting bool, do func(context.Context) (api.WriteResult, error)) error {
	var events <-chan api.Event
	stopEvents := func() {}
	if !f.detach {
		// Subscribe before the write so the deployment's end cannot be
		// missed; the stream outlives c.hc's timeout, so it gets its own
		// client. Without events the watch still decides by polling.
		ectx, cancel := context.WithCancel(c.ctx)
		stopEvents = cancel
		hc := *c.hc
		hc.Timeout = 0
		if ch, err := api.NewClient(base, &hc).Events(ectx, "deployment_success", "deployment_failed"); err == nil {
			events = ch
		}
	}
	defer stopEvents()
	res, err := do(c.ctx)
	if err != nil {
		return explainAPI(base, "app "+id, err)
	}
	if res.DeploymentID == "" {
		fmt.Fprintf(c.stdout, "%s: nothing to change (version %s)\n", id, res.Version)
		return nil
	}
	if f.detach {
		fmt.Fprintf(c.stdout, "%s: deployment %s started (version %s); follow it with `agora app show %s`\n", id, res.DeploymentID, res.Version, id)
		return nil
	}
	w := &watcher{c: c, cl: cl, base: base, app: id, dep: res.DeploymentID, version: res.Version, deleting: deleting, events: events}
	return w.run(f.timeout)
}

// --- watching a deployment ---

// watcher follows one deployment to its end, drawing a progress bar.
type watcher struct {
	c        *cli
	cl       *api.Client
	base     string
	app      string
	dep      string
	version  string // the app's version the write produced
	deleting bool
	events   <-chan api.Event

	target  *deploy.AppSpec
	action  string
	last    string // the last line drawn
	tty     bool
	drawn   bool
	endedBy *api.Event // the deployment's end event, when one came
}

func (w *watcher) run(timeout time.Duration) error {
	w.tty = isTerminal(w.c.stdout)
	ctx := w.c.ctx
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	poll := w.c.poll
	if poll <= 0 || poll > 500*time.Millisecond {
		poll = 500 * time.Millisecond
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		running, err := w.refresh()
		if err != nil {
			w.endLine()
			return err
		}
		if !running || w.endedBy != nil {
			return w.finish()
		}
		select {
		case <-ctx.Done():
			w.endLine()
			return fmt.Errorf("stopped watching; deployment %s of %s goes on (see `agora app show %s`)", w.dep, w.app, w.app)
		case <-deadline:
			w.endLine()
			return fmt.Errorf("deployment %s of %s still running after %s; it goes on (see `agora app show %s`, cancel it with DELETE /v2/deployments/%s)", w.dep, w.app, timeout, w.app, w.dep)
		case ev, ok := <-w.events:
			if !ok {
				w.events = nil // the stream ended: poll on
				continue
			}
			if ev.ID == w.dep {
				w.endedBy = &ev
			}
		case <-tick.C:
		}
	}
}

// refresh polls the deployment and the app, redrawing the bar; running is
// false once the deployment is gone from /v2/deployments.
func (w *watcher) refresh() (running bool, err error) {
	deps, err := w.cl.Deployments(w.c.ctx)
	if err != nil {
		if w.c.ctx.Err() != nil {
			return true, nil // Ctrl-C: the caller says so
		}
		return false, explainAPI(w.base, "deployment "+w.dep, err)
	}
	for _, d := range deps {
		if d.ID != w.dep {
			continue
		}
		running = true
		if d.Target != nil {
			t := *d.Target
			w.target = &t
		}
		if len(d.Steps) > 0 && len(d.Steps[0].Actions) > 0 {
			w.action = actionWord(d.Steps[0].Actions[0].Action)
		}
	}
	if a, err := w.cl.GetApp(w.c.ctx, w.app); err == nil {
		w.draw(a)
	}
	return running, nil
}

// finish decides how the deployment ended, draws the last bar and says so.
func (w *watcher) finish() error {
	a, getErr := w.cl.GetApp(w.c.ctx, w.app)
	gone := isNotFound(getErr)
	if getErr != nil && !gone {
		w.endLine()
		return explainAPI(w.base, "app "+w.app, getErr)
	}
	if a != nil {
		w.draw(a)
	}
	w.endLine()
	ok := false
	switch {
	case w.endedBy != nil:
		ok = w.endedBy.EventType == "deployment_success"
	case w.deleting:
		ok = gone
	default:
		// No event seen: a deployment that vanished while the app is no
		// longer at the version it deployed was rolled back or replaced.
		ok = !gone && a.Version == w.version
	}
	if !ok && w.endedBy == nil {
		w.waitFailure()
	}
	if ok {
		switch {
		case w.deleting:
			fmt.Fprintf(w.c.stdout, "deployment %s succeeded: %s is deleted\n", w.dep, w.app)
		case a == nil:
			fmt.Fprintf(w.c.stdout, "deployment %s succeeded\n", w.dep)
		default:
			fmt.Fprintf(w.c.stdout, "deployment %s succeeded: %s has %d instance(s) running, %d healthy\n", w.dep, w.app, a.TasksRunning, a.TasksHealthy)
		}
		return nil
	}
	reason := "it was rolled back or replaced by another deployment"
	if w.endedBy != nil && w.endedBy.Message != "" {
		reason = w.endedBy.Message
	}
	now := "the app no longer exists"
	if !gone {
		now = fmt.Sprintf("the app is at version %s", a.Version)
	}
	return fmt.Errorf("deployment %s of %s failed: %s; %s", w.dep, w.app, reason, now)
}

// waitFailure gives the event stream a moment to deliver the failure's
// reason when polling saw the end first.
func (w *watcher) waitFailure() {
	if w.events == nil {
		return
	}
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case ev, ok := <-w.events:
			if !ok {
				return
			}
			if ev.ID == w.dep {
				w.endedBy = &ev
				return
			}
		case <-t.C:
			return
		case <-w.c.ctx.Done():
			return
		}
	}
}

func isNotFound(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

func actionWord(a deploy.Action) string {
	switch a {
	case deploy.StartApplication:
		return "start"
	case deploy.ScaleApplication:
		return "scale"
	case deploy.RestartApplication:
		return "restart"
	case deploy.StopApplication:
		return "stop"
	}
	return strings.ToLower(string(a))
}

// draw renders the bar for a's current state.
func (w *watcher) draw(a *api.AppView) {
	p := barState{App: w.app, Dep: w.dep, Action: w.action, Deleting: w.deleting, Want: a.Instances, HasHealth: len(a.HealthChecks) > 0}
	version := ""
	if w.target != nil {
		p.Want, version = w.target.Instances, w.target.Version
	}
	for _, t := range a.Tasks {
		switch t.State {
		case "TASK_STAGING", "TASK_STARTING", "":
			p.Staged++
		case "TASK_RUNNING":
			p.Running++
		}
		healthy := taskHealthy(t)
		if healthy != nil && *healthy {
			p.Healthy++
		}
		fresh := version == "" || t.Version == version
		if fresh && t.State == "TASK_RUNNING" && (!p.HasHealth || (healthy != nil && *healthy)) {
			p.Done++
		}
	}
	p.Left = len(a.Tasks)
	w.show(renderBar(p))
}

func taskHealthy(t api.Task) *bool {
	if len(t.HealthCheckResults) == 0 {
		return nil
	}
	h := true
	for _, r := range t.HealthCheckResults {
		h = h && r.Alive
	}
	return &h
}

// show draws line: redrawn in place on a terminal, one line per change
// otherwise.
func (w *watcher) show(line string) {
	if line == w.last {
		return
	}
	w.last = line
	if w.tty {
		fmt.Fprintf(w.c.stdout, "\r%s\x1b[K", line)
		w.drawn = true
		return
	}
	fmt.Fprintln(w.c.stdout, line)
}

// endLine ends a line redrawn on a terminal.
func (w *watcher) endLine() {
	if w.tty && w.drawn {
		fmt.Fprintln(w.c.stdout)
		w.drawn = false
	}
}

// barState is what one progress line shows.
type barState struct {
	App, Dep, Action string
	Deleting         bool
	Want, Done       int // instances wanted; of the target version, running and (with checks) healthy
	Staged, Running  int
	Healthy          int
	HasHealth        bool
	Left             int // instances still existing, for a deletion
}

// renderBar is the progress line, e.g.
// "/web  [######----] 3/5  staged 1  running 4  healthy 3  (deployment 4f2a9c1e…, restart)".
// The bar fills as instances of the target version come up and, when there
// are too many, as the extra ones stop.
func renderBar(p barState) string {
	const width = 10
	done := min(p.Done, p.Want)
	span := max(p.Want, p.Left)
	if p.Deleting {
		done, span = 0, max(p.Left, 1)
		if p.Left == 0 {
			done = span
		}
	}
	filled := width
	if span > 0 {
		filled = min(width, done*width/span)
	}
	dep := p.Dep
	if len(dep) > 8 {
		dep = dep[:8] + "…"
	}
	action := p.Action
	if action == "" {
		action = "deploy"
	}
	health := "-"
	if p.HasHealth {
		health = strconv.Itoa(p.Healthy)
	}
	count := fmt.Sprintf("%d/%d", done, p.Want)
	if extra := p.Left - p.Want; !p.Deleting && extra > 0 && done == p.Want {
		count += fmt.Sprintf(" (%d to stop)", extra)
	}
	if p.Deleting {
		count = fmt.Sprintf("%d left", p.Left)
	}
	return fmt.Sprintf("%s  [%s%s] %s  staged %d  running %d  healthy %s  (deployment %s, %s)",
		p.App, strings.Repeat("#", filled), strings.Repeat("-", width-filled), count, p.Staged, p.Running, health, dep, action)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// --- list and show ---

func (c *cli) appList(args []string) error {
	f := c.appFlags("list", "agora app list [PREFIX] [--json]", "List apps (those under PREFIX, e.g. /team, when given).", false, false)
	pos, help, err := c.parseApp(f, args, 0, 1)
	if help || err != nil {
		return err
	}
	prefix := ""
	if len(pos) == 1 {
		prefix = pos[0]
	}
	cl, base, err := c.services(f)
	if err != nil {
		return err
	}
	apps, err := cl.ListApps(c.ctx, prefix)
	if err != nil {
		return explainAPI(base, "apps", err)
	}
	if f.json {
		return writeIndented(c.stdout, apps)
	}
	if len(apps) == 0 {
		where := ""
		if prefix != "" {
			where = " under " + appID(prefix)
		}
		fmt.Fprintf(c.stderr, "no apps%s on %s; create one with `agora app deploy -f app.yaml`\n", where, base)
		return nil
	}
	var rows [][]string
	for _, a := range apps {
		deps := "-"
		if len(a.Deployments) > 0 {
			ids := make([]string, len(a.Deployments))
			for i, d := range a.Deployments {
				ids[i] = d.ID
			}
			deps = strings.Join(ids, ",")
		}
		healthy := "-"
		if len(a.HealthChecks) > 0 {
			healthy = strconv.Itoa(a.TasksHealthy)
		}
		rows = append(rows, []string{a.ID(), fmt.Sprintf("%d/%d", a.TasksRunning, a.Instances), healthy,
			fmtNum(a.CPUs), fmtMB(a.Mem), a.Version, deps})
	}
	return writeTable(c.stdout, []string{"ID", "INSTANCES", "HEALTHY", "CPUS", "MEM", "VERSION", "DEPLOYING"}, rows)
}

func (c *cli) appShow(args []string) error {
	f := c.appFlags("show", "agora app show APP [--json]", "Show an app's definition, its tasks and any deployment of it.", false, false)
	pos, help, err := c.parseApp(f, args, 1, 1)
	if help || err != nil {
		return err
	}
	id := appID(pos[0])
	cl, base, err := c.services(f)
	if err != nil {
		return err
	}
	a, err := cl.GetApp(c.ctx, id)
	if err != nil {
		return explainAPI(base, "app "+id, err)
	}
	if f.json {
		return writeIndented(c.stdout, a)
	}
	deps, err := cl.Deployments(c.ctx)
	if err != nil {
		return explainAPI(base, "deployments", err)
	}
	return writeAppShow(c.stdout, a, deps)
}

func writeAppShow(out io.Writer, a *api.AppView, deps []api.DeploymentView) error {
	kv := [][]string{{"id", a.ID()}}
	if a.Container != nil && a.Container.Docker != nil && a.Container.Docker.Image != "" {
		kv = append(kv, []string{"image", a.Container.Docker.Image})
	}
	if a.Cmd != "" {
		kv = append(kv, []string{"cmd", a.Cmd})
	}
	if len(a.Args) > 0 {
		kv = append(kv, []string{"args", strings.Join(a.Args, " ")})
	}
	kv = append(kv,
		[]string{"instances", fmt.Sprintf("%d wanted, %d running, %d staged, %d healthy, %d unhealthy", a.Instances, a.TasksRunning, a.TasksStaged, a.TasksHealthy, a.TasksUnhealthy)},
		[]string{"resources", fmt.Sprintf("cpus %s  mem %s  disk %s", fmtNum(a.CPUs), fmtMB(a.Mem), fmtMB(a.Disk))})
	if len(a.Constraints) > 0 {
		cs := make([]string, len(a.Constraints))
		for i, cn := range a.Constraints {
			cs[i] = strings.Join(cn, " ")
		}
		kv = append(kv, []string{"constraints", strings.Join(cs, "; ")})
	}
	if len(a.HealthChecks) > 0 {
		hs := make([]string, len(a.HealthChecks))
		for i, h := range a.HealthChecks {
			hs[i] = h.Protocol
			if h.Path != "" {
				hs[i] += " " + h.Path
			}
		}
		kv = append(kv, []string{"health checks", strings.Join(hs, ", ")})
	}
	if len(a.Env) > 0 {
		keys := make([]string, 0, len(a.Env))
		for k := range a.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			keys[i] = k + "=" + a.Env[k]
		}
		kv = append(kv, []string{"env", strings.Join(keys, " ")})
	}
	kv = append(kv, []string{"version", a.Version})
	for _, r := range kv {
		fmt.Fprintf(out, "%-14s %s\n", r[0]+":", r[1])
	}
	fmt.Fprintln(out)
	if len(a.Tasks) == 0 {
		fmt.Fprintln(out, "no tasks")
	} else {
		var rows [][]string
		for _, t := range a.Tasks {
			ports := make([]string, len(t.Ports))
			for i, p := range t.Ports {
				ports[i] = strconv.FormatUint(p, 10)
			}
			healthy := "-"
			if h := taskHealthy(t); h != nil {
				healthy = yesNo(*h)
			}
			started := "-"
			if t.StartedAt != nil {
				started = t.StartedAt.UTC().Format(time.RFC3339)
			}
			rows = append(rows, []string{t.ID, t.Host, orDash(strings.Join(ports, ",")), t.State, healthy, t.Version, started})
		}
		if err := writeTable(out, []string{"TASK", "HOST", "PORTS", "STATE", "HEALTHY", "VERSION", "STARTED"}, rows); err != nil {
			return err
		}
	}
	for _, d := range deps {
		if len(d.AffectedApps) == 0 || d.AffectedApps[0] != a.ID() {
			continue
		}
		action := ""
		if len(d.Steps) > 0 && len(d.Steps[0].Actions) > 0 {
			action = actionWord(d.Steps[0].Actions[0].Action)
		}
		fmt.Fprintf(out, "\ndeployment %s: %s to version %s, %s", d.ID, action, d.Version, orDash(string(d.Status)))
		if d.Target != nil {
			fmt.Fprintf(out, ", %d instance(s) wanted", d.Target.Instances)
		}
		if d.RollbackOf != "" {
			fmt.Fprintf(out, " (rolls back %s)", d.RollbackOf)
		}
		if d.Reason != "" {
			fmt.Fprintf(out, ": %s", d.Reason)
		}
		fmt.Fprintln(out)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeIndented(w io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

// --- why ---

func (c *cli) appWhy(args []string) error {
	f := c.appFlags("why", "agora app why APP", "Explain why instances of the app wait to launch: backoff, and which constraint or resource turned each agent down.", false, false)
	pos, help, err := c.parseApp(f, args, 1, 1)
	if help || err != nil {
		return err
	}
	id := appID(pos[0])
	cl, base, err := c.services(f)
	if err != nil {
		return err
	}
	queue, err := cl.Queue(c.ctx)
	if err != nil {
		return explainAPI(base, "queue", err)
	}
	for _, q := range queue {
		if q.App.ID() == id {
			if f.json {
				return writeIndented(c.stdout, q)
			}
			fmt.Fprint(c.stdout, renderWhy(q))
			return nil
		}
	}
	a, err := cl.GetApp(c.ctx, id)
	if err != nil {
		return explainAPI(base, "app "+id, err)
	}
	fmt.Fprintf(c.stdout, "nothing is pending for %s: %d of %d instance(s) launched (%d running)\n", id, len(a.Tasks), a.Instances, a.TasksRunning)
	return nil
}

// renderWhy explains one queue entry.
func renderWhy(q api.QueueItem) string {
	var b strings.Builder
	id := q.App.ID()
	fmt.Fprintf(&b, "%s: %d instance(s) waiting to launch\n", id, q.Count)
	if !q.Delay.Overdue && q.Delay.TimeLeftSeconds > 0 {
		fmt.Fprintf(&b, "launch delay: %ds left (backoff after failed instances; DELETE /v2/queue%s/delay ends it)\n", q.Delay.TimeLeftSeconds, id)
	}
	agents := len(q.Reasons.Agents)
	if agents == 0 {
		fmt.Fprintln(&b, "no agent has offered resources for it yet (are agents registered with free resources for its role?)")
		return b.String()
	}
	fmt.Fprintf(&b, "turned down by:\n")
	names := make([]string, 0, len(q.Reasons.Constraints))
	for n := range q.Reasons.Constraints {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, c := q.Reasons.Constraints[names[i]], q.Reasons.Constraints[names[j]]
		return a > c || (a == c && names[i] < names[j])
	})
	for _, n := range names {
		fmt.Fprintf(&b, "  constraint %s: %d of %d agents\n", constraintWords(n), q.Reasons.Constraints[n], agents)
	}
	for _, r := range q.Reasons.Rejections {
		if strings.HasPrefix(r.Reason, "constraint ") {
			continue
		}
		fmt.Fprintf(&b, "  %s: %d of %d agents\n", r.Reason, r.Agents, agents)
	}
	ids := make([]string, 0, agents)
	for a := range q.Reasons.Agents {
		ids = append(ids, a)
	}
	sort.Strings(ids)
	fmt.Fprintf(&b, "per agent:\n")
	for _, a := range ids {
		fmt.Fprintf(&b, "  %s: %s\n", a, q.Reasons.Agents[a])
	}
	return b.String()
}

// constraintWords renders a constraint's name "hostname:LIKE:nowhere" as
// Marathon's users write it: "hostname LIKE nowhere".
func constraintWords(name string) string {
	return strings.Join(strings.SplitN(name, ":", 3), " ")
}
