// Package docker is the Docker containerizer: it runs a task whose
// ContainerInfo is of type DOCKER as a container of the local Docker Engine,
// with Mesos's docker containerizer semantics.
//
// Contract:
//   - The container is named agora-<ContainerID> and labelled with the
//     agent, framework, task and container ids (Label*) and the task's own
//     labels under "agora.label.", so a restarted agent finds its containers
//     (Orphans) and nothing else.
//   - Network BRIDGE (default), HOST or NONE; port mappings publish host
//     ports, which must be among the task's port resources, on
//     Config.HostIP. Of the docker run options (parameters) only env, init,
//     label, read-only, stop-signal, user and workdir are accepted.
//   - Safe by default: containers are privileged only with AllowPrivileged
//     and always run with the no-new-privileges security option. A
//     container runs as command.user (a user of the image, name or
//     uid[:gid]) when set, else as the image's default user: Docker's
//     isolation is the boundary, as in Mesos's Docker containerizer, so
//     the framework's user (a host user) is not applied inside images and
//     the agent's switch_user setting does not concern containers.
//   - The sandbox is bind-mounted at /mnt/mesos/sandbox, which is also the
//     working directory and MESOS_SANDBOX; volumes bind host paths
//     read-write or read-only. A relative host path is inside the sandbox
//     and must stay there; an absolute one must be one of
//     Config.AllowedHostPaths or under one (none by default). Both are
//     checked with their symlinks resolved, and the resolved path is what
//     is bound; a denied volume fails the launch naming
//     container.volumes[i].host_path and --docker_allowed_host_paths.
//   - A shell command runs as /bin/sh -c value in place of the image's
//     entrypoint; otherwise a value replaces the entrypoint and the
//     arguments are the command; no command runs the image's default.
//   - Memory is limited to the task's mem without swap; CPU gets 1024 shares
//     per CPU and a CFS quota of cpus * 100ms per 100ms. A container the
//     kernel killed for memory ends with Exit.OOM.
//   - A local image is used as it is (unless force_pull_image); otherwise it
//     is pulled within PullTimeout, and a launch never outlasts
//     LaunchTimeout.
//   - The container's stdout and stderr are appended to Sandbox/stdout and
//     Sandbox/stderr. When it ends, its exit code and OOM flag are read, its
//     output is copied to the end, and only then is it removed.
//   - Docker reports a process killed by signal N as exit status 128+N;
//     Exit.Code carries that status as Docker reports it, with the process
//     containerizer's message "Command exited with status N".
//   - Close leaves containers running; Recover adopts them in a new agent
//     process and resumes copying output just after the last message
//     copied, which the sandbox files' modification times record. (Output
//     can be lost or repeated across a restart only if two messages of one
//     stream share a nanosecond timestamp, or on a file system with coarse
//     modification times.)
//
// The daemon must run on the agent's host: sandboxes and volumes are bind
// mounts of host paths, and log positions are compared with host file times.
package docker

import (
	"agora/core/containerizer/docker/progress"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"agora/core/containerizer"
)

// Defaults of Config.
const (
	DefaultHostIP        = "0.0.0.0"
	DefaultLaunchTimeout = 5 * time.Minute
	DefaultPullTimeout   = 2 * time.Minute
)

// apiTimeout bounds one short daemon call made outside a launch (inspect,
// remove, list), so that a hung daemon cannot hold a task's end forever.
const apiTimeout = 30 * time.Second

// Config configures a Docker containerizer.
type Config struct {
	// Host is the daemon's address (unix:///var/run/docker.sock,
	// tcp://...). Empty means DOCKER_HOST or the default socket.
	Host string
	// HostIP is the address published ports bind to. Empty means
	// DefaultHostIP (all addresses).
	HostIP string
	// AllowPrivileged lets tasks ask for privileged containers.
	AllowPrivileged bool
	// AllowedHostPaths are the absolute host directories a task's volume
	// may bind: a volume's host_path must be one of them or under one,
	// after cleaning and resolving symlinks. Empty allows only host paths
	// relative to the sandbox (which stay inside it).
	AllowedHostPaths []string
	// LaunchTimeout bounds creating and starting a container, a pull
	// included. Zero means DefaultLaunchTimeout.
	LaunchTimeout time.Duration
	// PullTimeout bounds pulling an image. Zero means DefaultPullTimeout.
	PullTimeout time.Duration
	// AgentID labels containers when a Spec carries none.
	AgentID string
	// Logf receives operational messages. Nil discards them.
	Logf func(format string, args ...any)
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.LaunchTimeout < 0 {
		return fmt.Errorf("launch_timeout: %v is negative", c.LaunchTimeout)
	}
	if c.PullTimeout < 0 {
		return fmt.Errorf("pull_timeout: %v is negative", c.PullTimeout)
	}
	if c.HostIP != "" && net.ParseIP(c.HostIP) == nil {
		return fmt.Errorf("host_ip: %q is not an IP address", c.HostIP)
	}
	for i, p := range c.AllowedHostPaths {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("allowed_host_paths[%d]: %q is not an absolute path", i, p)
		}
	}
	return nil
}

