package docker

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-connections/nat"

	"agora/core/containerizer"
	"agora/core/mesos"
	"agora/core/resources"
)

// SandboxPath is where a task's sandbox is mounted inside its container, as
// in Mesos; MESOS_SANDBOX points there.
const SandboxPath = "/mnt/mesos/sandbox"

// Labels every container carries, so that a restarted agent can find its
// own containers and tell them apart.
const (
	LabelAgentID     = "agora.agent_id"
	LabelFrameworkID = "agora.framework_id"
	LabelTaskID      = "agora.task_id"
	LabelContainerID = "agora.container_id"
	// LabelTaskPrefix prefixes the task's own labels.
	LabelTaskPrefix = "agora.label."
)

// NamePrefix prefixes the Docker name of every container: agora-<ContainerID>.
const NamePrefix = "agora-"

// cfsPeriod is the CFS period CPU quotas are expressed in, in microseconds.
const cfsPeriod = 100000

// minCFSQuota is the smallest quota the kernel accepts, in microseconds.
const minCFSQuota = 1000

// plan is everything ContainerCreate needs, computed from a Spec without I/O.
type plan struct {
	name      string
	image     string
	forcePull bool
	config    *container.Config
	host      *container.HostConfig
	// mkdirs are sandbox subdirectories that relative volume host paths
	// name; they are created before the container so that the mounts do
	// not fail and are owned like the sandbox.
	mkdirs []string
	// binds are the task's volumes, which confineBinds checks against the
	// sandbox and the allowed host paths once symlinks are resolved.
	binds []bind
}

// bind is one task volume among host.Mounts.
type bind struct {
	mount    int    // index in host.Mounts
	field    string // container.volumes[i]
	relative bool   // inside the sandbox
	mkdir    int    // index in mkdirs, -1 if none
}

// buildPlan translates a task into a Docker container: image, network and
// published ports, volumes, command, environment, limits and labels. It
// refuses what it cannot honour with an error naming the field.
func buildPlan(cfg Config, spec containerizer.Spec) (*plan, error) {
	if err := validName(spec.ContainerID); err != nil {
		return nil, fmt.Errorf("container_id: %w", err)
	}
	if !filepath.IsAbs(spec.Sandbox) {
		return nil, fmt.Errorf("sandbox: %q is not an absolute path", spec.Sandbox)
	}
	ci := spec.Task.Container
	if ci == nil || ci.Docker == nil {
		return nil, errors.New("container.docker: missing (a Docker task needs container.docker.image)")
	}
	if ci.Type != "" && ci.Type != "DOCKER" {
		return nil, fmt.Errorf("container.type: %q is not DOCKER", ci.Type)
	}
	di := ci.Docker
	if strings.TrimSpace(di.Image) == "" {
		return nil, errors.New("container.docker.image: empty")
	}
	if di.Privileged && !cfg.AllowPrivileged {
		return nil, errors.New("container.docker.privileged: privileged containers are not allowed on this agent")
	}

	p := &plan{
		name:      NamePrefix + spec.ContainerID,
		image:     di.Image,
		forcePull: di.ForcePullImage,
		config: &container.Config{
			Image:      di.Image,
			Hostname:   ci.Hostname,
			WorkingDir: SandboxPath,
			Labels:     labels(cfg, spec),
		},
		host: &container.HostConfig{
			Privileged: di.Privileged,
			// No process of the task gains privileges through setuid
			// binaries or file capabilities.
			SecurityOpt: []string{"no-new-privileges"},
			// Logs are copied into the sandbox from the daemon's own log,
			// which must be readable (json-file is) and must not grow
			// without bound for a long-running task.
			LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "20m", "max-file": "3"}},
		},
	}

	if err := setNetwork(p, cfg, di, spec.Limits.Ports); err != nil {
		return nil, err
	}
	if ci.Hostname != "" && p.host.NetworkMode.IsHost() {
		return nil, errors.New("container.hostname: cannot be set with network HOST")
	}
	if err := setMounts(p, spec.Sandbox, ci.Volumes); err != nil {
		return nil, err
	}
	if err := setCommand(p.config, spec.Task.Command); err != nil {
		return nil, err
	}
	env, err := environ(spec.Env, spec.Task.Command)
	if err != nil {
		return nil, err
	}
	if cmd := spec.Task.Command; cmd != nil && cmd.User != "" {
		// A user of the image (name or uid[:gid]); unset, the image's own.
		p.config.User = cmd.User
	}
	if err := setParameters(p, env, di.Parameters); err != nil {
		return nil, err
	}
	p.config.Env = env.List()
	setLimits(p.host, spec.Limits)
	return p, nil
}

