package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"agora/core/client"
	"agora/core/mesos"
	"agora/core/resources"
)

// End-to-end tests: the built binary, run as a user runs it.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func agoraBin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "agora-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "agora")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a running agora process with its output captured.
type proc struct {
	cmd *exec.Cmd
	out *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t testing.TB, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(agoraBin(t), args...), out: &syncBuffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("output of agora %s:\n%s", strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// interrupt sends Ctrl-C and waits for a clean exit.
func (p *proc) interrupt(t testing.TB) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("agora did not exit cleanly on Ctrl-C: %v\n%s", err, p.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("agora did not stop within 30s of Ctrl-C\n%s", p.out.String())
	}
}

func waitHealthy(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s/health did not answer within 30s", url)
}

// waitAgents polls GET_AGENTS until n agents are active.
func waitAgents(t testing.TB, master string, n int) []mesos.AgentState {
	t.Helper()
	op := client.NewOperator(master, nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := op.Call(context.Background(), mesos.GetAgents)
		if err == nil && len(resp.GetAgents.Agents) == n {
			return resp.GetAgents.Agents
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d agents within 30s; last answer %+v, %v", n, resp, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(agoraBin(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("agora %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// scheduler is a tiny framework on the Mesos v1 HTTP API.
type scheduler struct {
	t      testing.TB
	c      *client.Scheduler
	events <-chan mesos.Event
	offers []mesos.Offer // received while waiting for something else
}

func subscribe(t testing.TB, master string, info mesos.FrameworkInfo) *scheduler {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := client.NewScheduler(master, nil)
	ch, err := c.Subscribe(ctx, info)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	s := &scheduler{t: t, c: c, events: ch}
	s.next(func(e mesos.Event) bool { return e.Type == mesos.EventSubscribed }, "SUBSCRIBED")
	return s
}

func (s *scheduler) next(match func(mesos.Event) bool, what string) mesos.Event {
	s.t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatalf("event stream ended waiting for %s: %v", what, s.c.Err())
			}
			if ev.Type == mesos.EventUpdate {
				// Acknowledge every update, as a scheduler must.
				if err := s.c.Acknowledge(context.Background(), ev.Update.Status); err != nil {
					s.t.Fatalf("acknowledge: %v", err)
				}
			}
			if match(ev) {
				return ev
			}
			switch ev.Type {
			case mesos.EventOffers:
				s.offers = append(s.offers, ev.Offers.Offers...)
			case mesos.EventRescind:
				for i, o := range s.offers {
					if o.ID == ev.Rescind.OfferID {
						s.offers = append(s.offers[:i], s.offers[i+1:]...)
						break
					}
				}
			}
		case <-timeout:
			s.t.Fatalf("no %s within 60s (scheduler talks to %s, stream error %v)", what, s.c.Master(), s.c.Err())
		}
	}
}

// offer returns an outstanding offer, waiting for one if need be; the
// others stay outstanding for later calls.
func (s *scheduler) offer() mesos.Offer {
	if len(s.offers) == 0 {
		ev := s.next(func(e mesos.Event) bool { return e.Type == mesos.EventOffers }, "OFFERS")
		s.offers = append(s.offers, ev.Offers.Offers...)
	}
	o := s.offers[0]
	s.offers = s.offers[1:]
	return o
}

func (s *scheduler) state(task, state string) mesos.TaskStatus {
	ev := s.next(func(e mesos.Event) bool {
		return e.Type == mesos.EventUpdate && e.Update.Status.TaskID.Value == task && e.Update.Status.State == state
	}, task+" "+state)
	return ev.Update.Status
}

func (s *scheduler) launch(o mesos.Offer, id, res string, cmd mesos.CommandInfo) {
	s.t.Helper()
	r, err := resources.Parse(res)
	if err != nil {
		s.t.Fatal(err)
	}
	ti := mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID, Resources: r.ToMesos(""), Command: &cmd}
	err = s.c.Accept(context.Background(), []mesos.OfferID{o.ID},
		[]mesos.Operation{{Type: mesos.OpLaunch, Launch: &mesos.LaunchOperation{TaskInfos: []mesos.TaskInfo{ti}}}}, &mesos.Filters{RefuseSeconds: ptr(0.0)})
	if err != nil {
		s.t.Fatalf("accept: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestDevModeEndToEnd(t *testing.T) {
	masterAddr, agentAddr, data := freeAddr(t), freeAddr(t), t.TempDir()
	args := []string{"dev", "--lb", "off", "--listen", masterAddr, "--agent_listen", agentAddr, "--data-dir", data,
		"--allocation_interval", "100ms", "--resources", "cpus:2;mem:1024;disk:1000;ports:[31000-31100]", "--attributes", "rack:r1"}
	dev := start(t, args...)
	url := "http://" + masterAddr
	waitHealthy(t, url)
	agents := waitAgents(t, url, 1)
	if len(agents[0].AgentInfo.Attributes) != 1 || agents[0].AgentInfo.Attributes[0].Name != "rack" {
		t.Fatalf("agent attributes = %+v", agents[0].AgentInfo.Attributes)
	}

	s := subscribe(t, url, mesos.FrameworkInfo{User: "root", Name: "e2e", FailoverTimeout: 3600})
	// A shell command task: STARTING -> RUNNING -> FINISHED, output in its sandbox.
	s.launch(s.offer(), "hello", "cpus:0.1;mem:64;ports:[31005-31005]", mesos.CommandInfo{Value: `echo "hello from $MESOS_TASK_ID on port $PORT0"`})
	s.state("hello", mesos.TaskStarting)
	s.state("hello", mesos.TaskRunning)
	fin := s.state("hello", mesos.TaskFinished)
	if !strings.Contains(fin.Message, "0") {
		t.Errorf("finished message = %q", fin.Message)
	}
	// shell=false with arguments, and a failing exit code in the message.
	s.launch(s.offer(), "fails", "cpus:0.1;mem:64", mesos.CommandInfo{Shell: ptr(false), Value: "/bin/sh", Arguments: []string{"sh", "-c", "exit 3"}})
	failed := s.state("fails", mesos.TaskFailed)
	if !strings.Contains(failed.Message, "3") {
		t.Errorf("failed message = %q, want the exit code", failed.Message)
	}
	// A long task killed with SIGTERM.
	s.launch(s.offer(), "sleeper", "cpus:0.1;mem:64", mesos.CommandInfo{Value: "sleep 600"})
	s.state("sleeper", mesos.TaskRunning)
	if err := s.c.Kill(context.Background(), mesos.TaskID{Value: "sleeper"}, nil); err != nil {
		t.Fatal(err)
	}
	s.state("sleeper", mesos.TaskKilled)

	// The CLI sees it all.
	tasksOut := run(t, "tasks", "--all", "--master", url)
	for _, want := range []string{"hello", "TASK_FINISHED", "fails", "TASK_FAILED", "sleeper", "TASK_KILLED"} {
		if !strings.Contains(tasksOut, want) {
			t.Errorf("agora tasks --all lacks %q:\n%s", want, tasksOut)
		}
	}
	if out := run(t, "task", "log", "hello", "--master", url); !strings.Contains(out, "hello from hello on port 31005") {
		t.Errorf("agora task log hello = %q", out)
	}
	if out := run(t, "agents", "--master", url); !strings.Contains(out, "rack") && !strings.Contains(out, "r1") {
		t.Errorf("agora agents lacks the attribute:\n%s", out)
	}
	if out := run(t, "frameworks", "--master", url); !strings.Contains(out, "e2e") {
		t.Errorf("agora frameworks lacks e2e:\n%s", out)
	}

	// Ctrl-C stops cleanly; a restart recovers the framework from the registry.
	fid := s.c.FrameworkID()
	dev.interrupt(t)
	start(t, args...)
	waitHealthy(t, url)
	resp, err := client.NewOperator(url, nil).Call(context.Background(), mesos.GetFrameworks)
	if err != nil {
		t.Fatal(err)
	}
	recovered := false
	for _, f := range resp.GetFrameworks.Frameworks {
		recovered = recovered || (f.FrameworkInfo.ID.Value == fid && f.Recovered)
	}
	if !recovered {
		t.Fatalf("after restart GET_FRAMEWORKS = %+v, want framework %s recovered", resp.GetFrameworks, fid)
	}
	// The framework re-subscribes under its id and gets offers again.
	s2 := subscribe(t, url, mesos.FrameworkInfo{User: "root", Name: "e2e", FailoverTimeout: 3600, ID: &mesos.FrameworkID{Value: fid}})
	s2.offer()
}

func TestMemoryLimitEndsTaskFailed(t *testing.T) {
	masterAddr, agentAddr := freeAddr(t), freeAddr(t)
	start(t, "dev", "--lb", "off", "--listen", masterAddr, "--agent_listen", agentAddr, "--data-dir", t.TempDir(), "--allocation_interval", "100ms",
		"--resources", "cpus:1;mem:512;disk:100")
	url := "http://" + masterAddr
	waitHealthy(t, url)
	waitAgents(t, url, 1)
	s := subscribe(t, url, mesos.FrameworkInfo{User: "root", Name: "oom"})
	s.launch(s.offer(), "hog", "cpus:0.1;mem:32", mesos.CommandInfo{Value: "tail /dev/zero"})
	st := s.state("hog", mesos.TaskFailed)
	if st.Reason != mesos.ReasonContainerLimitationMemory {
		t.Fatalf("a task over its 32 MB limit ended %s with reason %q (%s); want REASON_CONTAINER_LIMITATION_MEMORY — are cgroups available to the agent?", st.State, st.Reason, st.Message)
	}
}

func TestSeparateMasterAndAgents(t *testing.T) {
	masterAddr := freeAddr(t)
	url := "http://" + masterAddr
	start(t, "master", "--authenticate=false", "--listen", masterAddr, "--data-dir", t.TempDir(), "--allocation_interval", "100ms")
	waitHealthy(t, url)
	start(t, "agent", "--authenticate=false", "--switch_user=false", "--master", masterAddr, "--listen", freeAddr(t), "--work_dir", t.TempDir(),
		"--resources", "cpus:4;mem:8192;disk:20000;ports:[31000-32000]", "--attributes", "rack:r1;zone:a")
	start(t, "agent", "--authenticate=false", "--switch_user=false", "--master", masterAddr, "--listen", freeAddr(t), "--work_dir", t.TempDir(),
		"--resources", "cpus:2;mem:2048;disk:1000;ports:[31000-31010]", "--attributes", "rack:r2;zone:b")
	agents := waitAgents(t, url, 2)
	cpus := map[float64]string{}
	for _, a := range agents {
		r, err := resources.FromMesos("total_resources", a.TotalResources)
		if err != nil {
			t.Fatal(err)
		}
		cpus[r.CPUs] = a.AgentInfo.Attributes[0].String()
	}
	if cpus[4] != "r1" || cpus[2] != "r2" {
		t.Fatalf("agents' cpus -> rack = %v, want 4 -> r1 and 2 -> r2", cpus)
	}
	// One framework receives both agents' resources.
	s := subscribe(t, url, mesos.FrameworkInfo{User: "nobody", Name: "two"})
	seen := map[string]bool{}
	for len(seen) < 2 {
		seen[s.offer().AgentID.Value] = true
	}
}