// Containerizer runs tasks as Docker containers. It is safe for concurrent
// use.
type Containerizer struct {
	cfg  Config
	cli  *client.Client
	logf func(format string, args ...any)

	// ctx ends when Close detaches from the containers; watchers counts
	// the goroutines following them.
	ctx      context.Context
	cancel   context.CancelFunc
	watchers sync.WaitGroup
}

var (
	_ containerizer.Containerizer = (*Containerizer)(nil)
	_ containerizer.Recoverer     = (*Containerizer)(nil)
)

// New connects to the daemon and checks that it answers. When none does,
// the error says "no Docker daemon answers at ...", and the agent runs
// without the docker containerizer.
func New(ctx context.Context, cfg Config) (*Containerizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("docker containerizer: %w", err)
	}
	if cfg.LaunchTimeout == 0 {
		cfg.LaunchTimeout = DefaultLaunchTimeout
	}
	if cfg.PullTimeout == 0 {
		cfg.PullTimeout = DefaultPullTimeout
	}
	if cfg.HostIP == "" {
		cfg.HostIP = DefaultHostIP
	}
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if cfg.Host != "" {
		opts = append(opts, client.WithHost(cfg.Host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker containerizer: host %q: %w", cfg.Host, err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pingCtx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker containerizer: no Docker daemon answers at %s: %w", cli.DaemonHost(), err)
	}
	c := &Containerizer{cfg: cfg, cli: cli, logf: cfg.Logf}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	return c, nil
}

// Name is the containerizer's advertised name.
func (c *Containerizer) Name() string { return "docker" }

// Client is the Docker client the containerizer uses.
func (c *Containerizer) Client() *client.Client { return c.cli }

// Close stops following containers and releases the client, leaving the
// containers running, as an agent that stops without killing its tasks
// does: a later Recover adopts them and resumes copying their output where
// it stopped. Containers of this value never become Done after Close.
func (c *Containerizer) Close() error {
	c.cancel()
	c.watchers.Wait()
	return c.cli.Close()
}

// Launch creates and starts the task's container. An error means no
// container runs for it (one that was created is removed again).
func (c *Containerizer) Launch(ctx context.Context, spec containerizer.Spec) (containerizer.Container, error) {
	ctr, err := c.launch(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w", spec.ContainerID, err)
	}
	return ctr, nil
}

func (c *Containerizer) launch(ctx context.Context, spec containerizer.Spec) (*dockerContainer, error) {
	if c.ctx.Err() != nil {
		return nil, errors.New("docker containerizer is closed")
	}
	p, err := buildPlan(c.cfg, spec)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(spec.Sandbox); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("sandbox: %s is not a directory", spec.Sandbox)
	}
	// Before any directory is made: a link the task left in its sandbox
	// must not make the agent create directories elsewhere.
	if err := confineBinds(p, spec.Sandbox, c.cfg.AllowedHostPaths, resolveExisting); err != nil {
		return nil, err
	}
	for _, dir := range p.mkdirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("container.volumes: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LaunchTimeout)
	defer cancel()
	if err := c.ensureImage(ctx, p.image, p.forcePull); err != nil {
		return nil, err
	}
	sinks, err := openSinks(spec.Sandbox)
	if err != nil {
		return nil, err
	}
	created, err := c.cli.ContainerCreate(ctx, p.config, p.host, nil, nil, p.name)
	if err != nil {
		sinks.close()
		if cerrdefs.IsConflict(err) {
			return nil, fmt.Errorf("container %s already exists: %w", p.name, err)
		}
		// The daemon may have created it before the request was cut short
		// (timeout, cancelled launch): remove it by name.
		c.removeQuietly(p.name, spec.ContainerID)
		return nil, fmt.Errorf("create container: %w", err)
	}
	for _, w := range created.Warnings {
		c.logf("docker containerizer: %s: %s", spec.ContainerID, w)
	}
	if err := c.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		sinks.close()
		c.removeQuietly(created.ID, spec.ContainerID)
		return nil, fmt.Errorf("start container: %w", err)
	}
	info, err := c.cli.ContainerInspect(ctx, created.ID)
	if err != nil {
		// It runs: its pid is nice to have, not worth killing it for.
		c.logf("docker containerizer: %s: inspect after start: %v", spec.ContainerID, err)
	}
	pid := 0
	if info.State != nil {
		pid = info.State.Pid
	}
	ctr := newContainer(c, spec, created.ID, p.name, pid, sinks)
	c.watchers.Add(1)
	go ctr.run(time.Time{})
	return ctr, nil
}

