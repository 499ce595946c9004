package agent

import (
	"errors"
	"strings"
	"testing"
	"time"

	"agora/core/agent/checkpoint"
	"agora/core/health"
	"agora/core/mesos"
)

func TestPlanRecovery(t *testing.T) {
	done := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	proc := &checkpoint.Task{Containerizer: "process"}
	dock := &checkpoint.Task{Containerizer: "docker"}
	fake := &checkpoint.Task{Containerizer: "fake"}
	running := &checkpoint.Updates{State: mesos.TaskRunning}
	ended := func(pending int) *checkpoint.Updates {
		u := &checkpoint.Updates{State: mesos.TaskFinished}
		for range pending {
			u.Pending = append(u.Pending, mesos.TaskStatus{State: mesos.TaskFinished})
		}
		return u
	}
	cp := []byte(`{}`)
	recoverable := map[string]bool{"process": true, "fake": false}
	for _, tc := range []struct {
		name string
		rec  checkpoint.TaskRecord
		want recoveryAction
		msg  string
	}{
		{"running task with a container checkpoint", checkpoint.TaskRecord{Task: proc, Updates: running, Container: cp}, recoverAttach, ""},
		{"starting task with a container checkpoint", checkpoint.TaskRecord{Task: proc, Updates: &checkpoint.Updates{State: mesos.TaskStarting}, Container: cp}, recoverAttach, ""},
		{"completed", checkpoint.TaskRecord{Task: proc, Updates: ended(0), Completed: &done}, recoverCompleted, ""},
		{"completed, even if its records are damaged", checkpoint.TaskRecord{TaskErr: errors.New("x"), Completed: &done}, recoverCompleted, ""},
		{"ended, acknowledged, not yet marked", checkpoint.TaskRecord{Task: proc, Updates: ended(0), Container: cp}, recoverCompleted, ""},
		{"ended with updates to resend", checkpoint.TaskRecord{Task: proc, Updates: ended(2), Container: cp}, recoverResend, ""},
		{"ended, containerizer gone: still resend", checkpoint.TaskRecord{Task: dock, Updates: ended(1)}, recoverResend, ""},
		{"corrupt task info", checkpoint.TaskRecord{TaskErr: errors.New("task.json is corrupt"), Updates: running, Container: cp}, recoverFail, "task info is unreadable: task.json is corrupt"},
		{"corrupt updates", checkpoint.TaskRecord{Task: proc, UpdatesErr: errors.New("updates.json is corrupt"), Container: cp}, recoverFail, "status updates are unreadable"},
		{"stopped before STARTING was recorded", checkpoint.TaskRecord{Task: proc}, recoverFail, "before the task's launch was recorded"},
		{"stopped mid-launch", checkpoint.TaskRecord{Task: proc, Updates: &checkpoint.Updates{State: mesos.TaskStarting}}, recoverFail, "while the task was launching"},
		{"corrupt container checkpoint", checkpoint.TaskRecord{Task: proc, Updates: running, ContainerErr: errors.New("EIO")}, recoverFail, "container checkpoint is unreadable"},
		{"containerizer no longer enabled", checkpoint.TaskRecord{Task: dock, Updates: running, Container: cp}, recoverFail, `"docker" is not enabled`},
		{"containerizer cannot recover", checkpoint.TaskRecord{Task: fake, Updates: running, Container: cp}, recoverFail, `"fake" cannot recover`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := planRecovery(&tc.rec, recoverable)
			if got.action != tc.want || !strings.Contains(got.message, tc.msg) || (tc.msg == "") != (got.message == "") {
				t.Errorf("planRecovery = %+v, want action %d, message containing %q", got, tc.want, tc.msg)
			}
		})
	}
}

func TestHealthTarget(t *testing.T) {
	httpCheck := health.Spec{Type: health.TypeHTTP, Port: 8080}
	tcpCheck := health.Spec{Type: health.TypeTCP, Port: 8080}
	bridge := &mesos.ContainerInfo{Type: "DOCKER", Docker: &mesos.DockerInfo{Image: "nginx", Network: "BRIDGE", PortMappings: []mesos.PortMapping{
		{HostPort: 31001, ContainerPort: 53, Protocol: "udp"},
		{HostPort: 31002, ContainerPort: 8080, Protocol: "tcp"},
	}}}
	host := &mesos.ContainerInfo{Type: "DOCKER", Docker: &mesos.DockerInfo{Image: "nginx", Network: "HOST", PortMappings: bridge.Docker.PortMappings}}
	unmapped := &mesos.ContainerInfo{Type: "DOCKER", Docker: &mesos.DockerInfo{Image: "nginx", Network: "BRIDGE"}}
	for _, tc := range []struct {
		name string
		spec health.Spec
		ci   *mesos.ContainerInfo
		want health.Target
	}{
		{"process task: the check's port", httpCheck, nil, health.Target{Host: "node1", HTTPPort: 8080}},
		{"docker bridge: the mapped host port", httpCheck, bridge, health.Target{Host: "node1", HTTPPort: 31002}},
		{"docker bridge, tcp check", tcpCheck, bridge, health.Target{Host: "node1", TCPPort: 31002}},
		{"docker host network: no mapping", httpCheck, host, health.Target{Host: "node1", HTTPPort: 8080}},
		{"docker bridge without a mapping for the port", httpCheck, unmapped, health.Target{Host: "node1", HTTPPort: 8080}},
		{"command check: no port", health.Spec{Type: health.TypeCommand}, bridge, health.Target{Host: "node1"}},
	} {
		if got := healthTarget("node1", tc.spec, tc.ci); got != tc.want {
			t.Errorf("%s: healthTarget = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
