package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"agora/core/authn"
	"agora/core/client"
	"agora/core/mesos"
	"agora/core/tlsconfig"
	"agora/core/tlsconfig/tlstest"
	"agora/frameworks/services/api"
)

// securityACLs is the cluster's policy in the end-to-end test: the built-in
// frameworks and team-a run tasks as RUNUSER, never as root; only the
// "agent" principal (here: the agent's client certificate) registers
// agents; each team manages and sees its own apps; team-a reads the
// sandboxes of RUNUSER's tasks, which team-b sees but cannot read; ops
// sees everything.
const securityACLs = `{
  "permissive": false,
  "register_frameworks": [{"principals": {"values": ["agora-frameworks"]}, "roles": {"type": "ANY"}}],
  "run_tasks": [
    {"principals": {"type": "NONE"}, "users": {"values": ["root"]}},
    {"principals": {"values": ["agora-frameworks", "team-a"]}, "users": {"values": ["RUNUSER"]}}],
  "register_agents": [{"principals": {"values": ["agent"]}, "agents": {"type": "ANY"}}],
  "view_frameworks": [{"principals": {"values": ["ops", "team-a"]}, "users": {"type": "ANY"}}],
  "view_tasks": [{"principals": {"values": ["ops", "team-a", "team-b"]}, "users": {"type": "ANY"}}],
  "view_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "ANY"}}],
  "access_sandboxes": [{"principals": {"values": ["team-a"]}, "users": {"values": ["RUNUSER"]}}],
  "view_apps": [
    {"principals": {"values": ["ops"]}, "apps": {"type": "ANY"}},
    {"principals": {"values": ["team-a"]}, "apps": {"values": ["/team-a"]}},
    {"principals": {"values": ["team-b"]}, "apps": {"values": ["/team-b"]}}],
  "manage_apps": [
    {"principals": {"values": ["team-a"]}, "apps": {"values": ["/team-a"]}},
    {"principals": {"values": ["team-b"]}, "apps": {"values": ["/team-b"]}}],
  "manage_acls": [{"principals": {"values": ["ops"]}}]
}`

// cluster is what the test knows of the secured cluster it started.
type secureCluster struct {
	master   string // https://...
	agent    string // https://...
	ca       string
	tokens   map[string]string
	auditLog string
}

