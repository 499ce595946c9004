package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dockerclient "github.com/docker/docker/client"

	"agora/core/client"
	dockerc "agora/core/containerizer/docker"
	"agora/core/containerizer/docker/dockertest"
	"agora/core/mesos"
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
	start(t, "dev", "--lb", "off", "--listen", masterAddr, "--agent_listen", agentAddr, "--data_dir", t.TempDir(), "--allocation_interval", "100ms",
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

// freeAddrOn returns a free TCP address on the loopback IP ip.
func freeAddrOn(t testing.TB, ip string) string {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatalf("listen on %s (a loopback address the test needs): %v", ip, err)
	}
	defer l.Close()
	return l.Addr().String()
}

const dockerHTTPDApp = `{
  "id": "/e2e/httpd",
  "cmd": "mkdir -p /www && echo \"task $MESOS_TASK_ID version $VERSION\" > /www/index.html && exec httpd -f -p 80 -h /www",
  "instances": %d,
  "cpus": 0.1,
  "mem": 32,
  "container": {
    "type": "DOCKER",
    "docker": {"image": %q, "network": "BRIDGE"},
    "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}]
  },
  "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 30,
    "intervalSeconds": 1, "timeoutSeconds": 2, "maxConsecutiveFailures": 3, "delaySeconds": 0}],
  "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
  "unreachableStrategy": {"inactiveAfterSeconds": 1, "expungeAfterSeconds": 60},
  "env": {"VERSION": %q}
}`

// reachEvery fetches every running instance of the app on its host:port and
// checks the page names the task and the version.
func reachEvery(t testing.TB, cl *api.Client, appID string, want int, version string) []api.Task {
	t.Helper()
	var tasks []api.Task
	waitFor(t, 90*time.Second, fmt.Sprintf("%d instances of %s serving version %s on their host ports", want, appID, version), func() bool {
		tasks = runningTasks(t, cl, appID)
		if len(tasks) != want {
			return false
		}
		for _, tk := range tasks {
			if len(tk.Ports) == 0 {
				return false
			}
			body, err := httpGet(fmt.Sprintf("http://%s/", net.JoinHostPort(tk.Host, strconv.FormatUint(tk.Ports[0], 10))))
			if err != nil || !strings.Contains(body, "task "+tk.ID+" ") || !strings.Contains(body, "version "+version) {
				return false
			}
		}
		return true
	})
	return tasks
}

func httpGet(u string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", u, resp.Status)
	}
	return string(b), err
}

func taskIDs(tasks []api.Task) []string {
	var ids []string
	for _, tk := range tasks {
		ids = append(ids, tk.ID)
	}
	sort.Strings(ids)
	return ids
}

