package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"agora/core/agentapi"
	"agora/core/containerizer"
	"agora/core/mesos"
	"agora/core/recordio"
	"agora/core/resources"
)

// ---- fake containerizer ----

type fakeCZ struct {
	name   string
	launch func(ctx context.Context, spec containerizer.Spec) (containerizer.Container, error)
}

func (f *fakeCZ) Name() string { return f.name }
func (f *fakeCZ) Launch(ctx context.Context, spec containerizer.Spec) (containerizer.Container, error) {
	return f.launch(ctx, spec)
}

type fakeContainer struct {
	pid  int
	done chan struct{}
	once sync.Once

	mu    sync.Mutex
	exit  containerizer.Exit
	kills []time.Duration
}

func newFakeContainer(pid int) *fakeContainer {
	return &fakeContainer{pid: pid, done: make(chan struct{})}
}

func (c *fakeContainer) PID() int                 { return c.pid }
func (c *fakeContainer) Done() <-chan struct{}    { return c.done }
func (c *fakeContainer) Exit() containerizer.Exit { c.mu.Lock(); defer c.mu.Unlock(); return c.exit }

// Kill ends the fake at once, as a task that honours SIGTERM would.
func (c *fakeContainer) Kill(grace time.Duration) {
	c.mu.Lock()
	c.kills = append(c.kills, grace)
	c.mu.Unlock()
	c.finish(containerizer.Exit{Code: -1, Signal: 15, Killed: true, Message: "Command terminated with signal Terminated"})
}

func (c *fakeContainer) finish(e containerizer.Exit) {
	c.once.Do(func() {
		c.mu.Lock()
		c.exit = e
		c.mu.Unlock()
		close(c.done)
	})
}

func (c *fakeContainer) killGraces() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.kills...)
}

func (c *fakeContainer) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// fakeProcess is a "process" containerizer whose tasks write a line to
// stdout and run until killed or finished by the test.
type fakeProcess struct {
	fakeCZ
	mu         sync.Mutex
	specs      map[string]containerizer.Spec
	containers map[string]*fakeContainer
	launchErr  error
}

func newFakeProcess() *fakeProcess {
	p := &fakeProcess{specs: map[string]containerizer.Spec{}, containers: map[string]*fakeContainer{}}
	p.fakeCZ = fakeCZ{name: "process", launch: func(_ context.Context, spec containerizer.Spec) (containerizer.Container, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.launchErr != nil {
			return nil, p.launchErr
		}
		out := "hello from " + spec.Task.TaskID.Value + "\n"
		if err := os.WriteFile(filepath.Join(spec.Sandbox, "stdout"), []byte(out), 0o644); err != nil {
			return nil, err
		}
		c := newFakeContainer(4242)
		p.specs[spec.Task.TaskID.Value] = spec
		p.containers[spec.Task.TaskID.Value] = c
		return c, nil
	}}
	return p
}

func (p *fakeProcess) container(t testing.TB, tid string) *fakeContainer {
	t.Helper()
	var c *fakeContainer
	eventually(t, "container of "+tid+" launched", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		c = p.containers[tid]
		return c != nil
	})
	return c
}

func (p *fakeProcess) spec(tid string) containerizer.Spec {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.specs[tid]
}

// ---- fake master ----

type fakeStream struct {
	id     string
	events chan agentapi.Event
	drop   chan struct{}
}

type gotUpdate struct {
	agentapi.Update
	stream string
}

type fakeMaster struct {
	srv     *httptest.Server
	ping    time.Duration
	autoAck atomic.Bool
	silent  atomic.Bool

	mu      sync.Mutex
	subs    []agentapi.Call
	updates []gotUpdate
	pongs   int
	ids     int
	cur     *fakeStream
	// pingAt and pongAt are when each PING was sent and each PONG came.
	pingAt, pongAt []time.Time
}

