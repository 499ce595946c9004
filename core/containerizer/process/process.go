// Package process is the process containerizer: it runs a task's command
// directly on the agent host, in its own process group, with the task's
// sandbox as working directory and its stdout/stderr appended to
// Sandbox/stdout and Sandbox/stderr.
//
// Tasks outlive the agent. Each task runs under a shim: the agent's own
// binary re-executed with ShimSubcommand (see ShimMain; the package's init
// runs it in any program that links the package), started in its own
// session and outside the task's cgroup, which starts the task, waits for
// it, and records how it ended in the container's runtime directory,
// RuntimeDir/<ContainerID>/. A restarted agent finds the task again with
// Recover, from the Checkpoint bytes it stored: the shim's and the task's
// pids with their start times (so a reused pid is never mistaken for them)
// and the boot id. Runtime directories stay until Destroy, so an outcome is
// never lost between the task's end and the agent's record of it.
//
// Where the host allows (root, cgroup v1 memory and cpu hierarchies, or
// cgroup v2 with the memory and cpu controllers) each task gets its own
// cgroup, <hierarchy>/<CgroupParent>/<ContainerID>, with a hard memory limit
// (no swap) and CPU shares plus a CFS quota derived from the task's
// resources. The task is inside its cgroup before its command runs, so it
// cannot outrun the limits. When the memory limit kills a process of the
// task, Exit.OOM is set.
//
// A task runs as Spec.User, which the agent sets to the task's user when
// it switches users (Mesos's --switch_user). As root the containerizer
// switches to that user and hands it the sandbox; a user unknown to the
// host fails the launch, naming the user. An agent that is not root runs
// tasks of its own user only, and fails the launch of any other, saying
// how to fix it. An empty Spec.User runs the task as the agent's user.
//
// Containers implement containerizer.Execer: a command runs with the task's
// environment, user and working directory, inside its cgroup.
//
// When cgroups are unavailable the containerizer still runs tasks, without
// limits, and says so through Isolation(); launches do not fail for it.
//
// Kill sends SIGTERM to the task's process group, then SIGKILL to the group
// and to every process in the task's cgroup after the grace period (the shim
// does the signalling, so a kill in progress survives an agent restart).
// When the task's main process exits, whatever it left behind in its process
// group or cgroup is killed and the cgroup is removed before Done is closed.
package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"agora/core/containerizer"
)

// Config configures a process containerizer.
type Config struct {
	// CgroupRoot is where the cgroup hierarchies are mounted. Empty means
	// /sys/fs/cgroup. It is cgroup v2 if CgroupRoot/cgroup.controllers
	// exists, else v1 with hierarchies CgroupRoot/memory and CgroupRoot/cpu
	// (a v2 "unified" mount without controllers beside them is ignored).
	CgroupRoot string
	// CgroupParent is the cgroup Agora creates under each hierarchy's root
	// to hold task cgroups. Empty means "agora".
	CgroupParent string
	// DisableCgroups runs tasks without cgroups or limits.
	DisableCgroups bool
	// RuntimeDir holds one directory per container with what recovery
	// needs (see the package doc). Empty means DefaultRuntimeDir when
	// running as root, else <os.TempDir()>/agora-<uid>/process. Agents
	// sharing a host should each have their own.
	RuntimeDir string
	// ShimCommand starts a shim; the runtime directory is appended. Empty
	// means [os.Executable(), ShimSubcommand], which works in any program
	// that links this package (see ShimMain). Another program must call
	// ShimMain with the arguments after ShimSubcommand.
	ShimCommand []string
	// Logf receives operational messages (cgroup trouble, cleanup
	// failures). Nil discards them.
	Logf func(format string, args ...any)
}

// DefaultRuntimeDir is where root's containers keep their runtime files: on
// tmpfs, as a reboot ends every task.
const DefaultRuntimeDir = "/run/agora/process"

// DefaultCgroupRoot is where Linux distributions mount cgroups.
const DefaultCgroupRoot = "/sys/fs/cgroup"

