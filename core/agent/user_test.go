package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"agora/core/mesos"
)

// TestTasksRunAsTheirUser: with a real process containerizer and the agent
// as root, a task runs as its framework's user unless command.user says
// otherwise; a user the host lacks fails the task naming the user; with
// SwitchUser off every task runs as the agent's user.
func TestTasksRunAsTheirUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("switching users needs root; running as uid %d", os.Geteuid())
	}
	for _, switchUser := range []bool{true, false} {
		m := newFakeMaster(t, time.Second)
		m.autoAck.Store(true)
		cfg := testConfig(t, m)
		// Task users must reach their sandboxes under the work directory
		// (the test's temporary directories are private to root).
		for _, d := range []string{cfg.WorkDir, filepath.Dir(cfg.WorkDir)} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if !switchUser {
			cfg.SwitchUser = &switchUser
		}
		startAgent(t, cfg, processCZ(t, t.TempDir(), "agent-1"))
		m.waitSubs(t, 1)
		fw := framework("fw")
		fw.User = "nobody"
		whoami := func(ti *mesos.TaskInfo) { ti.Command.Value = "id -un > whoami; touch mine" }
		m.send(runTask(fw, "by-framework", whoami))
		m.send(runTask(fw, "by-command", whoami, func(ti *mesos.TaskInfo) { ti.Command.User = "root" }))
		m.send(runTask(fw, "ghost", whoami, func(ti *mesos.TaskInfo) { ti.Command.User = "agora-ghost" }))

		want := map[string]string{"by-framework": "nobody", "by-command": "root"}
		if !switchUser {
			want["by-framework"], want["ghost"] = "root", "root"
		}
		for tid, user := range want {
			eventually(t, tid+" ended", func() bool {
				for _, u := range m.allUpdates() {
					if u.Status.TaskID.Value == tid && mesos.IsTerminal(u.Status.State) {
						if u.Status.State != mesos.TaskFinished {
							t.Fatalf("switch_user=%v: %s: %s %s", switchUser, tid, u.Status.State, u.Status.Message)
						}
						return true
					}
				}
				return false
			})
			b, err := os.ReadFile(filepath.Join(cfg.WorkDir, "frameworks", "fw", "tasks", tid, "whoami"))
			if err != nil || strings.TrimSpace(string(b)) != user {
				t.Errorf("switch_user=%v: %s ran as %q (%v), want %s", switchUser, tid, b, err, user)
			}
		}
		if switchUser {
			u := m.waitUpdate(t, "ghost", mesos.TaskFailed)
			if !strings.Contains(u.Status.Message, `user "agora-ghost"`) || !strings.Contains(u.Status.Message, "does not exist on this host") {
				t.Errorf("ghost failed with %q, want a message naming the user", u.Status.Message)
			}
		}
	}
}
