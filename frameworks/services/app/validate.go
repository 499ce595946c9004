package app

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"agora/frameworks/services/placement"
)

// checker collects every problem instead of stopping at the first, so one
// 422 tells the user everything to fix.
type checker struct{ errs FieldErrors }

func (c *checker) add(path, format string, args ...any) {
	c.errs = append(c.errs, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) port(path string, p int) {
	if p < 0 || p > 65535 {
		c.add(path, "must be between 0 and 65535")
	}
}

func (c *checker) nonNegative(path string, v float64) {
	if v < 0 {
		c.add(path, "must be greater than or equal to 0")
	}
}

func (c *checker) oneOf(path, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	c.add(path, "%q must be one of %s", v, strings.Join(allowed, ", "))
}

// roleRE follows Mesos's role name rules: no leading '.' or '-', no
// whitespace or '/' at the start, not "." or "..".
var roleRE = regexp.MustCompile(`^[^.\-/\s][^\s]*$`)

// Validate returns every problem with the app, or nil. It expects an App from
// Parse (defaults applied).
func (a *App) Validate() FieldErrors {
	c := &checker{}
	a.validateIdentity(c)
	a.validateResources(c)
	a.validatePorts(c)
	a.validateContainer(c)
	a.validateNetworks(c)
	a.validateHealth(c)
	a.validateScheduling(c)
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs
}

func (a *App) validateIdentity(c *checker) {
	if a.AppID == "" {
		c.add("id", "is required")
	} else if _, err := normalizePath(a.AppID, "/", false); err != nil {
		c.add("id", "%v", err)
	}
	hasCmd, hasArgs := a.Cmd != "", len(a.Args) > 0
	switch {
	case hasCmd && hasArgs:
		c.add("args", "must not be given together with cmd")
	case !hasCmd && !hasArgs && !a.hasImage():
		c.add("", "the app must have cmd, args or a container with an image")
	}
	for k := range a.Env {
		if k == "" {
			c.add("env", "variable names must not be empty")
		}
	}
	if a.Executor != "" && a.Executor != "//cmd" {
		for _, s := range strings.Split(strings.TrimPrefix(a.Executor, "/"), "/") {
			if s == "" {
				c.add("executor", "must be //cmd or a path without empty segments")
				break
			}
		}
	}
	for i, d := range a.Dependencies {
		if _, err := normalizePath(d, parentPath(a.ID()), true); err != nil {
			c.add(fmt.Sprintf("dependencies[%d]", i), "%v", err)
		}
	}
	for k := range a.Labels {
		if k == "" {
			c.add("labels", "label names must not be empty")
		}
	}
	a.validateSecrets(c)
	if a.Version != "" {
		if _, err := time.Parse(time.RFC3339Nano, a.Version); err != nil {
			c.add("version", "must be an ISO 8601 timestamp such as 2024-05-01T10:00:00.000Z")
		}
	}
	for i, f := range a.Fetch {
		p := fmt.Sprintf("fetch[%d]", i)
		if f.URI == "" {
			c.add(p+".uri", "must not be empty")
		} else if len(f.URI) > 1024 {
			c.add(p+".uri", "must be at most 1024 characters")
		}
		if len(f.DestPath) > 1024 {
			c.add(p+".destPath", "must be at most 1024 characters")
		}
	}
	for i, u := range a.StoreUrls {
		if u == "" {
			c.add(fmt.Sprintf("storeUrls[%d]", i), "must not be empty")
		}
	}
}

// hasImage: Marathon accepts an app without cmd or args when its container
// names an image to run.
func (a *App) hasImage() bool {
	return a.Container != nil && a.Container.Docker != nil && a.Container.Docker.Image != ""
}

func (a *App) validateResources(c *checker) {
	if a.Instances < 0 {
		c.add("instances", "must be greater than or equal to 0")
	}
	if a.CPUs < 0.001 {
		c.add("cpus", "must be at least 0.001")
	}
	c.nonNegative("mem", a.Mem)
	c.nonNegative("disk", a.Disk)
	c.nonNegative("gpus", float64(a.GPUs))
	if a.GPUs > 0 && a.Container != nil && a.Container.Type == ContainerDocker {
		c.add("gpus", "GPU resources only work with the MESOS container type")
	}
}

func (a *App) validatePorts(c *checker) {
	names := map[string]bool{}
	ports := map[int]bool{}
	for i, pd := range a.PortDefinitions {
		p := fmt.Sprintf("portDefinitions[%d]", i)
		c.port(p+".port", pd.Port)
		c.oneOf(p+".protocol", pd.Protocol, "tcp", "udp", "udp,tcp", "tcp,udp")
		if pd.Name != "" {
			if names[pd.Name] {
				c.add(p+".name", "port names must be unique; %q is repeated", pd.Name)
			}
			names[pd.Name] = true
		}
		if pd.Port != 0 {
			if ports[pd.Port] {
				c.add(p+".port", "ports must be unique; %d is repeated", pd.Port)
			}
			ports[pd.Port] = true
		}
	}
	if !a.hostNetworking() && len(a.PortDefinitions) > 0 {
		c.add("portDefinitions", "are only allowed with host networking; use container.portMappings")
	}
}

func (a *App) validateContainer(c *checker) {
	ct := a.Container
	if ct == nil {
		return
	}
	c.oneOf("container.type", ct.Type, ContainerDocker, ContainerMesos)
	switch ct.Type {
	case ContainerDocker:
		if ct.Docker == nil {
			c.add("container.docker", "is required for DOCKER containers")
		} else if ct.Docker.Image == "" {
			c.add("container.docker.image", "must not be empty")
		}
	case ContainerMesos:
		if d := ct.Docker; d != nil {
			if d.Image == "" {
				c.add("container.docker.image", "must not be empty")
			}
			if d.Privileged {
				c.add("container.docker.privileged", "is only supported by the DOCKER container type")
			}
			if len(d.Parameters) > 0 {
				c.add("container.docker.parameters", "are only supported by the DOCKER container type")
			}
		}
	}
	if d := ct.Docker; d != nil {
		for i, p := range d.Parameters {
			if p.Key == "" {
				c.add(fmt.Sprintf("container.docker.parameters[%d].key", i), "must not be empty")
			}
		}
	}

	names := map[string]bool{}
	servicePorts := map[int]int{}
	for i, pm := range ct.PortMappings {
		p := fmt.Sprintf("container.portMappings[%d]", i)
		c.port(p+".containerPort", pm.ContainerPort)
		if pm.HostPort != nil {
			c.port(p+".hostPort", *pm.HostPort)
		}
		c.port(p+".servicePort", pm.ServicePort)
		c.oneOf(p+".protocol", pm.Protocol, "tcp", "udp", "udp,tcp", "tcp,udp")
		if pm.Name != "" {
			if names[pm.Name] {
				c.add(p+".name", "port names must be unique; %q is repeated", pm.Name)
			}
			names[pm.Name] = true
		}
		for j, nn := range pm.NetworkNames {
			if !a.hasNetworkNamed(nn) {
				c.add(fmt.Sprintf("%s.networkNames[%d]", p, j), "no container network is named %q", nn)
			}
		}
		if pm.ServicePort != 0 {
			if j, dup := servicePorts[pm.ServicePort]; dup {
				c.add(p+".servicePort", "%d is already the service port of portMappings[%d]", pm.ServicePort, j)
			} else {
				servicePorts[pm.ServicePort] = i
			}
		}
	}
	if a.hostNetworking() && len(ct.PortMappings) > 0 {
		c.add("container.portMappings", "are not allowed with host networking; use portDefinitions")
	}
	for i, v := range ct.Volumes {
		p := fmt.Sprintf("container.volumes[%d]", i)
		if v.ContainerPath == "" {
			c.add(p+".containerPath", "must not be empty")
		}
		if v.HostPath == "" {
			c.add(p+".hostPath", "must not be empty")
		}
		c.oneOf(p+".mode", v.Mode, "RO", "RW")
	}
}

func (a *App) validateNetworks(c *checker) {
	var host, bridge, container int
	for i, n := range a.Networks {
		p := fmt.Sprintf("networks[%d]", i)
		switch n.Mode {
		case NetworkHost:
			host++
		case NetworkBridge:
			bridge++
		case NetworkContainer:
			container++
		default:
			c.add(p+".mode", "%q must be one of host, container/bridge, container", n.Mode)
			continue
		}
		if n.Name != "" && n.Mode != NetworkContainer {
			c.add(p+".name", "is only allowed in container mode")
		}
	}
	switch {
	case host > 0 && len(a.Networks) > 1:
		c.add("networks", "host networking cannot be combined with other networks")
	case bridge > 1:
		c.add("networks", "at most one container/bridge network is allowed")
	case bridge > 0 && container > 0:
		c.add("networks", "container/bridge cannot be combined with container networks")
	}
	if host == 0 && len(a.Networks) > 0 && a.Container == nil {
		c.add("networks", "container networking needs a container")
	}
	if a.Container != nil && a.Container.Type == ContainerDocker && container > 1 {
		c.add("networks", "DOCKER containers may join only one container network")
	}
}

func (a *App) hasNetworkNamed(name string) bool {
	for _, n := range a.Networks {
		if n.Mode == NetworkContainer && n.Name == name {
			return true
		}
	}
	return false
}

// NumPorts is how many ports each instance gets: the container's port
// mappings when it has any, otherwise the port definitions. Health check
// portIndex values index these.
func (a *App) NumPorts() int {
	if a.Container != nil && len(a.Container.PortMappings) > 0 {
		return len(a.Container.PortMappings)
	}
	return len(a.PortDefinitions)
}

func (a *App) portNames() map[string]bool {
	out := map[string]bool{}
	if a.Container != nil && len(a.Container.PortMappings) > 0 {
		for _, pm := range a.Container.PortMappings {
			out[pm.Name] = pm.Name != ""
		}
		return out
	}
	for _, pd := range a.PortDefinitions {
		out[pd.Name] = pd.Name != ""
	}
	return out
}

func (a *App) validateHealth(c *checker) {
	mesosChecks := 0
	for i, hc := range a.HealthChecks {
		p := fmt.Sprintf("healthChecks[%d]", i)
		c.oneOf(p+".protocol", hc.Protocol, ProtoHTTP, ProtoHTTPS, ProtoTCP, ProtoCommand, ProtoMesosHTTP, ProtoMesosHTTPS, ProtoMesosTCP)
		switch hc.Protocol {
		case ProtoCommand:
			if hc.Command == nil || hc.Command.Value == "" {
				c.add(p+".command.value", "is required for COMMAND health checks")
			}
		case ProtoMesosHTTP, ProtoMesosHTTPS, ProtoMesosTCP:
			mesosChecks++
		}
		if hc.Protocol != ProtoCommand && hc.Command != nil {
			c.add(p+".command", "is only used by COMMAND health checks")
		}
		if hc.Path != "" && !strings.HasPrefix(hc.Path, "/") {
			c.add(p+".path", "must start with /")
		}
		if hc.Port != nil {
			c.port(p+".port", *hc.Port)
			if hc.PortIndex != nil {
				c.add(p+".port", "must not be given together with portIndex")
			}
		} else if usesPort(hc.Protocol) && hc.PortIndex != nil {
			if n := a.NumPorts(); *hc.PortIndex < 0 || *hc.PortIndex >= n {
				c.add(p+".portIndex", "%d does not address one of the app's %d ports (portMappings or portDefinitions)", *hc.PortIndex, n)
			}
		}
		c.nonNegative(p+".gracePeriodSeconds", float64(hc.GracePeriodSeconds))
		c.nonNegative(p+".intervalSeconds", float64(hc.IntervalSeconds))
		c.nonNegative(p+".timeoutSeconds", float64(hc.TimeoutSeconds))
		c.nonNegative(p+".maxConsecutiveFailures", float64(hc.MaxConsecutiveFailures))
		c.nonNegative(p+".delaySeconds", float64(hc.DelaySeconds))
		c.oneOf(p+".ipProtocol", hc.IPProtocol, "IPv4", "IPv6")
	}
	if mesosChecks > 1 {
		c.add("healthChecks", "at most one MESOS_HTTP, MESOS_HTTPS or MESOS_TCP health check is allowed")
	}

	if len(a.ReadinessChecks) > 1 {
		c.add("readinessChecks", "at most one readiness check is allowed")
	}
	names := a.portNames()
	for i, rc := range a.ReadinessChecks {
		p := fmt.Sprintf("readinessChecks[%d]", i)
		c.oneOf(p+".protocol", rc.Protocol, ProtoHTTP, ProtoHTTPS)
		if !strings.HasPrefix(rc.Path, "/") {
			c.add(p+".path", "must start with /")
		}
		if !names[rc.PortName] {
			c.add(p+".portName", "no port is named %q", rc.PortName)
		}
		c.nonNegative(p+".intervalSeconds", float64(rc.IntervalSeconds))
		if rc.TimeoutSeconds >= rc.IntervalSeconds {
			c.add(p+".timeoutSeconds", "must be less than intervalSeconds (%d)", rc.IntervalSeconds)
		}
		for j, code := range rc.HTTPStatusCodesForReady {
			if code < 100 || code > 999 {
				c.add(fmt.Sprintf("%s.httpStatusCodesForReady[%d]", p, j), "must be between 100 and 999")
			}
		}
	}
}

func (a *App) validateScheduling(c *checker) {
	// placement owns the operators' meaning; validating through it keeps
	// what is accepted here and what is placed in agreement.
	for i, con := range a.Constraints {
		if _, err := placement.Parse(con); err != nil {
			c.add(fmt.Sprintf("constraints[%d]", i), "%v", err)
		}
	}
	us := a.UpgradeStrategy
	if us.MinimumHealthCapacity < 0 || us.MinimumHealthCapacity > 1 {
		c.add("upgradeStrategy.minimumHealthCapacity", "must be between 0 and 1")
	}
	if us.MaximumOverCapacity < 0 || us.MaximumOverCapacity > 1 {
		c.add("upgradeStrategy.maximumOverCapacity", "must be between 0 and 1")
	}
	if a.BackoffSeconds < 0 {
		c.add("backoffSeconds", "must be greater than or equal to 0")
	}
	if a.BackoffFactor < 1 {
		c.add("backoffFactor", "must be greater than or equal to 1")
	}
	if a.MaxLaunchDelaySeconds < 0 {
		c.add("maxLaunchDelaySeconds", "must be greater than or equal to 0")
	}
	if a.TaskKillGracePeriodSeconds != nil && *a.TaskKillGracePeriodSeconds < 0 {
		c.add("taskKillGracePeriodSeconds", "must be greater than or equal to 0")
	}
	c.oneOf("killSelection", a.KillSelection, KillYoungestFirst, KillOldestFirst)
	if u := a.UnreachableStrategy; !u.Disabled {
		if u.InactiveAfterSeconds < 0 {
			c.add("unreachableStrategy.inactiveAfterSeconds", "must be greater than or equal to 0")
		}
		if u.InactiveAfterSeconds > u.ExpungeAfterSeconds {
			c.add("unreachableStrategy.inactiveAfterSeconds", "must be less than or equal to expungeAfterSeconds (%d)", u.ExpungeAfterSeconds)
		}
	}
	if a.AcceptedResourceRoles != nil {
		if len(a.AcceptedResourceRoles) == 0 {
			c.add("acceptedResourceRoles", "must not be empty when given")
		}
		seen := map[string]bool{}
		for i, r := range a.AcceptedResourceRoles {
			p := fmt.Sprintf("acceptedResourceRoles[%d]", i)
			if r != "*" && !validRole(r) {
				c.add(p, "%q is not a valid role name", r)
			}
			if seen[r] {
				c.add(p, "%q is repeated", r)
			}
			seen[r] = true
		}
	}
	if a.Role != "" && !validRole(a.Role) {
		c.add("role", "%q is not a valid role name", a.Role)
	}
}

func validRole(r string) bool {
	return r != "." && r != ".." && roleRE.MatchString(r)
}
