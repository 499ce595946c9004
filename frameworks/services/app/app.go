// Package app is the services framework's model of a Marathon app definition:
// the app JSON of Marathon's REST API v2 (field names, types and defaults as
// Marathon documents them), plus Agora's `priority`.
//
// Contract:
//   - Parse accepts JSON or YAML, rejects unknown fields (naming every one by
//     its path), folds Marathon's deprecated fields (ports, uris,
//     container.docker.network, container.docker.portMappings) into their
//     canonical replacements and applies Marathon's defaults. A parsed App is
//     canonical: marshalling it and parsing the result gives the same App.
//   - Validate returns every problem as a FieldError with a dotted path
//     ("container.portMappings[1].containerPort"); FieldErrors renders
//     Marathon's 422 body.
//   - Diff tells a scale-only change from one that needs new instances.
//   - Secrets: env variables may reference a declared secret, as in
//     Marathon ("env": {"DB_PASSWORD": {"secret": "db"}}); Agora has no
//     secret store, so a secret's value is given inline ("secrets": {"db":
//     {"value": "..."}}) and Marathon's "source" is refused by name. Masked
//     is the only form an answer may show; KeepMaskedSecrets turns a masked
//     value sent back into the stored one.
//
// The package is pure: no I/O, no clock.
package app

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Marathon's documented defaults.
const (
	DefaultCPUs                  = 1.0
	DefaultMem                   = 128.0
	DefaultInstances             = 1
	DefaultBackoffSeconds        = 1
	DefaultBackoffFactor         = 1.15
	DefaultMaxLaunchDelaySeconds = 3600
	DefaultKillSelection         = KillYoungestFirst
)

// Kill selections.
const (
	KillYoungestFirst = "YOUNGEST_FIRST"
	KillOldestFirst   = "OLDEST_FIRST"
)

// Container types.
const (
	ContainerDocker = "DOCKER"
	ContainerMesos  = "MESOS"
)

// Network modes of App.Networks.
const (
	NetworkHost      = "host"
	NetworkBridge    = "container/bridge"
	NetworkContainer = "container"
)

// Health check protocols. The MESOS_* ones and COMMAND are run by the agent;
// HTTP, HTTPS and TCP by the framework.
const (
	ProtoHTTP       = "HTTP"
	ProtoHTTPS      = "HTTPS"
	ProtoTCP        = "TCP"
	ProtoCommand    = "COMMAND"
	ProtoMesosHTTP  = "MESOS_HTTP"
	ProtoMesosHTTPS = "MESOS_HTTPS"
	ProtoMesosTCP   = "MESOS_TCP"
)

// App is one Marathon app definition.
type App struct {
	// AppID is the app's path as given; after Parse it is absolute
	// ("/team/web"). Use ID() for the normalized form.
	AppID string   `json:"id"`
	Cmd   string   `json:"cmd,omitempty"`
	Args  []string `json:"args,omitempty"`
	User  string   `json:"user,omitempty"`
	// Env and SecretEnv are one "env" object in JSON: Env the plain
	// variables, SecretEnv those given as {"secret": "<name>"}, by variable
	// name, naming an entry of Secrets.
	Env       EnvVars           `json:"env,omitempty"`
	SecretEnv map[string]string `json:"-"`

	Instances int     `json:"instances"`
	CPUs      float64 `json:"cpus"`
	Mem       float64 `json:"mem"`
	Disk      float64 `json:"disk"`
	GPUs      int     `json:"gpus"`
	Executor  string  `json:"executor,omitempty"`

	Constraints [][]string `json:"constraints,omitempty"`
	// Uris is deprecated in favour of Fetch; Parse moves it there.
	Uris      []string   `json:"uris,omitempty"`
	Fetch     []Artifact `json:"fetch,omitempty"`
	StoreUrls []string   `json:"storeUrls,omitempty"`

	// Ports is deprecated in favour of PortDefinitions; Parse moves it there.
	Ports []int `json:"ports,omitempty"`
	// PortDefinitions is never nil after Parse in host networking: an
	// explicit [] means "no ports", absent means one dynamic port.
	PortDefinitions []PortDefinition `json:"portDefinitions"`
	RequirePorts    bool             `json:"requirePorts"`

	BackoffSeconds        int     `json:"backoffSeconds"`
	BackoffFactor         float64 `json:"backoffFactor"`
	MaxLaunchDelaySeconds int     `json:"maxLaunchDelaySeconds"`

	Container       *Container        `json:"container,omitempty"`
	Networks        []Network         `json:"networks,omitempty"`
	HealthChecks    []HealthCheck     `json:"healthChecks,omitempty"`
	ReadinessChecks []ReadinessCheck  `json:"readinessChecks,omitempty"`
	Dependencies    []string          `json:"dependencies,omitempty"`
	UpgradeStrategy UpgradeStrategy   `json:"upgradeStrategy"`
	Labels          map[string]string `json:"labels,omitempty"`

	AcceptedResourceRoles      []string            `json:"acceptedResourceRoles,omitempty"`
	Role                       string              `json:"role,omitempty"`
	KillSelection              string              `json:"killSelection"`
	TaskKillGracePeriodSeconds *int                `json:"taskKillGracePeriodSeconds,omitempty"`
	UnreachableStrategy        UnreachableStrategy `json:"unreachableStrategy"`

	// Secrets are the values SecretEnv references, by name. They are stored
	// as given and shown only through Masked.
	Secrets map[string]Secret `json:"secrets,omitempty"`

	Version     string       `json:"version,omitempty"`
	VersionInfo *VersionInfo `json:"versionInfo,omitempty"`

	// Priority is Agora's: higher-priority apps are placed first.
	Priority int `json:"priority,omitempty"`
}

