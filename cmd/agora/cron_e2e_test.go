package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"agora/core/zk/zktest"
	cronapi "agora/frameworks/cron/api"
	"agora/frameworks/cron/core"
)

// End-to-end tests of the cron framework with the built binary.

// finished returns a job's finished runs (successful and not), oldest first.
func finished(t *testing.T, cl *cronapi.Client, id string) []cronapi.FinishedRun {
	t.Helper()
	h, err := cl.History(context.Background(), id)
	if err != nil {
		t.Fatalf("history of %s: %v", id, err)
	}
	runs := append(append([]cronapi.FinishedRun(nil), h.SuccessfulFinishedRuns...), h.FailedFinishedRuns...)
	sort.Slice(runs, func(i, j int) bool { return runs[i].CreatedAt.Before(runs[j].CreatedAt) })
	return runs
}

func byStatus(runs []cronapi.FinishedRun, status string) []cronapi.FinishedRun {
	var out []cronapi.FinishedRun
	for _, r := range runs {
		if r.Status == status {
			out = append(out, r)
		}
	}
	return out
}

func createJob(t *testing.T, cl *cronapi.Client, body string) {
	t.Helper()
	if _, err := cl.CreateJob(context.Background(), []byte(body)); err != nil {
		t.Fatalf("creating job %s: %v", body, err)
	}
}

func waitCron(t *testing.T, url string) *cronapi.Client {
	t.Helper()
	cl := cronapi.NewClient(url, nil)
	waitFor(t, 60*time.Second, "the cron API at "+url, func() bool {
		info, err := cl.Info(context.Background())
		if err != nil || info.FrameworkID == "" {
			return false
		}
		_, err = cl.ListJobs(context.Background())
		return err == nil
	})
	return cl
}