func newFakeMaster(t testing.TB, ping time.Duration) *fakeMaster {
	m := &fakeMaster{ping: ping}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *fakeMaster) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != agentapi.Path || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	var c agentapi.Call
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch c.Type {
	case agentapi.CallSubscribe:
		m.subscribe(w, r, c)
	case agentapi.CallUpdate:
		m.mu.Lock()
		m.updates = append(m.updates, gotUpdate{*c.Update, r.Header.Get(agentapi.StreamHeader)})
		cur := m.cur
		m.mu.Unlock()
		if m.autoAck.Load() && cur != nil {
			cur.events <- ackOf(*c.Update)
		}
		w.WriteHeader(http.StatusAccepted)
	case agentapi.CallPong:
		m.mu.Lock()
		m.pongs++
		m.pongAt = append(m.pongAt, time.Now())
		m.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	default:
		http.Error(w, "unknown call", http.StatusBadRequest)
	}
}

func (m *fakeMaster) subscribe(w http.ResponseWriter, r *http.Request, c agentapi.Call) {
	m.mu.Lock()
	m.subs = append(m.subs, c)
	id := ""
	if c.Subscribe.AgentInfo.ID != nil {
		id = c.Subscribe.AgentInfo.ID.Value
	} else {
		m.ids++
		id = fmt.Sprintf("agent-%d", m.ids)
	}
	s := &fakeStream{id: fmt.Sprintf("stream-%d", len(m.subs)), events: make(chan agentapi.Event, 256), drop: make(chan struct{})}
	m.cur = s
	m.mu.Unlock()

	w.Header().Set(agentapi.StreamHeader, s.id)
	w.Header().Set("Content-Type", "application/recordio")
	w.WriteHeader(http.StatusOK)
	write := func(ev agentapi.Event) bool {
		b, _ := json.Marshal(ev)
		if recordio.Write(w, b) != nil {
			return false
		}
		return http.NewResponseController(w).Flush() == nil
	}
	if !write(agentapi.Event{Type: agentapi.EventRegistered, Registered: &agentapi.Registered{
		AgentID: mesos.AgentID{Value: id}, PingIntervalSeconds: m.ping.Seconds(),
	}}) {
		return
	}
	tick := time.NewTicker(m.ping)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.drop:
			return
		case ev := <-s.events:
			if !write(ev) {
				return
			}
		case <-tick.C:
			if m.silent.Load() {
				continue
			}
			if !write(agentapi.Event{Type: agentapi.EventPing}) {
				return
			}
			m.mu.Lock()
			m.pingAt = append(m.pingAt, time.Now())
			m.mu.Unlock()
		}
	}
}

func ackOf(u agentapi.Update) agentapi.Event {
	return agentapi.Event{Type: agentapi.EventAcknowledge, Acknowledge: &agentapi.Acknowledge{
		FrameworkID: u.FrameworkID, TaskID: u.Status.TaskID, UUID: u.Status.UUID,
	}}
}

// send delivers an event on the current stream.
func (m *fakeMaster) send(ev agentapi.Event) {
	m.mu.Lock()
	s := m.cur
	m.mu.Unlock()
	s.events <- ev
}

func (m *fakeMaster) dropStream() {
	m.mu.Lock()
	defer m.mu.Unlock()
	close(m.cur.drop)
}

func (m *fakeMaster) subscriptions() []agentapi.Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]agentapi.Call(nil), m.subs...)
}

func (m *fakeMaster) allUpdates() []gotUpdate {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]gotUpdate(nil), m.updates...)
}

func (m *fakeMaster) waitSubs(t testing.TB, n int) agentapi.Call {
	t.Helper()
	var subs []agentapi.Call
	eventually(t, fmt.Sprintf("%d subscriptions", n), func() bool {
		subs = m.subscriptions()
		return len(subs) >= n
	})
	return subs[n-1]
}

// waitUpdate returns the first update of task tid in state, waiting for it.
func (m *fakeMaster) waitUpdate(t testing.TB, tid, state string) gotUpdate {
	t.Helper()
	var got gotUpdate
	eventually(t, tid+" "+state, func() bool {
		for _, u := range m.allUpdates() {
			if u.Status.TaskID.Value == tid && u.Status.State == state {
				got = u
				return true
			}
		}
		return false
	})
	return got
}

// count returns how many times the update with this uuid arrived.
func (m *fakeMaster) count(uuid []byte) int {
	n := 0
	for _, u := range m.allUpdates() {
		if string(u.Status.UUID) == string(uuid) {
			n++
		}
	}
	return n
}

// ---- helpers ----

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncLog keeps agent goroutines from logging after the test ended.
type syncLog struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (l *syncLog) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Logf(format, args...)
	}
}

