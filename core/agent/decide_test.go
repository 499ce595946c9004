package agent

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"agora/core/containerizer"
	"agora/core/mesos"
	"agora/core/resources"
)

func TestContainerizerFor(t *testing.T) {
	for _, tc := range []struct {
		in   *mesos.ContainerInfo
		want string
		err  string
	}{
		{nil, "process", ""},
		{&mesos.ContainerInfo{Type: "MESOS"}, "process", ""},
		{&mesos.ContainerInfo{Type: "DOCKER", Docker: &mesos.DockerInfo{Image: "busybox"}}, "docker", ""},
		{&mesos.ContainerInfo{Type: "RKT"}, "", `container.type "RKT"`},
	} {
		got, err := containerizerFor(tc.in)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("containerizerFor(%+v) = %q, %v; want %q, error containing %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestCheckID(t *testing.T) {
	for id, ok := range map[string]bool{"web.1234": true, "": false, ".": false, "..": false, "a/b": false, "a\x00": false} {
		if err := checkID("task.task_id", id); (err == nil) != ok {
			t.Errorf("checkID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
}

func TestTaskEnv(t *testing.T) {
	ports := resources.Ranges{{Begin: 31000, End: 31001}, {Begin: 31005, End: 31005}}
	got := taskEnv("a1", "node1", "f1", "t1", "/w/frameworks/f1/tasks/t1", ports)
	want := []string{
		"MESOS_TASK_ID=t1", "MESOS_FRAMEWORK_ID=f1", "MESOS_AGENT_ID=a1",
		"MESOS_SANDBOX=/w/frameworks/f1/tasks/t1", "MESOS_DIRECTORY=/w/frameworks/f1/tasks/t1", "HOST=node1",
		"PORT0=31000", "PORT1=31001", "PORT2=31005", "PORT=31000", "PORTS=31000,31001,31005",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("env:\n got %v\nwant %v", got, want)
	}
	for _, kv := range taskEnv("a1", "h", "f", "t", "/s", nil) {
		if strings.HasPrefix(kv, "PORT") {
			t.Errorf("task without ports got %s", kv)
		}
	}
}

func TestExitState(t *testing.T) {
	for _, tc := range []struct {
		exit          containerizer.Exit
		state, reason string
	}{
		{containerizer.Exit{Code: 0}, mesos.TaskFinished, ""},
		{containerizer.Exit{Code: 3}, mesos.TaskFailed, mesos.ReasonCommandExecutorFailed},
		{containerizer.Exit{Code: -1, Signal: 9}, mesos.TaskFailed, mesos.ReasonCommandExecutorFailed},
		{containerizer.Exit{Code: -1, Signal: 9, OOM: true}, mesos.TaskFailed, mesos.ReasonContainerLimitationMemory},
		// A kill wins over whatever status the signal left.
		{containerizer.Exit{Code: -1, Signal: 15, Killed: true}, mesos.TaskKilled, ""},
		{containerizer.Exit{Code: 0, Killed: true}, mesos.TaskKilled, ""},
	} {
		s, r := exitState(tc.exit)
		if s != tc.state || r != tc.reason {
			t.Errorf("exitState(%+v) = %s, %s; want %s, %s", tc.exit, s, r, tc.state, tc.reason)
		}
	}
}

func TestKillGrace(t *testing.T) {
	pol := func(d time.Duration) *mesos.KillPolicy {
		return &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: int64(d)}}
	}
	def := 3 * time.Second
	for _, tc := range []struct {
		call, task *mesos.KillPolicy
		want       time.Duration
	}{
		{nil, nil, def},
		{nil, pol(5 * time.Second), 5 * time.Second},
		{pol(time.Second), pol(5 * time.Second), time.Second},
		{pol(0), pol(5 * time.Second), 0}, // an explicit zero means kill at once
		{&mesos.KillPolicy{}, pol(5 * time.Second), 5 * time.Second},
		{pol(-time.Second), nil, 0},
	} {
		if got := killGrace(tc.call, tc.task, def); got != tc.want {
			t.Errorf("killGrace(%v, %v) = %v, want %v", tc.call, tc.task, got, tc.want)
		}
	}
}

func TestNewStatus(t *testing.T) {
	now := time.Unix(1700000000, 500_000_000)
	st := newStatus("t1", mesos.TaskRunning, mesos.SourceExecutor, "", "", "a1", now, []byte("0123456789abcdef"))
	if st.Timestamp != 1700000000.5 || st.AgentID == nil || st.AgentID.Value != "a1" || len(st.UUID) != 16 {
		t.Fatalf("status = %+v", st)
	}
	if u1, u2 := randomUUID(), randomUUID(); len(u1) != 16 || string(u1) == string(u2) || u1[6]>>4 != 4 {
		t.Fatalf("uuids %x %x are not fresh v4 uuids", u1, u2)
	}
}

func TestNextBackoff(t *testing.T) {
	var got []time.Duration
	b := time.Duration(0)
	for i := 0; i < 7; i++ {
		b = nextBackoff(b, 500*time.Millisecond, 10*time.Second)
		got = append(got, b)
	}
	if fmt.Sprint(got) != "[500ms 1s 2s 4s 8s 10s 10s]" {
		t.Fatalf("backoff = %v", got)
	}
}

func TestHostResources(t *testing.T) {
	const gb = 1 << 30
	// Big host: 1 GB of memory and 5 GB of disk held back.
	r := hostResources(8, 16*gb, 100*gb)
	if r.CPUs != 8 || r.Mem != 15*1024 || r.Disk != 95*1024 || r.Ports.String() != "[31000-32000]" {
		t.Errorf("big host: %v", r)
	}
	// Small host: half held back.
	r = hostResources(1, 1*gb, 4*gb)
	if r.Mem != 512 || r.Disk != 2048 {
		t.Errorf("small host: %v", r)
	}
}

func TestMemTotal(t *testing.T) {
	kb, err := memTotalKB([]byte("MemFree:  1 kB\nMemTotal:       16314764 kB\n"))
	if err != nil || kb != 16314764 {
		t.Fatalf("memTotalKB = %d, %v", kb, err)
	}
	if _, err := memTotalKB([]byte("MemFree: 1 kB\n")); err == nil {
		t.Fatal("missing MemTotal accepted")
	}
}

func TestFillResources(t *testing.T) {
	det := resources.Resources{CPUs: 8, Mem: 1000, Disk: 2000, Ports: resources.Ranges{{Begin: 31000, End: 32000}}}
	got := fillResources(resources.Resources{Ports: resources.Ranges{{Begin: 8000, End: 8010}}, CPUs: 2}, det)
	if got.String() != "cpus:2;mem:1000;disk:2000;ports:[8000-8010]" {
		t.Fatalf("fill = %s", got)
	}
}

func TestDetectResourcesOnThisHost(t *testing.T) {
	r, err := DetectResources(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if r.CPUs < 1 || r.Mem <= 0 || r.Disk <= 0 || r.Ports.Size() != 1001 {
		t.Fatalf("detected %v", r)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Master: "127.0.0.1:5050", WorkDir: "/tmp/x"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for field, c := range map[string]Config{
		"Master":              {WorkDir: "/x"},
		"WorkDir":             {Master: "m:1"},
		"Listen":              {Master: "m:1", WorkDir: "/x", Listen: "nonsense"},
		"UpdateRetryInterval": {Master: "m:1", WorkDir: "/x", UpdateRetryInterval: -1},
		"DefaultKillGrace":    {Master: "m:1", WorkDir: "/x", DefaultKillGrace: -1},
		"Resources.mem":       {Master: "m:1", WorkDir: "/x", Resources: resources.Resources{Mem: -5}},
	} {
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: Validate() = %v, want an error naming %s", field, err, field)
		}
	}
}

func TestMasterURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5050":         "http://127.0.0.1:5050",
		"http://127.0.0.1:5050/": "http://127.0.0.1:5050",
		"https://m.example:443":  "https://m.example:443",
	} {
		if got, err := masterURL(in); got != want || err != nil {
			t.Errorf("masterURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := masterURL("ftp://x:1"); err == nil {
		t.Error("ftp scheme accepted")
	}
}

func TestAdvertisedHostname(t *testing.T) {
	osh := func() (string, error) { return "box", nil }
	bad := func() (string, error) { return "", errors.New("no name") }
	for _, tc := range []struct {
		given, listen, want string
	}{
		{"", "127.0.0.1:5051", "127.0.0.1"},
		{"", "0.0.0.0:5051", "box"},
		{"", ":5051", "box"},
		{"", "[::]:5051", "box"},
		{"node7", "0.0.0.0:5051", "node7"},
	} {
		if got, err := advertisedHostname(tc.given, tc.listen, osh); got != tc.want || err != nil {
			t.Errorf("advertisedHostname(%q, %q) = %q, %v; want %q", tc.given, tc.listen, got, err, tc.want)
		}
	}
	if _, err := advertisedHostname("", "0.0.0.0:1", bad); err == nil {
		t.Error("os.Hostname failure not reported")
	}
}

func TestTaskAndRunUser(t *testing.T) {
	fw := &mesos.FrameworkInfo{User: "alice"}
	own := mesos.TaskInfo{Command: &mesos.CommandInfo{Value: "true", User: "bob"}}
	inherit := mesos.TaskInfo{Command: &mesos.CommandInfo{Value: "true"}}
	docker := mesos.TaskInfo{}
	for _, tc := range []struct {
		name       string
		switchUser bool
		info       mesos.TaskInfo
		fw         *mesos.FrameworkInfo
		task       string
		run        string
	}{
		{"command.user wins", true, own, fw, "bob", "bob"},
		{"framework user by default", true, inherit, fw, "alice", "alice"},
		{"no command", true, docker, fw, "alice", "alice"},
		{"no user at all", true, inherit, &mesos.FrameworkInfo{}, "", ""},
		{"not switching runs as the agent", false, own, fw, "bob", ""},
	} {
		if got := taskUser(tc.info, tc.fw); got != tc.task {
			t.Errorf("%s: taskUser = %q, want %q", tc.name, got, tc.task)
		}
		if got := runUser(tc.switchUser, tc.info, tc.fw); got != tc.run {
			t.Errorf("%s: runUser = %q, want %q", tc.name, got, tc.run)
		}
	}
}
