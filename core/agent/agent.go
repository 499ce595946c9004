// Package agent is the Agora agent: it registers a host's resources with the
// master, runs the tasks the master sends through a containerizer, reports
// every task status until the master acknowledges it, runs the tasks' health
// checks, and serves the task sandboxes over HTTP.
//
// Contract:
//   - Run serves HTTP on Config.Listen, subscribes to the master (package
//     agentapi) and re-subscribes with backoff (500ms..10s) whenever the
//     stream breaks or no PING arrives for 5 ping intervals. A
//     re-subscription carries the agent id, persisted in WorkDir/agent_id,
//     and the agent's tasks with their latest state and frameworks.
//   - Each task's status updates are delivered in order and resent with
//     backoff until acknowledged (package updates); a task whose terminal
//     update is acknowledged is forgotten, its sandbox kept under
//     WorkDir/frameworks/<framework>/tasks/<task> until garbage collection
//     removes it GCDelay later, or sooner, oldest first, while the work
//     directory's disk is fuller than GCDiskThreshold (package gc).
//   - Checkpointing, as a Mesos agent does (package checkpoint, under
//     WorkDir/meta): each framework's info, each task's info and Spec
//     before it is launched, the containerizer's checkpoint of its container
//     once launched, and every status update as it is generated and
//     acknowledged. An update is sent only once it is on disk, and the
//     update after an acknowledged one only once the acknowledgement is.
//     Writes are group-committed in the background: no disk I/O happens
//     under the agent's lock, so a launch storm neither stalls the event
//     stream (PINGs included) nor makes tasks wait on each other's fsyncs.
//     Tasks are killed only on KILL_TASK, SHUTDOWN_FRAMEWORK,
//     SHUTDOWN and failed health checks: when Run returns they keep running
//     (unless Config.KillTasksOnExit), and the next Run on the same WorkDir
//     recovers them before it subscribes: running tasks are re-attached
//     through their containerizer (containerizer.Recoverer) and reported
//     with their state under the same agent id, tasks that ended meanwhile
//     get their terminal update, unacknowledged updates are resent in
//     order, and a task whose checkpoint is missing or corrupt or whose
//     container cannot be recovered is destroyed and reported TASK_FAILED
//     with REASON_EXECUTOR_TERMINATED and a message saying why. Containers a
//     containerizer still has for this agent that no checkpoint knows are
//     destroyed.
//   - Health checks (package health): a task's health_check is validated at
//     launch (an invalid one fails the task with REASON_TASK_INVALID) and
//     run while the task runs; each change of health is a TASK_RUNNING
//     update with `healthy` set and REASON_TASK_HEALTH_CHECK_STATUS_UPDATED;
//     too many failures in a row kill the task, reported TASK_KILLED,
//     unhealthy, with the same reason.
//   - Safe defaults: a task runs as its user (command.user, else its
//     framework's user) when Config.SwitchUser is on (the default; see
//     containerizer.Spec.User and the process containerizer for what
//     happens when the agent is not root). The /files endpoints resolve a
//     path inside the one sandbox it names and never follow a link out of
//     it; Config.AuthorizeSandbox decides by the task's user, and
//     Config.Middleware and WrapListener guard the whole API. Every request
//     to the master goes through Config.Transport (credentials, TLS); a
//     master that refuses SUBSCRIBE with 401/403 is logged as "agent is not
//     allowed" at every retry. SECRET environment variables reach the task
//     but are masked wherever the agent shows a command; the checkpoint
//     keeps them (a restart needs them) in files only the agent's user can
//     read.
//
// The decisions (containerizer choice, task environment, state from a
// container's exit, kill grace, recovery of each task, update queueing,
// garbage collection) are pure functions in decide.go and packages updates
// and gc; the rest of the package is the thin I/O around them.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"agora/core/agent/checkpoint"
	"agora/core/agent/gc"
	"agora/core/agent/updates"
	"agora/core/agentapi"
	"agora/core/containerizer"
	"agora/core/election"
	"agora/core/mesos"
	"agora/core/resources"
)