// labels marks the container as Agora's, names its task, and carries the
// task's own labels under LabelTaskPrefix.
func labels(cfg Config, spec containerizer.Spec) map[string]string {
	agentID := spec.AgentID
	if agentID == "" {
		agentID = cfg.AgentID
	}
	l := map[string]string{
		LabelAgentID:     agentID,
		LabelFrameworkID: spec.FrameworkID,
		LabelTaskID:      spec.Task.TaskID.Value,
		LabelContainerID: spec.ContainerID,
	}
	if spec.Task.Labels != nil {
		for _, kv := range spec.Task.Labels.Labels {
			l[LabelTaskPrefix+kv.Key] = kv.Value
		}
	}
	return l
}

// setNetwork chooses the network mode and publishes port mappings on
// cfg.HostIP. A host port must be one of the task's port resources: the
// agent hands out ports, and publishing another could collide with a
// different task.
func setNetwork(p *plan, cfg Config, di *mesos.DockerInfo, ports resources.Ranges) error {
	switch strings.ToUpper(di.Network) {
	case "", "BRIDGE":
		p.host.NetworkMode = network("bridge")
	case "HOST":
		p.host.NetworkMode = network("host")
	case "NONE":
		p.host.NetworkMode = network("none")
	case "USER":
		return errors.New("container.docker.network: USER networks are not supported by the docker containerizer; use BRIDGE, HOST or NONE")
	default:
		return fmt.Errorf("container.docker.network: %q is unknown; use BRIDGE, HOST or NONE", di.Network)
	}
	if len(di.PortMappings) == 0 {
		return nil
	}
	if !p.host.NetworkMode.IsBridge() {
		return fmt.Errorf("container.docker.port_mappings: port mappings need network BRIDGE, not %s", strings.ToUpper(di.Network))
	}
	hostIP := cfg.HostIP
	if hostIP == "" {
		hostIP = DefaultHostIP
	}
	p.config.ExposedPorts = nat.PortSet{}
	p.host.PortBindings = nat.PortMap{}
	for i, pm := range di.PortMappings {
		field := fmt.Sprintf("container.docker.port_mappings[%d]", i)
		proto := strings.ToLower(pm.Protocol)
		switch proto {
		case "":
			proto = "tcp"
		case "tcp", "udp":
		default:
			return fmt.Errorf("%s.protocol: %q is not tcp or udp", field, pm.Protocol)
		}
		if pm.ContainerPort == 0 || pm.ContainerPort > 65535 {
			return fmt.Errorf("%s.container_port: %d is not a port number", field, pm.ContainerPort)
		}
		if pm.HostPort == 0 || pm.HostPort > 65535 {
			return fmt.Errorf("%s.host_port: %d is not a port number", field, pm.HostPort)
		}
		if !ports.Contains(resources.Ranges{{Begin: uint64(pm.HostPort), End: uint64(pm.HostPort)}}) {
			return fmt.Errorf("%s.host_port: port %d is not among the task's port resources %s", field, pm.HostPort, ports)
		}
		port := nat.Port(fmt.Sprintf("%d/%s", pm.ContainerPort, proto))
		p.config.ExposedPorts[port] = struct{}{}
		p.host.PortBindings[port] = append(p.host.PortBindings[port],
			nat.PortBinding{HostIP: hostIP, HostPort: strconv.FormatUint(uint64(pm.HostPort), 10)})
	}
	return nil
}

func network(mode string) container.NetworkMode { return container.NetworkMode(mode) }

// setMounts mounts the sandbox at SandboxPath and binds the task's volumes.
// A relative host path is inside the sandbox and may not leave it.
func setMounts(p *plan, sandbox string, vols []mesos.Volume) error {
	p.host.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: sandbox, Target: SandboxPath}}
	targets := map[string]bool{SandboxPath: true}
	for i, v := range vols {
		field := fmt.Sprintf("container.volumes[%d]", i)
		if !path.IsAbs(v.ContainerPath) {
			return fmt.Errorf("%s.container_path: %q is not an absolute path", field, v.ContainerPath)
		}
		target := path.Clean(v.ContainerPath)
		if targets[target] {
			return fmt.Errorf("%s.container_path: %s is mounted twice", field, target)
		}
		targets[target] = true
		var ro bool
		switch strings.ToUpper(v.Mode) {
		case "", "RW":
		case "RO":
			ro = true
		default:
			return fmt.Errorf("%s.mode: %q is not RO or RW", field, v.Mode)
		}
		if v.HostPath == "" {
			return fmt.Errorf("%s.host_path: empty (Docker volumes without a host path are not supported)", field)
		}
		src := v.HostPath
		b := bind{mount: len(p.host.Mounts), field: field, mkdir: -1}
		if !filepath.IsAbs(src) {
			rel := filepath.Clean(src)
			if rel == ".." || strings.HasPrefix(rel, "../") {
				return fmt.Errorf("%s.host_path: relative path %q leaves the sandbox", field, v.HostPath)
			}
			src = filepath.Join(sandbox, rel)
			b.relative, b.mkdir = true, len(p.mkdirs)
			p.mkdirs = append(p.mkdirs, src)
		}
		p.binds = append(p.binds, b)
		p.host.Mounts = append(p.host.Mounts, mount.Mount{Type: mount.TypeBind, Source: filepath.Clean(src), Target: target, ReadOnly: ro})
	}
	return nil
}

