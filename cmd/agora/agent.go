package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"agora/core/acl"
	"agora/core/agent"
	"agora/core/containerizer"
	"agora/core/containerizer/docker"
	"agora/core/containerizer/process"
	"agora/core/mesos"
	"agora/core/resources"
)

type agentFlags struct {
	listen, hostname, res, attrs, containerizers, master string
	grace, gcDelay, dockerLaunchTimeout                  time.Duration
	gcDiskThreshold                                      float64
	dockerHostIP                                         string
	allowPrivileged, switchUser                          bool
	allowedHostPaths                                     string
}

func (af *agentFlags) register(fs serverFlags, listen string) {
	fs.str(&af.listen, "agent_listen", listen, "HTTP address of the agent (sandbox files, health)")
	fs.str(&af.hostname, "agent_hostname", "", "hostname the agent advertises (default: the listen host)")
	fs.str(&af.res, "resources", "", `resources to offer, e.g. "cpus:4;mem:8192;disk:20000;ports:[31000-32000]" (default: detected)`)
	fs.str(&af.attrs, "attributes", "", `attributes for constraints, e.g. "rack:r1;zone:a"`)
	fs.str(&af.containerizers, "containerizers", "auto", "containerizers to enable: process, docker, or auto (process, plus docker when a Docker daemon answers)")
	fs.str(&af.dockerHostIP, "docker_host_ip", "", "address Docker tasks' mapped ports bind to (default: the agent's listen address when it is an IP, else all)")
	fs.dur(&af.dockerLaunchTimeout, "docker_launch_timeout", 5*time.Minute, "bound on creating and starting a Docker container, image pull included")
	fs.BoolVar(&af.allowPrivileged, "allow_privileged", false, "let Docker tasks run privileged containers")
	fs.str(&af.allowedHostPaths, "docker_allowed_host_paths", "", "comma-separated host directories Docker tasks may bind-mount (default: none, only paths in the sandbox)")
	fs.BoolVar(&af.switchUser, "switch_user", true, "run each task as its user (command.user, else the framework's); needs root. false runs every task as the agent's user")
	fs.BoolVar(&af.switchUser, "switch-user", true, "alias of --switch_user")
	fs.dur(&af.grace, "kill_grace_period", 3*time.Second, "SIGTERM-to-SIGKILL delay for tasks without a kill policy")
	fs.dur(&af.gcDelay, "gc_delay", agent.DefaultGCDelay, "how long the sandbox of a completed task is kept")
	const thresholdUsage = "disk usage (fraction of the work dir's disk) above which sandboxes are removed sooner, oldest first"
	fs.Float64Var(&af.gcDiskThreshold, "gc_disk_threshold", agent.DefaultGCDiskThreshold, thresholdUsage)
	fs.Float64Var(&af.gcDiskThreshold, "gc-disk-threshold", agent.DefaultGCDiskThreshold, "alias of --gc_disk_threshold")
}

