package core

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"agora/core/mesos"
	"agora/frameworks/services/app"
	"agora/frameworks/services/placement"
)

// hostPorts lists the host port each instance asks for, in the order of
// the app's ports: a container's port mappings (those with a host port)
// when it has any, otherwise its port definitions. Non-fixed ports are 0.
func hostPorts(a *app.App) []uint64 {
	var out []uint64
	if a.Container != nil && len(a.Container.PortMappings) > 0 {
		for _, pm := range a.Container.PortMappings {
			if pm.HostPort != nil {
				out = append(out, uint64(*pm.HostPort))
			}
		}
		return out
	}
	for _, pd := range a.PortDefinitions {
		if a.RequirePorts {
			out = append(out, uint64(pd.Port))
		} else {
			out = append(out, 0)
		}
	}
	return out
}

// portValues returns, per app port index, the port the task is reached at on
// the host (the chosen host port; a mapping without a host port gives its
// container port) and, for port mappings, the container port.
func portValues(a *app.App, chosen []uint64) (host, container []uint64) {
	if a.Container != nil && len(a.Container.PortMappings) > 0 {
		k := 0
		for _, pm := range a.Container.PortMappings {
			cp := uint64(pm.ContainerPort)
			hp := cp
			if pm.HostPort != nil && k < len(chosen) {
				hp = chosen[k]
				k++
			}
			host = append(host, hp)
			container = append(container, cp)
		}
		return host, container
	}
	host = append(host, chosen...)
	return host, host
}

func isBridge(a *app.App) bool {
	for _, n := range a.Networks {
		if n.Mode == app.NetworkBridge {
			return true
		}
	}
	return false
}

func dockerNetwork(a *app.App) string {
	for _, n := range a.Networks {
		switch n.Mode {
		case app.NetworkBridge:
			return "BRIDGE"
		case app.NetworkContainer:
			return "USER"
		}
	}
	return "HOST"
}

// buildTaskInfo turns one placed instance of a into the TaskInfo to launch.
// role is the allocation role of the offer the instance was placed on.
func buildTaskInfo(a *app.App, taskID string, l placement.Launch, role string) mesos.TaskInfo {
	hostP, contP := portValues(a, l.Ports)
	ti := mesos.TaskInfo{
		Name:      a.ServiceName(),
		TaskID:    mesos.TaskID{Value: taskID},
		AgentID:   mesos.AgentID{Value: l.Agent.ID},
		Resources: l.Resources.ToMesos(role),
		Discovery: &mesos.DiscoveryInfo{Visibility: "FRAMEWORK", Name: a.ServiceName()},
	}

	cmd := &mesos.CommandInfo{User: a.User}
	docker := a.Container != nil && a.Container.Type == app.ContainerDocker
	switch {
	case a.Cmd != "":
		cmd.Value = a.Cmd
	case len(a.Args) > 0:
		// args run without a shell; in Docker they follow the image's
		// entrypoint, elsewhere the first one is the program.
		f := false
		cmd.Shell = &f
		cmd.Arguments = append([]string(nil), a.Args...)
		if !docker {
			cmd.Value = a.Args[0]
		}
	default:
		if docker {
			f := false
			cmd.Shell = &f
		}
	}
	for _, f := range a.Fetch {
		ex := f.Extract
		cmd.URIs = append(cmd.URIs, mesos.CommandURI{Value: f.URI, Executable: f.Executable, Extract: &ex, Cache: f.Cache, OutputFile: f.DestPath})
	}
	cmd.Environment = &mesos.Environment{Variables: env(a, taskID, l.Agent.Hostname, hostP)}
	ti.Command = cmd

	if a.Container != nil {
		ci := &mesos.ContainerInfo{Type: a.Container.Type}
		for _, v := range a.Container.Volumes {
			ci.Volumes = append(ci.Volumes, mesos.Volume{ContainerPath: v.ContainerPath, HostPath: v.HostPath, Mode: v.Mode})
		}
		if docker && a.Container.Docker != nil {
			d := a.Container.Docker
			di := &mesos.DockerInfo{Image: d.Image, Network: dockerNetwork(a), Privileged: d.Privileged, ForcePullImage: d.ForcePullImage}
			for _, p := range d.Parameters {
				di.Parameters = append(di.Parameters, mesos.Parameter{Key: p.Key, Value: p.Value})
			}
			if di.Network == "BRIDGE" {
				for i, pm := range a.Container.PortMappings {
					if pm.HostPort == nil {
						continue
					}
					proto := pm.Protocol
					if proto == "" {
						proto = "tcp"
					}
					di.PortMappings = append(di.PortMappings, mesos.PortMapping{HostPort: uint32(hostP[i]), ContainerPort: uint32(pm.ContainerPort), Protocol: proto})
				}
			}
			ci.Docker = di
		}
		ti.Container = ci
	}

	ti.HealthCheck = healthCheck(a, hostP, contP)
	if a.TaskKillGracePeriodSeconds != nil {
		ti.KillPolicy = &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: int64(*a.TaskKillGracePeriodSeconds) * 1e9}}
	}
	if len(a.Labels) > 0 {
		keys := make([]string, 0, len(a.Labels))
		for k := range a.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		ls := &mesos.Labels{}
		for _, k := range keys {
			ls.Labels = append(ls.Labels, mesos.Label{Key: k, Value: a.Labels[k]})
		}
		ti.Labels = ls
	}
	return ti
}

