package core

import (
	"fmt"
	"math"
	"testing"

	"agora/core/mesos"
)

func envMap(ti mesos.TaskInfo) map[string]string {
	m := map[string]string{}
	for _, v := range ti.Command.Environment.Variables {
		m[v.Name] = v.Value
	}
	return m
}

func TestTaskInfoDockerBridge(t *testing.T) {
	c := New(Config{Seed: 10})
	c.PutApp(mustApp(t, `{"id":"/shop/api","instances":1,"cpus":0.5,"mem":64,
		"container":{"type":"DOCKER","docker":{"image":"nginx:1.27"},
			"portMappings":[{"containerPort":80,"hostPort":0,"name":"http"},{"containerPort":9000,"hostPort":0}]},
		"networks":[{"mode":"container/bridge"}],
		"env":{"MODE":"prod"},
		"labels":{"team":"shop"},
		"taskKillGracePeriodSeconds":7,
		"healthChecks":[{"protocol":"MESOS_HTTP","path":"/health","portIndex":1,"intervalSeconds":5}]}`), false, t0)
	d := c.Offers([]mesos.Offer{offer("o1", "a1", 4, 1024)}, t0)
	ts := launched(d)
	if len(ts) != 1 {
		t.Fatalf("launched %d", len(ts))
	}
	ti := ts[0]
	if ti.Container == nil || ti.Container.Type != "DOCKER" || ti.Container.Docker.Image != "nginx:1.27" || ti.Container.Docker.Network != "BRIDGE" {
		t.Fatalf("container = %+v", ti.Container)
	}
	pm := ti.Container.Docker.PortMappings
	if len(pm) != 2 || pm[0].ContainerPort != 80 || pm[0].HostPort != 31000 || pm[1].ContainerPort != 9000 || pm[1].HostPort != 31001 {
		t.Fatalf("port mappings = %+v, want 31000->80, 31001->9000", pm)
	}
	hc := ti.HealthCheck
	if hc == nil || hc.Type != "HTTP" || hc.HTTP.Port != 9000 || hc.HTTP.Path != "/health" || hc.IntervalSeconds != 5 {
		t.Fatalf("health check = %+v (http %+v), want HTTP on container port 9000", hc, hc.HTTP)
	}
	if ti.KillPolicy == nil || ti.KillPolicy.GracePeriod.Duration().Seconds() != 7 {
		t.Fatalf("kill policy = %+v", ti.KillPolicy)
	}
	if ti.Labels == nil || len(ti.Labels.Labels) != 1 || ti.Labels.Labels[0] != (mesos.Label{Key: "team", Value: "shop"}) {
		t.Fatalf("labels = %+v", ti.Labels)
	}
	env := envMap(ti)
	if env["MODE"] != "prod" || env["PORT0"] != "31000" || env["PORT1"] != "31001" || env["PORTS"] != "31000,31001" || env["HOST"] != "a1.example" {
		t.Fatalf("env = %v", env)
	}
	if ti.Name != "shop-api" || ti.AgentID.Value != "a1" {
		t.Fatalf("name %q agent %q", ti.Name, ti.AgentID.Value)
	}
	// Resources carry the two host ports and the offer's allocation role.
	var ports []string
	for _, r := range ti.Resources {
		if r.AllocationInfo == nil || r.AllocationInfo.Role != "web" {
			t.Fatalf("resource %s without the offer's role", r.Name)
		}
		if r.Name == "ports" {
			ports = append(ports, fmt.Sprint(r.Ranges.Range))
		}
	}
	if fmt.Sprint(ports) != "[[{31000 31001}]]" {
		t.Fatalf("port resources %v", ports)
	}
}