// Artifact is one item of App.Fetch, handed to the agent's fetcher.
type Artifact struct {
	URI        string `json:"uri"`
	Extract    bool   `json:"extract"`
	Executable bool   `json:"executable"`
	Cache      bool   `json:"cache"`
	DestPath   string `json:"destPath,omitempty"`
}

// UnmarshalJSON applies Marathon's default extract=true.
func (f *Artifact) UnmarshalJSON(data []byte) error {
	type plain Artifact
	p := plain{Extract: true}
	if err := strictDecode(data, &p); err != nil {
		return err
	}
	*f = Artifact(p)
	return nil
}

// PortDefinition is a host port of a host-networking app.
type PortDefinition struct {
	Port     int               `json:"port"`
	Protocol string            `json:"protocol"`
	Name     string            `json:"name,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// Container says how a task is contained.
type Container struct {
	// Type is DOCKER (the default) or MESOS (Agora's process containerizer).
	Type   string  `json:"type"`
	Docker *Docker `json:"docker,omitempty"`
	// PortMappings is never nil after Parse in container networks: an
	// explicit [] means "no ports", absent means one dynamic port.
	PortMappings []PortMapping `json:"portMappings"`
	Volumes      []Volume      `json:"volumes,omitempty"`
}

// Docker is the image part of a container.
type Docker struct {
	Image string `json:"image"`
	// Network is deprecated (BRIDGE, HOST, USER); Parse moves it to App.Networks.
	Network        string      `json:"network,omitempty"`
	Privileged     bool        `json:"privileged"`
	Parameters     []Parameter `json:"parameters,omitempty"`
	ForcePullImage bool        `json:"forcePullImage"`
	// PortMappings is deprecated; Parse moves it to Container.PortMappings.
	PortMappings []PortMapping `json:"portMappings,omitempty"`
}

// Parameter is a docker run option (key without the leading dashes).
type Parameter struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// PortMapping maps a container port to a host port and a service port.
type PortMapping struct {
	ContainerPort int `json:"containerPort"`
	// HostPort nil means no host port (container networks); 0 means dynamic.
	HostPort    *int              `json:"hostPort,omitempty"`
	ServicePort int               `json:"servicePort"`
	Protocol    string            `json:"protocol"`
	Name        string            `json:"name,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	// NetworkNames limits the mapping to some of the app's container
	// networks; empty means all of them.
	NetworkNames []string `json:"networkNames,omitempty"`
}

// Volume is a host path mounted into the container.
type Volume struct {
	ContainerPath string `json:"containerPath"`
	HostPath      string `json:"hostPath"`
	Mode          string `json:"mode"`
}

