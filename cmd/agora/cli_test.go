package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"agora/core/client"
	"agora/core/mesos"
)

// fakeCluster is one httptest server playing both the master's operator API
// (canned responses) and an agent's /files/read (in-memory files).
type fakeCluster struct {
	srv *httptest.Server

	mu         sync.Mutex
	agents     mesos.AgentsResp
	frameworks mesos.FrameworksResp
	tasks      mesos.TasksResp
	files      map[string]string // sandbox path -> content
	maxRead    int               // bytes per /files/read answer, like an agent's page size
	atEOF      func()            // called (locked) when a read reaches the end of a file
}

func scalar(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.Scalar, Scalar: &mesos.ValueScalar{Value: v}}
}

func ports(b, e uint64) mesos.Resource {
	return mesos.Resource{Name: "ports", Type: mesos.Ranges, Ranges: &mesos.ValueRanges{Range: []mesos.ValueRange{{Begin: b, End: e}}}}
}

func task(id, name, fw, agent, state string) mesos.Task {
	return mesos.Task{TaskID: mesos.TaskID{Value: id}, Name: name, FrameworkID: mesos.FrameworkID{Value: fw},
		AgentID: mesos.AgentID{Value: agent}, State: state}
}

func newFakeCluster(t *testing.T) *fakeCluster {
	f := &fakeCluster{files: map[string]string{}, maxRead: 1 << 20}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1", f.operator)
	mux.HandleFunc("GET /files/read", f.read)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)

	u, _ := url.Parse(f.srv.URL)
	host, portStr, _ := net.SplitHostPort(u.Host)
	port, _ := strconv.Atoi(portStr)
	f.agents = mesos.AgentsResp{Agents: []mesos.AgentState{
		{
			AgentInfo: mesos.AgentInfo{Hostname: host, Port: int32(port), ID: &mesos.AgentID{Value: "a1"},
				Attributes: []mesos.Attribute{{Name: "rack", Type: mesos.Text, Text: &mesos.ValueText{Value: "r1"}}}},
			Active:             true,
			TotalResources:     []mesos.Resource{scalar("cpus", 4), scalar("mem", 8192), scalar("disk", 20000), ports(31000, 32000)},
			AllocatedResources: []mesos.Resource{scalar("cpus", 1.5), scalar("mem", 1536), ports(31000, 31001)},
		},
		{
			AgentInfo:      mesos.AgentInfo{Hostname: "10.0.0.9", Port: 5051, ID: &mesos.AgentID{Value: "a2"}},
			Active:         false,
			TotalResources: []mesos.Resource{scalar("cpus", 2), scalar("mem", 512)},
		},
	}}
	f.frameworks = mesos.FrameworksResp{
		Frameworks: []mesos.FrameworkState{
			{FrameworkInfo: mesos.FrameworkInfo{Name: "web", ID: &mesos.FrameworkID{Value: "fw-web"}, Role: "web"},
				Active: true, Connected: true,
				AllocatedResources: []mesos.Resource{scalar("cpus", 1.5), scalar("mem", 1536)}},
			{FrameworkInfo: mesos.FrameworkInfo{Name: "batch", ID: &mesos.FrameworkID{Value: "fw-batch"},
				Roles: []string{"batch", "etl"}, Capabilities: []mesos.FrameworkCapability{{Type: "MULTI_ROLE"}}},
				Active: true, Connected: false},
		},
		CompletedFrameworks: []mesos.FrameworkState{
			{FrameworkInfo: mesos.FrameworkInfo{Name: "old", ID: &mesos.FrameworkID{Value: "fw-old"}}},
		},
	}
	f.tasks = mesos.TasksResp{
		Tasks: []mesos.Task{
			task("web-1", "nginx", "fw-web", "a1", mesos.TaskRunning),
			task("dup", "dup-web", "fw-web", "a1", mesos.TaskRunning),
		},
		UnreachableTasks: []mesos.Task{task("far-1", "far", "fw-batch", "a2", mesos.TaskUnreachable)},
		CompletedTasks: []mesos.Task{
			task("old-1", "report", "fw-batch", "a1", mesos.TaskFinished),
			task("dup", "dup-batch", "fw-batch", "a1", mesos.TaskFinished),
		},
	}
	f.files[client.SandboxPath("fw-web", "web-1", "stdout")] = "line 1\nline 2\nline 3\nline 4\nline 5\n"
	f.files[client.SandboxPath("fw-web", "web-1", "stderr")] = "warning: on stderr\n"
	f.files[client.SandboxPath("fw-batch", "dup", "stdout")] = "from batch\n"
	f.files[client.SandboxPath("fw-web", "dup", "stdout")] = "from web\n"
	return f
}