// Version is what the agent reports in SUBSCRIBE.
const Version = "0.1.0"

// Defaults and limits of the agent's timing.
const (
	DefaultListen              = "127.0.0.1:5051"
	DefaultUpdateRetryInterval = 10 * time.Second
	MaxUpdateRetryInterval     = 10 * time.Minute
	DefaultKillGrace           = 3 * time.Second
	// defaultPingInterval is assumed until the master says otherwise; it is
	// Mesos's agent_ping_timeout.
	defaultPingInterval = 15 * time.Second
	// missedPings is how many ping intervals of silence end a session.
	missedPings    = 5
	minReconnect   = 500 * time.Millisecond
	maxReconnect   = 10 * time.Second
	callTimeout    = 10 * time.Second
	agentIDFile    = "agent_id"
	frameworksDir  = "frameworks"
	metaDir        = "meta"
	maxFilesLength = 1 << 20
)

// Config configures an Agent.
type Config struct {
	// Master is the master's address: "127.0.0.1:5050" (http),
	// "http://127.0.0.1:5050", "https://master.example:5050", or a zk://
	// URL where the leading master registers its http(s):// address.
	Master string
	// Listen is the HTTP listen address, default 127.0.0.1:5051. Port 0
	// picks a free port (see Agent.Addr).
	Listen string
	// Hostname is advertised to the master and given to tasks as HOST;
	// default: the host part of Listen, or os.Hostname if Listen binds every
	// address.
	Hostname string
	// Resources the agent offers. Zero fields are detected (see
	// DetectResources), so giving only ports keeps the host's cpus.
	Resources  resources.Resources
	Attributes []mesos.Attribute
	// WorkDir holds the agent id (WorkDir/agent_id), the task sandboxes
	// (WorkDir/frameworks/<fid>/tasks/<tid>) and the checkpoints
	// (WorkDir/meta). Required.
	WorkDir string
	// UpdateRetryInterval is the first resend delay of an unacknowledged
	// status update, doubling up to 10 minutes; default 10s.
	UpdateRetryInterval time.Duration
	// DefaultKillGrace is the SIGTERM-to-SIGKILL delay of a task without a
	// kill policy; default 3s.
	DefaultKillGrace time.Duration
	// KillTasksOnExit makes Run kill every task (each with its kill grace)
	// and wait for them before it returns. By default tasks keep running and
	// the next Run on the same WorkDir recovers them.
	KillTasksOnExit bool
	// GCDelay is how long the sandbox of a completed task (terminal update
	// acknowledged) is kept; default 7 days, Mesos's --gc_delay.
	GCDelay time.Duration
	// GCDiskThreshold is the used fraction of the work directory's disk
	// above which sandboxes are removed sooner, oldest first; default 0.9.
	GCDiskThreshold float64
	// GCInterval is how often garbage collection runs; default 1 minute.
	GCInterval time.Duration
	// Logf receives the agent's log lines; default log.Printf.
	Logf func(format string, args ...any)

	// SwitchUser runs each task as its user (command.user, else the
	// framework's user), as Mesos's --switch_user; nil means true. It
	// takes root: an agent running as another user fails tasks of any
	// user but its own. False runs every task as the agent's user, for a
	// single-user development box. (Docker tasks are not affected: they
	// run as command.user inside their container, else as the image's
	// user.)
	SwitchUser *bool
	// AuthorizeSandbox, if set, is asked before /files/read and
	// /files/download open anything in a task's sandbox, with the task's
	// user (command.user, else the framework's; "" if the agent no longer
	// knows the task). A denial answers 403 with the reason. Nil allows
	// every request.
	AuthorizeSandbox func(r *http.Request, user string) (ok bool, reason string)
	// Middleware, if set, wraps the whole HTTP API (authentication,
	// audit...).
	Middleware func(http.Handler) http.Handler
	// Scheme is how clients reach the agent's API: "http" (default) or
	// "https" when WrapListener serves TLS; the master puts it in offers.
	Scheme string
	// WrapListener, if set, wraps the HTTP API's listener, e.g. to serve
	// TLS on it; Addr stays the address listened on.
	WrapListener func(net.Listener) net.Listener
	// Transport carries every request to the master, the SUBSCRIBE stream
	// and the calls alike, so it can add credentials (an Authorization
	// header) and TLS settings for an https:// master. Nil means a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
}