// build makes an agent from the flags: it calls the master through tr and
// protects its own API with srv.
func (af *agentFlags) build(master, workDir string, srv *server, tr http.RoundTripper, logf func(string, ...any)) (*agent.Agent, error) {
	res, err := resources.Parse(af.res)
	if err != nil {
		return nil, fmt.Errorf("--resources: %w", err)
	}
	attrs, err := mesos.ParseAttributes(af.attrs)
	if err != nil {
		return nil, fmt.Errorf("--attributes: %w", err)
	}
	names := strings.Split(af.containerizers, ",")
	auto := strings.TrimSpace(af.containerizers) == "auto"
	if auto {
		names = []string{"process", "docker"}
	}
	var cs []containerizer.Containerizer
	for _, name := range names {
		switch strings.TrimSpace(name) {
		case "process":
			// Each agent keeps its containers' runtime files in its own work
			// dir, so agents sharing a host never adopt each other's tasks.
			p, err := process.New(process.Config{RuntimeDir: filepath.Join(workDir, "runtime", "process"), Logf: logf})
			if err != nil {
				return nil, fmt.Errorf("process containerizer: %w", err)
			}
			logf("process containerizer isolation: %s", p.Isolation())
			cs = append(cs, p)
		case "docker":
			d, err := af.docker(logf)
			if err != nil {
				if auto {
					logf("docker containerizer disabled: %v", err)
					continue
				}
				return nil, fmt.Errorf("--containerizers docker: %w", err)
			}
			cs = append(cs, d)
		case "":
		default:
			return nil, fmt.Errorf("--containerizers: %q is not available; use process, docker or auto", name)
		}
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, fmt.Errorf("work dir: %w", err)
	}
	if af.gcDiskThreshold <= 0 || af.gcDiskThreshold > 1 {
		return nil, fmt.Errorf("--gc_disk_threshold: %v is not a fraction in (0, 1]", af.gcDiskThreshold)
	}
	if af.gcDelay < 0 {
		return nil, fmt.Errorf("--gc_delay: %v is negative", af.gcDelay)
	}
	cfg := agent.Config{Master: master, Listen: af.listen, Hostname: af.hostname, Resources: res, Attributes: attrs,
		WorkDir: workDir, DefaultKillGrace: af.grace, GCDelay: af.gcDelay, GCDiskThreshold: af.gcDiskThreshold, Logf: logf,
		SwitchUser: &af.switchUser, Transport: tr, Middleware: srv.wrap, WrapListener: srv.listen, Scheme: srv.scheme()}
	if srv.acls != nil {
		cfg.AuthorizeSandbox = func(r *http.Request, user string) (bool, string) {
			return srv.acls.Why(principalOf(r), acl.AccessSandboxes, user)
		}
	}
	return agent.New(cfg, cs...)
}

// docker connects the Docker containerizer, publishing task ports on the
// agent's own address unless told otherwise.
func (af *agentFlags) docker(logf func(string, ...any)) (*docker.Containerizer, error) {
	hostIP := af.dockerHostIP
	if hostIP == "" {
		if h, _, err := net.SplitHostPort(af.listen); err == nil && net.ParseIP(h) != nil && !net.ParseIP(h).IsUnspecified() {
			hostIP = h
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var allowed []string
	for _, p := range strings.Split(af.allowedHostPaths, ",") {
		if p = strings.TrimSpace(p); p != "" {
			allowed = append(allowed, p)
		}
	}
	d, err := docker.New(ctx, docker.Config{HostIP: hostIP, AllowPrivileged: af.allowPrivileged, AllowedHostPaths: allowed,
		LaunchTimeout: af.dockerLaunchTimeout, Logf: logf})
	if err != nil {
		return nil, err
	}
	logf("docker containerizer enabled (ports published on %s)", orAll(hostIP))
	return d, nil
}

func orAll(ip string) string {
	if ip == "" {
		return "all addresses"
	}
	return ip
}

func runAgent(args []string) error {
	fs := newServerFlags("agent")
	var af agentFlags
	var workDir string
	af.register(fs, "127.0.0.1:5051")
	fs.str(&af.master, "master", "127.0.0.1:5050", "the master's address")
	fs.str(&af.listen, "listen", "127.0.0.1:5051", "HTTP address of the agent")
	fs.str(&af.hostname, "hostname", "", "hostname the agent advertises")
	fs.str(&workDir, "work_dir", filepath.Join(defaultDataDir(), "agent"), "directory for sandboxes, the agent id and the audit log")
	var sec securityFlags
	sec.register(fs, true, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	logf := newLogger("agent: ")
	srv, tr, err := sec.peer("agora agent", workDir, logf)
	if err != nil {
		return err
	}
	defer srv.close()
	a, err := af.build(af.master, workDir, srv, tr, logf)
	if err != nil {
		return err
	}
	fmt.Printf("agora agent on %s://%s, master %s, work dir %s (%s)\n", srv.scheme(), af.listen, af.master, workDir, srv.describe())
	if err := a.Run(ctx); err != nil {
		return err
	}
	fmt.Printf("agora agent: stopped; its tasks keep running and are recovered when it starts again with --work_dir %s\n", workDir)
	return nil
}