// as is an HTTP client that trusts the test CA and sends p's token.
func (c *secureCluster) as(t *testing.T, p string) *http.Client {
	t.Helper()
	tc, err := tlsconfig.Client(tlsconfig.Files{CA: c.ca})
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	if p == "" {
		return &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	return &http.Client{Transport: &authn.Transport{Base: tr, Principal: p, Token: c.tokens[p]}, Timeout: 30 * time.Second}
}

// cli runs an agora verb against the master as principal p (token in the
// environment, never on the command line).
func (c *secureCluster) cli(t *testing.T, p string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(agoraBin(t), append(args, "--master", c.master, "--tls_ca", c.ca)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if p != "" {
		cmd.Env = append(cmd.Env, "AGORA_PRINCIPAL="+p, "AGORA_TOKEN="+c.tokens[p])
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// runUser is the user the test's tasks run as: nobody when the tests run
// as root (the agent switches to it), else the user running the tests.
func runUser(t *testing.T) (name string, switchUser bool) {
	if os.Geteuid() == 0 {
		return "nobody", true
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username, false
}

func startSecureCluster(t *testing.T) *secureCluster {
	t.Helper()
	dir := t.TempDir()
	// Tasks run as another user must reach their sandboxes, as under
	// /var/lib/agora; t.TempDir makes its directories 0700.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ca := tlstest.NewCA(t)
	masterTLS := ca.Issue(t, "master", "127.0.0.1")
	agentTLS := ca.Issue(t, "agent", "127.0.0.1")

	c := &secureCluster{ca: ca.CertFile, tokens: map[string]string{}}
	creds, err := authn.ParseCredentials([]byte(`{"credentials": []}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"ops", "team-a", "team-b"} {
		tok, hash, err := authn.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		creds.Set(p, "", hash)
		c.tokens[p] = tok
	}
	credsJSON, _ := creds.Marshal()
	credsFile := writeFile(t, "credentials.json", string(credsJSON))
	ru, switchUser := runUser(t)
	aclFile := writeFile(t, "acls.json", strings.ReplaceAll(securityACLs, "RUNUSER", ru))

	masterAddr, agentAddr := freeAddr(t), freeAddr(t)
	c.master, c.agent = "https://"+masterAddr, "https://"+agentAddr
	data := filepath.Join(dir, "master")
	c.auditLog = filepath.Join(data, "audit.log")
	start(t, "master", "--listen", masterAddr, "--data_dir", data, "--allocation_interval", "100ms",
		"--credentials", credsFile, "--acls", aclFile, "--services_user", ru,
		"--tls_cert", masterTLS.Cert, "--tls_key", masterTLS.Key, "--tls_ca", ca.CertFile, "--tls_only",
		"--rate_limits", `{"limits": [{"principal": "team-b", "qps": 0.01, "capacity": 8}]}`)
	// The agent authenticates to the master with its client certificate
	// (principal "agent") and serves its sandboxes over HTTPS to callers
	// with credentials.
	start(t, "agent", "--master", c.master, "--listen", agentAddr, "--hostname", "127.0.0.1", "--work_dir", filepath.Join(dir, "agent"),
		"--containerizers", "process", "--resources", "cpus:2;mem:1024;disk:1000;ports:[31000-31100]",
		"--switch_user="+boolStr(switchUser), "--credentials", credsFile, "--acls", aclFile,
		"--tls_cert", agentTLS.Cert, "--tls_key", agentTLS.Key, "--tls_ca", ca.CertFile)
	ops := client.NewOperator(c.master, c.as(t, "ops"))
	waitFor(t, 30*time.Second, "the agent to register over mutual TLS", func() bool {
		r, err := ops.Call(context.Background(), mesos.GetAgents)
		return err == nil && len(r.GetAgents.Agents) == 1
	})
	return c
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func TestSecureClusterEndToEnd(t *testing.T) {
	c := startSecureCluster(t)
	ctx := context.Background()
	ops := client.NewOperator(c.master, c.as(t, "ops"))

	t.Run("plain HTTP is refused and so are calls without credentials", func(t *testing.T) {
		resp, err := http.Get("http://" + strings.TrimPrefix(c.master, "https://") + "/health")
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "only speaks HTTPS") {
			t.Fatalf("plain GET /health: %d %q, want 400 pointing at https", resp.StatusCode, body)
		}
		_, err = client.NewOperator(c.master, c.as(t, "")).Call(ctx, mesos.GetState)
		var apiErr *client.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
			t.Fatalf("GET_STATE without credentials: %v, want 401", err)
		}
		// A client that does not trust the cluster's CA does not talk to it.
		if _, err := client.NewOperator(c.master, nil).Call(ctx, mesos.GetHealth); err == nil {
			t.Fatal("a client without the CA reached the master")
		}
	})

	t.Run("an agent without credentials cannot join", func(t *testing.T) {
		rogue := start(t, "agent", "--authenticate=false", "--master", c.master, "--listen", freeAddr(t), "--work_dir", t.TempDir(),
			"--containerizers", "process", "--resources", "cpus:1;mem:128", "--tls_ca", c.ca)
		waitFor(t, 30*time.Second, "the rogue agent to be refused", func() bool {
			return strings.Contains(rogue.out.String(), "401")
		})
		r, err := ops.Call(ctx, mesos.GetAgents)
		if err != nil || len(r.GetAgents.Agents) != 1 {
			t.Fatalf("agents after a rogue agent tried to join: %+v %v, want just the one", r, err)
		}
	})

	t.Run("the CLI authenticates from the environment", func(t *testing.T) {
		out, code := c.cli(t, "ops", "agents")
		if code != 0 || !strings.Contains(out, "127.0.0.1") {
			t.Fatalf("agora agents as ops: exit %d\n%s", code, out)
		}
		if strings.Contains(out, c.tokens["ops"]) {
			t.Fatal("the CLI printed the token")
		}
		out, code = c.cli(t, "", "agents")
		if code == 0 || !strings.Contains(out, "401") {
			t.Fatalf("agora agents without credentials: exit %d\n%s", code, out)
		}
	})

	teamA := api.NewClient(c.master, c.as(t, "team-a"))
	teamB := api.NewClient(c.master, c.as(t, "team-b"))
	waitFor(t, 60*time.Second, "the services framework", func() bool {
		info, err := teamA.Info(ctx)
		return err == nil && info.FrameworkID != ""
	})
	const secret = "s3cr3t-value-e2e"
	web := `{"id": "/team-a/web", "cmd": "echo pw=$DB_PASS user=$(id -un); sleep 3600", "cpus": 0.1, "mem": 32, "instances": 1,
	  "env": {"DB_PASS": {"secret": "db"}}, "secrets": {"db": {"value": "` + secret + `"}}}`

	t.Run("teams manage only their own apps and never get root", func(t *testing.T) {
		for _, tc := range []struct {
			cl   *api.Client
			body string
			want string
		}{
			{teamB, `{"id": "/team-a/evil", "cmd": "sleep 1", "cpus": 0.1, "mem": 16}`, "manage_apps"},
			{teamA, `{"id": "/team-a/rooted", "cmd": "id", "user": "root", "cpus": 0.1, "mem": 16}`, "run_tasks"},
		} {
			_, err := postApp(ctx, c, tc.cl, tc.body)
			if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("POST %s: %v, want 403 naming %s", tc.body, err, tc.want)
			}
		}
		if _, err := postApp(ctx, c, teamA, web); err != nil {
			t.Fatalf("team-a deploying its app: %v", err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for len(runningTasks(t, teamA, "/team-a/web")) != 1 {
			if time.Now().After(deadline) {
				resp, _ := c.as(t, "ops").Get(c.master + "/v2/queue")
				q := readAll(resp)
				tasks, _ := teamA.Tasks(ctx, "/team-a/web")
				t.Fatalf("/team-a/web is not running after 60s; queue %s; tasks %+v", q, tasks)
			}
			time.Sleep(200 * time.Millisecond)
		}
		apps, err := teamB.ListApps(ctx, "")
		if err != nil || len(apps) != 0 {
			t.Fatalf("team-b's app list: %+v %v, want none of team-a's", apps, err)
		}
		all, err := api.NewClient(c.master, c.as(t, "ops")).ListApps(ctx, "")
		if err != nil || len(all) != 1 || all[0].ID() != "/team-a/web" {
			t.Fatalf("apps after the refused writes: %+v %v, want only /team-a/web", all, err)
		}
	})

	t.Run("secrets reach the task, which runs as its user, and no answer", func(t *testing.T) {
		resp, err := c.as(t, "team-a").Get(c.master + "/v2/apps/team-a/web?embed=apps.tasks")
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(resp); resp.StatusCode != 200 || strings.Contains(body, secret) || !strings.Contains(body, mesos.SecretMask) {
			t.Fatalf("GET /v2/apps/team-a/web: %d, secret shown or not masked:\n%s", resp.StatusCode, body)
		}
		tasks := runningTasks(t, teamA, "/team-a/web")
		if len(tasks) == 0 {
			t.Fatal("no running task of /team-a/web")
		}
		var out string
		waitFor(t, 30*time.Second, "the task's stdout", func() bool {
			out, _ = c.cli(t, "team-a", "task", "log", tasks[0].ID)
			return strings.Contains(out, "pw="+secret)
		})
		if ru, _ := runUser(t); !strings.Contains(out, "user="+ru) {
			t.Fatalf("the task does not run as %s:\n%s", ru, out)
		}
		out, code := c.cli(t, "team-b", "task", "log", tasks[0].ID)
		if code == 0 || strings.Contains(out, secret) || !strings.Contains(out, "403") {
			t.Fatalf("team-b reading team-a's sandbox: exit %d\n%s", code, out)
		}
	})

	t.Run("the sandbox API stays inside the sandbox", func(t *testing.T) {
		resp, err := c.as(t, "").Get(c.agent + "/files/read?path=" + url.QueryEscape("/frameworks/x/tasks/y/stdout"))
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(resp); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("agent /files/read without credentials: %d %q, want 401", resp.StatusCode, body)
		}
		hc := c.as(t, "team-a")
		for _, p := range []string{"/frameworks/../../../../etc/passwd", "/etc/passwd", "/frameworks/%2e%2e/%2e%2e/etc/passwd"} {
			resp, err := hc.Get(c.agent + "/files/read?path=" + url.QueryEscape(p))
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(resp)
			if resp.StatusCode/100 != 4 || strings.Contains(body, "root:") {
				t.Fatalf("read %s: %d %q, want a 4xx without the file", p, resp.StatusCode, body)
			}
		}
	})

	t.Run("rate limits answer 429", func(t *testing.T) {
		limited := false
		for i := 0; i < 20 && !limited; i++ {
			_, err := teamB.ListApps(ctx, "")
			var apiErr *api.Error
			limited = errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests
		}
		if !limited {
			t.Fatal("team-b made 20 calls within a capacity of 8 without a 429")
		}
	})

	t.Run("the audit log records who changed what", func(t *testing.T) {
		waitFor(t, 10*time.Second, "audit entries", func() bool {
			data, _ := os.ReadFile(c.auditLog)
			return strings.Contains(string(data), `"principal":"team-b"`) && strings.Contains(string(data), `"principal":"team-a"`)
		})
		data, _ := os.ReadFile(c.auditLog)
		var sawDenied, sawDeploy bool
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var e struct {
				Principal, Method, Path string
				Status                  int
			}
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("audit line %q: %v", line, err)
			}
			if e.Method == "GET" {
				t.Fatalf("audit log records a read: %s", line)
			}
			sawDenied = sawDenied || (e.Principal == "team-b" && e.Path == "/v2/apps" && e.Status == 403)
			sawDeploy = sawDeploy || (e.Principal == "team-a" && e.Path == "/v2/apps" && e.Status/100 == 2)
		}
		if !sawDenied || !sawDeploy {
			t.Fatalf("audit log lacks team-b's denied POST or team-a's deploy:\n%s", data)
		}
		if strings.Contains(string(data), c.tokens["team-a"]) || strings.Contains(string(data), secret) {
			t.Fatal("the audit log holds a token or a secret")
		}
	})
}

// postApp creates an app as the client's principal.
func postApp(ctx context.Context, c *secureCluster, cl *api.Client, body string) (*api.AppView, error) {
	return cl.CreateApp(ctx, []byte(body))
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

func TestDevRefusesToServeUnauthenticatedBeyondLoopback(t *testing.T) {
	out, code := runCode(t, "dev", "--listen", "0.0.0.0:0", "--data_dir", t.TempDir(), "--lb", "off")
	if code == 0 || !strings.Contains(out, "only on loopback") || !strings.Contains(out, "--credentials") {
		t.Fatalf("agora dev on 0.0.0.0 without credentials: exit %d\n%s", code, out)
	}
	out, code = runCode(t, "master", "--listen", "127.0.0.1:0", "--data_dir", t.TempDir())
	if code == 0 || !strings.Contains(out, "requires authentication") {
		t.Fatalf("agora master without --credentials: exit %d\n%s", code, out)
	}
}
