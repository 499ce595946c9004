package main

import (
	"context"

	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"agora/core/containerizer/docker/dockertest"
	"agora/core/mesos"
	"agora/core/resources"
)

// launchTask accepts an offer with one fully specified task.
func (s *scheduler) launchTask(o mesos.Offer, ti mesos.TaskInfo, res string) {
	s.t.Helper()
	r, err := resources.Parse(res)
	if err != nil {
		s.t.Fatal(err)
	}
	ti.AgentID, ti.Resources = o.AgentID, r.ToMesos("")
	if ti.Name == "" {
		ti.Name = ti.TaskID.Value
	}
	err = s.c.Accept(context.Background(), []mesos.OfferID{o.ID},
		[]mesos.Operation{{Type: mesos.OpLaunch, Launch: &mesos.LaunchOperation{TaskInfos: []mesos.TaskInfo{ti}}}}, &mesos.Filters{RefuseSeconds: ptr(0.0)})
	if err != nil {
		s.t.Fatalf("accept: %v", err)
	}
}

// A Docker task behind a port mapping answers on the agent's host port, its
// HTTP health check reports it healthy, and `agora task log` shows its
// output; a task whose health check keeps failing is killed.
func TestDockerTaskHealthAndPorts(t *testing.T) {
	cli := dockertest.Daemon(t)
	image := dockertest.BusyboxImage(t, cli)
	masterAddr, agentAddr := freeAddr(t), freeAddr(t)
	url := "http://" + masterAddr
	start(t, "dev", "--lb", "off", "--listen", masterAddr, "--agent_listen", agentAddr, "--data-dir", t.TempDir(), "--allocation_interval", "100ms",
		"--containerizers", "docker,process", "--resources", "cpus:2;mem:1024;disk:1000;ports:[31200-31210]")
	waitHealthy(t, url)
	agents := waitAgents(t, url, 1)
	if !hasCapability(agents[0], "CONTAINERIZER_docker") {
		t.Fatalf("agent does not advertise docker: %+v", agents[0].Capabilities)
	}
	s := subscribe(t, url, mesos.FrameworkInfo{User: "root", Name: "docker-e2e"})

	web := mesos.TaskInfo{
		TaskID:  mesos.TaskID{Value: "web"},
		Command: &mesos.CommandInfo{Value: `mkdir -p /www && echo "hello from $MESOS_TASK_ID" > /www/index.html && echo serving && exec httpd -f -p 80 -h /www`},
		Container: &mesos.ContainerInfo{Type: "DOCKER", Docker: &mesos.DockerInfo{Image: image, Network: "BRIDGE",
			PortMappings: []mesos.PortMapping{{HostPort: 31205, ContainerPort: 80}}}},
		HealthCheck: &mesos.HealthCheck{Type: "HTTP", HTTP: &mesos.HTTPCheckInfo{Port: 80, Path: "/"},
			DelaySeconds: 0.1, IntervalSeconds: 0.5, TimeoutSeconds: 2, GracePeriodSeconds: 10, ConsecutiveFailures: 3},
	}
	s.launchTask(s.offer(), web, "cpus:0.2;mem:64;ports:[31205-31205]")
	s.state("web", mesos.TaskRunning)
	healthy := s.next(func(e mesos.Event) bool {
		return e.Type == mesos.EventUpdate && e.Update.Status.TaskID.Value == "web" && e.Update.Status.Healthy != nil
	}, "web health")
	if !*healthy.Update.Status.Healthy {
		t.Fatalf("web reported unhealthy: %+v", healthy.Update.Status)
	}
	var body string
	waitFor(t, 30*time.Second, "web answers on 127.0.0.1:31205", func() bool {
		resp, err := http.Get("http://127.0.0.1:31205/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	if !strings.Contains(body, "hello from web") {
		t.Fatalf("web answered %q", body)
	}
	if out := run(t, "task", "log", "web", "--master", url); !strings.Contains(out, "serving") {
		t.Errorf("agora task log web = %q, want the container's stdout", out)
	}

	// A task whose TCP check can never pass is killed after its failures.
	sick := mesos.TaskInfo{
		TaskID:    mesos.TaskID{Value: "sick"},
		Command:   &mesos.CommandInfo{Value: "sleep 600"},
		Container: &mesos.ContainerInfo{Type: "DOCKER", Docker: &mesos.DockerInfo{Image: image, Network: "NONE"}},
		HealthCheck: &mesos.HealthCheck{Type: "COMMAND", Command: &mesos.CommandInfo{Value: "exit 1"},
			DelaySeconds: 0.1, IntervalSeconds: 0.3, TimeoutSeconds: 2, GracePeriodSeconds: 0.5, ConsecutiveFailures: 2},
	}
	s.launchTask(s.offer(), sick, "cpus:0.1;mem:32")
	killed := s.state("sick", mesos.TaskKilled)
	if killed.Healthy == nil || *killed.Healthy || killed.Reason != mesos.ReasonTaskHealthCheckFailed {
		t.Fatalf("sick ended %+v, want TASK_KILLED with healthy=false and %s", killed, mesos.ReasonTaskHealthCheckFailed)
	}

	// Killing the web task removes its container.
	if err := s.c.Kill(context.Background(), mesos.TaskID{Value: "web"}, nil); err != nil {
		t.Fatal(err)
	}
	s.state("web", mesos.TaskKilled)
	waitFor(t, 30*time.Second, "web's port released", func() bool {
		_, err := http.Get("http://127.0.0.1:31205/")
		return err != nil
	})
}

func hasCapability(a mesos.AgentState, c string) bool {
	for _, x := range a.Capabilities {
		if x.Type == c {
			return true
		}
	}
	return false
}