// switchUser reports whether tasks run as their own users.
func (c Config) switchUser() bool { return c.SwitchUser == nil || *c.SwitchUser }

// Garbage collection defaults.
const (
	DefaultGCDelay         = gc.DefaultDelay
	DefaultGCDiskThreshold = gc.DefaultDiskThreshold
	DefaultGCInterval      = time.Minute
)

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if strings.TrimSpace(c.Master) == "" {
		return errors.New("agent config: Master is required, e.g. 127.0.0.1:5050")
	}
	if _, err := masterURL(c.Master); err != nil {
		return fmt.Errorf("agent config: Master: %w", err)
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return fmt.Errorf("agent config: Listen %q: want host:port: %w", c.Listen, err)
		}
	}
	if c.WorkDir == "" {
		return errors.New("agent config: WorkDir is required")
	}
	if c.UpdateRetryInterval < 0 {
		return fmt.Errorf("agent config: UpdateRetryInterval %v is negative", c.UpdateRetryInterval)
	}
	if c.DefaultKillGrace < 0 {
		return fmt.Errorf("agent config: DefaultKillGrace %v is negative", c.DefaultKillGrace)
	}
	if c.GCDelay < 0 {
		return fmt.Errorf("agent config: GCDelay %v is negative", c.GCDelay)
	}
	if c.GCDiskThreshold < 0 || c.GCDiskThreshold > 1 {
		return fmt.Errorf("agent config: GCDiskThreshold %v is not a fraction in (0, 1]", c.GCDiskThreshold)
	}
	if c.GCInterval < 0 {
		return fmt.Errorf("agent config: GCInterval %v is negative", c.GCInterval)
	}
	r := c.Resources
	for _, f := range []struct {
		name string
		v    float64
	}{{"cpus", r.CPUs}, {"mem", r.Mem}, {"disk", r.Disk}, {"gpus", r.GPUs}} {
		if f.v < 0 {
			return fmt.Errorf("agent config: Resources.%s %v is negative", f.name, f.v)
		}
	}
	return nil
}

// masterURL turns "host:port" or "http://host:port" into a base URL. A
// zk:// URL is returned as it is: the leader is looked up there before each
// subscription.
func masterURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if _, _, ok, err := election.ParseURL(s); ok || err != nil {
		return s, err
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port or a URL: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q has no host", s)
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(u.Path, "/"), nil
}

// advertisedHostname picks the hostname the agent gives the master.
func advertisedHostname(given, listen string, osHostname func() (string, error)) (string, error) {
	if given != "" {
		return given, nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return host, nil
	}
	h, err := osHostname()
	if err != nil {
		return "", fmt.Errorf("hostname: listen %q binds every address and os.Hostname failed: %w", listen, err)
	}
	return h, nil
}

