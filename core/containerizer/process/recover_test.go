package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"agora/core/containerizer"
	"agora/core/resources"
)

// launcherEnv makes the test binary play an agent that launches one task,
// prints its checkpoint and exits without killing it. (The shims the tests
// start are this test binary too: the package's init runs them.)
const launcherEnv = "AGORA_PROCESS_TEST_LAUNCHER"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(launcherEnv); cfg != "" {
		os.Exit(launcherMain(cfg))
	}
	os.Exit(m.Run())
}

// launcherRequest is what the fake agent process launches.
type launcherRequest struct {
	Parent  string             `json:"parent"`
	Runtime string             `json:"runtime"`
	Spec    containerizer.Spec `json:"spec"`
}

func launcherMain(raw string) int {
	var req launcherRequest
	if err := json.Unmarshal([]byte(raw), &req); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	c, err := New(Config{CgroupParent: req.Parent, RuntimeDir: req.Runtime})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctr, err := c.Launch(context.Background(), req.Spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cp, err := c.Checkpoint(ctr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Stdout.Write(cp)
	// Exit at once, as a crashing agent would: nothing is killed.
	return 0
}

// launchInOtherProcess launches spec from a separate agent-like process
// that exits right after, so the shim loses its parent as it does when the
// agent dies, and returns the checkpoint that process made.
func launchInOtherProcess(t *testing.T, runtime string, spec containerizer.Spec) []byte {
	t.Helper()
	req, _ := json.Marshal(launcherRequest{Parent: testParent(), Runtime: runtime, Spec: spec})
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), launcherEnv+"="+string(req))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("launcher process: %v: %s", err, stderr.String())
	}
	return out
}