// AllowedHostPathsFlag is the agent flag that fills Config.AllowedHostPaths;
// denials name it so an operator knows what to change.
const AllowedHostPathsFlag = "--docker_allowed_host_paths"

// confineBinds checks each volume's host path once resolve (symlinks of
// its existing part resolved, see resolveExisting) has said where it
// really leads: a relative one must stay inside the sandbox, an absolute
// one must be an allowed host path or under one. The mounts and the
// directories to create are rewritten to the resolved paths, so Docker
// binds what was checked rather than following the links again.
func confineBinds(p *plan, sandbox string, allowed []string, resolve func(string) (string, error)) error {
	realSandbox, err := resolve(sandbox)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	for _, b := range p.binds {
		m := &p.host.Mounts[b.mount]
		real, err := resolve(m.Source)
		if err != nil {
			return fmt.Errorf("%s.host_path: %w", b.field, err)
		}
		if b.relative {
			if !under(real, realSandbox) {
				return fmt.Errorf("%s.host_path: %s leads out of the sandbox (to %s)", b.field, m.Source, real)
			}
		} else if !allowedPath(real, allowed, resolve) {
			what := "this agent allows no host paths, only paths relative to the sandbox"
			if len(allowed) > 0 {
				what = fmt.Sprintf("it is not under an allowed host path %q", allowed)
			}
			shown := m.Source
			if real != m.Source {
				shown = fmt.Sprintf("%s (really %s)", m.Source, real)
			}
			return fmt.Errorf("%s.host_path: binding %s is not allowed: %s; add it to %s to allow it", b.field, shown, what, AllowedHostPathsFlag)
		}
		m.Source = real
		if b.mkdir >= 0 {
			p.mkdirs[b.mkdir] = real
		}
	}
	return nil
}

// allowedPath reports whether real is one of the allowed directories or
// under one, each allowed directory's own symlinks resolved.
func allowedPath(real string, allowed []string, resolve func(string) (string, error)) bool {
	for _, a := range allowed {
		ra, err := resolve(a)
		if err == nil && under(real, ra) {
			return true
		}
	}
	return false
}

// under reports whether p is dir or inside it; both are clean.
func under(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// resolveExisting cleans an absolute path and resolves the symlinks of
// its longest existing prefix; the rest, which does not exist, cannot
// hold links. A link to a missing target is an error: where it would lead
// once created is not known.
func resolveExisting(p string) (string, error) {
	p = filepath.Clean(p)
	rest := ""
	for d := p; ; d = filepath.Dir(d) {
		_, err := os.Lstat(d)
		if err == nil {
			real, err := filepath.EvalSymlinks(d)
			if err != nil {
				return "", fmt.Errorf("%s holds a link to a missing path: %w", d, err)
			}
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) || d == filepath.Dir(d) {
			return "", err
		}
		rest = filepath.Join(filepath.Base(d), rest)
	}
}

// setCommand applies the task's command as Mesos does: a shell command
// replaces the image's entrypoint with /bin/sh -c; otherwise a value
// replaces the entrypoint and the arguments are the command; no command
// (or an empty shell command) runs the image's default.
func setCommand(c *container.Config, cmd *mesos.CommandInfo) error {
	if cmd == nil {
		return nil
	}
	if cmd.IsShell() {
		if strings.TrimSpace(cmd.Value) == "" {
			if len(cmd.Arguments) > 0 {
				return errors.New("command.arguments: given with an empty shell command; set shell to false to pass arguments to the image's entrypoint")
			}
			return nil
		}
		c.Entrypoint = []string{"/bin/sh", "-c"}
		c.Cmd = []string{cmd.Value}
		return nil
	}
	if cmd.Value != "" {
		c.Entrypoint = []string{cmd.Value}
		// An empty cmd would let the image's CMD leak in as arguments to
		// a different program.
		c.Cmd = append([]string{}, cmd.Arguments...)
		return nil
	}
	if len(cmd.Arguments) > 0 {
		c.Cmd = append([]string(nil), cmd.Arguments...)
	}
	return nil
}

// environ builds the container's environment: the agent's Env with the
// sandbox variables pointing at SandboxPath (the host path means nothing
// inside the container), then the command's variables. A later definition
// of a name replaces an earlier one.
func environ(specEnv []string, cmd *mesos.CommandInfo) (*containerizer.Env, error) {
	env := &containerizer.Env{}
	for i, kv := range specEnv {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("env[%d]: %q is not NAME=value", i, kv)
		}
		if name == "MESOS_SANDBOX" || name == "MESOS_DIRECTORY" {
			value = SandboxPath
		}
		env.Set(name, value)
	}
	env.Set("MESOS_SANDBOX", SandboxPath)
	if err := env.SetCommand(cmd, "docker"); err != nil {
		return nil, err
	}
	return env, nil
}

