package process

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"agora/core/mesos"
	"agora/core/resources"
)

func TestLimitWrites(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version int
		limits  resources.Resources
		want    []string // controller/file=value
	}{
		{"v1 none", 1, resources.Resources{}, nil},
		{"v1 both", 1, resources.Resources{CPUs: 1.5, Mem: 128}, []string{
			"memory/memory.limit_in_bytes=134217728",
			"memory/memory.memsw.limit_in_bytes=134217728?",
			"cpu/cpu.shares=1536",
			"cpu/cpu.cfs_period_us=100000",
			"cpu/cpu.cfs_quota_us=150000",
		}},
		{"v1 tiny cpu hits kernel floors", 1, resources.Resources{CPUs: 0.001}, []string{
			"cpu/cpu.shares=2",
			"cpu/cpu.cfs_period_us=100000",
			"cpu/cpu.cfs_quota_us=1000",
		}},
		{"v2 both", 2, resources.Resources{CPUs: 2, Mem: 0.5}, []string{
			"/memory.max=524288",
			"/memory.swap.max=0?",
			"/cpu.weight=79",
			"/cpu.max=200000 100000",
		}},
		{"v2 mem only", 2, resources.Resources{Mem: 1}, []string{
			"/memory.max=1048576",
			"/memory.swap.max=0?",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, w := range limitWrites(tc.version, tc.limits) {
				s := w.controller + "/" + w.file + "=" + w.value
				if w.optional {
					s += "?"
				}
				got = append(got, s)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestCPUWeightMatchesKubeletConversion(t *testing.T) {
	for shares, want := range map[int64]int64{2: 1, 1024: 39, 262144: 10000, 1 << 30: 10000, 0: 1} {
		if got := cpuWeight(shares); got != want {
			t.Errorf("cpuWeight(%d) = %d, want %d", shares, got, want)
		}
	}
}

func TestDescribeExit(t *testing.T) {
	exited := func(code int) syscall.WaitStatus { return syscall.WaitStatus(code << 8) }
	signaled := func(sig syscall.Signal) syscall.WaitStatus { return syscall.WaitStatus(sig) }
	for _, tc := range []struct {
		name    string
		ws      syscall.WaitStatus
		killed  bool
		mem     memStats
		limitMB float64
		want    string
		oom     bool
	}{
		{"exit 0", exited(0), false, memStats{}, 0, "Command exited with status 0", false},
		{"exit 3", exited(3), false, memStats{}, 0, "Command exited with status 3", false},
		{"signal", signaled(syscall.SIGTERM), true, memStats{}, 0, "Command terminated with signal SIGTERM", false},
		{"oom counter", exited(137), false, memStats{known: true, oomKills: 1, peakBytes: 32 << 20}, 32,
			"Memory limit exceeded: requested 32 MB, peak usage 32 MB (Command exited with status 137)", true},
		{"v1 failcnt and SIGKILL", signaled(syscall.SIGKILL), false, memStats{known: true, failcnt: 9}, 64.5,
			"Memory limit exceeded: requested 64.5 MB (Command terminated with signal SIGKILL)", true},
		{"failcnt but our own SIGKILL", signaled(syscall.SIGKILL), true, memStats{known: true, failcnt: 9}, 64,
			"Command terminated with signal SIGKILL", false},
		{"no limit, no OOM", signaled(syscall.SIGKILL), false, memStats{known: true, oomKills: 1}, 0,
			"Command terminated with signal SIGKILL", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := describeExit(tc.ws, tc.killed, tc.mem, tc.limitMB)
			if e.Message != tc.want || e.OOM != tc.oom || e.Killed != tc.killed {
				t.Errorf("got %+v, want message %q oom %v", e, tc.want, tc.oom)
			}
			if tc.ws.Signaled() && (e.Code != -1 || e.Signal != int(tc.ws.Signal())) {
				t.Errorf("signalled exit = %+v, want code -1 and the signal", e)
			}
		})
	}
}

func TestEnvironOrderAndOverrides(t *testing.T) {
	env, err := environ("/sb", []string{"PATH=/opt/bin", "A=1", "B=x=y"}, &mesos.CommandInfo{
		Environment: &mesos.Environment{Variables: []mesos.EnvironmentVariable{{Name: "A", Value: "2"}, {Name: "C"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/opt/bin", "HOME=/sb", "A=2", "B=x=y", "C="}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("environ = %q, want %q", env, want)
	}
	if _, err := environ("/sb", []string{"NOEQUALS"}, nil); err == nil || !strings.Contains(err.Error(), "env[0]") {
		t.Errorf("malformed agent env: err = %v, want one naming env[0]", err)
	}
}

func TestCommandLine(t *testing.T) {
	no := false
	for _, tc := range []struct {
		cmd  *mesos.CommandInfo
		path string
		argv []string
	}{
		{&mesos.CommandInfo{Value: "echo hi"}, "/bin/sh", []string{"sh", "-c", "echo hi"}},
		{&mesos.CommandInfo{Shell: &no, Value: "/bin/echo", Arguments: []string{"echo", "hi"}}, "/bin/echo", []string{"echo", "hi"}},
		{&mesos.CommandInfo{Shell: &no, Value: "true"}, "true", []string{"true"}},
	} {
		path, argv, err := commandLine(tc.cmd)
		if err != nil || path != tc.path || !reflect.DeepEqual(argv, tc.argv) {
			t.Errorf("commandLine(%+v) = %q %q %v, want %q %q", tc.cmd, path, argv, err, tc.path, tc.argv)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	got := parseProcCgroup("12:cpu,cpuacct:/a/b\n4:memory:/x\n1:name=systemd:/\n0::/u\n")
	want := map[string]string{"cpu": "/a/b", "cpuacct": "/a/b", "memory": "/x", "name=systemd": "/", "": "/u"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if n := keyedInt("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill"); n != 3 {
		t.Errorf("keyedInt = %d, want 3", n)
	}
}

// TestAgentThreadsStayOutOfTaskCgroups checks the v1 launch path: the OS
// thread that forks the task visits the task's cgroups and must return, or
// the agent itself would end up under a task's memory and CPU limits.
func TestAgentThreadsStayOutOfTaskCgroups(t *testing.T) {
	c := newTestContainerizer(t, Config{})
	requireCgroups(t, c)
	spec := shellSpec(t, "echo > ready; exec sleep 1000")
	spec.Limits = resources.Resources{CPUs: 0.1, Mem: 64}
	ctr := launch(t, c, spec)
	waitFile(t, spec.Sandbox, "ready")
	threads, err := filepath.Glob("/proc/self/task/*/cgroup")
	if err != nil || len(threads) == 0 {
		t.Fatalf("list threads: %v", err)
	}
	for _, f := range threads {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue // the thread exited
		}
		if strings.Contains(string(raw), spec.ContainerID) {
			t.Errorf("agent thread %s is in the task's cgroup:\n%s", f, raw)
		}
	}
	ctr.Kill(0)
	waitExit(t, ctr)
}

// TestV2StartAndKillOnUnifiedMount exercises the cgroup v2 launch path
// (clone into the cgroup, cgroup.kill, removal) on the controller-less v2
// mount that hybrid hosts have beside v1. Limits need controllers and are
// covered on v2 hosts by the tests above.
func TestV2StartAndKillOnUnifiedMount(t *testing.T) {
	const mount = "/sys/fs/cgroup/unified"
	if _, err := os.Stat(filepath.Join(mount, "cgroup.procs")); err != nil {
		t.Skipf("no hybrid v2 mount at %s: %v (the v2 path is exercised by the main tests on v2 hosts)", mount, err)
	}
	parent := filepath.Join(mount, testParent())
	if err := mkdirCgroup(parent); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(parent) })
	c := newTestContainerizer(t, Config{DisableCgroups: true})
	// A v2 hierarchy with no limits: create() then writes no control files.
	c.cgroups = &hierarchy{version: 2, memory: mount, cpu: mount, parent: testParent()}

	spec := shellSpec(t, "setsid sleep 1000 & echo $! > escaped.pid; exec sleep 1000")
	ctr, err := c.Launch(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	escaped := waitFile(t, spec.Sandbox, "escaped.pid")
	own, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", ctr.PID()))
	if want := "0::/" + testParent() + "/" + spec.ContainerID + "\n"; !strings.Contains(string(own), want) {
		t.Errorf("/proc/%d/cgroup = %q, want %q", ctr.PID(), own, want)
	}
	ctr.Kill(0)
	exit := waitExit(t, ctr)
	if !exit.Killed {
		t.Errorf("exit = %+v, want killed", exit)
	}
	var pid int
	fmt.Sscan(escaped, &pid)
	if alive(pid) {
		t.Errorf("process %d escaped the process group and survived; cgroup.kill should have reached it", pid)
	}
	if _, err := os.Stat(filepath.Join(parent, spec.ContainerID)); !os.IsNotExist(err) {
		t.Errorf("task cgroup not removed: %v", err)
	}
}

// BenchmarkLaunch measures a task's whole life: launch (through its shim),
// run `true`, wait, Destroy (cgroup creation and removal included when
// available).
func BenchmarkLaunch(b *testing.B) {
	for _, mode := range []struct {
		name string
		cfg  Config
	}{{"cgroups", Config{}}, {"nocgroups", Config{DisableCgroups: true}}} {
		b.Run(mode.name, func(b *testing.B) {
			mode.cfg.CgroupParent = testParent()
			mode.cfg.RuntimeDir = b.TempDir()
			c, err := New(mode.cfg)
			if err != nil {
				b.Fatal(err)
			}
			if mode.name == "cgroups" && c.cgroups == nil {
				b.Fatalf("cgroups unavailable: %s", c.Isolation())
			}
			sandbox := b.TempDir()
			no := false
			spec := shellSpec(b, "")
			spec.Sandbox = sandbox
			spec.Task.Command = &mesos.CommandInfo{Shell: &no, Value: "/bin/true"}
			spec.Limits = resources.Resources{CPUs: 1, Mem: 64}
			for i := 0; b.Loop(); i++ {
				spec.ContainerID = fmt.Sprintf("bench-%d-%d", os.Getpid(), i)
				ctr, err := c.Launch(context.Background(), spec)
				if err != nil {
					b.Fatal(err)
				}
				<-ctr.Done()
				if e := ctr.Exit(); e.Code != 0 {
					b.Fatalf("exit %+v", e)
				}
				if err := c.Destroy(context.Background(), spec.ContainerID); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if c.cgroups != nil {
				os.Remove(filepath.Join(c.cgroups.memory, c.cgroups.parent))
				os.Remove(filepath.Join(c.cgroups.cpu, c.cgroups.parent))
			}
		})
	}
}

// TestRunAsWithoutRoot: an agent that is not root runs tasks of its own
// user as they are and refuses any other, saying how to fix it.
func TestRunAsWithoutRoot(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody on this host")
	}
	euid, _ := strconv.Atoi(nobody.Uid)
	sandbox := t.TempDir()
	cred, err := runAs("nobody", euid, sandbox)
	if err != nil || cred != nil {
		t.Fatalf("own user: cred %+v, err %v; want to run as is", cred, err)
	}
	_, err = runAs("root", euid, sandbox)
	if err == nil {
		t.Fatal("an agent running as nobody switched to root")
	}
	for _, want := range []string{`task's user is "root"`, `agent runs as "nobody"`, "run the agent as root", `run the task as "nobody"`, "--switch_user=false"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := runAs("agora-no-such-user", 0, sandbox); err == nil || !strings.Contains(err.Error(), `"agora-no-such-user"`) || !strings.Contains(err.Error(), "does not exist on this host") {
		t.Errorf("unknown user: %v", err)
	}
}

// TestRunAsUnreachableSandbox: a sandbox under a directory the task's user
// cannot enter fails the launch saying which directory, not with the
// kernel's "permission denied" about /bin/sh.
func TestRunAsUnreachableSandbox(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("switching users needs root; running as uid %d", os.Geteuid())
	}
	private := t.TempDir()
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	sandbox := filepath.Join(private, "sandbox")
	if err := os.Mkdir(sandbox, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := runAs("nobody", 0, sandbox)
	if err == nil || !strings.Contains(err.Error(), "cannot reach its sandbox") || !strings.Contains(err.Error(), private+" (mode 0700") {
		t.Fatalf("error %v, want one naming %s", err, private)
	}
}