type running struct {
	*Agent
	cancel context.CancelFunc
	done   chan error
}

func testConfig(t testing.TB, m *fakeMaster) Config {
	return Config{
		Master:              m.srv.URL,
		Listen:              "127.0.0.1:0",
		WorkDir:             t.TempDir(),
		Resources:           resources.Resources{CPUs: 2, Mem: 1024, Disk: 1024, Ports: resources.Ranges{{Begin: 31000, End: 31010}}},
		Attributes:          []mesos.Attribute{{Name: "rack", Type: mesos.Text, Text: &mesos.ValueText{Value: "r1"}}},
		UpdateRetryInterval: 20 * time.Millisecond,
	}
}

func startAgent(t testing.TB, cfg Config, cs ...containerizer.Containerizer) *running {
	t.Helper()
	return startAgentWith(t, cfg, nil, cs...)
}

// startAgentWith runs prepare on the new Agent before Run.
func startAgentWith(t testing.TB, cfg Config, prepare func(*Agent), cs ...containerizer.Containerizer) *running {
	t.Helper()
	lg := &syncLog{t: t}
	cfg.Logf = lg.logf
	a, err := New(cfg, cs...)
	if err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Agent: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		r.stop(t)
		lg.mu.Lock()
		lg.done = true
		lg.mu.Unlock()
	})
	eventually(t, "agent listening", func() bool { return a.Addr() != "" })
	return r
}

func (r *running) stop(t testing.TB) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		r.done <- err // let a second stop return too
	case <-time.After(10 * time.Second):
		t.Error("Run did not return after cancel")
	}
}

func framework(id string, caps ...string) mesos.FrameworkInfo {
	f := mesos.FrameworkInfo{User: "root", Name: "test", ID: &mesos.FrameworkID{Value: id}}
	for _, c := range caps {
		f.Capabilities = append(f.Capabilities, mesos.FrameworkCapability{Type: c})
	}
	return f
}

func runTask(fw mesos.FrameworkInfo, tid string, mod ...func(*mesos.TaskInfo)) agentapi.Event {
	ti := mesos.TaskInfo{
		Name:   tid,
		TaskID: mesos.TaskID{Value: tid},
		Resources: append(resources.Resources{CPUs: 0.1, Mem: 32}.ToMesos(""), mesos.Resource{
			Name: "ports", Type: mesos.Ranges, Ranges: &mesos.ValueRanges{Range: []mesos.ValueRange{{Begin: 31002, End: 31002}, {Begin: 31000, End: 31000}}},
		}),
		Command: &mesos.CommandInfo{Value: "sleep 1000"},
	}
	for _, f := range mod {
		f(&ti)
	}
	return agentapi.Event{Type: agentapi.EventRunTask, RunTask: &agentapi.RunTask{Framework: fw, Task: ti}}
}