// DefaultCgroupParent names Agora's parent cgroup.
const DefaultCgroupParent = "agora"

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.CgroupParent != "" {
		if err := validName(c.CgroupParent); err != nil {
			return fmt.Errorf("cgroup_parent: %w", err)
		}
	}
	if c.CgroupRoot != "" && !filepath.IsAbs(c.CgroupRoot) {
		return fmt.Errorf("cgroup_root: %q is not an absolute path", c.CgroupRoot)
	}
	if c.RuntimeDir != "" && !filepath.IsAbs(c.RuntimeDir) {
		return fmt.Errorf("runtime_dir: %q is not an absolute path", c.RuntimeDir)
	}
	if len(c.ShimCommand) > 0 && c.ShimCommand[0] == "" {
		return errors.New("shim_command: empty program")
	}
	return nil
}

// Containerizer runs tasks as host processes. It is safe for concurrent use.
type Containerizer struct {
	cgroups    *hierarchy // nil when tasks run without cgroups
	isolation  string
	runtimeDir string
	shim       []string
	bootID     string
	logf       func(format string, args ...any)
}

var (
	_ containerizer.Containerizer = (*Containerizer)(nil)
	_ containerizer.Recoverer     = (*Containerizer)(nil)
)

// New detects the cgroup layout and creates Agora's parent cgroups. It fails
// only on an invalid Config: missing or unusable cgroups degrade to running
// without limits, which Isolation reports.
func New(cfg Config) (*Containerizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("process containerizer: %w", err)
	}
	c := &Containerizer{logf: cfg.Logf, runtimeDir: cfg.RuntimeDir, shim: cfg.ShimCommand, bootID: readBootID()}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	if c.runtimeDir == "" {
		c.runtimeDir = DefaultRuntimeDir
		if uid := os.Geteuid(); uid != 0 {
			c.runtimeDir = filepath.Join(os.TempDir(), fmt.Sprintf("agora-%d", uid), "process")
		}
	}
	if len(c.shim) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("process containerizer: shim_command: cannot find this program: %w", err)
		}
		c.shim = []string{exe, ShimSubcommand}
	}
	if cfg.DisableCgroups {
		c.isolation = "none (cgroups disabled by configuration)"
		return c, nil
	}
	root, parent := cfg.CgroupRoot, cfg.CgroupParent
	if root == "" {
		root = DefaultCgroupRoot
	}
	if parent == "" {
		parent = DefaultCgroupParent
	}
	h, err := setupHierarchy(root, parent)
	if err != nil {
		c.isolation = fmt.Sprintf("none (%v)", err)
		c.logf("process containerizer: tasks run without resource limits: %v", err)
		return c, nil
	}
	c.cgroups = h
	c.isolation = fmt.Sprintf("cgroups-v%d", h.version)
	return c, nil
}

// Name is the containerizer's advertised name.
func (c *Containerizer) Name() string { return "process" }

// RuntimeDir is where the containers' runtime directories are.
func (c *Containerizer) RuntimeDir() string { return c.runtimeDir }

// Isolation says how tasks are isolated: "cgroups-v1", "cgroups-v2", or
// "none (reason)".
func (c *Containerizer) Isolation() string { return c.isolation }

// Launch starts spec's command. An error means no process was started.
func (c *Containerizer) Launch(ctx context.Context, spec containerizer.Spec) (containerizer.Container, error) {
	ctr, err := c.launch(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w", spec.ContainerID, err)
	}
	return ctr, nil
}