func checkpointOf(t *testing.T, c *Containerizer, ctr containerizer.Container) []byte {
	t.Helper()
	cp, err := c.Checkpoint(ctr)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func recoverOK(t *testing.T, c *Containerizer, spec containerizer.Spec, cp []byte) containerizer.Container {
	t.Helper()
	ctr, err := c.Recover(context.Background(), spec, cp)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	t.Cleanup(func() {
		ctr.Kill(0)
		<-ctr.Done()
		c.Destroy(context.Background(), spec.ContainerID)
	})
	return ctr
}

func isDone(ctr containerizer.Container) bool {
	select {
	case <-ctr.Done():
		return true
	default:
		return false
	}
}

func TestRecoverRunningTaskAfterAgentProcessDied(t *testing.T) {
	runtime := t.TempDir()
	c := newTestContainerizer(t, Config{RuntimeDir: runtime})
	spec := shellSpec(t, "trap 'echo got TERM; exit 0' TERM; echo > ready; while :; do sleep 0.05; done")
	spec.AgentID = "agent-1"
	spec.Limits = resources.Resources{CPUs: 0.5, Mem: 64}
	cp := launchInOtherProcess(t, runtime, spec)
	waitFile(t, spec.Sandbox, "ready")

	// A new containerizer, as a restarted agent creates.
	c2 := newTestContainerizer(t, Config{RuntimeDir: runtime})
	ctr := recoverOK(t, c2, spec, cp)
	pid := ctr.PID()
	if !alive(pid) || isDone(ctr) {
		t.Fatalf("recovered task %d: alive %v, done %v; want running", pid, alive(pid), isDone(ctr))
	}
	if c.cgroups != nil {
		own, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if !strings.Contains(string(own), "/"+testParent()+"/"+spec.ContainerID) {
			t.Errorf("task is not in its cgroup: %s", own)
		}
	}
	ctr.Kill(deadline)
	exit := waitExit(t, ctr)
	if !exit.Killed || exit.Code != 0 || exit.Message != "Command exited with status 0" {
		t.Errorf("exit = %+v, want killed, status 0 after its TERM trap", exit)
	}
	if !strings.Contains(readSandbox(t, spec, "stdout"), "got TERM") {
		t.Errorf("the task did not get SIGTERM; stdout %q", readSandbox(t, spec, "stdout"))
	}
	if alive(pid) {
		t.Errorf("task %d still running", pid)
	}
	if ids, _ := c2.Orphans(context.Background(), "agent-1"); len(ids) != 1 || ids[0] != spec.ContainerID {
		t.Errorf("Orphans before Destroy = %v, want the ended container until it is destroyed", ids)
	}
	if err := c2.Destroy(context.Background(), spec.ContainerID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(runtime, spec.ContainerID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("runtime dir left after Destroy: %v", err)
	}
}

func TestRecoverTaskThatEndedMeanwhile(t *testing.T) {
	runtime := t.TempDir()
	newTestContainerizer(t, Config{RuntimeDir: runtime}) // prepares the test's cgroup parent
	spec := shellSpec(t, "echo > ready; while ! test -e go; do sleep 0.01; done; echo bye; exit 3")
	cp := launchInOtherProcess(t, runtime, spec)
	waitFile(t, spec.Sandbox, "ready")
	// The task ends while no agent watches it.
	if err := os.WriteFile(filepath.Join(spec.Sandbox, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFile(t, spec.Sandbox, "stdout")
	end := time.Now().Add(deadline)
	for {
		if _, err := os.Stat(filepath.Join(runtime, spec.ContainerID, outcomeFile)); err == nil {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the shim recorded no outcome")
		}
		time.Sleep(10 * time.Millisecond)
	}

	c2 := newTestContainerizer(t, Config{RuntimeDir: runtime})
	ctr := recoverOK(t, c2, spec, cp)
	if !isDone(ctr) {
		t.Fatal("a container that ended before Recover is not Done")
	}
	if exit := ctr.Exit(); exit.Code != 3 || exit.Killed || exit.Message != "Command exited with status 3" {
		t.Errorf("exit = %+v, want status 3", exit)
	}
}

func TestRecoverWhileTheShimIsWaiting(t *testing.T) {
	// The same process recovers (the agent's Run restarted in-process):
	// the recovered container sees the end through the shim's pidfd.
	runtime := t.TempDir()
	c := newTestContainerizer(t, Config{RuntimeDir: runtime})
	spec := shellSpec(t, "echo > ready; while ! test -e go; do sleep 0.01; done; exit 7")
	ctr := launch(t, c, spec)
	waitFile(t, spec.Sandbox, "ready")
	c2 := newTestContainerizer(t, Config{RuntimeDir: runtime})
	rec := recoverOK(t, c2, spec, checkpointOf(t, c, ctr))
	if rec.PID() != ctr.PID() {
		t.Fatalf("recovered pid %d, launched %d", rec.PID(), ctr.PID())
	}
	os.WriteFile(filepath.Join(spec.Sandbox, "go"), nil, 0o644)
	if exit := waitExit(t, rec); exit.Code != 7 {
		t.Errorf("exit = %+v, want status 7", exit)
	}
}

func TestRecoverRefusesUntrustworthyCheckpoints(t *testing.T) {
	runtime := t.TempDir()
	c := newTestContainerizer(t, Config{RuntimeDir: runtime})
	spec := shellSpec(t, "echo > ready; exec sleep 1000")
	ctr := launch(t, c, spec)
	waitFile(t, spec.Sandbox, "ready")
	good := checkpointOf(t, c, ctr)
	var cp checkpoint
	if err := json.Unmarshal(good, &cp); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(*checkpoint)) []byte {
		c := cp
		f(&c)
		b, _ := json.Marshal(c)
		return b
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"garbage", []byte("{not json"), "checkpoint"},
		{"torn", good[:len(good)/2], "checkpoint"},
		{"other version", edit(func(c *checkpoint) { c.Version = 99 }), "version 99"},
		{"other container", edit(func(c *checkpoint) { c.ContainerID = "someone-else" }), "container_id"},
		{"other directory", edit(func(c *checkpoint) { c.RuntimeDir = "/etc" }), "runtime_dir"},
		{"other boot", edit(func(c *checkpoint) { c.BootID = "00000000-dead" }), "rebooted"},
		{"reused shim pid", edit(func(c *checkpoint) { c.Shim.Start++ }), "exited"},
		{"other task", edit(func(c *checkpoint) { c.Task.Start++ }), "task"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Recover(context.Background(), spec, tc.raw)
			if err == nil {
				t.Fatalf("Recover succeeded (%v), want an error containing %q", got, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), spec.ContainerID) {
				t.Errorf("error %q should name the container and contain %q", err, tc.want)
			}
		})
	}
	if isDone(ctr) || !alive(ctr.PID()) {
		t.Fatal("a refused Recover disturbed the running task")
	}
}

func TestShimKilledLeavesNoTaskBehind(t *testing.T) {
	runtime := t.TempDir()
	c := newTestContainerizer(t, Config{RuntimeDir: runtime})
	spec := shellSpec(t, "echo > ready; exec sleep 1000")
	ctr := launch(t, c, spec)
	waitFile(t, spec.Sandbox, "ready")
	cp := checkpointOf(t, c, ctr)
	var shim procRecord
	if err := readJSON(filepath.Join(runtime, spec.ContainerID, shimFile), &shim); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(shim.PID, syscall.SIGKILL)
	exit := waitExit(t, ctr)
	if exit.Signal != int(syscall.SIGKILL) || !strings.Contains(exit.Message, "shim") {
		t.Errorf("exit = %+v, want the task killed because its shim died", exit)
	}
	if alive(ctr.PID()) {
		t.Errorf("task %d outlived its shim", ctr.PID())
	}
	// Nothing trustworthy is left to recover.
	if _, err := c.Recover(context.Background(), spec, cp); err == nil || !strings.Contains(err.Error(), "no outcome") {
		t.Errorf("Recover after the shim died = %v, want an error about the missing outcome", err)
	}
}

func TestOrphansAndDestroy(t *testing.T) {
	runtime := t.TempDir()
	c := newTestContainerizer(t, Config{RuntimeDir: runtime})
	var specs []containerizer.Spec
	var ctrs []containerizer.Container
	for _, agent := range []string{"agent-a", "agent-a", "agent-b"} {
		spec := shellSpec(t, "sleep 1000 & echo $! > child.pid; echo > ready; wait")
		spec.AgentID = agent
		spec.Limits = resources.Resources{Mem: 64}
		ctrs = append(ctrs, launch(t, c, spec))
		specs = append(specs, spec)
		waitFile(t, spec.Sandbox, "ready")
	}
	ids, err := c.Orphans(context.Background(), "agent-a")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{specs[0].ContainerID, specs[1].ContainerID}
	if want[0] > want[1] {
		want[0], want[1] = want[1], want[0]
	}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("Orphans(agent-a) = %v, want %v", ids, want)
	}

	// A new containerizer destroys a container it knows only by id.
	c2 := newTestContainerizer(t, Config{RuntimeDir: runtime})
	child, _ := strconv.Atoi(waitFile(t, specs[0].Sandbox, "child.pid"))
	if err := c2.Destroy(context.Background(), specs[0].ContainerID); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{ctrs[0].PID(), child} {
		if alive(pid) {
			t.Errorf("process %d survived Destroy", pid)
		}
	}
	if _, err := os.Stat(filepath.Join(runtime, specs[0].ContainerID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("runtime dir survived Destroy: %v", err)
	}
	if c.cgroups != nil {
		dir := filepath.Join(c.cgroups.memory, c.cgroups.parent, specs[0].ContainerID)
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s survived Destroy: %v", dir, err)
		}
	}
	if exit := waitExit(t, ctrs[0]); !exit.Killed {
		t.Errorf("destroyed task's exit = %+v, want killed", exit)
	}
	if ids, _ := c2.Orphans(context.Background(), "agent-a"); len(ids) != 1 || ids[0] != specs[1].ContainerID {
		t.Errorf("Orphans after Destroy = %v, want only %s", ids, specs[1].ContainerID)
	}
	// Destroying what is gone is fine.
	if err := c2.Destroy(context.Background(), specs[0].ContainerID); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	if err := c2.Destroy(context.Background(), "../etc"); err == nil {
		t.Error("Destroy accepted an unsafe container id")
	}
	if alive(ctrs[1].PID()) == false || alive(ctrs[2].PID()) == false {
		t.Error("Destroy killed other containers")
	}
}