func getJSON(t testing.TB, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func taskState(t testing.TB, a *Agent, tid string) string {
	var st struct {
		Tasks []stateTask `json:"tasks"`
	}
	getJSON(t, "http://"+a.Addr()+"/state", &st)
	for _, tk := range st.Tasks {
		if tk.ID == tid {
			return tk.State
		}
	}
	return ""
}

// ---- driver tests ----

func TestRegisterRunAcknowledgeAndFiles(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	proc := newFakeProcess()
	cfg := testConfig(t, m)
	a := startAgent(t, cfg, proc)

	sub := m.waitSubs(t, 1).Subscribe
	info := sub.AgentInfo
	if info.ID != nil || info.Hostname != "127.0.0.1" || fmt.Sprint(sub.Containerizers) != "[process]" || len(info.Attributes) != 1 {
		t.Fatalf("first SUBSCRIBE: %+v", sub)
	}
	if r, err := resources.FromMesos("agent_info.resources", info.Resources); err != nil || r.String() != "cpus:2;mem:1024;disk:1024;ports:[31000-31010]" {
		t.Fatalf("advertised resources %v, %v", r, err)
	}
	if port, _ := listenPort(a.Addr()); info.Port != port {
		t.Fatalf("advertised port %d, listening on %s", info.Port, a.Addr())
	}
	eventually(t, "agent id", func() bool { return a.ID() == "agent-1" })
	if b, _ := os.ReadFile(filepath.Join(cfg.WorkDir, "agent_id")); strings.TrimSpace(string(b)) != "agent-1" {
		t.Fatalf("persisted agent id %q", b)
	}

	m.send(runTask(framework("fw"), "web.1"))
	starting := m.waitUpdate(t, "web.1", mesos.TaskStarting)
	// Unacknowledged, STARTING is resent; RUNNING waits behind it.
	eventually(t, "STARTING resent", func() bool { return m.count(starting.Status.UUID) >= 3 })
	for _, u := range m.allUpdates() {
		if u.Status.State != mesos.TaskStarting {
			t.Fatalf("%s sent before STARTING was acknowledged", u.Status.State)
		}
	}
	st := starting.Status
	if st.AgentID == nil || st.AgentID.Value != "agent-1" || st.Timestamp <= 0 || len(st.UUID) != 16 ||
		st.Source != mesos.SourceExecutor || starting.FrameworkID.Value != "fw" || starting.stream != "stream-1" {
		t.Fatalf("STARTING update: %+v", starting)
	}
	eventually(t, "task running on the agent", func() bool { return taskState(t, a.Agent, "web.1") == mesos.TaskRunning })
	m.send(ackOf(starting.Update))

	running := m.waitUpdate(t, "web.1", mesos.TaskRunning)
	if cs := running.Status.ContainerStatus; cs == nil || cs.ExecutorPID != 4242 || running.LatestState != mesos.TaskRunning {
		t.Fatalf("RUNNING update: %+v", running)
	}
	m.send(ackOf(running.Update))

	// The containerizer got the computed environment and sandbox.
	spec := proc.spec("web.1")
	sandbox := filepath.Join(cfg.WorkDir, "frameworks", "fw", "tasks", "web.1")
	env := strings.Join(spec.Env, " ")
	for _, want := range []string{"MESOS_TASK_ID=web.1", "MESOS_FRAMEWORK_ID=fw", "MESOS_AGENT_ID=agent-1",
		"MESOS_SANDBOX=" + sandbox, "HOST=127.0.0.1", "PORT0=31000", "PORT1=31002", "PORT=31000", "PORTS=31000,31002"} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %s: %v", want, spec.Env)
		}
	}
	if spec.Sandbox != sandbox || spec.Limits.Mem != 32 || spec.ContainerID == "" {
		t.Errorf("spec: %+v", spec)
	}

	// The sandbox is readable over HTTP.
	var read struct {
		Data   string `json:"data"`
		Offset int64  `json:"offset"`
	}
	if code := getJSON(t, "http://"+a.Addr()+"/files/read?path=/frameworks/fw/tasks/web.1/stdout&offset=0", &read); code != 200 || read.Data != "hello from web.1\n" {
		t.Fatalf("/files/read: %d %+v", code, read)
	}

	proc.container(t, "web.1").finish(containerizer.Exit{Code: 0, Message: "Command exited with status 0"})
	finished := m.waitUpdate(t, "web.1", mesos.TaskFinished)
	if finished.Status.Message != "Command exited with status 0" || finished.Status.Source != mesos.SourceExecutor {
		t.Fatalf("FINISHED update: %+v", finished)
	}
	eventually(t, "FINISHED resent", func() bool { return m.count(finished.Status.UUID) >= 3 })
	// Once acknowledged, RUNNING was never sent again.
	seenFinished := false
	for _, u := range m.allUpdates() {
		seenFinished = seenFinished || u.Status.State == mesos.TaskFinished
		if seenFinished && u.Status.State != mesos.TaskFinished {
			t.Fatalf("%s resent after it was acknowledged", u.Status.State)
		}
	}
	m.send(ackOf(finished.Update))
	eventually(t, "task forgotten after terminal ack", func() bool { return taskState(t, a.Agent, "web.1") == "" })
	if _, err := os.Stat(filepath.Join(sandbox, "stdout")); err != nil {
		t.Fatalf("sandbox removed with the task: %v", err)
	}
}