// Network is one network a task joins.
type Network struct {
	Mode   string            `json:"mode"`
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// UnmarshalJSON applies Marathon's default mode "container".
func (n *Network) UnmarshalJSON(data []byte) error {
	type plain Network
	p := plain{Mode: NetworkContainer}
	if err := strictDecode(data, &p); err != nil {
		return err
	}
	*n = Network(p)
	return nil
}

// HealthCheck is one of an app's health checks.
type HealthCheck struct {
	Protocol string `json:"protocol"`
	Path     string `json:"path,omitempty"`
	// PortIndex indexes the app's ports (portMappings, else portDefinitions).
	PortIndex              *int          `json:"portIndex,omitempty"`
	Port                   *int          `json:"port,omitempty"`
	Command                *CommandCheck `json:"command,omitempty"`
	GracePeriodSeconds     int           `json:"gracePeriodSeconds"`
	IntervalSeconds        int           `json:"intervalSeconds"`
	TimeoutSeconds         int           `json:"timeoutSeconds"`
	MaxConsecutiveFailures int           `json:"maxConsecutiveFailures"`
	DelaySeconds           int           `json:"delaySeconds"`
	IgnoreHTTP1xx          bool          `json:"ignoreHttp1xx"`
	IPProtocol             string        `json:"ipProtocol"`
}

// CommandCheck is a shell command whose zero exit means healthy.
type CommandCheck struct {
	Value string `json:"value"`
}

// UnmarshalJSON applies Marathon's health check defaults.
func (h *HealthCheck) UnmarshalJSON(data []byte) error {
	type plain HealthCheck
	p := plain{
		GracePeriodSeconds:     300,
		IntervalSeconds:        60,
		TimeoutSeconds:         20,
		MaxConsecutiveFailures: 3,
		DelaySeconds:           15,
		IPProtocol:             "IPv4",
	}
	if err := strictDecode(data, &p); err != nil {
		return err
	}
	*h = HealthCheck(p)
	return nil
}

// ReadinessCheck gates a new instance's readiness during deployments.
type ReadinessCheck struct {
	Name                    string `json:"name"`
	Protocol                string `json:"protocol"`
	Path                    string `json:"path"`
	PortName                string `json:"portName"`
	IntervalSeconds         int    `json:"intervalSeconds"`
	TimeoutSeconds          int    `json:"timeoutSeconds"`
	HTTPStatusCodesForReady []int  `json:"httpStatusCodesForReady"`
	PreserveLastResponse    bool   `json:"preserveLastResponse"`
}

// UnmarshalJSON applies Marathon's readiness check defaults.
func (r *ReadinessCheck) UnmarshalJSON(data []byte) error {
	type plain ReadinessCheck
	p := plain{
		Name:                    "readinessCheck",
		Protocol:                ProtoHTTP,
		Path:                    "/",
		PortName:                "http-api",
		IntervalSeconds:         30,
		TimeoutSeconds:          10,
		HTTPStatusCodesForReady: []int{200},
	}
	if err := strictDecode(data, &p); err != nil {
		return err
	}
	*r = ReadinessCheck(p)
	return nil
}

// UpgradeStrategy bounds capacity during a rolling upgrade, as fractions of
// the instance count.
type UpgradeStrategy struct {
	MinimumHealthCapacity float64 `json:"minimumHealthCapacity"`
	MaximumOverCapacity   float64 `json:"maximumOverCapacity"`
}

// UnmarshalJSON applies the defaults (1, 1) to omitted fields.
func (u *UpgradeStrategy) UnmarshalJSON(data []byte) error {
	type plain UpgradeStrategy
	p := plain{MinimumHealthCapacity: 1, MaximumOverCapacity: 1}
	if err := strictDecode(data, &p); err != nil {
		return err
	}
	*u = UpgradeStrategy(p)
	return nil
}

// UnreachableStrategy says when an unreachable instance is replaced
// (InactiveAfterSeconds) and forgotten (ExpungeAfterSeconds). In JSON it is
// either an object or the string "disabled".
type UnreachableStrategy struct {
	Disabled             bool
	InactiveAfterSeconds int64
	ExpungeAfterSeconds  int64
}

type unreachableEnabled struct {
	InactiveAfterSeconds int64 `json:"inactiveAfterSeconds"`
	ExpungeAfterSeconds  int64 `json:"expungeAfterSeconds"`
}

// MarshalJSON writes "disabled" or the object form.
func (u UnreachableStrategy) MarshalJSON() ([]byte, error) {
	if u.Disabled {
		return []byte(`"disabled"`), nil
	}
	return json.Marshal(unreachableEnabled{u.InactiveAfterSeconds, u.ExpungeAfterSeconds})
}

// UnmarshalJSON reads "disabled" or an object whose omitted fields take
// Marathon's per-field defaults (300 and 600 seconds).
func (u *UnreachableStrategy) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		if s != "disabled" {
			return fmt.Errorf("unreachableStrategy: %q is neither \"disabled\" nor an object", s)
		}
		*u = UnreachableStrategy{Disabled: true}
		return nil
	}
	e := unreachableEnabled{InactiveAfterSeconds: 300, ExpungeAfterSeconds: 600}
	if err := strictDecode(data, &e); err != nil {
		return err
	}
	*u = UnreachableStrategy{InactiveAfterSeconds: e.InactiveAfterSeconds, ExpungeAfterSeconds: e.ExpungeAfterSeconds}
	return nil
}

// VersionInfo records when the app last scaled and last changed otherwise.
type VersionInfo struct {
	LastScalingAt      string `json:"lastScalingAt,omitempty"`
	LastConfigChangeAt string `json:"lastConfigChangeAt,omitempty"`
}

// EnvVars are the task's plain environment variables; App keeps secret
// references ({"secret": "name"}) apart, in App.SecretEnv.
type EnvVars map[string]string

// UnmarshalJSON accepts string values only, naming the variable otherwise
// (App's own decoding takes the secret references out first).
func (e *EnvVars) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("env: must be an object of strings")
	}
	out := make(EnvVars, len(raw))
	for k, v := range raw {
		v = bytes.TrimSpace(v)
		switch {
		case len(v) > 0 && v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("env.%s: %v", k, err)
			}
			out[k] = s
		case len(v) > 0 && v[0] == '{':
			return fieldError("env."+k, "a secret reference belongs in App.SecretEnv")
		default:
			return fieldError("env."+k, "must be a string (quote numbers and booleans)")
		}
	}
	*e = out
	return nil
}

// strictDecode decodes one JSON value refusing unknown fields; custom
// unmarshalers do not inherit the outer decoder's setting.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