// supportedParameters are the docker run options a task may pass, as
// `docker run --KEY VALUE`. Others (devices, capabilities, pid/ipc
// namespaces, security options...) could break out of the sandbox or the
// agent's resource accounting, so they are refused rather than passed
// through.
const supportedParameters = "env, init, label, read-only, stop-signal, user, workdir"

// setParameters applies the supported docker run options.
func setParameters(p *plan, env *containerizer.Env, params []mesos.Parameter) error {
	for i, prm := range params {
		field := fmt.Sprintf("container.docker.parameters[%d] (%s)", i, prm.Key)
		key := strings.TrimLeft(prm.Key, "-")
		switch key {
		case "env", "e":
			name, _, ok := strings.Cut(prm.Value, "=")
			if !ok || name == "" {
				return fmt.Errorf("%s: %q is not NAME=value", field, prm.Value)
			}
			_, v, _ := strings.Cut(prm.Value, "=")
			env.Set(name, v)
		case "label", "l":
			k, v, _ := strings.Cut(prm.Value, "=")
			if k == "" {
				return fmt.Errorf("%s: %q is not key=value", field, prm.Value)
			}
			if strings.HasPrefix(k, "agora.") {
				return fmt.Errorf("%s: label %q is reserved for Agora", field, k)
			}
			p.config.Labels[k] = v
		case "user", "u":
			if prm.Value == "" {
				return fmt.Errorf("%s: empty", field)
			}
			p.config.User = prm.Value
		case "workdir", "w":
			if !path.IsAbs(prm.Value) {
				return fmt.Errorf("%s: %q is not an absolute path", field, prm.Value)
			}
			p.config.WorkingDir = prm.Value
		case "init":
			b, err := strconv.ParseBool(prm.Value)
			if err != nil {
				return fmt.Errorf("%s: %q is not true or false", field, prm.Value)
			}
			p.host.Init = &b
		case "stop-signal":
			if prm.Value == "" {
				return fmt.Errorf("%s: empty", field)
			}
			p.config.StopSignal = prm.Value
		case "read-only":
			b, err := strconv.ParseBool(prm.Value)
			if err != nil {
				return fmt.Errorf("%s: %q is not true or false", field, prm.Value)
			}
			p.host.ReadonlyRootfs = b
		default:
			return fmt.Errorf("%s: parameter %q is not supported (supported: %s)", field, prm.Key, supportedParameters)
		}
	}
	return nil
}

// setLimits turns the task's resources into cgroup limits: memory without
// swap, CPU shares of 1024 per CPU and a CFS quota of cpus periods.
func setLimits(h *container.HostConfig, r resources.Resources) {
	if r.Mem > 0 {
		bytes := int64(math.Round(r.Mem * (1 << 20)))
		h.Memory = bytes
		h.MemorySwap = bytes
	}
	if r.CPUs > 0 {
		h.CPUShares = max(2, int64(math.Round(1024*r.CPUs)))
		h.CPUPeriod = cfsPeriod
		h.CPUQuota = max(minCFSQuota, int64(math.Round(r.CPUs*cfsPeriod)))
	}
}

// validName accepts what can follow NamePrefix in a Docker container name
// ([a-zA-Z0-9_.-]).
func validName(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	for _, r := range s {
		ok := r == '-' || r == '_' || r == '.' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("%q contains %q; allowed are letters, digits and -_.", s, r)
		}
	}
	return nil
}