func TestCronEndToEnd(t *testing.T) {
	masterAddr, agentAddr := freeAddr(t), freeAddr(t)
	url := "http://" + masterAddr
	start(t, "dev", "--lb", "off", "--listen", masterAddr, "--agent_listen", agentAddr, "--data_dir", t.TempDir(), "--allocation_interval", "100ms",
		"--resources", "cpus:8;mem:4096;disk:1000;ports:[31000-31100]")
	cl := waitCron(t, url)
	ctx := context.Background()

	t.Run("a job every few seconds, with its exit codes in history", func(t *testing.T) {
		createJob(t, cl, `{"id": "tick", "run": {"cmd": "echo tick; exit $(( $(date +%s) % 2 * 3 ))", "cpus": 0.1, "mem": 32},
		  "schedules": [{"id": "every2", "cron": "*/2 * * * * *"}]}`)
		var runs []cronapi.FinishedRun
		waitFor(t, 60*time.Second, "four finished runs of tick", func() bool {
			runs = finished(t, cl, "tick")
			return len(runs) >= 4
		})
		seen := map[time.Time]bool{}
		for _, r := range runs {
			if r.Trigger != core.TriggerSchedule || r.ScheduledAt.Second()%2 != 0 || seen[r.ScheduledAt] {
				t.Fatalf("run %+v: want one scheduled run per even second", r)
			}
			seen[r.ScheduledAt] = true
			if len(r.Tasks) != 1 || r.Tasks[0].ExitCode == nil {
				t.Fatalf("run %s has no exit code: %+v", r.ID, r.Tasks)
			}
			code := *r.Tasks[0].ExitCode
			if (code == 0) != (r.Status == core.StatusSuccess) || (code != 0 && code != 3) {
				t.Fatalf("run %s: status %s with exit code %d", r.ID, r.Status, code)
			}
		}
		// A run's history links to its output on the agent.
		logs := runs[0].Tasks[0].Logs
		if logs == "" {
			t.Fatalf("run %s has no logs link: %+v", runs[0].ID, runs[0].Tasks[0])
		}
		if out, err := httpGet(logs); err != nil || !strings.Contains(out, "tick") {
			t.Fatalf("GET %s: %q %v, want the task's stdout", logs, out, err)
		}
		if _, err := cl.DeleteJob(ctx, "tick", true); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("FORBID skips the fires that overlap a long run", func(t *testing.T) {
		createJob(t, cl, `{"id": "forbid", "run": {"cmd": "sleep 5", "cpus": 0.1, "mem": 32},
		  "schedules": [{"id": "s", "cron": "*/1 * * * * *", "concurrencyPolicy": "FORBID"}]}`)
		var runs []cronapi.FinishedRun
		waitFor(t, 60*time.Second, "a finished run and skipped fires", func() bool {
			runs = finished(t, cl, "forbid")
			return len(byStatus(runs, core.StatusSuccess)) >= 1 && len(byStatus(runs, core.StatusSkipped)) >= 3
		})
		active, err := cl.Runs(ctx, "forbid")
		if err != nil || len(active) > 1 {
			t.Fatalf("active runs under FORBID: %+v %v, want at most one", active, err)
		}
		cl.DeleteJob(ctx, "forbid", true)
	})

	t.Run("REPLACE kills the old run", func(t *testing.T) {
		createJob(t, cl, `{"id": "replace", "run": {"cmd": "sleep 60", "cpus": 0.1, "mem": 32},
		  "schedules": [{"id": "s", "cron": "*/3 * * * * *", "concurrencyPolicy": "REPLACE"}]}`)
		var runs []cronapi.FinishedRun
		waitFor(t, 60*time.Second, "a run stopped by its replacement", func() bool {
			runs = byStatus(finished(t, cl, "replace"), core.StatusStopped)
			return len(runs) >= 1
		})
		if !strings.Contains(runs[0].Message, "replaced") {
			t.Fatalf("stopped run %+v: want a message saying it was replaced", runs[0])
		}
		active, _ := cl.Runs(ctx, "replace")
		if len(active) != 1 {
			t.Fatalf("active runs under REPLACE: %d, want exactly one", len(active))
		}
		cl.DeleteJob(ctx, "replace", true)
	})

	t.Run("a parent -> child chain runs in order", func(t *testing.T) {
		createJob(t, cl, `{"id": "extract", "run": {"cmd": "sleep 1", "cpus": 0.1, "mem": 32}}`)
		createJob(t, cl, `{"id": "load", "run": {"cmd": "true", "cpus": 0.1, "mem": 32}, "dependencies": [{"id": "extract"}]}`)
		if _, err := cl.CreateJob(ctx, []byte(`{"id": "extract2", "run": {"cmd": "true", "cpus": 0.1, "mem": 32}, "dependencies": [{"id": "load"}]}`)); err != nil {
			t.Fatal(err)
		}
		// A cycle is refused with a 422 that names it.
		_, err := cl.PutJob(ctx, []byte(`{"id": "extract", "run": {"cmd": "sleep 1", "cpus": 0.1, "mem": 32}, "dependencies": [{"id": "extract2"}]}`))
		if err == nil || !strings.Contains(err.Error(), "cycle") || !strings.Contains(err.Error(), "extract -> ") {
			t.Fatalf("a dependency cycle: %v, want a 422 naming the cycle", err)
		}
		if _, err := cl.RunNow(ctx, "extract"); err != nil {
			t.Fatal(err)
		}
		var chain [3]cronapi.FinishedRun
		waitFor(t, 60*time.Second, "extract, load and extract2 to succeed", func() bool {
			for i, id := range []string{"extract", "load", "extract2"} {
				ok := byStatus(finished(t, cl, id), core.StatusSuccess)
				if len(ok) != 1 {
					return false
				}
				chain[i] = ok[0]
			}
			return true
		})
		for i := 1; i < 3; i++ {
			if chain[i].Trigger != core.TriggerDependency || chain[i].StartedAt.Before(chain[i-1].FinishedAt) {
				t.Fatalf("run %d of the chain %+v started before its parent finished (%v)", i, chain[i], chain[i-1].FinishedAt)
			}
		}
	})

	t.Run("the CLI shows the next fire times", func(t *testing.T) {
		createJob(t, cl, `{"id": "nightly", "run": {"cmd": "true", "cpus": 0.1, "mem": 32},
		  "schedules": [{"id": "night", "cron": "30 2 * * *", "timezone": "Europe/Berlin"}]}`)
		out, code := runCode(t, "job", "show", "nightly", "--master", url)
		if code != 0 {
			t.Fatalf("agora job show: exit %d\n%s", code, out)
		}
		next := 0
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "02:30:00") || strings.Contains(line, "T01:30:00Z") || strings.Contains(line, "T00:30:00Z") {
				next++
			}
		}
		if next < 5 {
			t.Fatalf("agora job show lists %d fire times at 02:30 Berlin, want 5:\n%s", next, out)
		}
	})
}

