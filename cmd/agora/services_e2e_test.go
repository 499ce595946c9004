package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"agora/frameworks/services/api"
)

// End-to-end tests of the services framework through `agora app`, with the
// built binary as a user runs it.

// runCode runs the binary and returns its combined output and exit status.
func runCode(t testing.TB, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, agoraBin(t), args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("agora %s: %v\n%s", strings.Join(args, " "), err, out)
	return "", -1
}

// mustApp runs `agora app ARGS... --master url` and fails the test unless it
// exits 0.
func mustApp(t testing.TB, url string, args ...string) string {
	t.Helper()
	out, code := runCode(t, append(append([]string{"app"}, args...), "--master", url)...)
	if code != 0 {
		t.Fatalf("agora app %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// waitServices waits until the services framework in the master answers
// and has registered.
func waitServices(t testing.TB, url string) *api.Client {
	t.Helper()
	cl := api.NewClient(url, nil)
	waitFor(t, 60*time.Second, "the services API at "+url, func() bool {
		info, err := cl.Info(context.Background())
		if err != nil || info.FrameworkID == "" {
			return false
		}
		_, err = cl.ListApps(context.Background(), "")
		return err == nil
	})
	return cl
}

func writeFile(t testing.TB, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runningTasks returns the app's tasks in TASK_RUNNING.
func runningTasks(t testing.TB, cl *api.Client, app string) []api.Task {
	t.Helper()
	tasks, err := cl.Tasks(context.Background(), app)
	if err != nil {
		t.Fatalf("tasks of %s: %v", app, err)
	}
	var out []api.Task
	for _, tk := range tasks {
		if tk.State == "TASK_RUNNING" {
			out = append(out, tk)
		}
	}
	return out
}

const processWebYAML = `# A process task with a command health check, in YAML.
id: /e2e/web
cmd: sleep 3600
instances: 1
cpus: 0.1
mem: 32
healthChecks:
  - protocol: COMMAND
    command: {value: "true"}
    gracePeriodSeconds: 10
    intervalSeconds: 1
    delaySeconds: 0
env:
  VERSION: one
`

func TestServicesProcessAppsEndToEnd(t *testing.T) {
	masterAddr, agentAddr := freeAddr(t), freeAddr(t)
	url := "http://" + masterAddr
	start(t, "dev", "--listen", masterAddr, "--agent_listen", agentAddr, "--data_dir", t.TempDir(), "--allocation_interval", "100ms",
		"--containerizers", "process", "--resources", "cpus:4;mem:2048;disk:1000;ports:[31300-31399]")
	waitHealthy(t, url)
	waitAgents(t, url, 1)
	cl := waitServices(t, url)

	// Deploy from YAML: the bar ends with every instance healthy.
	web := writeFile(t, "web.yaml", processWebYAML)
	out := mustApp(t, url, "deploy", "-f", web)
	bars := barLines(out)
	if len(bars) == 0 {
		t.Fatalf("deploy drew no progress bar:\n%s", out)
	}
	if last := bars[len(bars)-1]; !strings.Contains(last, "[##########] 1/1") || !strings.Contains(last, "healthy 1") {
		t.Fatalf("the bar's last line %q does not show every instance healthy\n%s", last, out)
	}
	if !strings.Contains(lastLine(out), "succeeded") {
		t.Fatalf("deploy's last line %q", lastLine(out))
	}

	// Scale 1 -> 5 -> 2, each watched to the end.
	for _, n := range []int{5, 2} {
		out := mustApp(t, url, "scale", "/e2e/web", strconv.Itoa(n))
		if !strings.Contains(lastLine(out), strconv.Itoa(n)+" instance(s) running, "+strconv.Itoa(n)+" healthy") {
			t.Fatalf("scale to %d ended with %q\n%s", n, lastLine(out), out)
		}
		if got := len(runningTasks(t, cl, "/e2e/web")); got != n {
			t.Fatalf("after scaling to %d, %d tasks run", n, got)
		}
	}

	// list and show.
	rows := fields(mustApp(t, url, "list"))
	if row := findRow(rows, "/e2e/web"); row == nil || row[1] != "2/2" || row[2] != "2" || row[6] != "-" {
		t.Fatalf("agora app list row for /e2e/web = %v, want 2/2 running, 2 healthy, no deployment", row)
	}
	show := mustApp(t, url, "show", "/e2e/web")
	taskRows := 0
	for _, r := range fields(show) {
		if len(r) == 7 && r[3] == "TASK_RUNNING" && r[4] == "yes" {
			taskRows++
		}
	}
	if taskRows != 2 || !strings.Contains(show, "2 wanted, 2 running") {
		t.Fatalf("agora app show lists %d running healthy tasks, want 2:\n%s", taskRows, show)
	}

	// plan says what would change and changes nothing.
	before, err := cl.GetApp(context.Background(), "/e2e/web")
	if err != nil {
		t.Fatal(err)
	}
	changed := writeFile(t, "web.yaml", strings.Replace(strings.Replace(processWebYAML, "VERSION: one", "VERSION: two", 1), "instances: 1", "instances: 2", 1))
	plan := mustApp(t, url, "plan", "-f", changed)
	if !strings.Contains(plan, "restart /e2e/web") || !strings.Contains(plan, "env") || !strings.Contains(plan, "nothing was changed") {
		t.Fatalf("agora app plan:\n%s", plan)
	}
	after, err := cl.GetApp(context.Background(), "/e2e/web")
	if err != nil {
		t.Fatal(err)
	}
	deps, _ := cl.Deployments(context.Background())
	if after.Version != before.Version || after.Env["VERSION"] != "one" || len(deps) != 0 {
		t.Fatalf("plan changed something: version %s -> %s, env %v, deployments %v", before.Version, after.Version, after.Env, deps)
	}

	// An impossible constraint: the app stays pending and `why` names it.
	nowhere := writeFile(t, "nowhere.json", `{"id": "/e2e/nowhere", "cmd": "sleep 3600", "instances": 2, "cpus": 0.1, "mem": 16,
		"constraints": [["hostname", "LIKE", "nowhere"]]}`)
	if out := mustApp(t, url, "deploy", "-f", nowhere, "--detach"); !strings.Contains(out, "started") {
		t.Fatalf("deploy --detach: %s", out)
	}
	var why string
	waitFor(t, 60*time.Second, "agora app why names the constraint", func() bool {
		why = mustApp(t, url, "why", "/e2e/nowhere")
		return strings.Contains(why, "hostname LIKE nowhere: 1 of 1 agents")
	})
	if !strings.Contains(why, "2 instance(s) waiting") {
		t.Errorf("agora app why:\n%s", why)
	}
	if n := len(runningTasks(t, cl, "/e2e/nowhere")); n != 0 {
		t.Fatalf("%d instances of an impossible app run", n)
	}
	if why := mustApp(t, url, "why", "/e2e/web"); !strings.Contains(why, "nothing is pending") {
		t.Errorf("why of a placed app:\n%s", why)
	}

	// A bad file exits 1 naming the field; nothing is created.
	bad := writeFile(t, "bad.yaml", "id: /e2e/bad\ncmd: sleep 1\ncpus: -1\n")
	out, code := runCode(t, "app", "deploy", "-f", bad, "--master", url)
	if code != 1 || !strings.Contains(out, "cpus") || !strings.Contains(out, "/e2e/bad") {
		t.Fatalf("a bad app file: exit %d\n%s", code, out)
	}
	if _, err := cl.GetApp(context.Background(), "/e2e/bad"); err == nil {
		t.Fatal("a bad app was created")
	}
	if _, code := runCode(t, "app", "scale", "/e2e/web", "--master", url); code != 2 {
		t.Errorf("a usage error exits %d, want 2", code)
	}

	// delete stops every task.
	out = mustApp(t, url, "delete", "/e2e/web")
	if !strings.Contains(lastLine(out), "/e2e/web is deleted") {
		t.Fatalf("delete: %s", out)
	}
	mustApp(t, url, "delete", "/e2e/nowhere", "--force")
	if tasks := run(t, "tasks", "--master", url); !strings.Contains(tasks, "no tasks are running") {
		t.Fatalf("after deleting every app, agora tasks shows:\n%s", tasks)
	}
	if out := mustApp(t, url, "list"); strings.Contains(out, "/e2e/") {
		t.Fatalf("apps left after delete:\n%s", out)
	}
}