func TestUpdatesSurviveReconnect(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	proc := newFakeProcess()
	a := startAgent(t, testConfig(t, m), proc)
	m.waitSubs(t, 1)

	m.send(runTask(framework("fw"), "t1"))
	starting := m.waitUpdate(t, "t1", mesos.TaskStarting)
	eventually(t, "task running", func() bool { return taskState(t, a.Agent, "t1") == mesos.TaskRunning })

	m.dropStream()
	resub := m.waitSubs(t, 2)
	if resub.Subscribe.AgentInfo.ID == nil || resub.Subscribe.AgentInfo.ID.Value != "agent-1" {
		t.Fatalf("re-subscription without the agent id: %+v", resub.Subscribe.AgentInfo)
	}
	tasks := resub.Subscribe.Tasks
	if len(tasks) != 1 || tasks[0].TaskID.Value != "t1" || tasks[0].State != mesos.TaskRunning ||
		tasks[0].StatusUpdateState != mesos.TaskStarting || string(tasks[0].StatusUpdateUUID) != string(starting.Status.UUID) {
		t.Fatalf("re-subscription tasks: %+v", tasks)
	}
	if fws := resub.Subscribe.Frameworks; len(fws) != 1 || fws[0].ID.Value != "fw" {
		t.Fatalf("re-subscription frameworks: %+v", fws)
	}

	// The unacknowledged STARTING goes out again on the new stream, carrying
	// the newer latest state.
	eventually(t, "STARTING resent on the new stream", func() bool {
		for _, u := range m.allUpdates() {
			if u.stream == "stream-2" && string(u.Status.UUID) == string(starting.Status.UUID) && u.LatestState == mesos.TaskRunning {
				return true
			}
		}
		return false
	})
	m.send(ackOf(starting.Update))
	m.waitUpdate(t, "t1", mesos.TaskRunning)
}

func TestKillTask(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	m.autoAck.Store(true)
	proc := newFakeProcess()
	cfg := testConfig(t, m)
	cfg.DefaultKillGrace = 4 * time.Second
	a := startAgent(t, cfg, proc)
	m.waitSubs(t, 1)

	fwKilling := framework("fw", "TASK_KILLING_STATE")
	m.send(runTask(fwKilling, "a"))
	m.send(runTask(fwKilling, "b", func(ti *mesos.TaskInfo) {
		ti.KillPolicy = &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: int64(2 * time.Second)}}
	}))
	m.send(runTask(framework("plain"), "c"))
	for _, id := range []string{"a", "b", "c"} {
		m.waitUpdate(t, id, mesos.TaskRunning)
	}

	kill := func(fid, tid string, pol *mesos.KillPolicy) {
		m.send(agentapi.Event{Type: agentapi.EventKillTask, KillTask: &agentapi.KillTask{
			FrameworkID: mesos.FrameworkID{Value: fid}, TaskID: mesos.TaskID{Value: tid}, KillPolicy: pol,
		}})
	}
	kill("fw", "a", &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: int64(7 * time.Second)}})
	kill("fw", "b", nil)
	kill("plain", "c", nil)
	kill("fw", "ghost", nil)

	killing := m.waitUpdate(t, "a", mesos.TaskKilling)
	killed := m.waitUpdate(t, "a", mesos.TaskKilled)
	if killing.Status.Timestamp > killed.Status.Timestamp {
		t.Errorf("KILLING stamped after KILLED")
	}
	m.waitUpdate(t, "b", mesos.TaskKilled)
	m.waitUpdate(t, "c", mesos.TaskKilled)
	for _, u := range m.allUpdates() {
		if u.Status.TaskID.Value == "c" && u.Status.State == mesos.TaskKilling {
			t.Error("TASK_KILLING sent to a framework without TASK_KILLING_STATE")
		}
	}
	for tid, want := range map[string]time.Duration{"a": 7 * time.Second, "b": 2 * time.Second, "c": 4 * time.Second} {
		if g := proc.container(t, tid).killGraces(); len(g) != 1 || g[0] != want {
			t.Errorf("task %s killed with grace %v, want %v", tid, g, want)
		}
	}
	lost := m.waitUpdate(t, "ghost", mesos.TaskLost)
	if lost.Status.Reason != mesos.ReasonTaskUnknown || lost.Status.Source != mesos.SourceAgent {
		t.Errorf("unknown task kill: %+v", lost.Status)
	}
	eventually(t, "killed tasks forgotten", func() bool {
		return taskState(t, a.Agent, "a") == "" && taskState(t, a.Agent, "b") == "" && taskState(t, a.Agent, "c") == ""
	})
}

