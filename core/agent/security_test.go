package agent

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"agora/core/containerizer"
	"agora/core/mesos"
)

// sandboxEscapes builds, next to filesAgent's sandbox fw/t1, a sibling
// sandbox and a file outside the tree, and leaves in t1 every kind of link
// a task could use to reach them.
func sandboxEscapes(t *testing.T, a *Agent) {
	t.Helper()
	wd := a.cfg.WorkDir
	sb := filepath.Join(wd, "frameworks", "fw", "tasks", "t1")
	sib := filepath.Join(wd, "frameworks", "fw", "tasks", "t2")
	if err := os.MkdirAll(sib, 0o755); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(sib, "stdout"), []byte("SIBLING-SECRET"), 0o644))
	must(os.WriteFile(filepath.Join(wd, "host-secret"), []byte("HOST-SECRET"), 0o644))
	must(os.Mkdir(filepath.Join(sb, "logs"), 0o755))
	must(os.WriteFile(filepath.Join(sb, "logs", "app.log"), []byte("in-sandbox"), 0o644))
	for name, target := range map[string]string{
		"passwd":     "/etc/passwd",
		"host":       filepath.Join(wd, "host-secret"),
		"up":         "../../../../host-secret",
		"sibling":    "../t2/stdout",
		"siblingabs": filepath.Join(sib, "stdout"),
		"workdir":    wd,      // a symlinked directory
		"sibdir":     "../t2", // a symlinked directory, relative
		"ok":         "logs/app.log",
	} {
		must(os.Symlink(target, filepath.Join(sb, name)))
	}
	must(syscall.Mkfifo(filepath.Join(sb, "fifo"), 0o644))
}

func TestFilesCannotLeaveTheSandbox(t *testing.T) {
	a, srv := filesAgent(t)
	sandboxEscapes(t, a)
	for _, q := range []string{
		"path=/frameworks/fw/tasks/t1/../t2/stdout",
		"path=/frameworks/fw/tasks/t1/%2e%2e/t2/stdout",
		"path=%2Fframeworks%2Ffw%2Ftasks%2Ft1%2F%2E%2E%2F%2E%2E%2F%2E%2E%2F%2E%2E%2Fhost-secret",
		"path=/etc/passwd",
		"path=/frameworks/fw/tasks/t1//etc/passwd",
		"path=/frameworks/fw/tasks/t1/passwd",
		"path=/frameworks/fw/tasks/t1/host",
		"path=/frameworks/fw/tasks/t1/up",
		"path=/frameworks/fw/tasks/t1/sibling",
		"path=/frameworks/fw/tasks/t1/siblingabs",
		"path=/frameworks/fw/tasks/t1/workdir/host-secret",
		"path=/frameworks/fw/tasks/t1/sibdir/stdout",
		"path=/frameworks/fw/tasks/t1/fifo",
		"path=/frameworks/fw/tasks/../tasks/t2/stdout",
		"path=/frameworks/fw/tasks/t1%2F..%2Ft2/stdout",
	} {
		for _, ep := range []string{"/files/read?", "/files/download?"} {
			code, body := get(t, srv.URL+ep+q)
			if code < 400 || code > 499 {
				t.Errorf("%s%s: status %d, want 4xx", ep, q, code)
			}
			for _, leak := range []string{"SIBLING-SECRET", "HOST-SECRET", "root:"} {
				if strings.Contains(body, leak) {
					t.Errorf("%s%s: answer leaks %s: %s", ep, q, leak, body)
				}
			}
		}
	}
	// A link that stays inside the sandbox is followed.
	if code, body := get(t, srv.URL+"/files/download?path=/frameworks/fw/tasks/t1/ok"); code != 200 || body != "in-sandbox" {
		t.Errorf("in-sandbox link: %d %q", code, body)
	}
}