func (f *fakeCluster) operator(w http.ResponseWriter, r *http.Request) {
	var c mesos.OperatorCall
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		http.Error(w, "bad call: "+err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := mesos.OperatorResponse{Type: c.Type}
	switch c.Type {
	case mesos.GetAgents:
		a := f.agents
		resp.GetAgents = &a
	case mesos.GetFrameworks:
		fr := f.frameworks
		resp.GetFrameworks = &fr
	case mesos.GetTasks:
		tr := f.tasks
		resp.GetTasks = &tr
	default:
		http.Error(w, "type: "+c.Type+" is not supported", http.StatusBadRequest)
		return
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func (f *fakeCluster) read(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	content, ok := f.files[q.Get("path")]
	if !ok {
		http.Error(w, "file not found: "+q.Get("path"), http.StatusNotFound)
		return
	}
	off, err := strconv.Atoi(q.Get("offset"))
	if err != nil {
		http.Error(w, "offset: not a number", http.StatusBadRequest)
		return
	}
	if off == -1 {
		_ = json.NewEncoder(w).Encode(map[string]any{"data": "", "offset": len(content)})
		return
	}
	n := f.maxRead
	if l, err := strconv.Atoi(q.Get("length")); err == nil && l > 0 {
		n = min(n, l)
	}
	data := ""
	if off < len(content) {
		data = content[off:min(len(content), off+n)]
	} else if f.atEOF != nil {
		f.atEOF()
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data, "offset": off})
}

// lockedBuffer is an output buffer a test may read while a verb writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testCLI returns a cli aimed (through AGORA_MASTER) at master.
func testCLI(ctx context.Context, master string) (*cli, *lockedBuffer, *lockedBuffer) {
	out, errOut := &lockedBuffer{}, &lockedBuffer{}
	return &cli{
		ctx:    ctx,
		stdout: out,
		stderr: errOut,
		getenv: func(k string) string {
			if k == "AGORA_MASTER" {
				return master
			}
			return ""
		},
		hc:   &http.Client{Timeout: 10 * time.Second},
		poll: 5 * time.Millisecond,
	}, out, errOut
}

// fields splits table output into rows of columns.
func fields(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

func findRow(rows [][]string, first string) []string {
	for _, r := range rows {
		if len(r) > 0 && r[0] == first {
			return r
		}
	}
	return nil
}

func TestAgentsTable(t *testing.T) {
	f := newFakeCluster(t)
	c, out, _ := testCLI(context.Background(), f.srv.URL)
	if err := c.agents(nil); err != nil {
		t.Fatal(err)
	}
	rows := fields(out.String())
	want := []string{"ID", "HOSTNAME:PORT", "ACTIVE", "CPUS", "MEM", "DISK", "PORTS", "ATTRIBUTES"}
	if strings.Join(rows[0], " ") != strings.Join(want, " ") {
		t.Errorf("header = %v, want %v", rows[0], want)
	}
	agentHost := strings.TrimPrefix(f.srv.URL, "http://")
	a1 := strings.Join(findRow(rows, "a1"), " ")
	if want := "a1 " + agentHost + " yes 1.5/4 1.5G/8G 0/19.5G 31000-32000 (2 used) rack:r1"; a1 != want {
		t.Errorf("a1 row = %q\nwant     %q", a1, want)
	}
	a2 := strings.Join(findRow(rows, "a2"), " ")
	if want := "a2 10.0.0.9:5051 no 0/2 0/512M 0/0 - -"; a2 != want {
		t.Errorf("a2 row = %q\nwant     %q", a2, want)
	}
}

func TestFrameworksTable(t *testing.T) {
	f := newFakeCluster(t)
	c, out, _ := testCLI(context.Background(), f.srv.URL)
	if err := c.frameworks(nil); err != nil {
		t.Fatal(err)
	}
	rows := fields(out.String())
	if got := strings.Join(rows[0], " "); got != "ID NAME ROLES ACTIVE/CONNECTED TASKS CPUS MEM" {
		t.Errorf("header = %q", got)
	}
	if got := strings.Join(findRow(rows, "fw-web"), " "); got != "fw-web web web yes/yes 2 1.5 1.5G" {
		t.Errorf("fw-web row = %q", got)
	}
	if got := strings.Join(findRow(rows, "fw-batch"), " "); got != "fw-batch batch batch,etl yes/no 1 0 0" {
		t.Errorf("fw-batch row = %q", got)
	}
	if findRow(rows, "fw-old") != nil {
		t.Error("completed framework listed without --all")
	}

	c, out, _ = testCLI(context.Background(), f.srv.URL)
	if err := c.frameworks([]string{"--all"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(findRow(fields(out.String()), "fw-old"), " "); got != "fw-old old * completed 0 0 0" {
		t.Errorf("--all fw-old row = %q", got)
	}
}

func TestTasksTable(t *testing.T) {
	f := newFakeCluster(t)
	c, out, _ := testCLI(context.Background(), f.srv.URL)
	if err := c.tasks(nil); err != nil {
		t.Fatal(err)
	}
	rows := fields(out.String())
	if got := strings.Join(rows[0], " "); got != "ID NAME FRAMEWORK AGENT STATE" {
		t.Errorf("header = %q", got)
	}
	if got := strings.Join(findRow(rows, "web-1"), " "); got != "web-1 nginx fw-web a1 TASK_RUNNING" {
		t.Errorf("web-1 row = %q", got)
	}
	if got := strings.Join(findRow(rows, "far-1"), " "); got != "far-1 far fw-batch a2 TASK_UNREACHABLE" {
		t.Errorf("unreachable row = %q", got)
	}
	if findRow(rows, "old-1") != nil {
		t.Error("completed task listed without --all")
	}

	c, out, _ = testCLI(context.Background(), f.srv.URL)
	if err := c.tasks([]string{"--all"}); err != nil {
		t.Fatal(err)
	}
	rows = fields(out.String())
	if got := strings.Join(findRow(rows, "old-1"), " "); got != "old-1 report fw-batch a1 TASK_FINISHED" {
		t.Errorf("--all old-1 row = %q", got)
	}
	if len(rows) != 6 { // header + 2 active + 1 unreachable + 2 completed
		t.Errorf("--all printed %d rows, want 6:\n%s", len(rows), out)
	}
}

func TestJSONPrintsTheMastersResponse(t *testing.T) {
	f := newFakeCluster(t)
	c, out, _ := testCLI(context.Background(), f.srv.URL)
	if err := c.tasks([]string{"--json"}); err != nil {
		t.Fatal(err)
	}
	var r mesos.OperatorResponse
	if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	if r.Type != mesos.GetTasks || len(r.GetTasks.CompletedTasks) != 2 {
		t.Errorf("--json output = %+v, want the full GET_TASKS response", r)
	}
}

func TestMasterFlagOverridesEnvironment(t *testing.T) {
	f := newFakeCluster(t)
	c, out, _ := testCLI(context.Background(), "127.0.0.1:1") // env points nowhere
	if err := c.agents([]string{"--master", strings.TrimPrefix(f.srv.URL, "http://")}); err != nil {
		t.Fatal(err)
	}
	if findRow(fields(out.String()), "a1") == nil {
		t.Errorf("no a1 row:\n%s", out)
	}
}

func TestTaskLogPrintsFile(t *testing.T) {
	f := newFakeCluster(t)
	f.maxRead = 7 // several reads per file
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"log", "web-1"}, "line 1\nline 2\nline 3\nline 4\nline 5\n"},
		{[]string{"log", "web-1", "--stderr"}, "warning: on stderr\n"},
		{[]string{"log", "--tail", "2", "web-1"}, "line 4\nline 5\n"},
		{[]string{"log", "web-1", "--tail", "0"}, ""},
		{[]string{"log", "web-1", "--tail", "99"}, "line 1\nline 2\nline 3\nline 4\nline 5\n"},
		{[]string{"log", "dup", "--framework", "fw-batch"}, "from batch\n"},
		// A finished task's output stays readable; --follow ends at once.
		{[]string{"log", "dup", "--framework", "fw-batch", "--follow"}, "from batch\n"},
	} {
		c, out, _ := testCLI(context.Background(), f.srv.URL)
		if err := c.task(tc.args); err != nil {
			t.Errorf("task %v: %v", tc.args, err)
			continue
		}
		if out.String() != tc.want {
			t.Errorf("task %v printed %q, want %q", tc.args, out, tc.want)
		}
	}
}

func TestTaskLogErrors(t *testing.T) {
	f := newFakeCluster(t)
	f.tasks.CompletedTasks = append(f.tasks.CompletedTasks, task("gone-1", "lost", "fw-batch", "a9", mesos.TaskLost))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"log", "nope"}, `task "nope" not found`},
		{[]string{"log", "dup"}, `task "dup" exists in 2 frameworks (fw-batch, fw-web); choose one with --framework ID`},
		{[]string{"log", "old-1", "--stderr"}, `no stderr for task "old-1" in its sandbox on agent a1`},
		{[]string{"log", "gone-1"}, `agent a9 that ran task "gone-1" is not registered with the master`},
		{[]string{"log"}, "want exactly one task id"},
		{[]string{"log", "web-1", "--tail"}, "flag needs an argument"},
		{[]string{"frobnicate"}, `unknown subcommand "frobnicate"`},
	} {
		c, _, _ := testCLI(context.Background(), f.srv.URL)
		err := c.task(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("task %v: err = %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
}

func TestTaskLogFollowPrintsGrowthUntilTaskEnds(t *testing.T) {
	f := newFakeCluster(t)
	path := client.SandboxPath("fw-web", "web-1", "stdout")
	f.files[path] = "start\n"
	more := []string{"step 1\n", "step 2\n", "", "step 3\n", "done\n"}
	// Each read that reaches the end of the file lets the task write the
	// next piece; after the last piece the task finishes.
	f.atEOF = func() {
		if len(more) == 0 {
			f.tasks.Tasks = f.tasks.Tasks[1:]
			f.tasks.CompletedTasks = append(f.tasks.CompletedTasks, task("web-1", "nginx", "fw-web", "a1", mesos.TaskFinished))
			f.atEOF = nil
			return
		}
		f.files[path] += more[0]
		more = more[1:]
	}
	c, out, _ := testCLI(context.Background(), f.srv.URL)
	if err := c.task([]string{"log", "web-1", "--follow"}); err != nil {
		t.Fatal(err)
	}
	if want := "start\nstep 1\nstep 2\nstep 3\ndone\n"; out.String() != want {
		t.Errorf("--follow printed %q, want %q", out, want)
	}
}

func TestTaskLogFollowStopsOnInterrupt(t *testing.T) {
	f := newFakeCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	c, out, _ := testCLI(ctx, f.srv.URL)
	done := make(chan error, 1)
	go func() { done <- c.task([]string{"log", "-f", "web-1"}) }()

	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "line 5") {
		if time.Now().After(deadline) {
			t.Fatalf("no output within 10s: %q", out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel() // what Ctrl-C does
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("interrupted --follow returned %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("--follow kept running after interrupt")
	}
}

func TestTailStart(t *testing.T) {
	for _, tc := range []struct {
		buf   string
		n     int
		start int
		ok    bool
	}{
		{"a\nb\nc\n", 2, 2, true},
		{"a\nb\nc", 2, 2, true}, // last line without newline counts
		{"a\nb\nc\n", 3, 0, false},
		{"a\nb\nc\n", 0, 6, true},
		{"", 1, 0, false},
		{"\n\n", 1, 1, true},
	} {
		start, ok := tailStart([]byte(tc.buf), tc.n)
		if start != tc.start || ok != tc.ok {
			t.Errorf("tailStart(%q, %d) = %d, %v; want %d, %v", tc.buf, tc.n, start, ok, tc.start, tc.ok)
		}
	}
}

func TestUnreachableMasterSaysWhatToDo(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, verb := range [][]string{{"agents"}, {"frameworks"}, {"tasks"}, {"task", "log", "x"}} {
		var stdout, stderr bytes.Buffer
		code := dispatch(append(verb, "--master", "http://"+addr), &stdout, &stderr)
		want := "agora: cannot reach master at http://" + addr + ": connection refused; start one with `agora dev` or set --master\n"
		if code != 1 || stderr.String() != want {
			t.Errorf("%v: exit %d, stderr %q; want exit 1, %q", verb, code, stderr.String(), want)
		}
	}
}

func TestDispatchUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := dispatch(nil, &stdout, &stderr); code != 2 {
		t.Errorf("no arguments: exit %d, want 2", code)
	}
	for name := range commands() {
		if !strings.Contains(stderr.String(), "  "+name+" ") {
			t.Errorf("usage does not list %q:\n%s", name, stderr.String())
		}
	}

	stdout.Reset()
	stderr.Reset()
	if code := dispatch([]string{"bogus"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `unknown command "bogus"`) {
		t.Errorf("unknown verb: exit %d, stderr %q", code, stderr.String())
	}

	stdout.Reset()
	if code := dispatch([]string{"help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "agents") {
		t.Errorf("help: exit %d, stdout %q", code, stdout.String())
	}
}

func TestVerbHelpListsFlags(t *testing.T) {
	c, out, _ := testCLI(context.Background(), "127.0.0.1:1")
	if err := c.task([]string{"log", "-h"}); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"-follow", "-tail", "-stderr", "-framework", "-master", "-json"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("task log -h does not mention %s:\n%s", flag, out)
		}
	}
}
