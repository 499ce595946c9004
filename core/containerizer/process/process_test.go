package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"agora/core/containerizer"
	"agora/core/mesos"
	"agora/core/resources"
)

// deadline is how long a test waits for something that should happen in
// well under a second; generous so a loaded CI machine does not flake.
const deadline = 60 * time.Second

var containerSeq atomic.Int64

// testParent is a parent cgroup name private to this test binary, so tests
// never touch a real agent's "agora" cgroups.
func testParent() string { return fmt.Sprintf("agora-test-%d", os.Getpid()) }

func newTestContainerizer(t *testing.T, cfg Config) *Containerizer {
	t.Helper()
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = testParent()
	}
	cfg.Logf = t.Logf
	if cfg.RuntimeDir == "" {
		cfg.RuntimeDir = t.TempDir()
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if c.cgroups == nil {
			return
		}
		// Best effort: another test may still hold a task cgroup under the
		// shared test parent.
		for _, mount := range []string{c.cgroups.memory, c.cgroups.cpu} {
			_ = os.Remove(filepath.Join(mount, c.cgroups.parent))
		}
	})
	return c
}

// requireCgroups fails (not skips) when limits cannot be enforced: the
// tests run as root on hosts with cgroups, and a silent skip would hide a
// containerizer that no longer enforces anything.
func requireCgroups(t *testing.T, c *Containerizer) {
	t.Helper()
	if c.cgroups == nil {
		t.Fatalf("cgroups are unavailable, so limits cannot be enforced or tested: isolation is %q (tests need root and a cgroup v1 memory+cpu or v2 hierarchy)", c.Isolation())
	}
}

func shellSpec(t testing.TB, command string) containerizer.Spec {
	t.Helper()
	return containerizer.Spec{
		ContainerID: fmt.Sprintf("c%d-%d", os.Getpid(), containerSeq.Add(1)),
		Task: mesos.TaskInfo{
			Name:    t.Name(),
			TaskID:  mesos.TaskID{Value: "task-" + strings.ReplaceAll(t.Name(), "/", "_")},
			Command: &mesos.CommandInfo{Value: command},
		},
		Sandbox: t.TempDir(),
	}
}

func launch(t *testing.T, c *Containerizer, spec containerizer.Spec) containerizer.Container {
	t.Helper()
	ctr, err := c.Launch(context.Background(), spec)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	t.Cleanup(func() {
		ctr.Kill(0)
		<-ctr.Done()
	})
	return ctr
}

func waitExit(t *testing.T, ctr containerizer.Container) containerizer.Exit {
	t.Helper()
	select {
	case <-ctr.Done():
		return ctr.Exit()
	case <-time.After(deadline):
		t.Fatalf("task %d did not end within %v", ctr.PID(), deadline)
		return containerizer.Exit{}
	}
}