func (c *Containerizer) launch(ctx context.Context, spec containerizer.Spec) (*container, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validName(spec.ContainerID); err != nil {
		return nil, fmt.Errorf("container_id: %w", err)
	}
	if fi, err := os.Stat(spec.Sandbox); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("sandbox: %s is not a directory", spec.Sandbox)
	}
	env, err := environ(spec.Sandbox, spec.Env, spec.Task.Command)
	if err != nil {
		return nil, err
	}
	path, argv, err := commandLine(spec.Task.Command)
	if err != nil {
		return nil, err
	}
	if !containsSlash(path) {
		// Resolve with the task's PATH, not the agent's, as execvp in the
		// task would.
		if path, err = lookPath(path, envValue(env, "PATH")); err != nil {
			return nil, fmt.Errorf("command.value: %w", err)
		}
	}

	stdout, stderr, err := openOutputs(spec.Sandbox)
	if err != nil {
		return nil, err
	}
	// The shim holds its own copies of the descriptors after Start.
	defer stdout.Close()
	defer stderr.Close()
	rec := launchRecord{
		ContainerID: spec.ContainerID,
		AgentID:     spec.AgentID,
		Path:        path,
		Argv:        argv,
		Env:         env,
		Dir:         spec.Sandbox,
		LimitMB:     spec.Limits.Mem,
	}
	if spec.User != "" {
		cred, err := runAs(spec.User, os.Geteuid(), spec.Sandbox, stdout, stderr)
		if err != nil {
			return nil, err
		}
		rec.Cred = credOf(cred)
	}

	dir := filepath.Join(c.runtimeDir, spec.ContainerID)
	if err := os.MkdirAll(c.runtimeDir, 0o755); err != nil {
		return nil, fmt.Errorf("runtime dir: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		// An existing directory may belong to a live task: never reuse it.
		return nil, fmt.Errorf("runtime dir: %w", err)
	}
	var cg *taskCgroup
	if c.cgroups != nil {
		cg, err = c.cgroups.create(spec.ContainerID, spec.Limits)
		if err != nil {
			// Running unlimited beats not running: the agent was told at
			// start-up that isolation may be missing, and this is logged.
			c.logf("process containerizer: %s runs without resource limits: %v", spec.ContainerID, err)
			cg = nil
		}
	}
	rec.Cgroup = cg.record()
	ctr, err := c.startShim(dir, rec, stdout, stderr)
	if err != nil {
		if cg != nil {
			if rerr := cg.remove(); rerr != nil {
				c.logf("process containerizer: %s: %v", spec.ContainerID, rerr)
			}
		}
		if rerr := removeRuntimeDir(dir); rerr != nil {
			c.logf("process containerizer: %s: %v", spec.ContainerID, rerr)
		}
		if errors.Is(err, errTaskStart) {
			return nil, fmt.Errorf("start %s: %w", describeCommand(spec.Task.Command), err)
		}
		return nil, err
	}
	go ctr.watch()
	return ctr, nil
}

// errTaskStart marks a shim's report that the task's command did not start.
var errTaskStart = errors.New("")

// taskStartError is the shim's message, marked with errTaskStart.
type taskStartError string

func (e taskStartError) Error() string        { return string(e) }
func (e taskStartError) Is(target error) bool { return target == errTaskStart }

// startShim writes launch.json, starts the shim in its own session and
// waits for its report that the task started.
func (c *Containerizer) startShim(dir string, rec launchRecord, stdout, stderr *os.File) (*container, error) {
	if err := writeJSON(filepath.Join(dir, launchFile), rec); err != nil {
		return nil, fmt.Errorf("runtime dir: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(dir, shimLogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("runtime dir: %w", err)
	}
	defer logFile.Close()
	reportR, reportW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("shim: %w", err)
	}
	defer reportR.Close()
	cmd := &exec.Cmd{
		Path: c.shim[0],
		Args: append(append([]string(nil), c.shim...), dir),
		Env:  append(os.Environ(), shimEnv+"=1"),
		Dir:  "/",
		// Not the agent's stdout: a pipe held open by a shim would keep
		// whoever reads the agent's output waiting after the agent is gone.
		Stdout:     logFile,
		Stderr:     logFile,
		ExtraFiles: []*os.File{reportW, stdout, stderr}, // fds 3, 4, 5
		// Its own session: Ctrl-C or a hangup aimed at the agent's terminal
		// must not reach the shim or the task.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	reportW.Close()
	if err != nil {
		return nil, fmt.Errorf("start shim %s: %w", c.shim[0], unwrapExecError(err))
	}
	shim, err := openChild(cmd.Process.Pid)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("shim: %w", err)
	}
	if err := writeJSON(filepath.Join(dir, shimFile), shim.proc); err != nil {
		c.logf("process containerizer: %s: record shim pid: %v", rec.ContainerID, err)
	}
	var rep shimReport
	if err := json.NewDecoder(reportR).Decode(&rep); err != nil {
		_ = cmd.Wait()
		shim.close()
		return nil, fmt.Errorf("shim %s exited without starting the task (%s): %s", c.shim[0], cmd.ProcessState, tail(filepath.Join(dir, shimLogFile), 512))
	}
	if rep.Error != "" {
		_ = cmd.Wait()
		shim.close()
		return nil, taskStartError(rep.Error)
	}
	return &container{
		id:      rec.ContainerID,
		dir:     dir,
		rec:     rec,
		task:    rep.Task,
		shim:    shim,
		shimCmd: cmd,
		logf:    c.logf,
		done:    make(chan struct{}),
	}, nil
}

