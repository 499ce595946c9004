package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"agora/core/client"
	"agora/core/containerizer/process"
	"agora/core/mesos"
	"agora/core/resources"
)

// agentState is the part of an agent's GET /state this test reads.
type agentState struct {
	ID    string `json:"id"`
	Tasks []struct {
		ID    string `json:"id"`
		State string `json:"state"`
		PID   int    `json:"pid"`
	} `json:"tasks"`
}

func getAgentState(t *testing.T, addr string) (agentState, error) {
	t.Helper()
	var st agentState
	resp, err := http.Get("http://" + addr + "/state")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// taskPIDs returns task id -> pid of the agent's running tasks.
func taskPIDs(st agentState) map[string]int {
	out := map[string]int{}
	for _, tk := range st.Tasks {
		if tk.State == mesos.TaskRunning {
			out[tk.ID] = tk.PID
		}
	}
	return out
}

// procStart is a process's start time in clock ticks since boot, or "" if
// it is gone or a zombie: with the pid, it identifies one process.
func procStart(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 || f[0] == "Z" {
		return ""
	}
	return f[19]
}

// TestAgentKill9RecoversTasks: kill -9 of the agent process leaves its tasks
// running; the agent started again on the same work dir re-registers under
// its id with the same tasks, the same processes, none launched twice.
func TestAgentKill9RecoversTasks(t *testing.T) {
	masterAddr, agentAddr := freeAddr(t), freeAddr(t)
	url := "http://" + masterAddr
	start(t, "master", "--authenticate=false", "--listen", masterAddr, "--data-dir", t.TempDir(), "--allocation_interval", "100ms")
	waitHealthy(t, url)
	workDir := t.TempDir()
	agentArgs := []string{"agent", "--authenticate=false", "--switch_user=false", "--master", masterAddr, "--listen", agentAddr, "--work_dir", workDir,
		"--resources", "cpus:2;mem:1024;disk:1000;ports:[31000-31010]"}
	agent := start(t, agentArgs...)
	agentID := waitAgents(t, url, 1)[0].AgentInfo.ID.Value
	// Whatever happens, no task outlives the test (this runs after the
	// agents are stopped).
	t.Cleanup(func() {
		pc, err := process.New(process.Config{RuntimeDir: filepath.Join(workDir, "runtime", "process"), DisableCgroups: true})
		if err != nil {
			t.Error(err)
			return
		}
		ids, _ := pc.Orphans(context.Background(), agentID)
		for _, id := range ids {
			pc.Destroy(context.Background(), id)
		}
	})

	s := subscribe(t, url, mesos.FrameworkInfo{User: "nobody", Name: "recovery", FailoverTimeout: 3600})
	o := s.offer()
	res, err := resources.Parse("cpus:0.1;mem:32")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var infos []mesos.TaskInfo
	for i := range 5 {
		id := fmt.Sprintf("sleeper-%d", i)
		ids = append(ids, id)
		infos = append(infos, mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID,
			Resources: res.ToMesos(""), Command: &mesos.CommandInfo{Value: "sleep 600"}})
	}
	if err := s.c.Accept(context.Background(), []mesos.OfferID{o.ID},
		[]mesos.Operation{{Type: mesos.OpLaunch, Launch: &mesos.LaunchOperation{TaskInfos: infos}}}, nil); err != nil {
		t.Fatalf("accept: %v", err)
	}
	s.allInState(ids, mesos.TaskRunning)

	var before map[string]int
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := getAgentState(t, agentAddr)
		if err == nil && st.ID == agentID {
			if before = taskPIDs(st); len(before) == 5 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent /state did not list 5 running tasks: %+v, %v", st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	starts := map[string]string{}
	for id, pid := range before {
		if starts[id] = procStart(pid); starts[id] == "" {
			t.Fatalf("task %s pid %d is not a live process", id, pid)
		}
	}

	// kill -9: no chance to clean up or to kill anything.
	if err := agent.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	agent.cmd.Wait()
	for id, pid := range before {
		if procStart(pid) != starts[id] {
			t.Fatalf("task %s (pid %d) died with the agent", id, pid)
		}
	}

	start(t, agentArgs...)
	// The master sees the same 5 tasks running on the same agent.
	op := client.NewOperator(url, nil)
	deadline = time.Now().Add(60 * time.Second)
	for {
		resp, err := op.Call(context.Background(), mesos.GetTasks)
		var got []string
		ok := err == nil && len(resp.GetTasks.CompletedTasks) == 0
		if err == nil {
			for _, tk := range resp.GetTasks.Tasks {
				got = append(got, tk.TaskID.Value)
				ok = ok && tk.State == mesos.TaskRunning && tk.AgentID.Value == agentID
			}
		}
		sort.Strings(got)
		if ok && fmt.Sprint(got) == fmt.Sprint(ids) {
			st, err := getAgentState(t, agentAddr)
			if err == nil && st.ID == agentID && len(taskPIDs(st)) == 5 {
				after := taskPIDs(st)
				for id, pid := range before {
					if after[id] != pid || procStart(pid) != starts[id] {
						t.Errorf("task %s: pid %d (start %s) after the restart, pid %d (start %s) before",
							id, after[id], procStart(after[id]), pid, starts[id])
					}
				}
				if len(st.Tasks) != 5 {
					t.Errorf("agent reports %d tasks, want exactly 5: %+v", len(st.Tasks), st.Tasks)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the agent's restart GET_TASKS = %+v (%v); want exactly %v running on agent %s", resp, err, ids, agentID)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if agents := waitAgents(t, url, 1); agents[0].AgentInfo.ID.Value != agentID {
		t.Errorf("agent re-registered as %s, want %s", agents[0].AgentInfo.ID.Value, agentID)
	}

	// The recovered tasks are killed through the API like any other.
	for _, id := range ids {
		if err := s.c.Kill(context.Background(), mesos.TaskID{Value: id}, nil); err != nil {
			t.Fatal(err)
		}
	}
	s.allInState(ids, mesos.TaskKilled)
	for id, pid := range before {
		if procStart(pid) == starts[id] {
			t.Errorf("task %s (pid %d) still running after TASK_KILLED", id, pid)
		}
	}
}

// allInState waits until each of ids has had an update to state, in any
// order (state waits for one task and drops the others' updates).
func (s *scheduler) allInState(ids []string, state string) {
	s.t.Helper()
	left := map[string]bool{}
	for _, id := range ids {
		left[id] = true
	}
	for len(left) > 0 {
		ev := s.next(func(e mesos.Event) bool {
			return e.Type == mesos.EventUpdate && left[e.Update.Status.TaskID.Value] && e.Update.Status.State == state
		}, fmt.Sprintf("%s for %d more tasks", state, len(left)))
		delete(left, ev.Update.Status.TaskID.Value)
	}
}