// Agent runs tasks for a master. Create it with New and start it with Run.
type Agent struct {
	cfg       Config
	epMu      sync.Mutex
	endpoint  string // master's agent API URL; for a zk:// master, the leader's, once found
	zkURL     string // the master address, when it is a zk:// URL
	hostname  string
	res       resources.Resources
	czs       map[string]containerizer.Containerizer
	czNames   []string
	stream    *http.Client // no timeout: the event stream is long-lived
	calls     *http.Client
	logf      func(string, ...any)
	newUUID   func() []byte
	now       func() time.Time
	sendKick  chan struct{}
	taskGroup sync.WaitGroup
	launchCtx context.Context
	meta      *checkpoint.Store
	// detach is closed when Run returns without killing tasks: task
	// watchers stop, the tasks run on.
	detach chan struct{}
	// diskUsage measures the work directory's disk for garbage collection.
	diskUsage func(dir string) (gc.Disk, error)

	mu           sync.Mutex
	id           string
	tasks        map[updates.Key]*task
	updates      *updates.Manager
	streamID     string // non-empty while registered
	pingInterval time.Duration
	addr         string
	started      bool
	stopping     bool
	// fwCheckpoints is the last checkpointed info of each framework, so an
	// unchanged one is not written again.
	fwCheckpoints map[string][]byte
}

// New checks cfg, prepares WorkDir, reads a persisted agent id and detects
// resources. At least one containerizer is required; names must be unique.
func New(cfg Config, cs ...containerizer.Containerizer) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.UpdateRetryInterval == 0 {
		cfg.UpdateRetryInterval = DefaultUpdateRetryInterval
	}
	if cfg.DefaultKillGrace == 0 {
		cfg.DefaultKillGrace = DefaultKillGrace
	}
	if cfg.GCDelay == 0 {
		cfg.GCDelay = DefaultGCDelay
	}
	if cfg.GCDiskThreshold == 0 {
		cfg.GCDiskThreshold = DefaultGCDiskThreshold
	}
	if cfg.GCInterval == 0 {
		cfg.GCInterval = DefaultGCInterval
	}
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	if len(cs) == 0 {
		return nil, errors.New("agent: at least one containerizer is required")
	}
	czs := map[string]containerizer.Containerizer{}
	var names []string
	for i, c := range cs {
		if c == nil {
			return nil, fmt.Errorf("agent: containerizer %d is nil", i)
		}
		if _, dup := czs[c.Name()]; dup {
			return nil, fmt.Errorf("agent: containerizer %q is given twice", c.Name())
		}
		czs[c.Name()] = c
		names = append(names, c.Name())
	}
	wd, err := filepath.Abs(cfg.WorkDir)
	if err != nil {
		return nil, fmt.Errorf("agent: WorkDir %q: %w", cfg.WorkDir, err)
	}
	cfg.WorkDir = wd
	if err := os.MkdirAll(filepath.Join(wd, frameworksDir), 0o755); err != nil {
		return nil, fmt.Errorf("agent: WorkDir: %w", err)
	}
	id, err := readAgentID(wd)
	if err != nil {
		return nil, err
	}
	logf := cfg.Logf
	meta, err := checkpoint.OpenWith(filepath.Join(wd, metaDir), checkpoint.Options{
		OnError: func(err error) { logf("agent: %v", err) },
	})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	res := cfg.Resources
	if res.CPUs == 0 || res.Mem == 0 || res.Disk == 0 || len(res.Ports) == 0 {
		det, err := DetectResources(wd)
		if err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
		res = fillResources(res, det)
	}
	host, err := advertisedHostname(cfg.Hostname, cfg.Listen, os.Hostname)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	endpoint, _ := masterURL(cfg.Master) // checked by Validate
	var zkURL string
	if strings.HasPrefix(endpoint, "zk://") {
		zkURL, endpoint = endpoint, ""
	} else {
		endpoint += agentapi.Path
	}
	// One transport for the stream and the calls, so that credentials and
	// TLS settings given for the master apply to both.
	transport := cfg.Transport
	if transport == nil {
		transport = callTransport()
	}
	return &Agent{
		cfg:           cfg,
		endpoint:      endpoint,
		zkURL:         zkURL,
		hostname:      host,
		res:           res,
		czs:           czs,
		czNames:       names,
		stream:        &http.Client{Transport: transport},
		calls:         &http.Client{Timeout: callTimeout, Transport: transport},
		logf:          cfg.Logf,
		newUUID:       randomUUID,
		now:           time.Now,
		sendKick:      make(chan struct{}, 1),
		meta:          meta,
		detach:        make(chan struct{}),
		diskUsage:     diskUsage,
		id:            id,
		tasks:         map[updates.Key]*task{},
		updates:       updates.New(cfg.UpdateRetryInterval, MaxUpdateRetryInterval),
		pingInterval:  defaultPingInterval,
		fwCheckpoints: map[string][]byte{},
	}, nil
}