func TestTaskInfoCmdAppWithPort0(t *testing.T) {
	c := New(Config{Seed: 11})
	c.PutApp(mustApp(t, `{"id":"/web","cmd":"python3 -m http.server $PORT0","instances":1,"cpus":0.25,"mem":32,
		"healthChecks":[{"protocol":"MESOS_TCP"}]}`), false, t0)
	ti := launched(c.Offers([]mesos.Offer{offer("o1", "a1", 4, 1024)}, t0))[0]
	if ti.Command.Value != "python3 -m http.server $PORT0" || !ti.Command.IsShell() || ti.Container != nil {
		t.Fatalf("command = %+v", ti.Command)
	}
	if env := envMap(ti); env["PORT0"] != "31000" || env["PORT"] != "31000" || env["MESOS_TASK_ID"] != ti.TaskID.Value || env["MARATHON_APP_ID"] != "/web" {
		t.Fatalf("env = %v", env)
	}
	if hc := ti.HealthCheck; hc == nil || hc.Type != "TCP" || hc.TCP.Port != 31000 {
		t.Fatalf("health check = %+v", hc)
	}
}

func TestTaskInfoArgsRunWithoutShell(t *testing.T) {
	c := New(Config{Seed: 12})
	c.PutApp(mustApp(t, `{"id":"/job","args":["/bin/echo","hi"],"instances":1,"portDefinitions":[]}`), false, t0)
	ti := launched(c.Offers([]mesos.Offer{offer("o1", "a1", 4, 1024)}, t0))[0]
	if ti.Command.IsShell() || ti.Command.Value != "/bin/echo" || fmt.Sprint(ti.Command.Arguments) != "[/bin/echo hi]" {
		t.Fatalf("command = %+v", ti.Command)
	}
	if _, ok := envMap(ti)["PORT0"]; ok {
		t.Fatal("PORT0 set for an app without ports")
	}
}

func TestHealthEventsAndUnhealthyBlocksDeployment(t *testing.T) {
	c := New(Config{Seed: 13})
	c.PutApp(mustApp(t, `{"id":"/web","cmd":"x","instances":1,"healthChecks":[{"protocol":"MESOS_HTTP","path":"/"}]}`), false, t0)
	tid := launched(c.Offers([]mesos.Offer{offer("o1", "a1", 4, 1024)}, t0))[0].TaskID.Value
	d := c.Update(status(tid, mesos.TaskRunning, nil), t0)
	if hasEvent(d, EventDeploymentSuccess) {
		t.Fatal("deployment succeeded before the health check passed")
	}
	yes := true
	d = c.Update(status(tid, mesos.TaskRunning, &yes), t0)
	if !hasEvent(d, EventHealthChanged) || !hasEvent(d, EventDeploymentSuccess) || !hasEvent(d, EventStatusUpdate) {
		t.Fatalf("events = %+v", d.Events)
	}
}

// Marathon's explicit zeros survive the trip to the agent, where zero means
// "the default": no delay, no grace, and failures that never kill.
func TestTaskInfoHealthCheckZeros(t *testing.T) {
	c := New(Config{Seed: 11})
	c.PutApp(mustApp(t, `{"id":"/web","cmd":"x","instances":1,"cpus":0.1,"mem":32,
		"healthChecks":[{"protocol":"MESOS_TCP","portIndex":0,"delaySeconds":0,"gracePeriodSeconds":0,"maxConsecutiveFailures":0}]}`), false, t0)
	ts := launched(c.Offers([]mesos.Offer{offer("o1", "a1", 4, 1024)}, t0))
	if len(ts) != 1 || ts[0].HealthCheck == nil {
		t.Fatalf("launched %+v", ts)
	}
	hc := ts[0].HealthCheck
	if hc.DelaySeconds <= 0 || hc.DelaySeconds > 0.01 || hc.GracePeriodSeconds <= 0 || hc.GracePeriodSeconds > 0.01 || hc.ConsecutiveFailures != math.MaxInt32 {
		t.Fatalf("health check = %+v, want a tiny delay and grace and failures that never kill", hc)
	}
}
