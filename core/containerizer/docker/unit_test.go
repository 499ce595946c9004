package docker

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-connections/nat"

	"agora/core/containerizer"
	"agora/core/mesos"
	"agora/core/resources"
)

func boolp(b bool) *bool { return &b }

// baseSpec is a valid Docker task; tests change what they examine.
func baseSpec() containerizer.Spec {
	return containerizer.Spec{
		ContainerID: "c1",
		FrameworkID: "fw",
		AgentID:     "agent-1",
		Sandbox:     "/var/lib/agora/sandboxes/fw/t1",
		Task: mesos.TaskInfo{
			Name:    "t1",
			TaskID:  mesos.TaskID{Value: "t1"},
			Command: &mesos.CommandInfo{Value: "echo hi"},
			Container: &mesos.ContainerInfo{
				Type:   "DOCKER",
				Docker: &mesos.DockerInfo{Image: "agora-test/busybox:1"},
			},
		},
		Limits: resources.Resources{CPUs: 0.5, Mem: 64, Ports: resources.Ranges{{Begin: 31000, End: 31009}}},
	}
}

func TestPlanErrorsNameTheField(t *testing.T) {
	cases := []struct {
		name   string
		change func(*containerizer.Spec)
		cfg    Config
		want   string
	}{
		{"no docker info", func(s *containerizer.Spec) { s.Task.Container.Docker = nil }, Config{}, "container.docker: missing"},
		{"empty image", func(s *containerizer.Spec) { s.Task.Container.Docker.Image = " " }, Config{}, "container.docker.image: empty"},
		{"bad container id", func(s *containerizer.Spec) { s.ContainerID = "a/b" }, Config{}, "container_id:"},
		{"user network", func(s *containerizer.Spec) { s.Task.Container.Docker.Network = "USER" }, Config{}, "container.docker.network: USER networks are not supported"},
		{"unknown network", func(s *containerizer.Spec) { s.Task.Container.Docker.Network = "MESH" }, Config{}, `container.docker.network: "MESH" is unknown`},
		{"privileged", func(s *containerizer.Spec) { s.Task.Container.Docker.Privileged = true }, Config{}, "container.docker.privileged: privileged containers are not allowed"},
		{"host port outside resources", func(s *containerizer.Spec) {
			s.Task.Container.Docker.PortMappings = []mesos.PortMapping{{HostPort: 31000, ContainerPort: 80}, {HostPort: 8080, ContainerPort: 81}}
		}, Config{}, "container.docker.port_mappings[1].host_port: port 8080 is not among the task's port resources [31000-31009]"},
		{"bad protocol", func(s *containerizer.Spec) {
			s.Task.Container.Docker.PortMappings = []mesos.PortMapping{{HostPort: 31000, ContainerPort: 80, Protocol: "sctp"}}
		}, Config{}, `container.docker.port_mappings[0].protocol: "sctp"`},
		{"no container port", func(s *containerizer.Spec) {
			s.Task.Container.Docker.PortMappings = []mesos.PortMapping{{HostPort: 31000}}
		}, Config{}, "container.docker.port_mappings[0].container_port"},
		{"ports with host network", func(s *containerizer.Spec) {
			s.Task.Container.Docker.Network = "HOST"
			s.Task.Container.Docker.PortMappings = []mesos.PortMapping{{HostPort: 31000, ContainerPort: 80}}
		}, Config{}, "container.docker.port_mappings: port mappings need network BRIDGE, not HOST"},
		{"unsupported parameter", func(s *containerizer.Spec) {
			s.Task.Container.Docker.Parameters = []mesos.Parameter{{Key: "label", Value: "a=b"}, {Key: "cap-add", Value: "SYS_ADMIN"}}
		}, Config{}, `container.docker.parameters[1] (cap-add): parameter "cap-add" is not supported`},
		{"reserved label", func(s *containerizer.Spec) {
			s.Task.Container.Docker.Parameters = []mesos.Parameter{{Key: "label", Value: "agora.agent_id=x"}}
		}, Config{}, `label "agora.agent_id" is reserved`},
		{"bad env parameter", func(s *containerizer.Spec) {
			s.Task.Container.Docker.Parameters = []mesos.Parameter{{Key: "env", Value: "NOVALUE"}}
		}, Config{}, `container.docker.parameters[0] (env): "NOVALUE" is not NAME=value`},
		{"relative container path", func(s *containerizer.Spec) {
			s.Task.Container.Volumes = []mesos.Volume{{ContainerPath: "data", HostPath: "/srv", Mode: "RO"}}
		}, Config{}, `container.volumes[0].container_path: "data" is not an absolute path`},
		{"bad mode", func(s *containerizer.Spec) {
			s.Task.Container.Volumes = []mesos.Volume{{ContainerPath: "/data", HostPath: "/srv", Mode: "RWX"}}
		}, Config{}, `container.volumes[0].mode: "RWX" is not RO or RW`},
		{"escaping relative host path", func(s *containerizer.Spec) {
			s.Task.Container.Volumes = []mesos.Volume{{ContainerPath: "/data", HostPath: "../other", Mode: "RW"}}
		}, Config{}, `container.volumes[0].host_path: relative path "../other" leaves the sandbox`},
		{"no host path", func(s *containerizer.Spec) {
			s.Task.Container.Volumes = []mesos.Volume{{ContainerPath: "/data", Mode: "RW"}}
		}, Config{}, "container.volumes[0].host_path: empty"},
		{"volume over the sandbox", func(s *containerizer.Spec) {
			s.Task.Container.Volumes = []mesos.Volume{{ContainerPath: "/mnt/mesos/sandbox/", HostPath: "/srv"}}
		}, Config{}, "container.volumes[0].container_path: /mnt/mesos/sandbox is mounted twice"},
		{"secret env without a secret", func(s *containerizer.Spec) {
			s.Task.Command.Environment = &mesos.Environment{Variables: []mesos.EnvironmentVariable{{Name: "PW", Type: "SECRET"}}}
		}, Config{}, "command.environment.variables[0] (PW).secret: missing"},
		{"secret reference", func(s *containerizer.Spec) {
			s.Task.Command.Environment = &mesos.Environment{Variables: []mesos.EnvironmentVariable{{Name: "PW", Type: "SECRET", Secret: &mesos.Secret{Type: "REFERENCE"}}}}
		}, Config{}, "command.environment.variables[0] (PW).secret: type REFERENCE is not supported"},
		{"hostname with host network", func(s *containerizer.Spec) {
			s.Task.Container.Docker.Network = "HOST"
			s.Task.Container.Hostname = "web"
		}, Config{}, "container.hostname: cannot be set with network HOST"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSpec()
			tc.change(&s)
			_, err := buildPlan(tc.cfg, s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestPlanPrivilegedAllowed(t *testing.T) {
	s := baseSpec()
	s.Task.Container.Docker.Privileged = true
	p, err := buildPlan(Config{AllowPrivileged: true}, s)
	if err != nil {
		t.Fatal(err)
	}
	if !p.host.Privileged {
		t.Fatal("privileged task on an agent that allows it is not privileged")
	}
}

func TestPlanNetworkAndPorts(t *testing.T) {
	s := baseSpec()
	s.Task.Container.Docker.PortMappings = []mesos.PortMapping{
		{HostPort: 31000, ContainerPort: 80},
		{HostPort: 31001, ContainerPort: 53, Protocol: "UDP"},
	}
	p, err := buildPlan(Config{HostIP: "127.0.0.1"}, s)
	if err != nil {
		t.Fatal(err)
	}
	if p.host.NetworkMode != "bridge" {
		t.Errorf("network mode %q, want bridge by default", p.host.NetworkMode)
	}
	want := nat.PortMap{
		"80/tcp": {{HostIP: "127.0.0.1", HostPort: "31000"}},
		"53/udp": {{HostIP: "127.0.0.1", HostPort: "31001"}},
	}
	if !reflect.DeepEqual(p.host.PortBindings, want) {
		t.Errorf("port bindings %v, want %v", p.host.PortBindings, want)
	}
	if _, ok := p.config.ExposedPorts["53/udp"]; !ok {
		t.Errorf("53/udp not exposed: %v", p.config.ExposedPorts)
	}

	p, err = buildPlan(Config{}, s)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.host.PortBindings["80/tcp"][0].HostIP; got != DefaultHostIP {
		t.Errorf("default host IP %q, want %q", got, DefaultHostIP)
	}

	for net, mode := range map[string]container.NetworkMode{"HOST": "host", "NONE": "none", "bridge": "bridge"} {
		s := baseSpec()
		s.Task.Container.Docker.Network = net
		p, err := buildPlan(Config{}, s)
		if err != nil {
			t.Fatalf("%s: %v", net, err)
		}
		if p.host.NetworkMode != mode {
			t.Errorf("network %s: mode %q, want %q", net, p.host.NetworkMode, mode)
		}
	}
}

func TestPlanCommand(t *testing.T) {
	cases := []struct {
		name       string
		cmd        *mesos.CommandInfo
		entrypoint []string
		cmdline    []string
	}{
		{"no command runs the image default", nil, nil, nil},
		{"shell", &mesos.CommandInfo{Value: "echo $HOME"}, []string{"/bin/sh", "-c"}, []string{"echo $HOME"}},
		{"empty shell runs the image default", &mesos.CommandInfo{}, nil, nil},
		{"exec value and arguments", &mesos.CommandInfo{Shell: boolp(false), Value: "/bin/echo", Arguments: []string{"a", "b"}}, []string{"/bin/echo"}, []string{"a", "b"}},
		{"exec value alone drops the image cmd", &mesos.CommandInfo{Shell: boolp(false), Value: "/bin/date"}, []string{"/bin/date"}, []string{}},
		{"arguments to the image entrypoint", &mesos.CommandInfo{Shell: boolp(false), Arguments: []string{"--port", "80"}}, nil, []string{"--port", "80"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSpec()
			s.Task.Command = tc.cmd
			p, err := buildPlan(Config{}, s)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual([]string(p.config.Entrypoint), tc.entrypoint) {
				t.Errorf("entrypoint %q, want %q", p.config.Entrypoint, tc.entrypoint)
			}
			if !reflect.DeepEqual([]string(p.config.Cmd), tc.cmdline) {
				t.Errorf("cmd %q, want %q", p.config.Cmd, tc.cmdline)
			}
		})
	}
}

func TestPlanEnvironment(t *testing.T) {
	s := baseSpec()
	s.Env = []string{"MESOS_TASK_ID=t1", "MESOS_SANDBOX=" + s.Sandbox, "MESOS_DIRECTORY=" + s.Sandbox, "PORT0=31000", "FOO=agent"}
	s.Task.Command.Environment = &mesos.Environment{Variables: []mesos.EnvironmentVariable{{Name: "FOO", Value: "task"}, {Name: "BAR", Value: "x=y"}}}
	s.Task.Container.Docker.Parameters = []mesos.Parameter{{Key: "env", Value: "BAZ=param"}, {Key: "e", Value: "FOO=param"}}
	p, err := buildPlan(Config{}, s)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"MESOS_TASK_ID=t1",
		"MESOS_SANDBOX=/mnt/mesos/sandbox",
		"MESOS_DIRECTORY=/mnt/mesos/sandbox",
		"PORT0=31000",
		"FOO=param",
		"BAR=x=y",
		"BAZ=param",
	}
	if !reflect.DeepEqual(p.config.Env, want) {
		t.Errorf("env\n got %q\nwant %q", p.config.Env, want)
	}
	if p.config.WorkingDir != SandboxPath {
		t.Errorf("working dir %q, want the sandbox %q", p.config.WorkingDir, SandboxPath)
	}
}

func TestPlanMountsLimitsLabels(t *testing.T) {
	s := baseSpec()
	s.Task.Labels = &mesos.Labels{Labels: []mesos.Label{{Key: "team", Value: "web"}}}
	s.Task.Container.Volumes = []mesos.Volume{
		{ContainerPath: "/etc/conf", HostPath: "/srv/conf", Mode: "RO"},
		{ContainerPath: "/data/", HostPath: "cache/./x"},
	}
	s.Task.Container.Docker.Parameters = []mesos.Parameter{
		{Key: "label", Value: "owner=ops"}, {Key: "user", Value: "65534"}, {Key: "workdir", Value: "/data"},
		{Key: "init", Value: "true"}, {Key: "stop-signal", Value: "SIGQUIT"}, {Key: "read-only", Value: "1"},
	}
	p, err := buildPlan(Config{AgentID: "ignored-when-spec-has-one"}, s)
	if err != nil {
		t.Fatal(err)
	}
	wantMounts := []mount.Mount{
		{Type: mount.TypeBind, Source: s.Sandbox, Target: SandboxPath},
		{Type: mount.TypeBind, Source: "/srv/conf", Target: "/etc/conf", ReadOnly: true},
		{Type: mount.TypeBind, Source: s.Sandbox + "/cache/x", Target: "/data"},
	}
	if !reflect.DeepEqual(p.host.Mounts, wantMounts) {
		t.Errorf("mounts\n got %+v\nwant %+v", p.host.Mounts, wantMounts)
	}
	if !reflect.DeepEqual(p.mkdirs, []string{s.Sandbox + "/cache/x"}) {
		t.Errorf("mkdirs %q, want the relative volume's sandbox directory", p.mkdirs)
	}
	r := p.host.Resources
	if r.Memory != 64<<20 || r.MemorySwap != 64<<20 {
		t.Errorf("memory %d swap %d, want both %d (no swap)", r.Memory, r.MemorySwap, 64<<20)
	}
	if r.CPUShares != 512 || r.CPUPeriod != 100000 || r.CPUQuota != 50000 {
		t.Errorf("cpu shares %d period %d quota %d, want 512, 100000, 50000", r.CPUShares, r.CPUPeriod, r.CPUQuota)
	}
	wantLabels := map[string]string{
		LabelAgentID: "agent-1", LabelFrameworkID: "fw", LabelTaskID: "t1", LabelContainerID: "c1",
		"agora.label.team": "web", "owner": "ops",
	}
	if !reflect.DeepEqual(p.config.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", p.config.Labels, wantLabels)
	}
	if p.name != "agora-c1" {
		t.Errorf("name %q, want agora-c1", p.name)
	}
	if p.config.User != "65534" || p.config.WorkingDir != "/data" || p.config.StopSignal != "SIGQUIT" ||
		p.host.Init == nil || !*p.host.Init || !p.host.ReadonlyRootfs {
		t.Errorf("parameters not applied: user %q workdir %q stop-signal %q init %v read-only %v",
			p.config.User, p.config.WorkingDir, p.config.StopSignal, p.host.Init, p.host.ReadonlyRootfs)
	}

	s = baseSpec()
	s.AgentID = ""
	s.Limits = resources.Resources{CPUs: 0.001}
	p, err = buildPlan(Config{AgentID: "from-config"}, s)
	if err != nil {
		t.Fatal(err)
	}
	if p.config.Labels[LabelAgentID] != "from-config" {
		t.Errorf("agent id label %q, want the config's when the spec has none", p.config.Labels[LabelAgentID])
	}
	if r := p.host.Resources; r.Memory != 0 || r.CPUShares != 2 || r.CPUQuota != 1000 {
		t.Errorf("tiny cpus: memory %d shares %d quota %d, want no memory limit, the minimum shares 2 and quota 1000", r.Memory, r.CPUShares, r.CPUQuota)
	}
}

func TestDescribeExit(t *testing.T) {
	cases := []struct {
		name    string
		state   container.State
		killed  bool
		limitMB float64
		want    containerizer.Exit
	}{
		{"success", container.State{Status: "exited"}, false, 0, containerizer.Exit{Message: "Command exited with status 0"}},
		{"failure", container.State{Status: "exited", ExitCode: 3}, false, 0, containerizer.Exit{Code: 3, Message: "Command exited with status 3"}},
		{"killed", container.State{Status: "exited", ExitCode: 137}, true, 0, containerizer.Exit{Code: 137, Killed: true, Message: "Command exited with status 137"}},
		{"oom", container.State{Status: "exited", ExitCode: 137, OOMKilled: true}, false, 32, containerizer.Exit{Code: 137, OOM: true,
			Message: "Memory limit exceeded: requested 32 MB (Command exited with status 137)"}},
		{"never started", container.State{Status: "created"}, false, 0, containerizer.Exit{Code: -1, Message: "Container was created but never started"}},
		{"daemon error", container.State{Status: "exited", ExitCode: 127, Error: "exec failed"}, false, 0, containerizer.Exit{Code: 127, Message: "Command exited with status 127: exec failed"}},
	}
	for _, tc := range cases {
		if got := describeExit(&tc.state, tc.killed, tc.limitMB); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// frame encodes one message of Docker's multiplexed log stream.
func frame(stream byte, ts time.Time, msg string) []byte {
	payload := ts.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") + " " + msg
	hdr := make([]byte, 8)
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(payload)))
	return append(hdr, payload...)
}

func TestLogSinkCopiesAndResumesWithoutDuplicates(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stdout"), []byte("earlier run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }

	s, err := openSinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	stream.Write(frame(streamStdout, at(1), "one\n"))
	stream.Write(frame(streamStderr, at(2), "oops\n"))
	stream.Write(frame(streamStdout, at(3), "two, no newline"))
	if err := s.consume(&stream); err != nil {
		t.Fatal(err)
	}
	s.close()

	// A restarted agent opens the files again and resumes after the last
	// message each file holds; a replayed overlap is dropped.
	s, err = openSinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	since, err := s.since()
	if err != nil {
		t.Fatal(err)
	}
	if want := at(2).Add(time.Nanosecond); !since.Equal(want) {
		t.Errorf("resume at %v, want just after stderr's last message %v", since, want)
	}
	stream.Reset()
	stream.Write(frame(streamStdout, at(3), "two, no newline"))
	stream.Write(frame(streamStdout, at(4), " three\n"))
	stream.Write(frame(streamStderr, at(5), "oops again\n"))
	if err := s.consume(&stream); err != nil {
		t.Fatal(err)
	}
	s.close()

	for name, want := range map[string]string{
		"stdout": "earlier run\none\ntwo, no newline three\n",
		"stderr": "oops\noops again\n",
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != want {
			t.Errorf("%s = %q, want %q", name, b, want)
		}
	}
}

func TestReadFramesReportsDaemonErrors(t *testing.T) {
	var stream bytes.Buffer
	hdr := make([]byte, 8)
	hdr[0] = streamSystem
	binary.BigEndian.PutUint32(hdr[4:], 4)
	stream.Write(hdr)
	stream.WriteString("boom")
	err := readFrames(&stream, func(byte, []byte) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("error %v, want the daemon's message", err)
	}
	// A stream cut inside a frame is an error, not a clean end.
	cut := frame(streamStdout, time.Now(), "hello")
	err = readFrames(bytes.NewReader(cut[:len(cut)-2]), func(byte, []byte) error { return nil })
	if err == nil {
		t.Fatal("truncated frame read as a clean end of stream")
	}
}

// BenchmarkLogSink measures copying container output into the sandbox:
// demultiplexing, timestamp parsing, the append and the position mark, per
// 80-byte line.
func BenchmarkLogSink(b *testing.B) {
	s, err := openSinks(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	line := strings.Repeat("x", 79) + "\n"
	var stream bytes.Buffer
	for i := 0; i < b.N; i++ {
		stream.Write(frame(streamStdout, t0.Add(time.Duration(i)), line))
	}
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	if err := s.consume(&stream); err != nil {
		b.Fatal(err)
	}
}
