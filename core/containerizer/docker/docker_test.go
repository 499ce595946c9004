package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"agora/core/containerizer"
	"agora/core/containerizer/docker/dockertest"
	"agora/core/mesos"
	"agora/core/resources"
)

// Generous deadlines: a loaded CI machine is slow, never wrong.
const (
	exitDeadline = 90 * time.Second
	pollDeadline = 60 * time.Second
)

// harness is a containerizer on the test daemon plus helpers.
type harness struct {
	t     *testing.T
	cli   *client.Client
	image string
	cz    *Containerizer
	agent string
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	cli := dockertest.Daemon(t)
	h := &harness{t: t, cli: cli, image: dockertest.BusyboxImage(t, cli), agent: "agent-" + randomID()}
	h.cz = h.open(cfg)
	return h
}

// open makes a Containerizer value, as an agent process does at start.
func (h *harness) open(cfg Config) *Containerizer {
	h.t.Helper()
	if cfg.HostIP == "" {
		cfg.HostIP = "127.0.0.1"
	}
	cfg.AgentID = h.agent
	cfg.Logf = h.t.Logf
	cz, err := New(context.Background(), cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { cz.Close() })
	return cz
}

func randomID() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// spec is a shell task in the busybox image with a fresh sandbox and a
// container id unique across test runs sharing the daemon.
func (h *harness) spec(script string) containerizer.Spec {
	id := "test-" + randomID()
	h.t.Cleanup(func() {
		// Whatever a failing test left behind.
		_ = h.cz.Destroy(context.Background(), id)
	})
	return containerizer.Spec{
		ContainerID: id,
		FrameworkID: "fw-test",
		AgentID:     h.agent,
		Sandbox:     h.t.TempDir(),
		Task: mesos.TaskInfo{
			Name:      "task",
			TaskID:    mesos.TaskID{Value: "task-" + id},
			Command:   &mesos.CommandInfo{Value: script},
			Container: &mesos.ContainerInfo{Type: "DOCKER", Docker: &mesos.DockerInfo{Image: h.image}},
		},
		Limits: resources.Resources{CPUs: 0.5, Mem: 64},
	}
}

func (h *harness) launch(spec containerizer.Spec) containerizer.Container {
	h.t.Helper()
	c, err := h.cz.Launch(context.Background(), spec)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) wait(c containerizer.Container) containerizer.Exit {
	h.t.Helper()
	select {
	case <-c.Done():
		return c.Exit()
	case <-time.After(exitDeadline):
		h.t.Fatalf("container did not end within %v", exitDeadline)
		return containerizer.Exit{}
	}
}