// waitFile polls until the task has written name in its sandbox, so tests
// act only once the task reached a known point.
func waitFile(t *testing.T, sandbox, name string) string {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		raw, err := os.ReadFile(filepath.Join(sandbox, name))
		if err == nil && strings.HasSuffix(string(raw), "\n") {
			return strings.TrimSpace(string(raw))
		}
		if time.Now().After(end) {
			t.Fatalf("task did not write %s within %v", name, deadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readSandbox(t *testing.T, spec containerizer.Spec, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(spec.Sandbox, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// alive reports whether pid is a live process. A zombie counts as dead: it
// has stopped running and only awaits its parent (orphans are reaped by
// PID 1, which some sandboxes never do).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(raw)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func TestExitStatusMessages(t *testing.T) {
	c := newTestContainerizer(t, Config{})
	for _, tc := range []struct {
		command string
		code    int
		message string
	}{
		{"exit 0", 0, "Command exited with status 0"},
		{"exit 3", 3, "Command exited with status 3"},
		{"kill -USR1 $$", -1, "Command terminated with signal SIGUSR1"},
	} {
		t.Run(tc.command, func(t *testing.T) {
			exit := waitExit(t, launch(t, c, shellSpec(t, tc.command)))
			if exit.Code != tc.code || exit.Message != tc.message || exit.Killed || exit.OOM {
				t.Errorf("exit = %+v, want code %d, message %q", exit, tc.code, tc.message)
			}
			if tc.code == -1 && exit.Signal != int(syscall.SIGUSR1) {
				t.Errorf("signal = %d, want SIGUSR1", exit.Signal)
			}
		})
	}
}

func TestOutputGoesToSandboxFiles(t *testing.T) {
	c := newTestContainerizer(t, Config{})
	spec := shellSpec(t, "echo to-stdout; echo to-stderr >&2; pwd")
	waitExit(t, launch(t, c, spec))
	if got, want := readSandbox(t, spec, "stdout"), "to-stdout\n"+spec.Sandbox+"\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if got := readSandbox(t, spec, "stderr"); got != "to-stderr\n" {
		t.Errorf("stderr = %q, want %q", got, "to-stderr\n")
	}
	fi, err := os.Stat(filepath.Join(spec.Sandbox, "stdout"))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("stdout file mode = %v (%v), want 0644", fi.Mode().Perm(), err)
	}

	// A second run in the same sandbox appends rather than truncates.
	spec.ContainerID += "-again"
	waitExit(t, launch(t, c, spec))
	if got := readSandbox(t, spec, "stderr"); got != "to-stderr\nto-stderr\n" {
		t.Errorf("stderr after second run = %q, want both runs' output", got)
	}
}

func TestNonShellCommandUsesArgumentsAsArgv(t *testing.T) {
	c := newTestContainerizer(t, Config{})
	shell := false
	spec := shellSpec(t, "")
	spec.Task.Command = &mesos.CommandInfo{
		Shell: &shell,
		Value: "sh", // resolved through the task's PATH
		// argv[0] is the caller's choice, as with execve.
		// The script prints its operands, then the shell's own argv[0].
		Arguments: []string{"custom-argv0", "-c", `printf '%s|%s|' "$0" "$1"; tr '\0' '\n' </proc/$$/cmdline | head -n 1`, "a b", "$HOME"},
	}
	exit := waitExit(t, launch(t, c, spec))
	if exit.Code != 0 {
		t.Fatalf("exit = %+v; stderr %q", exit, readSandbox(t, spec, "stderr"))
	}
	// Arguments are passed verbatim: no word splitting or expansion.
	if got, want := readSandbox(t, spec, "stdout"), "a b|$HOME|custom-argv0\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
}

func TestLaunchErrors(t *testing.T) {
	c := newTestContainerizer(t, Config{})
	shell := false
	for _, tc := range []struct {
		name    string
		command *mesos.CommandInfo
		want    string
	}{
		{"missing command", nil, "command: missing"},
		{"empty shell command", &mesos.CommandInfo{Value: "  "}, "command.value"},
		{"executable not in PATH", &mesos.CommandInfo{Shell: &shell, Value: "agora-no-such-program"}, `"agora-no-such-program" not found`},
		{"missing absolute path", &mesos.CommandInfo{Shell: &shell, Value: "/nonexistent/agora-prog"}, "/nonexistent/agora-prog: no such file or directory"},
		{"secret variable", &mesos.CommandInfo{Value: "true", Environment: &mesos.Environment{
			Variables: []mesos.EnvironmentVariable{{Name: "TOKEN", Type: "SECRET"}}}}, "TOKEN"},
		{"unknown user", &mesos.CommandInfo{Value: "true"}, `user "agora-no-such-user" (command.user, else the framework's user) does not exist on this host`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := shellSpec(t, "")
			spec.Task.Command = tc.command
			if tc.name == "unknown user" {
				spec.User = "agora-no-such-user"
			}
			ctr, err := c.Launch(context.Background(), spec)
			if err == nil {
				ctr.Kill(0)
				<-ctr.Done()
				t.Fatalf("Launch succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), spec.ContainerID) {
				t.Errorf("error %q should name the container and contain %q", err, tc.want)
			}
		})
	}
	t.Run("bad sandbox", func(t *testing.T) {
		spec := shellSpec(t, "true")
		spec.Sandbox = filepath.Join(spec.Sandbox, "missing")
		if _, err := c.Launch(context.Background(), spec); err == nil || !strings.Contains(err.Error(), "sandbox") {
			t.Errorf("error = %v, want one about the sandbox", err)
		}
	})
	t.Run("unsafe container id", func(t *testing.T) {
		spec := shellSpec(t, "true")
		spec.ContainerID = "../escape"
		if _, err := c.Launch(context.Background(), spec); err == nil || !strings.Contains(err.Error(), "container_id") {
			t.Errorf("error = %v, want one about container_id", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.Launch(ctx, shellSpec(t, "true")); !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
	})
	if c.cgroups != nil {
		entries, _ := os.ReadDir(filepath.Join(c.cgroups.memory, c.cgroups.parent))
		for _, e := range entries {
			if e.IsDir() {
				t.Errorf("failed launch left cgroup %s behind", e.Name())
			}
		}
	}
}

func TestEnvironment(t *testing.T) {
	t.Setenv("AGORA_AGENT_ONLY", "leaked")
	c := newTestContainerizer(t, Config{})
	spec := shellSpec(t, `echo "$FROM_AGENT $OVERRIDE $FROM_TASK [$AGORA_AGENT_ONLY] $HOME"; echo "$PATH"`)
	spec.Env = []string{"FROM_AGENT=agent", "OVERRIDE=agent"}
	spec.Task.Command.Environment = &mesos.Environment{Variables: []mesos.EnvironmentVariable{
		{Name: "OVERRIDE", Type: "VALUE", Value: "task"},
		{Name: "FROM_TASK", Value: "task value"},
	}}
	waitExit(t, launch(t, c, spec))
	want := "agent task task value [] " + spec.Sandbox + "\n" + defaultPath + "\n"
	if got := readSandbox(t, spec, "stdout"); got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
}

func TestRunAsUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatalf("switching users needs root; running as uid %d", os.Getuid())
	}
	c := newTestContainerizer(t, Config{})
	spec := shellSpec(t, "id -un; touch written-by-task")
	// The test's temporary directories are private to root; let the task
	// reach its sandbox.
	if err := os.Chmod(filepath.Dir(spec.Sandbox), 0o755); err != nil {
		t.Fatal(err)
	}
	spec.User = "nobody"
	exit := waitExit(t, launch(t, c, spec))
	if exit.Code != 0 {
		t.Fatalf("exit = %+v; stderr %q", exit, readSandbox(t, spec, "stderr"))
	}
	if got := readSandbox(t, spec, "stdout"); got != "nobody\n" {
		t.Errorf("stdout = %q, want nobody", got)
	}
	// The task could write in its sandbox, which it owns now.
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "written-by-task", "stdout"} {
		fi, err := os.Stat(filepath.Join(spec.Sandbox, name))
		if err != nil {
			t.Fatal(err)
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; strconv.Itoa(int(uid)) != nobody.Uid {
			t.Errorf("sandbox/%s is owned by uid %d, want nobody (%s)", name, uid, nobody.Uid)
		}
	}
}

// TestCommandUserAloneDoesNotSwitch: the agent decides the user (Spec.User);
// with user switching off it leaves Spec.User empty and the task runs as
// the agent's user whatever command.user says.
func TestCommandUserAloneDoesNotSwitch(t *testing.T) {
	c := newTestContainerizer(t, Config{})
	spec := shellSpec(t, "id -u")
	spec.Task.Command.User = "nobody"
	if exit := waitExit(t, launch(t, c, spec)); exit.Code != 0 {
		t.Fatalf("exit = %+v", exit)
	}
	if got, want := readSandbox(t, spec, "stdout"), strconv.Itoa(os.Geteuid())+"\n"; got != want {
		t.Errorf("task ran as uid %q, want the agent's %q", got, want)
	}
}

// TestSecretReachesTheTask: a SECRET variable's data is in the task's
// environment.
func TestSecretReachesTheTask(t *testing.T) {
	c := newTestContainerizer(t, Config{})
	spec := shellSpec(t, `echo "$DB_PASSWORD"`)
	spec.Task.Command.Environment = &mesos.Environment{Variables: []mesos.EnvironmentVariable{
		{Name: "DB_PASSWORD", Type: "SECRET", Secret: &mesos.Secret{Type: "VALUE", Value: &mesos.SecretValue{Data: []byte("s3cret")}}},
	}}
	waitExit(t, launch(t, c, spec))
	if got := readSandbox(t, spec, "stdout"); got != "s3cret\n" {
		t.Errorf("stdout = %q, want the secret", got)
	}
}

func TestKillReachesChildrenOfTheShell(t *testing.T) {
	c := newTestContainerizer(t, Config{})
	spec := shellSpec(t, "sleep 1000 & echo $! > child.pid; wait")
	ctr := launch(t, c, spec)
	child, _ := strconv.Atoi(waitFile(t, spec.Sandbox, "child.pid"))
	if !alive(child) {
		t.Fatalf("child %d not running before Kill", child)
	}
	ctr.Kill(deadline)
	exit := waitExit(t, ctr)
	if !exit.Killed || exit.Signal != int(syscall.SIGTERM) {
		t.Errorf("exit = %+v, want killed by SIGTERM", exit)
	}
	if alive(child) {
		t.Errorf("child sleep %d still running after the task was killed", child)
	}
	ctr.Kill(0) // idempotent after the end
	if ctr.Exit() != exit {
		t.Errorf("exit changed after a late Kill: %+v", ctr.Exit())
	}
}

func TestLeftoversDieWithTheMainProcess(t *testing.T) {
	c := newTestContainerizer(t, Config{})
	command := "sleep 1000 & echo $! > child.pid\n"
	if c.cgroups != nil {
		// setsid leaves the process group: only the cgroup can find it.
		command += "setsid sleep 1000 & echo $! > escaped.pid\n"
	}
	command += "while ! test -s child.pid; do :; done; exit 0"
	spec := shellSpec(t, command)
	exit := waitExit(t, launch(t, c, spec))
	if exit.Code != 0 || exit.Killed {
		t.Fatalf("exit = %+v, want a normal exit", exit)
	}
	pids := []string{waitFile(t, spec.Sandbox, "child.pid")}
	if c.cgroups != nil {
		pids = append(pids, waitFile(t, spec.Sandbox, "escaped.pid"))
	}
	for _, p := range pids {
		pid, _ := strconv.Atoi(p)
		if alive(pid) {
			t.Errorf("process %d outlived the task's main process", pid)
		}
	}
}

func TestKillGracePeriod(t *testing.T) {
	c := newTestContainerizer(t, Config{})
	t.Run("exits on TERM within grace", func(t *testing.T) {
		spec := shellSpec(t, "trap 'echo bye; exit 0' TERM; echo > ready; while :; do sleep 0.1; done")
		ctr := launch(t, c, spec)
		waitFile(t, spec.Sandbox, "ready")
		start := time.Now()
		ctr.Kill(deadline)
		ctr.Kill(deadline) // a repeated Kill neither restarts nor breaks anything
		exit := waitExit(t, ctr)
		// Exiting with status 0 (not signal 9) shows the task stopped on
		// its own before the grace period ran out.
		if !exit.Killed || exit.Code != 0 || exit.Signal != 0 {
			t.Errorf("exit = %+v after %v, want killed with status 0", exit, time.Since(start))
		}
		if !strings.Contains(readSandbox(t, spec, "stdout"), "bye") {
			t.Errorf("TERM trap did not run; stdout %q", readSandbox(t, spec, "stdout"))
		}
	})
	t.Run("ignores TERM and is SIGKILLed after grace", func(t *testing.T) {
		spec := shellSpec(t, "trap '' TERM; echo > ready; while :; do sleep 0.1; done")
		ctr := launch(t, c, spec)
		waitFile(t, spec.Sandbox, "ready")
		ctr.Kill(100 * time.Millisecond)
		exit := waitExit(t, ctr)
		if !exit.Killed || exit.Code != -1 || exit.Signal != int(syscall.SIGKILL) ||
			exit.Message != "Command terminated with signal SIGKILL" {
			t.Errorf("exit = %+v, want killed by SIGKILL", exit)
		}
	})
	t.Run("shorter grace brings SIGKILL forward", func(t *testing.T) {
		spec := shellSpec(t, "trap '' TERM; echo > ready; while :; do sleep 0.1; done")
		ctr := launch(t, c, spec)
		waitFile(t, spec.Sandbox, "ready")
		ctr.Kill(time.Hour)
		ctr.Kill(0)
		if exit := waitExit(t, ctr); exit.Signal != int(syscall.SIGKILL) {
			t.Errorf("exit = %+v, want SIGKILL", exit)
		}
	})
}

func TestMemoryLimitKillsTaskWithOOM(t *testing.T) {
	c := newTestContainerizer(t, Config{})
	requireCgroups(t, c)
	// tail buffers an endless line: it grows until something stops it.
	spec := shellSpec(t, "tail /dev/zero")
	spec.Limits = resources.Resources{Mem: 32}
	exit := waitExit(t, launch(t, c, spec))
	if !exit.OOM {
		t.Fatalf("exit = %+v, want OOM", exit)
	}
	t.Logf("exit: %+v", exit)
	if !strings.HasPrefix(exit.Message, "Memory limit exceeded: requested 32 MB") {
		t.Errorf("message = %q, want it to start with the memory limit", exit.Message)
	}
	if exit.Killed {
		t.Errorf("exit.Killed = true; the task was not killed through Kill")
	}
	for _, d := range []string{c.cgroups.memory, c.cgroups.cpu} {
		dir := filepath.Join(d, c.cgroups.parent, spec.ContainerID)
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s not removed after the task ended (%v)", dir, err)
		}
	}
}

func TestLimitsAreWrittenToTheTaskCgroup(t *testing.T) {
	c := newTestContainerizer(t, Config{})
	requireCgroups(t, c)
	const unlimited = "unlimited" // v1 spells "no memory limit" as a huge number
	for _, tc := range []struct {
		name   string
		limits resources.Resources
		v1, v2 map[string]string // control file -> content
	}{
		{"limited", resources.Resources{CPUs: 0.5, Mem: 64},
			map[string]string{
				"memory.limit_in_bytes": "67108864", "memory.memsw.limit_in_bytes": "67108864",
				"cpu.shares": "512", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000",
			},
			map[string]string{
				"memory.max": "67108864", "memory.swap.max": "0", "cpu.max": "50000 100000", "cpu.weight": "20",
			}},
		{"unlimited", resources.Resources{},
			map[string]string{
				"memory.limit_in_bytes": unlimited, "cpu.shares": "1024", "cpu.cfs_quota_us": "-1",
			},
			map[string]string{
				"memory.max": "max", "cpu.max": "max 100000", "cpu.weight": "100",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := shellSpec(t, "echo > ready; exec sleep 1000")
			spec.Limits = tc.limits
			ctr := launch(t, c, spec)
			waitFile(t, spec.Sandbox, "ready")
			// The task itself is in its cgroup.
			own, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", ctr.PID()))
			if err != nil {
				t.Fatal(err)
			}
			if want := "/" + c.cgroups.parent + "/" + spec.ContainerID + "\n"; !strings.Contains(string(own), want) {
				t.Errorf("/proc/%d/cgroup = %q, want it in %s", ctr.PID(), own, want)
			}
			want := tc.v2
			if c.cgroups.version == 1 {
				want = tc.v1
			}
			for file, value := range want {
				mount := c.cgroups.memory
				if strings.HasPrefix(file, "cpu.") {
					mount = c.cgroups.cpu
				}
				raw, err := os.ReadFile(filepath.Join(mount, c.cgroups.parent, spec.ContainerID, file))
				if errors.Is(err, os.ErrNotExist) && (file == "memory.memsw.limit_in_bytes" || file == "memory.swap.max") {
					continue // swap accounting is off on this kernel
				}
				if err != nil {
					t.Errorf("read %s: %v", file, err)
					continue
				}
				got := strings.TrimSpace(string(raw))
				if value == unlimited {
					if v, _ := strconv.ParseInt(got, 10, 64); v < 1<<50 {
						t.Errorf("%s = %s, want unlimited", file, got)
					}
				} else if got != value {
					t.Errorf("%s = %q, want %q", file, got, value)
				}
			}
		})
	}
}

func TestWithoutCgroups(t *testing.T) {
	t.Run("disabled by configuration", func(t *testing.T) {
		c := newTestContainerizer(t, Config{DisableCgroups: true})
		if got := c.Isolation(); got != "none (cgroups disabled by configuration)" {
			t.Errorf("Isolation() = %q", got)
		}
		spec := shellSpec(t, "cat /proc/self/cgroup")
		spec.Limits = resources.Resources{CPUs: 1, Mem: 32}
		exit := waitExit(t, launch(t, c, spec))
		if exit.Code != 0 || exit.OOM {
			t.Errorf("exit = %+v", exit)
		}
		if out := readSandbox(t, spec, "stdout"); strings.Contains(out, spec.ContainerID) {
			t.Errorf("task was put in a cgroup although cgroups are disabled: %s", out)
		}
	})
	t.Run("no hierarchy", func(t *testing.T) {
		c := newTestContainerizer(t, Config{CgroupRoot: t.TempDir()})
		if got := c.Isolation(); !strings.HasPrefix(got, "none (") || !strings.Contains(got, "no cgroup") {
			t.Errorf("Isolation() = %q, want none with a reason", got)
		}
		exit := waitExit(t, launch(t, c, shellSpec(t, "exit 5")))
		if exit.Code != 5 {
			t.Errorf("exit = %+v, want status 5: tasks must still run", exit)
		}
	})
	t.Run("v2 without controllers", func(t *testing.T) {
		root := t.TempDir()
		if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("pids io\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c := newTestContainerizer(t, Config{CgroupRoot: root})
		if got := c.Isolation(); !strings.Contains(got, "lacks the memory, cpu controller") {
			t.Errorf("Isolation() = %q, want it to name the missing controllers", got)
		}
	})
}

func TestIsolationReportsCgroupVersion(t *testing.T) {
	c := newTestContainerizer(t, Config{})
	requireCgroups(t, c)
	if got, want := c.Isolation(), fmt.Sprintf("cgroups-v%d", c.cgroups.version); got != want {
		t.Errorf("Isolation() = %q, want %q", got, want)
	}
	if c.Name() != "process" {
		t.Errorf("Name() = %q", c.Name())
	}
}

func TestConfigValidate(t *testing.T) {
	for _, cfg := range []Config{
		{CgroupParent: "a/b"},
		{CgroupParent: ".."},
		{CgroupRoot: "relative/path"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestConcurrentLaunchesLandInTheirOwnCgroups(t *testing.T) {
	c := newTestContainerizer(t, Config{})
	requireCgroups(t, c)
	const n = 16
	specs := make([]containerizer.Spec, n)
	ctrs := make([]containerizer.Container, n)
	errs := make(chan error, n)
	for i := range specs {
		specs[i] = shellSpec(t, "cat /proc/self/cgroup")
		specs[i].Limits = resources.Resources{CPUs: 0.25, Mem: 64}
	}
	for i := range specs {
		go func() {
			var err error
			ctrs[i], err = c.Launch(context.Background(), specs[i])
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i, ctr := range ctrs {
		if exit := waitExit(t, ctr); exit.Code != 0 {
			t.Errorf("task %d: %+v", i, exit)
		}
		out := readSandbox(t, specs[i], "stdout")
		// v1: the memory and cpu hierarchies (whatever they are mounted
		// with); v2: the one unified line.
		want := map[int]int{1: 2, 2: 1}[c.cgroups.version]
		suffix := ":/" + c.cgroups.parent + "/" + specs[i].ContainerID
		got := 0
		for _, line := range strings.Split(out, "\n") {
			if strings.HasSuffix(line, suffix) {
				got++
			}
		}
		if got != want {
			t.Errorf("task %d cgroups:\n%s\nwant %d lines ending in %q", i, out, want, suffix)
		}
	}
}