func TestLaunchFailures(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	m.autoAck.Store(true)
	proc := newFakeProcess()
	a := startAgent(t, testConfig(t, m), proc)
	m.waitSubs(t, 1)
	fw := framework("fw")

	m.send(runTask(fw, "dock", func(ti *mesos.TaskInfo) {
		ti.Container = &mesos.ContainerInfo{Type: "DOCKER", Docker: &mesos.DockerInfo{Image: "nginx"}}
	}))
	f := m.waitUpdate(t, "dock", mesos.TaskFailed).Status
	if f.Reason != mesos.ReasonContainerLaunchFailed || f.Source != mesos.SourceAgent || !strings.Contains(f.Message, `"docker"`) {
		t.Errorf("missing docker containerizer: %+v", f)
	}

	m.send(runTask(fw, "dup"))
	m.waitUpdate(t, "dup", mesos.TaskRunning)
	m.send(runTask(fw, "dup"))
	f = m.waitUpdate(t, "dup", mesos.TaskFailed).Status
	if !strings.Contains(f.Message, "already exists") {
		t.Errorf("duplicate task: %+v", f)
	}
	if s := taskState(t, a.Agent, "dup"); s != mesos.TaskRunning {
		t.Errorf("the first task %q is %s after a duplicate launch, want it running", "dup", s)
	}

	m.send(runTask(fw, "badports", func(ti *mesos.TaskInfo) {
		ti.Resources = []mesos.Resource{{Name: "ports", Type: mesos.Scalar}}
	}))
	if f = m.waitUpdate(t, "badports", mesos.TaskFailed).Status; f.Reason != mesos.ReasonTaskInvalid || !strings.Contains(f.Message, "task.resources[0]") {
		t.Errorf("invalid resources: %+v", f)
	}

	for tid, exit := range map[string]containerizer.Exit{
		"exit3": {Code: 3, Message: "Command exited with status 3"},
		"oom":   {Code: -1, Signal: 9, OOM: true, Message: "Memory limit exceeded"},
	} {
		m.send(runTask(fw, tid))
		proc.container(t, tid).finish(exit)
	}
	if f = m.waitUpdate(t, "exit3", mesos.TaskFailed).Status; f.Reason != mesos.ReasonCommandExecutorFailed || f.Message != "Command exited with status 3" || f.Source != mesos.SourceExecutor {
		t.Errorf("exit 3: %+v", f)
	}
	if f = m.waitUpdate(t, "oom", mesos.TaskFailed).Status; f.Reason != mesos.ReasonContainerLimitationMemory {
		t.Errorf("oom: %+v", f)
	}

	proc.mu.Lock()
	proc.launchErr = fmt.Errorf("exec: \"nosuchcmd\": not found")
	proc.mu.Unlock()
	m.send(runTask(fw, "broken"))
	m.waitUpdate(t, "broken", mesos.TaskStarting)
	if f = m.waitUpdate(t, "broken", mesos.TaskFailed).Status; f.Reason != mesos.ReasonContainerLaunchFailed || !strings.Contains(f.Message, "nosuchcmd") {
		t.Errorf("launch error: %+v", f)
	}
}

func TestPingsAndSilentMaster(t *testing.T) {
	m := newFakeMaster(t, 20*time.Millisecond)
	a := startAgent(t, testConfig(t, m), newFakeProcess())
	m.waitSubs(t, 1)
	eventually(t, "pongs", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.pongs >= 3
	})
	m.silent.Store(true)
	// 5 missed pings end the session; the agent re-registers under its id.
	resub := m.waitSubs(t, 2)
	if resub.Subscribe.AgentInfo.ID == nil || resub.Subscribe.AgentInfo.ID.Value != "agent-1" || a.ID() != "agent-1" {
		t.Fatalf("re-registration after silence: %+v", resub.Subscribe.AgentInfo)
	}
}