func TestExecRunsInTheTasksContext(t *testing.T) {
	c := newTestContainerizer(t, Config{})
	spec := shellSpec(t, "echo > ready; exec sleep 1000")
	spec.Env = []string{"FROM_AGENT=agent-value"}
	spec.Limits = resources.Resources{Mem: 64}
	ctr := launch(t, c, spec)
	waitFile(t, spec.Sandbox, "ready")
	ex, ok := ctr.(containerizer.Execer)
	if !ok {
		t.Fatal("process containers do not implement containerizer.Execer")
	}
	code, err := ex.Exec(context.Background(),
		[]string{"sh", "-c", `echo "$FROM_AGENT $EXTRA $(pwd)" > exec.out; cat /proc/self/cgroup > exec.cgroup; exit 4`},
		[]string{"EXTRA=extra"})
	if err != nil || code != 4 {
		t.Fatalf("Exec = %d, %v; want 4", code, err)
	}
	if got, want := readSandbox(t, spec, "exec.out"), "agent-value extra "+spec.Sandbox+"\n"; got != want {
		t.Errorf("exec.out = %q, want %q", got, want)
	}
	if c.cgroups != nil && !strings.Contains(readSandbox(t, spec, "exec.cgroup"), spec.ContainerID) {
		t.Errorf("Exec ran outside the task's cgroup:\n%s", readSandbox(t, spec, "exec.cgroup"))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := ex.Exec(ctx, []string{"sleep", "1000"}, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Exec past its deadline = %v, want DeadlineExceeded", err)
	}
	if time.Since(start) > deadline {
		t.Errorf("Exec ignored its context")
	}
	if _, err := ex.Exec(context.Background(), []string{"agora-no-such-program"}, nil); err == nil {
		t.Error("Exec of a missing program succeeded")
	}
}

// TestExecRacingTheTasksEndSparesTheCaller: when the task ends, its shim
// kills everything in the task's cgroup; commands Exec'd at that moment die
// with it, but the calling process (the agent) must never be among them.
func TestExecRacingTheTasksEndSparesTheCaller(t *testing.T) {
	c := newTestContainerizer(t, Config{})
	for range 5 {
		spec := shellSpec(t, "echo > ready; exec sleep 1000")
		ctr := launch(t, c, spec)
		waitFile(t, spec.Sandbox, "ready")
		ex := ctr.(containerizer.Execer)
		stop := make(chan struct{})
		done := make(chan struct{})
		var ran atomic.Int64
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				ex.Exec(context.Background(), []string{"true"}, nil)
				ran.Add(1)
			}
		}()
		for end := time.Now().Add(deadline); ran.Load() < 3 && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
		ctr.Kill(0)
		waitExit(t, ctr)
		close(stop)
		<-done
	}
	// Reaching here means this process survived every cgroup cleanup.
}