// env is the task's environment: the app's variables, then Marathon's
// (PORT0.., PORTS, PORT, HOST, MESOS_TASK_ID, MARATHON_APP_*), sorted by name.
// A variable that references a secret is a SECRET variable carrying the
// secret's value inline; Marathon's variables win over the app's.
func env(a *app.App, taskID, host string, ports []uint64) []mesos.EnvironmentVariable {
	m := map[string]mesos.EnvironmentVariable{}
	for k, v := range a.Env {
		m[k] = mesos.EnvironmentVariable{Name: k, Value: v}
	}
	for k, name := range a.SecretEnv {
		// Validate makes every reference name a declared secret.
		m[k] = mesos.EnvironmentVariable{Name: k, Type: "SECRET", Secret: &mesos.Secret{
			Type:  "VALUE",
			Value: &mesos.SecretValue{Data: []byte(a.Secrets[name].Value)},
		}}
	}
	set := func(k, v string) { m[k] = mesos.EnvironmentVariable{Name: k, Value: v} }
	strs := make([]string, len(ports))
	for i, p := range ports {
		strs[i] = strconv.FormatUint(p, 10)
		set("PORT"+strconv.Itoa(i), strs[i])
	}
	if len(ports) > 0 {
		set("PORT", strs[0])
		set("PORTS", strings.Join(strs, ","))
	}
	set("HOST", host)
	set("MESOS_TASK_ID", taskID)
	set("MARATHON_APP_ID", a.ID())
	set("MARATHON_APP_VERSION", a.Version)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]mesos.EnvironmentVariable, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// healthCheck translates the app's first health check the agent can run.
// Checks Marathon runs itself (HTTP, HTTPS, TCP) are handed to the agent too:
// Agora has no framework-side checker. Agent-run checks of a bridged
// container reach the container port (they run in its network namespace);
// the others the host port.
// orTiny converts seconds for a Mesos health check, where zero means "the
// default" (15 s of delay, 10 s of grace): Marathon's explicit 0 becomes a
// millisecond.
func orTiny(secs int) float64 {
	if secs <= 0 {
		return 0.001
	}
	return float64(secs)
}

func healthCheck(a *app.App, hostP, contP []uint64) *mesos.HealthCheck {
	for _, h := range a.HealthChecks {
		hc := &mesos.HealthCheck{
			DelaySeconds:        orTiny(h.DelaySeconds),
			IntervalSeconds:     float64(h.IntervalSeconds),
			TimeoutSeconds:      float64(h.TimeoutSeconds),
			ConsecutiveFailures: uint32(max(h.MaxConsecutiveFailures, 0)),
			GracePeriodSeconds:  orTiny(h.GracePeriodSeconds),
		}
		if h.MaxConsecutiveFailures == 0 {
			// Marathon's 0: failures never kill the task.
			hc.ConsecutiveFailures = math.MaxInt32
		}
		port := uint64(0)
		switch {
		case h.Port != nil:
			port = uint64(*h.Port)
		case h.PortIndex != nil && *h.PortIndex < len(hostP):
			port = hostP[*h.PortIndex]
			if isBridge(a) && strings.HasPrefix(h.Protocol, "MESOS_") {
				port = contP[*h.PortIndex]
			}
		case len(hostP) > 0:
			port = hostP[0]
			if isBridge(a) && strings.HasPrefix(h.Protocol, "MESOS_") {
				port = contP[0]
			}
		}
		switch h.Protocol {
		case app.ProtoMesosHTTP, app.ProtoHTTP, app.ProtoMesosHTTPS, app.ProtoHTTPS:
			scheme := "http"
			if strings.HasSuffix(h.Protocol, "HTTPS") {
				scheme = "https"
			}
			hc.Type = "HTTP"
			hc.HTTP = &mesos.HTTPCheckInfo{Scheme: scheme, Port: uint32(port), Path: h.Path}
		case app.ProtoMesosTCP, app.ProtoTCP:
			hc.Type = "TCP"
			hc.TCP = &mesos.TCPCheckInfo{Port: uint32(port)}
		case app.ProtoCommand:
			if h.Command == nil {
				continue
			}
			hc.Type = "COMMAND"
			hc.Command = &mesos.CommandInfo{Value: h.Command.Value}
		default:
			continue
		}
		return hc
	}
	return nil
}

// newTaskID returns "<service-name>.<uuid-like id>" from the core's seeded source.
func (c *Core) newTaskID(a *app.App) string {
	return a.ServiceName() + "." + c.uuid()
}

func (c *Core) uuid() string {
	hi, lo := c.rng.Uint64(), c.rng.Uint64()
	s := fmt.Sprintf("%016x%016x", hi, lo)
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}
