package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"agora/core/zk/zktest"
)

// The services framework moves with leadership: apps deployed through a
// standby (redirected to the leader) keep exactly their instances when the
// leading master is killed, and the new leader's framework serves /v2 and
// keeps acting on them.
func TestServicesFollowLeadershipEndToEnd(t *testing.T) {
	zk := zktest.Start(t)
	zkURL := zk.URL("/agora")
	a := startHAMaster(t, zkURL)
	leaderOf(t, []*haMaster{a})
	b := startHAMaster(t, zkURL)
	if l := leaderOf(t, []*haMaster{a, b}); l != a {
		t.Fatalf("leader is %s, want %s", l.url, a.url)
	}
	start(t, "agent", "--authenticate=false", "--switch_user=false", "--master", zkURL, "--listen", freeAddr(t), "--work_dir", t.TempDir(),
		"--containerizers", "process", "--resources", "cpus:2;mem:1024;disk:100")
	waitAgents(t, a.url, 1)
	waitServices(t, a.url)

	// Deployed through the standby: the CLI follows its redirect.
	file := writeFile(t, "sleeper.json", `{"id":"/ha/sleeper","cmd":"sleep 3600","instances":3,"cpus":0.1,"mem":16}`)
	mustApp(t, b.url, "deploy", "-f", file)
	cl := waitServices(t, a.url)
	before := taskIDs(runningTasks(t, cl, "/ha/sleeper"))
	if len(before) != 3 {
		t.Fatalf("running %v, want 3 instances", before)
	}

	a.kill9(t)
	if l := leaderOf(t, []*haMaster{b}); l != b {
		t.Fatalf("leader is %s, want %s", l.url, b.url)
	}
	cl = waitServices(t, b.url)
	var after []string
	waitFor(t, 60*time.Second, "the same three instances under the new leader", func() bool {
		after = taskIDs(runningTasks(t, cl, "/ha/sleeper"))
		return slices.Equal(after, before)
	})

	// It keeps acting: scale to 4 through the new leader, then delete.
	mustApp(t, b.url, "scale", "/ha/sleeper", "4")
	if got := runningTasks(t, cl, "/ha/sleeper"); len(got) != 4 {
		t.Fatalf("after scaling under the new leader: %d running, want 4", len(got))
	}
	if out := mustApp(t, b.url, "delete", "/ha/sleeper"); !strings.Contains(out, "deleted") {
		t.Fatalf("delete said %q", out)
	}
	apps, err := cl.ListApps(context.Background(), "")
	if err != nil || len(apps) != 0 {
		t.Fatalf("apps after delete: %+v %v", apps, err)
	}
}