// A busybox httpd app on two Docker agents: deploy, reach every instance,
// scale 1 -> 5 -> 2, upgrade with minimumHealthCapacity 1 without a moment
// below 2 healthy, lose an agent and see its instances replaced on the other,
// restart the master and find the same instances.
func TestServicesDockerEndToEnd(t *testing.T) {
	docker := dockertest.Daemon(t)
	image := dockertest.BusyboxImage(t, docker)
	began := time.Now()
	phase := func(what string) { t.Logf("%6.1fs  %s", time.Since(began).Seconds(), what) }
	masterAddr := freeAddr(t)
	url := "http://" + masterAddr
	masterArgs := []string{"master", "--authenticate=false", "--listen", masterAddr, "--data_dir", t.TempDir(), "--allocation_interval", "100ms",
		"--agent_ping_timeout", "300ms", "--max_agent_ping_timeouts", "3"}
	master := start(t, masterArgs...)
	waitHealthy(t, url)
	agents := map[string]*proc{}
	for i, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		ports := fmt.Sprintf("ports:[%d-%d]", 31500+100*i, 31549+100*i)
		agents[ip] = start(t, "agent", "--authenticate=false", "--switch_user=false", "--master", masterAddr, "--listen", freeAddrOn(t, ip), "--hostname", ip, "--docker_host_ip", ip,
			"--work_dir", t.TempDir(), "--containerizers", "docker", "--resources", "cpus:4;mem:2048;disk:2000;"+ports)
	}
	var agentIDs []string
	for _, a := range waitAgents(t, url, 2) {
		if a.AgentInfo.ID != nil {
			agentIDs = append(agentIDs, a.AgentInfo.ID.Value)
		}
	}
	// Containers of an agent this test kills outlive it: remove them.
	t.Cleanup(func() { removeAgentContainers(t, docker, agentIDs) })
	cl := waitServices(t, url)

	file := func(instances int, version string) string {
		return writeFile(t, "httpd.json", fmt.Sprintf(dockerHTTPDApp, instances, image, version))
	}
	out := mustApp(t, url, "deploy", "-f", file(1, "v1"))
	if bars := barLines(out); len(bars) == 0 || !strings.Contains(bars[len(bars)-1], "healthy 1") {
		t.Fatalf("deploy's bar does not end healthy:\n%s", out)
	}
	reachEvery(t, cl, "/e2e/httpd", 1, "v1")
	phase("deployed and reached 1 instance")
	for _, n := range []int{5, 2} {
		mustApp(t, url, "scale", "/e2e/httpd", strconv.Itoa(n))
		reachEvery(t, cl, "/e2e/httpd", n, "v1")
		phase(fmt.Sprintf("scaled to %d and reached every instance", n))
	}

	// Upgrade while watching tasksHealthy every 50 ms.
	stop := make(chan struct{})
	type sampled struct{ low, n int }
	samples := make(chan sampled, 1)
	go func() {
		s, tick := sampled{low: 1 << 30}, time.NewTicker(50*time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				samples <- s
				return
			case <-tick.C:
				if a, err := cl.GetApp(context.Background(), "/e2e/httpd"); err == nil {
					s.low, s.n = min(s.low, a.TasksHealthy), s.n+1
				}
			}
		}
	}()
	out = mustApp(t, url, "deploy", "-f", file(2, "v2"))
	close(stop)
	s := <-samples
	if s.n < 3 || s.low < 2 {
		t.Fatalf("during the upgrade with minimumHealthCapacity 1, tasksHealthy fell to %d over %d samples (want never below 2)\n%s", s.low, s.n, out)
	}
	t.Logf("upgrade: tasksHealthy never below %d over %d samples", s.low, s.n)
	if !strings.Contains(out, "restart)") {
		t.Errorf("the upgrade's bar does not say restart:\n%s", out)
	}
	tasks := reachEvery(t, cl, "/e2e/httpd", 2, "v2")
	phase("upgraded and reached every instance")

	// Kill the agent of the first instance: its instances come back on the
	// other one.
	lost := tasks[0].Host
	survivor := "127.0.0.1"
	if lost == survivor {
		survivor = "127.0.0.2"
	}
	if err := agents[lost].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	agents[lost].cmd.Wait()
	waitFor(t, 90*time.Second, "the lost agent's instances replaced on "+survivor, func() bool {
		ts := runningTasks(t, cl, "/e2e/httpd")
		if len(ts) != 2 {
			return false
		}
		for _, tk := range ts {
			if tk.Host != survivor {
				return false
			}
		}
		return true
	})
	tasks = reachEvery(t, cl, "/e2e/httpd", 2, "v2")
	phase("instances of the killed agent replaced")

	// Restart the master on the same data dir: the same instances run.
	before := taskIDs(tasks)
	master.interrupt(t)
	phase("master stopped")
	start(t, masterArgs...)
	waitHealthy(t, url)
	cl = waitServices(t, url)
	phase("master restarted, services API up")
	var after []string
	// The lost agent's replaced instances stay listed as unreachable until
	// expunged, as in Marathon; the running ones must be exactly the same.
	waitFor(t, 90*time.Second, "the same instances running after the master restart", func() bool {
		after = taskIDs(runningTasks(t, cl, "/e2e/httpd"))
		return strings.Join(after, ",") == strings.Join(before, ",")
	})
	// The master learns them again from the surviving agent, and once it
	// has, the framework still runs exactly those: none lost, none doubled.
	op := client.NewOperator(url, nil)
	waitFor(t, 90*time.Second, "the restarted master to list the same tasks running", func() bool {
		resp, err := op.Call(context.Background(), mesos.GetTasks)
		if err != nil || resp.GetTasks == nil {
			return false
		}
		var ids []string
		for _, tk := range resp.GetTasks.Tasks {
			if tk.State == mesos.TaskRunning {
				ids = append(ids, tk.TaskID.Value)
			}
		}
		sort.Strings(ids)
		return strings.Join(ids, ",") == strings.Join(before, ",")
	})
	if got := taskIDs(reachEvery(t, cl, "/e2e/httpd", 2, "v2")); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Fatalf("after the master restart the app runs %v, want the same %v", got, before)
	}
	phase("same instances after the master restart")

	out = mustApp(t, url, "delete", "/e2e/httpd")
	if !strings.Contains(lastLine(out), "is deleted") {
		t.Fatalf("delete: %s", out)
	}
}

// removeAgentContainers removes the containers the given agents left, by
// their label, so a killed agent's instances do not outlive the test.
func removeAgentContainers(t testing.TB, docker *dockerclient.Client, agentIDs []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, id := range agentIDs {
		list, err := docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", dockerc.LabelAgentID+"="+id))})
		if err != nil {
			t.Logf("listing agent %s's containers to clean up: %v", id, err)
			return
		}
		for _, c := range list {
			_ = docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
	}
}
