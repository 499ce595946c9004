package services

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"agora/core/client"
	"agora/core/mesos"
	"agora/frameworks/services/core"
)

// liveTasks is what the master says runs, by task id.
func (c *cluster) liveTasks() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := client.NewOperator(c.srv.URL, nil).Call(ctx, mesos.GetTasks)
	if err != nil || resp.GetTasks == nil {
		return nil
	}
	var ids []string
	for _, t := range resp.GetTasks.Tasks {
		if t.State == mesos.TaskRunning {
			ids = append(ids, t.TaskID.Value)
		}
	}
	slices.Sort(ids)
	return ids
}

func taskIDs(f *Framework, appID string) []string {
	var ids []string
	for _, in := range f.Instances(appID) {
		if !in.Killing {
			ids = append(ids, in.TaskID)
		}
	}
	slices.Sort(ids)
	return ids
}

func waitRunning(t *testing.T, f *Framework, appID string, n int) {
	t.Helper()
	waitFor(t, 30*time.Second, "instances of "+appID+" to run", func() (bool, string) {
		return running(f, appID) == n && len(f.Instances(appID)) == n, describe(f, appID)
	})
}

// An app is deployed, scaled up and down, has a killed instance replaced,
// and keeps the same instances across a framework restart and a master
// restart; deleting it stops every task.
func TestDeployScaleReplaceRecover(t *testing.T) {
	c := newCluster(t, true)
	c.addAgent("host-a", "cpus:4;mem:2048;disk:1000;ports:[31000-31099]")
	c.addAgent("host-b", "cpus:4;mem:2048;disk:1000;ports:[31100-31199]")
	f, stop := c.startFramework(Config{})
	ctx := context.Background()

	a := mustParse(t, `{"id":"/team/sleeper","cmd":"sleep 300","cpus":0.1,"mem":16,"instances":3,
		"constraints":[["hostname","MAX_PER","2"]]}`)
	if _, err := f.PutApp(ctx, a, false); err != nil {
		t.Fatalf("PutApp: %v", err)
	}
	waitRunning(t, f, "/team/sleeper", 3)

	a.Instances = 5
	if _, err := f.PutApp(ctx, a, false); err == nil {
		// Five cannot fit two per host on two hosts: one stays queued.
		waitRunning(t, f, "/team/sleeper", 4)
	} else {
		t.Fatalf("scale to 5: %v", err)
	}
	waitFor(t, 10*time.Second, "the queue to explain the fifth instance", func() (bool, string) {
		q := f.Queue()
		return len(q) == 1 && q[0].Count == 1 && len(q[0].Rejections) > 0, "queue: " + fmtQueue(q)
	})
	if _, err := f.PutApp(ctx, a, false); err != nil {
		t.Fatalf("same app again: %v", err)
	}

	// Cancel the stuck scale with force and scale down instead.
	a.Instances = 2
	if _, err := f.PutApp(ctx, a, true); err != nil {
		t.Fatalf("scale to 2 with force: %v", err)
	}
	waitRunning(t, f, "/team/sleeper", 2)

	// A killed instance (not scaled) is replaced.
	victim := taskIDs(f, "/team/sleeper")[0]
	if _, err := f.KillTasks(ctx, "/team/sleeper", []string{victim}, false); err != nil {
		t.Fatalf("KillTasks: %v", err)
	}
	waitFor(t, 30*time.Second, "a replacement", func() (bool, string) {
		ids := taskIDs(f, "/team/sleeper")
		return running(f, "/team/sleeper") == 2 && len(ids) == 2 && !slices.Contains(ids, victim), describe(f, "/team/sleeper")
	})
	before := taskIDs(f, "/team/sleeper")

	// The framework restarts: same instances, none launched.
	stop()
	f, _ = c.startFramework(Config{})
	waitRunning(t, f, "/team/sleeper", 2)
	if got := taskIDs(f, "/team/sleeper"); !slices.Equal(got, before) {
		t.Fatalf("after a framework restart the instances are %v, want %v", got, before)
	}

	// The master restarts: still the same instances.
	c.restartMaster()
	waitFor(t, 30*time.Second, "the master to see the tasks again", func() (bool, string) {
		got := c.liveTasks()
		return slices.Equal(got, before), "master tasks " + fmtIDs(got)
	})
	waitRunning(t, f, "/team/sleeper", 2)
	if got := taskIDs(f, "/team/sleeper"); !slices.Equal(got, before) {
		t.Fatalf("after a master restart the instances are %v, want %v", got, before)
	}

	if _, err := f.DeleteApp(ctx, "/team/sleeper", false); err != nil {
		t.Fatalf("DeleteApp: %v", err)
	}
	waitFor(t, 30*time.Second, "every task to stop", func() (bool, string) {
		got := c.liveTasks()
		return len(got) == 0 && len(f.Apps()) == 0, fmtIDs(got) + " framework: " + describe(f, "/team/sleeper")
	})
}

func fmtIDs(ids []string) string { return fmt.Sprint(ids) }

func fmtQueue(q []core.QueueEntry) string {
	var out []string
	for _, e := range q {
		out = append(out, fmt.Sprintf("%s count=%d rejections=%v agents=%v", e.AppID, e.Count, e.Rejections, e.AgentReasons))
	}
	return strings.Join(out, "; ")
}