// Addr is the address the HTTP server listens on, once Run serves; "" before.
func (a *Agent) Addr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addr
}

// ID is the agent id the master gave, "" until the first registration.
func (a *Agent) ID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}

// Run recovers the tasks checkpointed under WorkDir, serves HTTP and keeps
// the agent registered until ctx ends. Then it returns nil, leaving the
// tasks running for the next Run to recover, or, with KillTasksOnExit,
// after killing every task and waiting for them. It is an error to call Run
// twice.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.started {
		a.mu.Unlock()
		return errors.New("agent: Run called twice")
	}
	a.started = true
	a.mu.Unlock()

	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("agent: listen: %w", err)
	}
	a.mu.Lock()
	a.addr = ln.Addr().String()
	a.mu.Unlock()
	if a.cfg.WrapListener != nil {
		ln = a.cfg.WrapListener(ln)
	}
	// Header and idle timeouts stop slowloris and parked connections.
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	a.logf("agent: serving on %s, master %s", ln.Addr(), a.masterEndpoint())
	defer func() {
		shCtx, shCancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer shCancel()
		_ = srv.Shutdown(shCtx)
	}()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Launches and health checks outlive the session that asked for them
	// but not Run.
	a.launchCtx = runCtx
	// Recovery comes first: the subscription reports the recovered tasks.
	if err := a.recoverTasks(runCtx); err != nil {
		a.stop()
		a.meta.Flush()
		return err
	}
	var loops sync.WaitGroup
	loops.Go(func() { a.connectLoop(runCtx) })
	loops.Go(func() { a.sendLoop(runCtx) })
	loops.Go(func() { a.gcLoop(runCtx) })

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("agent: http server: %w", err)
	}
	cancel()
	loops.Wait()
	a.stop()
	// The next Run (or process) reads what this one wrote.
	a.meta.Flush()
	return runErr
}

// stop ends the agent's hold on its tasks: it kills them and waits with
// KillTasksOnExit, else it stops watching them and leaves them running.
func (a *Agent) stop() {
	if a.cfg.KillTasksOnExit {
		a.killAll()
		a.taskGroup.Wait()
		return
	}
	a.mu.Lock()
	a.stopping = true
	n := 0
	for _, t := range a.tasks {
		if !mesos.IsTerminal(t.state) {
			n++
		}
	}
	a.mu.Unlock()
	close(a.detach)
	a.taskGroup.Wait()
	if n > 0 {
		a.logf("agent: stopped; %d task(s) keep running and will be recovered by the next start", n)
	}
}

// killAll kills every live task with its own grace; Run waits for them.
func (a *Agent) killAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopping = true
	for _, t := range a.tasks {
		a.killLocked(t, killGrace(nil, t.info.KillPolicy, a.cfg.DefaultKillGrace))
	}
}

func readAgentID(workDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(workDir, agentIDFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("agent: reading agent id: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// writeAgentID persists the id atomically and durably, so a crash never
// leaves half an id and a restart after a power loss finds the id its
// checkpointed tasks were launched under.
func writeAgentID(workDir, id string) error {
	p := filepath.Join(workDir, agentIDFile)
	tmp := p + ".tmp." + strconv.Itoa(os.Getpid())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("persist agent id: %w", err)
	}
	_, err = f.WriteString(id + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("persist agent id: %w", err)
	}
	if d, err := os.Open(workDir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