// ensureImage makes image available locally: present and not to be
// force-pulled, or pulled within PullTimeout.
func (c *Containerizer) ensureImage(ctx context.Context, ref string, force bool) error {
	if !force {
		_, err := c.cli.ImageInspect(ctx, ref)
		if err == nil {
			return nil
		}
		if !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("container.docker.image: inspect %s: %w", ref, err)
		}
	}
	if err := c.pull(ctx, ref); err != nil {
		if force {
			return fmt.Errorf("container.docker.force_pull_image: image %s could not be pulled: %w", ref, err)
		}
		return fmt.Errorf("container.docker.image: image %s is not available locally and could not be pulled: %w", ref, err)
	}
	return nil
}

func (c *Containerizer) pull(ctx context.Context, ref string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.PullTimeout)
	defer cancel()
	rc, err := c.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	// The daemon reports a failed pull inside the progress stream.
	if err := progress.Error(rc); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("gave up after %v: %w", c.cfg.PullTimeout, err)
		}
		return err
	}
	return nil
}

// removeQuietly force-removes a container the caller no longer wants,
// logging rather than returning a failure.
func (c *Containerizer) removeQuietly(dockerID, containerID string) {
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	err := c.cli.ContainerRemove(ctx, dockerID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		c.logf("docker containerizer: %s: remove container: %v", containerID, err)
	}
}

// checkpoint is what Recover needs to find a container again.
type checkpoint struct {
	DockerID string `json:"docker_id"`
	Name     string `json:"name"`
}

// Checkpoint records the container's Docker id and name.
func (c *Containerizer) Checkpoint(ctr containerizer.Container) ([]byte, error) {
	dc, ok := ctr.(*dockerContainer)
	if !ok {
		return nil, fmt.Errorf("docker containerizer: checkpoint: %T is not a docker container", ctr)
	}
	return json.Marshal(checkpoint{DockerID: dc.dockerID, Name: dc.name})
}

// Recover adopts a container launched by an earlier agent process. A
// running container is watched again and its output copying resumes where
// it stopped; one that ended meanwhile comes back Done with its exit code
// (Killed is unknown after a restart and reported false).
func (c *Containerizer) Recover(ctx context.Context, spec containerizer.Spec, data []byte) (containerizer.Container, error) {
	ctr, err := c.recover(ctx, spec, data)
	if err != nil {
		return nil, fmt.Errorf("recover %s: %w", spec.ContainerID, err)
	}
	return ctr, nil
}

func (c *Containerizer) recover(ctx context.Context, spec containerizer.Spec, data []byte) (*dockerContainer, error) {
	if c.ctx.Err() != nil {
		return nil, errors.New("docker containerizer is closed")
	}
	var cp checkpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	ref := cp.DockerID
	if ref == "" {
		ref = cp.Name
	}
	if ref == "" {
		return nil, errors.New("checkpoint: names no container")
	}
	info, err := c.cli.ContainerInspect(ctx, ref)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("container %s no longer exists", ref)
		}
		return nil, fmt.Errorf("inspect container %s: %w", ref, err)
	}
	if got := info.Config.Labels[LabelContainerID]; got != spec.ContainerID {
		return nil, fmt.Errorf("container %s belongs to container id %q, not %q", ref, got, spec.ContainerID)
	}
	sinks, err := openSinks(spec.Sandbox)
	if err != nil {
		return nil, err
	}
	since, err := sinks.since()
	if err != nil {
		sinks.close()
		return nil, err
	}
	pid := 0
	if info.State != nil && info.State.Running {
		pid = info.State.Pid
	}
	ctr := newContainer(c, spec, info.ID, strings.TrimPrefix(info.Name, "/"), pid, sinks)
	c.watchers.Add(1)
	if info.State == nil || !isLive(info.State) {
		// Ended meanwhile: collect it now, so the caller gets it Done.
		ctr.run(since)
		if !isClosed(ctr.done) {
			return nil, errors.New("docker containerizer closed while collecting the container")
		}
		return ctr, nil
	}
	go ctr.run(since)
	return ctr, nil
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// isLive reports whether a container still runs or will run again by
// itself.
func isLive(s *container.State) bool {
	return s.Running || s.Paused || s.Restarting
}

// Destroy force-removes the container of containerID, running or not. A
// container that does not exist is not an error.
func (c *Containerizer) Destroy(ctx context.Context, containerID string) error {
	if err := validName(containerID); err != nil {
		return fmt.Errorf("destroy: container_id: %w", err)
	}
	err := c.cli.ContainerRemove(ctx, NamePrefix+containerID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("destroy %s: %w", containerID, err)
	}
	return nil
}

// Orphans lists the container ids of every container, running or not,
// labelled as launched by agentID.
func (c *Containerizer) Orphans(ctx context.Context, agentID string) ([]string, error) {
	if agentID == "" {
		return nil, errors.New("orphans: agent id is empty")
	}
	list, err := c.cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelAgentID+"="+agentID)),
	})
	if err != nil {
		return nil, fmt.Errorf("orphans: list containers: %w", err)
	}
	var ids []string
	for _, s := range list {
		if id := s.Labels[LabelContainerID]; id != "" {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
