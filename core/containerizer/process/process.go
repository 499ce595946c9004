// Package process is the process containerizer: it runs a task's command
// directly on the agent host, in its own process group, with the task's
// sandbox as working directory and its stdout/stderr appended to
// Sandbox/stdout and Sandbox/stderr.
//
// Where the host allows (root, cgroup v1 memory and cpu hierarchies, or
// cgroup v2 with the memory and cpu controllers) each task gets its own
// cgroup, <hierarchy>/<CgroupParent>/<ContainerID>, with a hard memory limit
// (no swap) and CPU shares plus a CFS quota derived from the task's
// resources. The task is inside its cgroup before its command runs, so it
// cannot outrun the limits. When the memory limit kills a process of the
// task, Exit.OOM is set.
//
// When cgroups are unavailable the containerizer still runs tasks, without
// limits, and says so through Isolation(); launches do not fail for it.
//
// Kill sends SIGTERM to the task's process group, then SIGKILL to the group
// and to every process in the task's cgroup after the grace period. When the
// task's main process exits, whatever it left behind in its process group or
// cgroup is killed and the cgroup is removed before Done is closed.
package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
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
	// Logf receives operational messages (cgroup trouble, cleanup
	// failures). Nil discards them.
	Logf func(format string, args ...any)
}

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
	return nil
}

// Containerizer runs tasks as host processes. It is safe for concurrent use.
type Containerizer struct {
	cgroups   *hierarchy // nil when tasks run without cgroups
	isolation string
	logf      func(format string, args ...any)
}

var _ containerizer.Containerizer = (*Containerizer)(nil)

// New detects the cgroup layout and creates Agora's parent cgroups. It fails
// only on an invalid Config: missing or unusable cgroups degrade to running
// without limits, which Isolation reports.
func New(cfg Config) (*Containerizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("process containerizer: %w", err)
	}
	c := &Containerizer{logf: cfg.Logf}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
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

	cmd := &exec.Cmd{
		Path:        path,
		Args:        argv,
		Env:         env,
		Dir:         spec.Sandbox,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	stdout, stderr, err := openOutputs(spec.Sandbox)
	if err != nil {
		return nil, err
	}
	// The child holds its own copies of the descriptors after Start.
	defer stdout.Close()
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if name := spec.Task.Command.User; name != "" {
		if err := runAs(cmd, name, spec.Sandbox, stdout, stderr); err != nil {
			return nil, fmt.Errorf("command.user: %w", err)
		}
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
	if err := cg.start(cmd); err != nil {
		if cg != nil {
			if rerr := cg.remove(); rerr != nil {
				c.logf("process containerizer: %s: %v", spec.ContainerID, rerr)
			}
		}
		return nil, fmt.Errorf("start %s: %w", describeCommand(spec.Task.Command), unwrapExecError(err))
	}
	ctr := newContainer(spec.ContainerID, cmd, cg, spec.Limits.Mem, c.logf)
	go ctr.run()
	return ctr, nil
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

// runAs makes cmd run as the named user and hands the sandbox and output
// files to that user, as Mesos does when it switches users, so the task can
// write in its working directory.
func runAs(cmd *exec.Cmd, name, sandbox string, files ...*os.File) error {
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return fmt.Errorf("user %s: gid %q: %w", name, u.Gid, err)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(g))
			}
		}
	}
	if int(uid) != os.Getuid() {
		if err := os.Chown(sandbox, int(uid), int(gid)); err != nil {
			return fmt.Errorf("user %s: %w", name, err)
		}
		for _, f := range files {
			if err := f.Chown(int(uid), int(gid)); err != nil {
				return fmt.Errorf("user %s: %w", name, err)
			}
		}
	}
	cmd.SysProcAttr.Credential = cred
	return nil
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