func TestShutdownRegistersAnew(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	m.autoAck.Store(true)
	proc := newFakeProcess()
	cfg := testConfig(t, m)
	a := startAgent(t, cfg, proc)
	m.waitSubs(t, 1)
	m.send(runTask(framework("fw"), "t1"))
	m.waitUpdate(t, "t1", mesos.TaskRunning)

	m.send(agentapi.Event{Type: agentapi.EventShutdown, Shutdown: &agentapi.Shutdown{Message: "agent removed"}})
	sub := m.waitSubs(t, 2)
	if sub.Subscribe.AgentInfo.ID != nil || len(sub.Subscribe.Tasks) != 0 {
		t.Fatalf("after SHUTDOWN the agent re-registered as the old agent: %+v", sub.Subscribe)
	}
	if !proc.container(t, "t1").ended() {
		t.Fatal("task still running after SHUTDOWN")
	}
	eventually(t, "new agent id persisted", func() bool {
		b, _ := os.ReadFile(filepath.Join(cfg.WorkDir, "agent_id"))
		return strings.TrimSpace(string(b)) == "agent-2" && a.ID() == "agent-2"
	})
}

func TestShutdownFramework(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	m.autoAck.Store(true)
	proc := newFakeProcess()
	a := startAgent(t, testConfig(t, m), proc)
	m.waitSubs(t, 1)
	m.send(runTask(framework("gone"), "g1"))
	m.send(runTask(framework("gone"), "g2"))
	m.send(runTask(framework("stays"), "s1"))
	for _, id := range []string{"g1", "g2", "s1"} {
		m.waitUpdate(t, id, mesos.TaskRunning)
	}
	m.send(agentapi.Event{Type: agentapi.EventShutdownFramework, ShutdownFramework: &agentapi.ShutdownFramework{
		FrameworkID: mesos.FrameworkID{Value: "gone"},
	}})
	eventually(t, "framework's tasks killed and forgotten", func() bool {
		return proc.container(t, "g1").ended() && proc.container(t, "g2").ended() &&
			taskState(t, a.Agent, "g1") == "" && taskState(t, a.Agent, "g2") == ""
	})
	if proc.container(t, "s1").ended() || taskState(t, a.Agent, "s1") != mesos.TaskRunning {
		t.Fatal("another framework's task was killed")
	}
	a.mu.Lock()
	pending := a.updates.Len()
	a.mu.Unlock()
	if pending != 0 {
		t.Fatalf("%d updates queued for a removed framework", pending)
	}
}

func TestRunReturnLeavesTasksRunning(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	m.autoAck.Store(true)
	proc := newFakeProcess()
	a := startAgent(t, testConfig(t, m), proc)
	m.waitSubs(t, 1)
	m.send(runTask(framework("fw"), "t1"))
	m.waitUpdate(t, "t1", mesos.TaskRunning)
	c := proc.container(t, "t1")
	a.stop(t)
	if c.ended() || len(c.killGraces()) != 0 {
		t.Fatal("Run killed the task on return; it should be left for the next start to recover")
	}
}

func TestKillTasksOnExit(t *testing.T) {
	m := newFakeMaster(t, time.Second)
	m.autoAck.Store(true)
	proc := newFakeProcess()
	cfg := testConfig(t, m)
	cfg.KillTasksOnExit = true
	a := startAgent(t, cfg, proc)
	m.waitSubs(t, 1)
	m.send(runTask(framework("fw"), "t1", func(ti *mesos.TaskInfo) {
		ti.KillPolicy = &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: int64(time.Second)}}
	}))
	m.waitUpdate(t, "t1", mesos.TaskRunning)
	c := proc.container(t, "t1")
	a.stop(t)
	if !c.ended() {
		t.Fatal("Run returned with the task still running")
	}
	if g := c.killGraces(); len(g) != 1 || g[0] != time.Second {
		t.Fatalf("killed with grace %v, want the task's 1s", g)
	}
}

func TestNewChecks(t *testing.T) {
	cfg := Config{Master: "127.0.0.1:1", WorkDir: t.TempDir()}
	if _, err := New(cfg); err == nil {
		t.Error("New without containerizers succeeded")
	}
	if _, err := New(cfg, newFakeProcess(), newFakeProcess()); err == nil || !strings.Contains(err.Error(), "process") {
		t.Errorf("duplicate containerizer: %v", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.WorkDir, "agent_id"), []byte("old-7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, newFakeProcess())
	if err != nil {
		t.Fatal(err)
	}
	if a.ID() != "old-7" || a.res.CPUs < 1 || a.res.Ports.Size() != 1001 {
		t.Fatalf("New: id %q resources %v", a.ID(), a.res)
	}
}