// file reads a sandbox file ("" if absent).
func file(t *testing.T, spec containerizer.Spec, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(spec.Sandbox, name))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// waitOutput polls Sandbox/stdout until it contains want.
func waitOutput(t *testing.T, spec containerizer.Spec, want string) {
	t.Helper()
	deadline := time.Now().Add(pollDeadline)
	for !strings.Contains(file(t, spec, "stdout"), want) {
		if time.Now().After(deadline) {
			t.Fatalf("stdout never contained %q; it holds %q (stderr %q)", want, file(t, spec, "stdout"), file(t, spec, "stderr"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gone reports whether no container named agora-<id> exists.
func (h *harness) gone(id string) bool {
	h.t.Helper()
	_, err := h.cli.ContainerInspect(context.Background(), NamePrefix+id)
	if err == nil {
		return false
	}
	if !cerrdefs.IsNotFound(err) {
		h.t.Fatal(err)
	}
	return true
}

func TestNewWithoutDaemon(t *testing.T) {
	sock := "unix://" + filepath.Join(t.TempDir(), "nothing.sock")
	_, err := New(context.Background(), Config{Host: sock})
	if err == nil || !strings.Contains(err.Error(), "no Docker daemon answers at "+sock) {
		t.Fatalf("error %v, want one saying no daemon answers at %s", err, sock)
	}
}

func TestExitStatusOutputAndRemoval(t *testing.T) {
	h := newHarness(t, Config{})
	if h.cz.Name() != "docker" {
		t.Errorf("name %q", h.cz.Name())
	}
	ok := h.spec("echo to-stdout; echo to-stderr >&2")
	if err := os.WriteFile(filepath.Join(ok.Sandbox, "stdout"), []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fail := h.spec("exit 3")
	c0, c3 := h.launch(ok), h.launch(fail)

	e := h.wait(c0)
	if e.Code != 0 || e.Killed || e.OOM || e.Message != "Command exited with status 0" {
		t.Errorf("exit 0: %+v", e)
	}
	if got := file(t, ok, "stdout"); got != "kept\nto-stdout\n" {
		t.Errorf("stdout %q, want earlier content kept and the task's line appended", got)
	}
	if got := file(t, ok, "stderr"); got != "to-stderr\n" {
		t.Errorf("stderr %q", got)
	}
	e = h.wait(c3)
	if e.Code != 3 || e.Message != "Command exited with status 3" {
		t.Errorf("exit 3: %+v", e)
	}
	for _, s := range []containerizer.Spec{ok, fail} {
		if !h.gone(s.ContainerID) {
			t.Errorf("container of %s still exists after it ended", s.ContainerID)
		}
	}
}

func TestEnvironmentAndSandbox(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.spec(`echo "$MESOS_SANDBOX|$MESOS_DIRECTORY|$FOO|$BAR|$(pwd)"; echo written > "$MESOS_SANDBOX/by-task"`)
	s.Env = []string{"MESOS_SANDBOX=" + s.Sandbox, "MESOS_DIRECTORY=" + s.Sandbox, "FOO=from-agent"}
	s.Task.Command.Environment = &mesos.Environment{Variables: []mesos.EnvironmentVariable{{Name: "BAR", Value: "from task"}}}
	if e := h.wait(h.launch(s)); e.Code != 0 {
		t.Fatalf("%+v, stderr %q", e, file(t, s, "stderr"))
	}
	want := "/mnt/mesos/sandbox|/mnt/mesos/sandbox|from-agent|from task|/mnt/mesos/sandbox\n"
	if got := file(t, s, "stdout"); got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if got := file(t, s, "by-task"); got != "written\n" {
		t.Errorf("file the task wrote in its sandbox: %q", got)
	}
}

func freePort(t *testing.T) uint32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint32(l.Addr().(*net.TCPAddr).Port)
}

func TestBridgePortMapping(t *testing.T) {
	h := newHarness(t, Config{HostIP: "127.0.0.1"})
	s := h.spec("exec httpd -f -p 80 -h /mnt/mesos/sandbox")
	if err := os.WriteFile(filepath.Join(s.Sandbox, "index.html"), []byte("hello from the container\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	s.Limits.Ports = resources.Ranges{{Begin: uint64(port), End: uint64(port)}}
	s.Task.Container.Docker.Network = "BRIDGE"
	s.Task.Container.Docker.PortMappings = []mesos.PortMapping{{HostPort: port, ContainerPort: 80}}
	c := h.launch(s)

	url := fmt.Sprintf("http://127.0.0.1:%d/index.html", port)
	deadline := time.Now().Add(pollDeadline)
	var body string
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				body = string(b)
				break
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s never succeeded: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if body != "hello from the container\n" {
		t.Errorf("body %q", body)
	}
	c.Kill(5 * time.Second)
	if e := h.wait(c); !e.Killed {
		t.Errorf("exit after Kill: %+v", e)
	}

	// A host port the task was not given is refused before anything runs.
	s = h.spec("true")
	s.Task.Container.Docker.PortMappings = []mesos.PortMapping{{HostPort: port, ContainerPort: 80}}
	_, err := h.cz.Launch(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("port %d is not among the task's port resources", port)) {
		t.Fatalf("launch with an unallotted host port: %v", err)
	}
}

func TestVolumes(t *testing.T) {
	ro := t.TempDir()
	h := newHarness(t, Config{AllowedHostPaths: []string{filepath.Dir(ro)}})
	if err := os.WriteFile(filepath.Join(ro, "config"), []byte("read me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := h.spec(`cat /etc/app/config
if touch /etc/app/new 2>/dev/null; then echo ro-writable; else echo ro-refused; fi
if echo data > /data/out; then echo rw-ok; fi`)
	s.Task.Container.Volumes = []mesos.Volume{
		{ContainerPath: "/etc/app", HostPath: ro, Mode: "RO"},
		{ContainerPath: "/data", HostPath: "state"}, // RW by default, in the sandbox
	}
	if e := h.wait(h.launch(s)); e.Code != 0 {
		t.Fatalf("%+v, stderr %q", e, file(t, s, "stderr"))
	}
	if got, want := file(t, s, "stdout"), "read me\nro-refused\nrw-ok\n"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(ro, "new")); err == nil {
		t.Error("the task wrote into a read-only volume")
	}
	if got := file(t, s, "state/out"); got != "data\n" {
		t.Errorf("sandbox-relative RW volume holds %q, want the task's write", got)
	}
}

// TestHostPathsOutsideTheAllowlistAreRefused: nothing runs, and the error
// says which volume, which path and which flag allows it.
func TestHostPathsOutsideTheAllowlistAreRefused(t *testing.T) {
	allowed := t.TempDir()
	h := newHarness(t, Config{AllowedHostPaths: []string{allowed}})
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(allowed, "link-out")); err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"/etc", outside, filepath.Join(allowed, "link-out"), filepath.Join(allowed, "..")} {
		s := h.spec("cat /host/* || true")
		s.Task.Container.Volumes = []mesos.Volume{{ContainerPath: "/host", HostPath: host, Mode: "RO"}}
		_, err := h.cz.Launch(context.Background(), s)
		if err == nil || !strings.Contains(err.Error(), "container.volumes[0].host_path") || !strings.Contains(err.Error(), host) ||
			!strings.Contains(err.Error(), "--docker_allowed_host_paths") {
			t.Errorf("volume of %s: %v, want a refusal naming the field, the path and the flag", host, err)
		}
		if !h.gone(s.ContainerID) {
			t.Errorf("a refused launch (%s) left a container", host)
		}
	}
	// A link the task left in its sandbox does not take a relative volume
	// out of it.
	s := h.spec("true")
	if err := os.Symlink("/etc", filepath.Join(s.Sandbox, "conf")); err != nil {
		t.Fatal(err)
	}
	s.Task.Container.Volumes = []mesos.Volume{{ContainerPath: "/conf", HostPath: "conf"}}
	if _, err := h.cz.Launch(context.Background(), s); err == nil || !strings.Contains(err.Error(), "leads out of the sandbox") {
		t.Errorf("sandbox link to /etc: %v", err)
	}
}

// TestContainersRunUnprivilegedAsTheirUser: no-new-privileges is always on;
// command.user picks the container's user, else the image's; a SECRET
// variable reaches the container.
func TestContainersRunUnprivilegedAsTheirUser(t *testing.T) {
	h := newHarness(t, Config{})
	script := `echo "$(id -u) $(grep NoNewPrivs /proc/self/status | tr -d '\t ') $DB_PASSWORD"`
	secret := &mesos.Environment{Variables: []mesos.EnvironmentVariable{
		{Name: "DB_PASSWORD", Type: "SECRET", Secret: &mesos.Secret{Type: "VALUE", Value: &mesos.SecretValue{Data: []byte("s3cret")}}},
	}}
	for user, want := range map[string]string{"": "0 NoNewPrivs:1 s3cret\n", "65534": "65534 NoNewPrivs:1 s3cret\n"} {
		s := h.spec(script)
		s.Task.Command.User = user
		s.User = "ignored-host-user"
		s.Task.Command.Environment = secret
		if e := h.wait(h.launch(s)); e.Code != 0 {
			t.Fatalf("user %q: %+v, stderr %q", user, e, file(t, s, "stderr"))
		}
		if got := file(t, s, "stdout"); got != want {
			t.Errorf("command.user %q: stdout %q, want %q", user, got, want)
		}
	}
}

func TestPrivileged(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.spec("true")
	s.Task.Container.Docker.Privileged = true
	_, err := h.cz.Launch(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "privileged containers are not allowed") {
		t.Fatalf("privileged launch on a default agent: %v", err)
	}
	if !h.gone(s.ContainerID) {
		t.Error("a refused launch left a container")
	}

	allow := h.open(Config{AllowPrivileged: true})
	// Only a privileged container may mount file systems.
	s = h.spec("mkdir -p /x && mount -t tmpfs none /x && echo privileged")
	s.Task.Container.Docker.Privileged = true
	c, err := allow.Launch(context.Background(), s)
	if err != nil {
		// Some hosts (VMs with a reduced capability bounding set) cannot
		// run privileged containers at all; the request must still have
		// reached the runtime rather than been refused by policy.
		if strings.Contains(err.Error(), "not allowed") || !strings.Contains(err.Error(), "start container") {
			t.Fatalf("privileged launch on an agent that allows it: %v", err)
		}
		t.Logf("this host cannot run privileged containers: %v", err)
		return
	}
	if e := h.wait(c); e.Code != 0 || file(t, s, "stdout") != "privileged\n" {
		t.Errorf("privileged task: %+v, stdout %q, stderr %q", e, file(t, s, "stdout"), file(t, s, "stderr"))
	}
}

func TestMissingImageFailsFast(t *testing.T) {
	const launchTimeout = 60 * time.Second
	h := newHarness(t, Config{LaunchTimeout: launchTimeout})
	s := h.spec("true")
	s.Task.Container.Docker.Image = "agora-test/does-not-exist:1"
	start := time.Now()
	_, err := h.cz.Launch(context.Background(), s)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "image agora-test/does-not-exist:1 is not available locally and could not be pulled") {
		t.Fatalf("launch of a missing image: %v", err)
	}
	// Generous slack: the bound under test is "never hangs".
	if took > launchTimeout+10*time.Second {
		t.Errorf("launch took %v, beyond its %v launch timeout", took, launchTimeout)
	}
	t.Logf("missing image reported after %v: %v", took.Round(time.Millisecond), err)
	if !h.gone(s.ContainerID) {
		t.Error("a failed launch left a container")
	}
}

func TestForcePullFailureFailsLaunch(t *testing.T) {
	h := newHarness(t, Config{LaunchTimeout: 60 * time.Second})
	s := h.spec("true")
	// The image is present, but the task insists on a fresh pull, which
	// cannot succeed without a registry.
	s.Task.Container.Docker.ForcePullImage = true
	_, err := h.cz.Launch(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "container.docker.force_pull_image: image "+h.image+" could not be pulled") {
		t.Fatalf("forced pull without a registry: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []Config{{HostIP: "localhost"}, {LaunchTimeout: -1}, {PullTimeout: -time.Second}} {
		if _, err := New(context.Background(), cfg); err == nil {
			t.Errorf("New(%+v) accepted an invalid config", cfg)
		}
	}
}

func TestStartFailureRemovesContainer(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.spec("")
	s.Task.Command = &mesos.CommandInfo{Shell: boolp(false), Value: "/no/such/program"}
	_, err := h.cz.Launch(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "start container") || !strings.Contains(err.Error(), "/no/such/program") {
		t.Fatalf("launch of a missing program: %v", err)
	}
	if !h.gone(s.ContainerID) {
		t.Error("a container that failed to start was left behind")
	}
}

func TestMemoryLimitOOM(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.spec("tail /dev/zero")
	s.Limits.Mem = 32
	e := h.wait(h.launch(s))
	if !e.OOM || !strings.HasPrefix(e.Message, "Memory limit exceeded: requested 32 MB") {
		t.Fatalf("exit %+v, want OOM with a memory limit message", e)
	}
}

func TestKillWithGrace(t *testing.T) {
	h := newHarness(t, Config{})
	// The trap runs between sleeps; a plain `sleep` would delay it.
	polite := h.spec(`trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done`)
	stubborn := h.spec(`trap '' TERM; echo ready; while true; do sleep 0.1; done`)
	cp, cs := h.launch(polite), h.launch(stubborn)
	waitOutput(t, polite, "ready")
	waitOutput(t, stubborn, "ready")

	cp.Kill(30 * time.Second)
	cs.Kill(time.Second)
	e := h.wait(cp)
	// Status 0 is the trap's: SIGKILL after the grace would be 137.
	if !e.Killed || e.Code != 0 || !strings.Contains(file(t, polite, "stdout"), "got TERM") {
		t.Errorf("container trapping TERM: %+v, stdout %q", e, file(t, polite, "stdout"))
	}
	e = h.wait(cs)
	if !e.Killed || e.Code != 137 {
		t.Errorf("container ignoring TERM: %+v, want Killed with status 137 (SIGKILL after the grace)", e)
	}
	cp.Kill(time.Second) // after the end: a no-op
	for _, s := range []containerizer.Spec{polite, stubborn} {
		if !h.gone(s.ContainerID) {
			t.Errorf("container of %s still exists after it was killed", s.ContainerID)
		}
	}
}

func TestShorterKillBringsSIGKILLForward(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.spec(`trap '' TERM; echo ready; while true; do sleep 0.1; done`)
	c := h.launch(s)
	waitOutput(t, s, "ready")
	c.Kill(time.Hour)
	c.Kill(0)
	if e := h.wait(c); !e.Killed || e.Code != 137 {
		t.Errorf("exit %+v, want Killed with status 137", e)
	}
}

func TestRunningContainerLabelsPIDAndExec(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.spec("echo ready; exec sleep 600")
	s.Task.Labels = &mesos.Labels{Labels: []mesos.Label{{Key: "team", Value: "web"}}}
	s.Env = []string{"FROM_AGENT=yes"}
	c := h.launch(s)
	defer func() { c.Kill(0); h.wait(c) }()
	waitOutput(t, s, "ready")

	info, err := h.cli.ContainerInspect(context.Background(), NamePrefix+s.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		LabelAgentID: h.agent, LabelFrameworkID: "fw-test", LabelTaskID: s.Task.TaskID.Value,
		LabelContainerID: s.ContainerID, "agora.label.team": "web",
	} {
		if got := info.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if c.PID() <= 0 || c.PID() != info.State.Pid {
		t.Errorf("PID() = %d, daemon says %d", c.PID(), info.State.Pid)
	}
	if info.HostConfig.Memory != 64<<20 || info.HostConfig.MemorySwap != 64<<20 || info.HostConfig.CPUQuota != 50000 {
		t.Errorf("limits memory %d swap %d quota %d", info.HostConfig.Memory, info.HostConfig.MemorySwap, info.HostConfig.CPUQuota)
	}

	ex, ok := c.(containerizer.Execer)
	if !ok {
		t.Fatal("docker containers do not implement Execer")
	}
	ctx, cancel := context.WithTimeout(context.Background(), pollDeadline)
	defer cancel()
	code, err := ex.Exec(ctx, []string{"sh", "-c", `test "$FROM_AGENT$EXTRA" = yesmore && exit 7`}, []string{"EXTRA=more"})
	if err != nil || code != 7 {
		t.Errorf("exec: code %d, err %v; want 7 (container and exec environment both visible)", code, err)
	}
	if code, err := ex.Exec(ctx, []string{"true"}, nil); err != nil || code != 0 {
		t.Errorf("exec true: %d, %v", code, err)
	}
	if code, err := ex.Exec(ctx, []string{"/no/such/program"}, nil); err == nil && code == 0 {
		t.Error("exec of a missing program succeeded")
	}
}

func TestRecoverRunningContainer(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.spec(`i=0; while true; do echo "tick $i"; echo "err $i" >&2; i=$((i+1)); sleep 0.05; done`)
	c := h.launch(s)
	cp, err := h.cz.Checkpoint(c)
	if err != nil {
		t.Fatal(err)
	}
	waitOutput(t, s, "tick 3")

	// The agent stops without killing its tasks and a new one starts.
	h.cz.Close()
	h.cz = h.open(Config{})
	time.Sleep(300 * time.Millisecond) // let output pile up uncopied
	rc, err := h.cz.Recover(context.Background(), s, cp)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-rc.Done():
		t.Fatalf("recovered running container is Done: %+v", rc.Exit())
	default:
	}
	if rc.PID() <= 0 {
		t.Errorf("recovered PID %d", rc.PID())
	}
	last := countLines(file(t, s, "stdout"))
	waitOutput(t, s, fmt.Sprintf("tick %d\n", last+5))
	rc.Kill(0)
	if e := h.wait(rc); !e.Killed {
		t.Errorf("exit %+v, want Killed", e)
	}
	if !h.gone(s.ContainerID) {
		t.Error("recovered container not removed after it ended")
	}
	// Every line exactly once, in order, across the restart.
	for _, name := range []string{"stdout", "stderr"} {
		prefix := map[string]string{"stdout": "tick", "stderr": "err"}[name]
		lines := strings.Split(strings.TrimSuffix(file(t, s, name), "\n"), "\n")
		for i, l := range lines {
			if l != fmt.Sprintf("%s %d", prefix, i) {
				t.Fatalf("%s line %d is %q, want %q (lost or duplicated output around the restart)", name, i, l, fmt.Sprintf("%s %d", prefix, i))
			}
		}
	}
}

func countLines(s string) int { return strings.Count(s, "\n") }

func TestRecoverExitedContainer(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.spec(`echo start; sleep 1; echo end; exit 4`)
	c := h.launch(s)
	cp, err := h.cz.Checkpoint(c)
	if err != nil {
		t.Fatal(err)
	}
	waitOutput(t, s, "start")
	h.cz.Close()
	// It ends while no agent watches it.
	deadline := time.Now().Add(pollDeadline)
	for {
		info, err := h.cli.ContainerInspect(context.Background(), NamePrefix+s.ContainerID)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Status == container.StateExited {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container still %s", info.State.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}

	h.cz = h.open(Config{})
	rc, err := h.cz.Recover(context.Background(), s, cp)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-rc.Done():
	default:
		t.Fatal("a container that exited before recovery is not Done at once")
	}
	if e := rc.Exit(); e.Code != 4 || e.Killed || e.Message != "Command exited with status 4" {
		t.Errorf("exit %+v", e)
	}
	if got := file(t, s, "stdout"); got != "start\nend\n" {
		t.Errorf("stdout %q, want each line once", got)
	}
	if !h.gone(s.ContainerID) {
		t.Error("collected container not removed")
	}
}

func TestRecoverFailures(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.spec("true")
	if _, err := h.cz.Recover(context.Background(), s, []byte(`{"docker_id":"0123456789ab0123456789ab","name":"agora-`+s.ContainerID+`"}`)); err == nil || !strings.Contains(err.Error(), "no longer exists") {
		t.Errorf("recover of a missing container: %v", err)
	}
	if _, err := h.cz.Recover(context.Background(), s, []byte("not json")); err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Errorf("recover from a corrupt checkpoint: %v", err)
	}
	// A checkpoint naming another task's container is not trusted.
	other := h.spec("sleep 600")
	oc := h.launch(other)
	defer func() { oc.Kill(0); h.wait(oc) }()
	cp, err := h.cz.Checkpoint(oc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.cz.Recover(context.Background(), s, cp); err == nil || !strings.Contains(err.Error(), "belongs to container id") {
		t.Errorf("recover of another task's container: %v", err)
	}
}

func TestOrphansAndDestroy(t *testing.T) {
	h := newHarness(t, Config{})
	a, b := h.spec("exec sleep 600"), h.spec("exec sleep 600")
	h.launch(a)
	h.launch(b)
	// The agent goes away; one container stops meanwhile and stays.
	h.cz.Close()
	h.cz = h.open(Config{})
	timeout := 0
	if err := h.cli.ContainerStop(context.Background(), NamePrefix+b.ContainerID, container.StopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	got, err := h.cz.Orphans(ctx, h.agent)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{a.ContainerID, b.ContainerID}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("orphans %q, want the running and the stopped container %q", got, want)
	}
	if got, err := h.cz.Orphans(ctx, "agent-"+randomID()); err != nil || len(got) != 0 {
		t.Errorf("orphans of another agent: %q, %v", got, err)
	}
	for _, id := range want {
		if err := h.cz.Destroy(ctx, id); err != nil {
			t.Fatal(err)
		}
		if !h.gone(id) {
			t.Errorf("%s exists after Destroy", id)
		}
		if err := h.cz.Destroy(ctx, id); err != nil {
			t.Errorf("second Destroy of %s: %v", id, err)
		}
	}
	if got, err := h.cz.Orphans(ctx, h.agent); err != nil || len(got) != 0 {
		t.Errorf("orphans after Destroy: %q, %v", got, err)
	}
}

// BenchmarkLaunchToRunning measures Launch (image present: create, start,
// inspect) until the container runs, for busybox `sleep 60` containers,
// and reports the latency distribution. Containers are killed after the
// timed loop.
func BenchmarkLaunchToRunning(b *testing.B) {
	cli := dockertest.Daemon(b)
	img := dockertest.BusyboxImage(b, cli)
	agent := "bench-" + randomID()
	cz, err := New(context.Background(), Config{AgentID: agent, HostIP: "127.0.0.1", Logf: b.Logf})
	if err != nil {
		b.Fatal(err)
	}
	defer cz.Close()
	var ctrs []containerizer.Container
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		spec := containerizer.Spec{
			ContainerID: agent + "-" + strconv.Itoa(i),
			FrameworkID: "bench",
			AgentID:     agent,
			Sandbox:     b.TempDir(),
			Task: mesos.TaskInfo{
				TaskID:    mesos.TaskID{Value: strconv.Itoa(i)},
				Command:   &mesos.CommandInfo{Value: "exec sleep 60"},
				Container: &mesos.ContainerInfo{Type: "DOCKER", Docker: &mesos.DockerInfo{Image: img}},
			},
			Limits: resources.Resources{CPUs: 0.1, Mem: 16},
		}
		start := time.Now()
		c, err := cz.Launch(context.Background(), spec)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		ctrs = append(ctrs, c)
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := int(p*float64(len(lat))+0.5) - 1
		i = max(0, min(len(lat)-1, i))
		return float64(lat[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	for _, c := range ctrs {
		c.Kill(0)
	}
	for _, c := range ctrs {
		select {
		case <-c.Done():
		case <-time.After(exitDeadline):
			b.Fatal("a benchmark container did not end after Kill")
		}
	}
}