// tail returns the last n bytes of file, for error messages.
func tail(file string, n int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// openOutputs opens Sandbox/stdout and Sandbox/stderr for appending, so that
// a relaunch in the same sandbox keeps earlier output.
func openOutputs(sandbox string) (stdout, stderr *os.File, err error) {
	open := func(name string) (*os.File, error) {
		f, err := os.OpenFile(filepath.Join(sandbox, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("sandbox %s: %w", name, err)
		}
		return f, nil
	}
	if stdout, err = open("stdout"); err != nil {
		return nil, nil, err
	}
	if stderr, err = open("stderr"); err != nil {
		stdout.Close()
		return nil, nil, err
	}
	return stdout, stderr, nil
}

// runAs returns the credential to run a task as the named user, nil when
// that is the agent's own user. As root it hands the sandbox and output
// files to the user, as Mesos does when it switches users, so the task can
// write in its working directory (root still reads them). Any other agent
// user cannot switch and refuses, as Mesos does.
func runAs(name string, euid int, sandbox string, files ...*os.File) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return nil, fmt.Errorf("user %q (command.user, else the framework's user) does not exist on this host: create it, or run the task as a user that exists here", name)
		}
		return nil, fmt.Errorf("user %q: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q: gid %q: %w", name, u.Gid, err)
	}
	if int(uid) == euid {
		return nil, nil
	}
	if euid != 0 {
		self := strconv.Itoa(euid)
		if me, err := user.LookupId(self); err == nil {
			self = me.Username
		}
		return nil, fmt.Errorf("the task's user is %q but the agent runs as %q and only root can switch users: run the agent as root, run the task as %q, or start the agent with --switch_user=false", name, self, self)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(g))
			}
		}
	}
	if err := searchable(filepath.Dir(sandbox), cred); err != nil {
		return nil, fmt.Errorf("user %q cannot reach its sandbox %s: %w; make the agent's work directory and its parents searchable by other users (chmod o+x)", name, sandbox, err)
	}
	if err := os.Chown(sandbox, int(uid), int(gid)); err != nil {
		return nil, fmt.Errorf("user %q: sandbox: %w", name, err)
	}
	for _, f := range files {
		if err := f.Chown(int(uid), int(gid)); err != nil {
			return nil, fmt.Errorf("user %q: %w", name, err)
		}
	}
	return cred, nil
}

// searchable checks that cred may traverse dir and each of its parents,
// which the task needs to enter its sandbox: the kernel would only say
// "permission denied" about the program it failed to start.
func searchable(dir string, cred *syscall.Credential) error {
	for d := dir; ; d = filepath.Dir(d) {
		var st syscall.Stat_t
		if err := syscall.Stat(d, &st); err != nil {
			return fmt.Errorf("directory %s: %w", d, err)
		}
		if !canSearch(st.Mode, st.Uid, st.Gid, cred) {
			return fmt.Errorf("directory %s (mode %04o, owner uid %d gid %d) is not searchable by it", d, st.Mode&0o7777, st.Uid, st.Gid)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// canSearch applies the kernel's permission check for execute (search) on
// a directory: the owner's bit, else the group's, else others'.
func canSearch(mode, uid, gid uint32, cred *syscall.Credential) bool {
	switch {
	case cred.Uid == uid:
		return mode&0o100 != 0
	case cred.Gid == gid || slices.Contains(cred.Groups, gid):
		return mode&0o010 != 0
	}
	return mode&0o001 != 0
}

// unwrapExecError drops os/exec's "fork/exec" prefix wrapper but keeps the
// path and cause, which is what a user needs to see.
func unwrapExecError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}