// TestFilesAreAuthorizedByTaskUser: the hook sees the user of the task whose
// sandbox is asked for (command.user, else the framework's), for running
// and completed tasks, and its denial is a 403 with its reason.
func TestFilesAreAuthorizedByTaskUser(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	m.autoAck.Store(true)
	proc := newFakeProcess()
	cfg := testConfig(t, m)
	var asked []string
	cfg.AuthorizeSandbox = func(r *http.Request, user string) (bool, string) {
		asked = append(asked, user)
		if r.Header.Get("X-User") == user {
			return true, ""
		}
		return false, "user " + r.Header.Get("X-User") + " may not read " + user + "'s sandboxes"
	}
	cfg.Middleware = func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-User") == "" {
				http.Error(w, "who are you?", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	a := startAgent(t, cfg, proc)
	m.waitSubs(t, 1)
	fw := framework("fw")
	fw.User = "alice"
	m.send(runTask(fw, "a1"))
	m.send(runTask(fw, "b1", func(ti *mesos.TaskInfo) { ti.Command.User = "bob" }))
	m.waitUpdate(t, "a1", mesos.TaskRunning)
	m.waitUpdate(t, "b1", mesos.TaskRunning)

	read := func(user, tid string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+a.Addr()+"/files/read?path=/frameworks/fw/tasks/"+tid+"/stdout", nil)
		if user != "" {
			req.Header.Set("X-User", user)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := read("", "a1"); code != 401 || !strings.Contains(body, "who are you") {
		t.Fatalf("without credentials: %d %s, want the middleware's 401", code, body)
	}
	if code, body := read("alice", "a1"); code != 200 || !strings.Contains(body, "hello from a1") {
		t.Fatalf("alice reads her task: %d %s", code, body)
	}
	if code, body := read("alice", "b1"); code != 403 || !strings.Contains(body, "may not read bob's sandboxes") || strings.Contains(body, "hello") {
		t.Fatalf("alice reads bob's task: %d %s, want 403 with the reason", code, body)
	}
	// Completed and forgotten, the task's user still comes from its
	// checkpoint.
	proc.container(t, "b1").finish(containerizer.Exit{Message: "done"})
	eventually(t, "b1 forgotten", func() bool { return taskState(t, a.Agent, "b1") == "" })
	if code, _ := read("alice", "b1"); code != 403 {
		t.Fatalf("alice reads bob's completed task: %d, want 403", code)
	}
	if code, body := read("bob", "b1"); code != 200 || !strings.Contains(body, "hello from b1") {
		t.Fatalf("bob reads his completed task: %d %s", code, body)
	}
	if strings.Join(asked, ",") != "alice,bob,bob,bob" {
		t.Fatalf("hook asked for users %v", asked)
	}
}

// TestSecretsAreMaskedInStateAndLogs: a SECRET variable reaches the
// containerizer, and nothing the agent shows holds its value.
func TestSecretsAreMaskedInStateAndLogs(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	m.autoAck.Store(true)
	proc := newFakeProcess()
	cfg := testConfig(t, m)
	var (
		logMu sync.Mutex
		logs  strings.Builder
	)
	a := startAgentWith(t, cfg, func(a *Agent) {
		a.logf = func(format string, args ...any) {
			logMu.Lock()
			defer logMu.Unlock()
			fmt.Fprintf(&logs, format+"\n", args...)
		}
	}, proc)
	m.waitSubs(t, 1)
	withSecret := func(ti *mesos.TaskInfo) {
		ti.Command.User = "root"
		ti.Command.Environment = &mesos.Environment{Variables: []mesos.EnvironmentVariable{
			{Name: "DB_PASSWORD", Type: "SECRET", Secret: &mesos.Secret{Type: "VALUE", Value: &mesos.SecretValue{Data: []byte("hunter2-xyzzy")}}},
		}}
	}
	m.send(runTask(framework("fw"), "s1", withSecret))
	m.waitUpdate(t, "s1", mesos.TaskRunning)
	spec := proc.spec("s1")
	if v := spec.Task.Command.Environment.Variables[0].Secret.Value.Data; string(v) != "hunter2-xyzzy" {
		t.Fatalf("the containerizer got secret %q", v)
	}
	code, body := get(t, "http://"+a.Addr()+"/state")
	if code != 200 || strings.Contains(body, "hunter2") || strings.Contains(body, "aHVudGVyMi") {
		t.Fatalf("/state shows the secret: %s", body)
	}
	if !strings.Contains(body, `"DB_PASSWORD"`) || !strings.Contains(body, `"user":"root"`) {
		t.Fatalf("/state does not show the task's masked command and user: %s", body)
	}
	// A launch that fails says why, without the secret.
	proc.mu.Lock()
	proc.launchErr = errString("no luck")
	proc.mu.Unlock()
	m.send(runTask(framework("fw"), "s2", withSecret))
	if u := m.waitUpdate(t, "s2", mesos.TaskFailed); !strings.Contains(u.Status.Message, "no luck") {
		t.Fatalf("TASK_FAILED of s2 does not say why: %q", u.Status.Message)
	}
	for _, u := range m.allUpdates() {
		if strings.Contains(u.Status.Message, "hunter2") {
			t.Fatalf("update shows the secret: %+v", u.Status)
		}
	}
	for _, s := range m.subscriptions() {
		if strings.Contains(fmt.Sprintf("%+v", s), "hunter2") {
			t.Fatal("SUBSCRIBE shows the secret")
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if strings.Contains(logs.String(), "hunter2") {
		t.Fatalf("logs show the secret:\n%s", logs.String())
	}
	// The checkpoint keeps it (a restart relaunches and recovers), readable
	// only by the agent's user.
	r, _, ok := a.meta.LoadTask("fw", "s1")
	if !ok || r.Task == nil || string(r.Task.Spec.Task.Command.Environment.Variables[0].Secret.Value.Data) != "hunter2-xyzzy" {
		t.Fatal("the checkpoint lost the secret a restarted agent needs")
	}
	fi, err := os.Stat(filepath.Join(a.meta.TaskDir("fw", "s1"), "task.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("task.json: %v %v, want mode 0600", fi.Mode(), err)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