// Two masters on ZooKeeper; the leader is killed while a job fires every
// two seconds. The new leader's cron framework takes over: every fire from
// before the kill to well after it has exactly one run, none of them lost
// or started twice.
func TestCronFailoverNeitherMissesNorDoubles(t *testing.T) {
	zkURL := zktest.Start(t).URL("/agora")
	a := startHAMaster(t, zkURL)
	leaderOf(t, []*haMaster{a})
	b := startHAMaster(t, zkURL)
	start(t, "agent", "--authenticate=false", "--switch_user=false", "--master", zkURL, "--listen", freeAddr(t), "--work_dir", t.TempDir(),
		"--resources", "cpus:4;mem:2048;disk:100")
	leader := leaderOf(t, []*haMaster{a, b})
	other := b
	if leader == b {
		other = a
	}
	cl := waitCron(t, leader.url)
	createJob(t, cl, `{"id": "beat", "run": {"cmd": "true", "cpus": 0.1, "mem": 32},
	  "schedules": [{"id": "s", "cron": "*/2 * * * * *", "startingDeadlineSeconds": 60}]}`)
	waitFor(t, 30*time.Second, "beat's first runs", func() bool { return len(finished(t, cl, "beat")) >= 3 })
	killed := time.Now()
	leader.kill9(t)
	cl2 := waitCron(t, other.url)
	waitFor(t, 90*time.Second, "runs after the failover", func() bool {
		runs := finished(t, cl2, "beat")
		return len(runs) > 0 && runs[len(runs)-1].ScheduledAt.After(killed.Add(10*time.Second))
	})
	runs := finished(t, cl2, "beat")
	got := map[time.Time]int{}
	first, last := runs[0].ScheduledAt, runs[len(runs)-1].ScheduledAt
	for _, r := range runs {
		if r.Trigger != core.TriggerSchedule {
			t.Fatalf("unexpected run %+v", r)
		}
		got[r.ScheduledAt]++
		if r.Status != core.StatusSuccess {
			t.Errorf("run for %v: %s (%s), want SUCCESS: the failover must not make it missed", r.ScheduledAt, r.Status, r.Message)
		}
	}
	var missing, doubled []string
	for at := first; !at.After(last); at = at.Add(2 * time.Second) {
		switch got[at] {
		case 0:
			missing = append(missing, at.Format(time.TimeOnly))
		case 1:
		default:
			doubled = append(doubled, fmt.Sprintf("%s x%d", at.Format(time.TimeOnly), got[at]))
		}
	}
	t.Logf("%d fires from %s to %s across a leader kill at %s", len(got), first.Format(time.TimeOnly), last.Format(time.TimeOnly), killed.Format(time.TimeOnly))
	if len(missing) > 0 || len(doubled) > 0 {
		t.Fatalf("fires missing: %v; doubled: %v", missing, doubled)
	}
}
