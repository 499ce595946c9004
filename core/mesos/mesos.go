// Package mesos holds Agora's data model in the JSON shape of Apache Mesos's
// v1 protos (mesos.proto, scheduler.proto, master.proto). Field names and
// enum strings match Mesos so that a client written for Mesos's v1 HTTP API
// with the JSON content type works unchanged.
//
// The package holds types and small helpers only; it does no I/O.
package mesos

import (
	"fmt"
	"time"
)

// ID is the shape Mesos uses for every identifier: {"value": "..."}.
type ID struct {
	Value string `json:"value"`
}

// Identifier types, kept distinct in name only (they share the JSON shape).
type (
	FrameworkID = ID
	AgentID     = ID
	OfferID     = ID
	TaskID      = ID
	ExecutorID  = ID
	MasterID    = ID
)

// Value types of Resource and Attribute.
const (
	Scalar = "SCALAR"
	Ranges = "RANGES"
	Set    = "SET"
	Text   = "TEXT"
)

// ValueScalar is Value.Scalar.
type ValueScalar struct {
	Value float64 `json:"value"`
}

// ValueRange is one inclusive range [Begin, End].
type ValueRange struct {
	Begin uint64 `json:"begin"`
	End   uint64 `json:"end"`
}

// ValueRanges is Value.Ranges.
type ValueRanges struct {
	Range []ValueRange `json:"range"`
}

// ValueSet is Value.Set.
type ValueSet struct {
	Item []string `json:"item"`
}

// ValueText is Value.Text.
type ValueText struct {
	Value string `json:"value"`
}

// AllocationInfo tells which role a resource is allocated to.
type AllocationInfo struct {
	Role string `json:"role,omitempty"`
}

// Reservation is one entry of Resource.reservations.
type Reservation struct {
	Type      string `json:"type,omitempty"` // STATIC or DYNAMIC
	Role      string `json:"role,omitempty"`
	Principal string `json:"principal,omitempty"`
}

// Resource is mesos.Resource.
type Resource struct {
	Name           string          `json:"name"`
	Type           string          `json:"type"`
	Scalar         *ValueScalar    `json:"scalar,omitempty"`
	Ranges         *ValueRanges    `json:"ranges,omitempty"`
	Set            *ValueSet       `json:"set,omitempty"`
	Role           string          `json:"role,omitempty"`
	Reservations   []Reservation   `json:"reservations,omitempty"`
	AllocationInfo *AllocationInfo `json:"allocation_info,omitempty"`
}

// Attribute is mesos.Attribute.
type Attribute struct {
	Name   string       `json:"name"`
	Type   string       `json:"type"`
	Scalar *ValueScalar `json:"scalar,omitempty"`
	Ranges *ValueRanges `json:"ranges,omitempty"`
	Set    *ValueSet    `json:"set,omitempty"`
	Text   *ValueText   `json:"text,omitempty"`
}

// String renders an attribute's value the way constraints compare it.
func (a Attribute) String() string {
	switch {
	case a.Text != nil:
		return a.Text.Value
	case a.Scalar != nil:
		return fmt.Sprint(a.Scalar.Value)
	case a.Ranges != nil:
		return fmt.Sprint(a.Ranges.Range)
	case a.Set != nil:
		return fmt.Sprint(a.Set.Item)
	}
	return ""
}

// Label is a key/value pair.
type Label struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// Labels is mesos.Labels.
type Labels struct {
	Labels []Label `json:"labels"`
}

// DurationInfo is a duration in nanoseconds.
type DurationInfo struct {
	Nanoseconds int64 `json:"nanoseconds"`
}

// Duration converts to a time.Duration.
func (d *DurationInfo) Duration() time.Duration {
	if d == nil {
		return 0
	}
	return time.Duration(d.Nanoseconds)
}

// TimeInfo is a point in time in nanoseconds since the Unix epoch.
type TimeInfo struct {
	Nanoseconds int64 `json:"nanoseconds"`
}

// NewTimeInfo converts from a time.Time.
func NewTimeInfo(t time.Time) *TimeInfo { return &TimeInfo{Nanoseconds: t.UnixNano()} }

// Address is mesos.Address.
type Address struct {
	Hostname string `json:"hostname,omitempty"`
	IP       string `json:"ip,omitempty"`
	Port     int32  `json:"port"`
}

// URL is mesos.URL.
type URL struct {
	Scheme  string  `json:"scheme"`
	Address Address `json:"address"`
	Path    string  `json:"path,omitempty"`
}

// FrameworkCapability is one entry of FrameworkInfo.capabilities.
type FrameworkCapability struct {
	Type string `json:"type"`
}

// FrameworkInfo is mesos.FrameworkInfo.
type FrameworkInfo struct {
	User            string                `json:"user"`
	Name            string                `json:"name"`
	ID              *FrameworkID          `json:"id,omitempty"`
	FailoverTimeout float64               `json:"failover_timeout,omitempty"`
	Checkpoint      bool                  `json:"checkpoint,omitempty"`
	Role            string                `json:"role,omitempty"`
	Roles           []string              `json:"roles,omitempty"`
	Hostname        string                `json:"hostname,omitempty"`
	Principal       string                `json:"principal,omitempty"`
	WebuiURL        string                `json:"webui_url,omitempty"`
	Capabilities    []FrameworkCapability `json:"capabilities,omitempty"`
	Labels          *Labels               `json:"labels,omitempty"`
}

// HasCapability reports whether the framework declared capability t.
func (f *FrameworkInfo) HasCapability(t string) bool {
	for _, c := range f.Capabilities {
		if c.Type == t {
			return true
		}
	}
	return false
}

// EffectiveRoles returns the framework's roles: Roles for MULTI_ROLE
// frameworks, otherwise Role, defaulting to "*".
func (f *FrameworkInfo) EffectiveRoles() []string {
	if f.HasCapability("MULTI_ROLE") && len(f.Roles) > 0 {
		return f.Roles
	}
	if f.Role != "" {
		return []string{f.Role}
	}
	if len(f.Roles) > 0 {
		return f.Roles
	}
	return []string{"*"}
}

// AgentInfo is mesos.AgentInfo.
type AgentInfo struct {
	Hostname   string      `json:"hostname"`
	Port       int32       `json:"port,omitempty"`
	Resources  []Resource  `json:"resources,omitempty"`
	Attributes []Attribute `json:"attributes,omitempty"`
	ID         *AgentID    `json:"id,omitempty"`
	Domain     *struct{}   `json:"domain,omitempty"`
}

// MasterInfo is mesos.MasterInfo.
type MasterInfo struct {
	ID       string   `json:"id"`
	IP       uint32   `json:"ip"`
	Port     uint32   `json:"port"`
	PID      string   `json:"pid,omitempty"`
	Hostname string   `json:"hostname,omitempty"`
	Version  string   `json:"version,omitempty"`
	Address  *Address `json:"address,omitempty"`
}

// Offer is mesos.Offer.
type Offer struct {
	ID          OfferID      `json:"id"`
	FrameworkID FrameworkID  `json:"framework_id"`
	AgentID     AgentID      `json:"agent_id"`
	Hostname    string       `json:"hostname"`
	URL         *URL         `json:"url,omitempty"`
	Resources   []Resource   `json:"resources"`
	Attributes  []Attribute  `json:"attributes,omitempty"`
	ExecutorIDs []ExecutorID `json:"executor_ids,omitempty"`
}

// Filters is mesos.Filters.
type Filters struct {
	RefuseSeconds *float64 `json:"refuse_seconds,omitempty"`
}

// EnvironmentVariable is one entry of Environment.variables. A SECRET
// variable carries its value in Secret (type VALUE, the data base64 in
// JSON) and is masked in every answer that shows it (see Masked).
type EnvironmentVariable struct {
	Name   string  `json:"name"`
	Type   string  `json:"type,omitempty"` // VALUE (default) or SECRET
	Value  string  `json:"value,omitempty"`
	Secret *Secret `json:"secret,omitempty"`
}

// Secret is mesos.Secret. Agora supports type VALUE (the secret inline);
// REFERENCE names a secret store Agora does not have.
type Secret struct {
	Type  string       `json:"type"` // VALUE or REFERENCE
	Value *SecretValue `json:"value,omitempty"`
}

// SecretValue is Secret.Value; Data is bytes, so base64 in JSON.
type SecretValue struct {
	Data []byte `json:"data"`
}

// SecretMask replaces a secret's data wherever Agora shows it.
const SecretMask = "******"

// Masked returns the environment with every secret's data replaced by
// SecretMask; e itself is not changed. Answers that show a task's command
// (operator API, agent state, events) pass it through this.
func (e *Environment) Masked() *Environment {
	if e == nil {
		return nil
	}
	out := &Environment{Variables: make([]EnvironmentVariable, len(e.Variables))}
	for i, v := range e.Variables {
		if v.Type == "SECRET" || v.Secret != nil {
			v.Value = ""
			v.Secret = &Secret{Type: "VALUE", Value: &SecretValue{Data: []byte(SecretMask)}}
		}
		out.Variables[i] = v
	}
	return out
}

// Environment is mesos.Environment.
type Environment struct {
	Variables []EnvironmentVariable `json:"variables"`
}

// CommandURI is CommandInfo.URI.
type CommandURI struct {
	Value      string `json:"value"`
	Executable bool   `json:"executable,omitempty"`
	Extract    *bool  `json:"extract,omitempty"`
	Cache      bool   `json:"cache,omitempty"`
	OutputFile string `json:"output_file,omitempty"`
}

// CommandInfo is mesos.CommandInfo.
type CommandInfo struct {
	URIs        []CommandURI `json:"uris,omitempty"`
	Environment *Environment `json:"environment,omitempty"`
	Shell       *bool        `json:"shell,omitempty"` // default true
	Value       string       `json:"value,omitempty"`
	Arguments   []string     `json:"arguments,omitempty"`
	User        string       `json:"user,omitempty"`
}

// IsShell reports whether the command runs through /bin/sh -c (the default).
func (c *CommandInfo) IsShell() bool { return c.Shell == nil || *c.Shell }

// PortMapping is ContainerInfo.DockerInfo.PortMapping.
type PortMapping struct {
	HostPort      uint32 `json:"host_port"`
	ContainerPort uint32 `json:"container_port"`
	Protocol      string `json:"protocol,omitempty"`
}

// Parameter is a key/value pair passed to a containerizer.
type Parameter struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// DockerInfo is ContainerInfo.DockerInfo.
type DockerInfo struct {
	Image          string        `json:"image"`
	Network        string        `json:"network,omitempty"` // HOST, BRIDGE, NONE, USER
	PortMappings   []PortMapping `json:"port_mappings,omitempty"`
	Privileged     bool          `json:"privileged,omitempty"`
	Parameters     []Parameter   `json:"parameters,omitempty"`
	ForcePullImage bool          `json:"force_pull_image,omitempty"`
}

// Volume is mesos.Volume.
type Volume struct {
	ContainerPath string `json:"container_path"`
	HostPath      string `json:"host_path,omitempty"`
	Mode          string `json:"mode"` // RW or RO
}

// ContainerInfo is mesos.ContainerInfo.
type ContainerInfo struct {
	Type     string      `json:"type"` // DOCKER or MESOS
	Volumes  []Volume    `json:"volumes,omitempty"`
	Hostname string      `json:"hostname,omitempty"`
	Docker   *DockerInfo `json:"docker,omitempty"`
}

// HealthCheck is mesos.HealthCheck.
type HealthCheck struct {
	DelaySeconds        float64        `json:"delay_seconds,omitempty"`
	IntervalSeconds     float64        `json:"interval_seconds,omitempty"`
	TimeoutSeconds      float64        `json:"timeout_seconds,omitempty"`
	ConsecutiveFailures uint32         `json:"consecutive_failures,omitempty"`
	GracePeriodSeconds  float64        `json:"grace_period_seconds,omitempty"`
	Type                string         `json:"type,omitempty"` // COMMAND, HTTP, TCP
	Command             *CommandInfo   `json:"command,omitempty"`
	HTTP                *HTTPCheckInfo `json:"http,omitempty"`
	TCP                 *TCPCheckInfo  `json:"tcp,omitempty"`
}

// HTTPCheckInfo is HealthCheck.HTTPCheckInfo.
type HTTPCheckInfo struct {
	Protocol string   `json:"protocol,omitempty"`
	Scheme   string   `json:"scheme,omitempty"`
	Port     uint32   `json:"port"`
	Path     string   `json:"path,omitempty"`
	Statuses []uint32 `json:"statuses,omitempty"`
}

// TCPCheckInfo is HealthCheck.TCPCheckInfo.
type TCPCheckInfo struct {
	Protocol string `json:"protocol,omitempty"`
	Port     uint32 `json:"port"`
}

// KillPolicy is mesos.KillPolicy.
type KillPolicy struct {
	GracePeriod *DurationInfo `json:"grace_period,omitempty"`
}

// DiscoveryInfo is mesos.DiscoveryInfo (kept opaque beyond its name).
type DiscoveryInfo struct {
	Visibility string `json:"visibility"`
	Name       string `json:"name,omitempty"`
}

// ExecutorInfo is mesos.ExecutorInfo (custom executors arrive with batch).
type ExecutorInfo struct {
	Type        string         `json:"type,omitempty"`
	ExecutorID  ExecutorID     `json:"executor_id"`
	FrameworkID *FrameworkID   `json:"framework_id,omitempty"`
	Command     *CommandInfo   `json:"command,omitempty"`
	Container   *ContainerInfo `json:"container,omitempty"`
	Resources   []Resource     `json:"resources,omitempty"`
	Name        string         `json:"name,omitempty"`
}

// TaskInfo is mesos.TaskInfo.
type TaskInfo struct {
	Name        string         `json:"name"`
	TaskID      TaskID         `json:"task_id"`
	AgentID     AgentID        `json:"agent_id"`
	Resources   []Resource     `json:"resources"`
	Executor    *ExecutorInfo  `json:"executor,omitempty"`
	Command     *CommandInfo   `json:"command,omitempty"`
	Container   *ContainerInfo `json:"container,omitempty"`
	HealthCheck *HealthCheck   `json:"health_check,omitempty"`
	KillPolicy  *KillPolicy    `json:"kill_policy,omitempty"`
	Data        []byte         `json:"data,omitempty"`
	Labels      *Labels        `json:"labels,omitempty"`
	Discovery   *DiscoveryInfo `json:"discovery,omitempty"`
}

// Task states, as in mesos.proto.
const (
	TaskStaging        = "TASK_STAGING"
	TaskStarting       = "TASK_STARTING"
	TaskRunning        = "TASK_RUNNING"
	TaskKilling        = "TASK_KILLING"
	TaskFinished       = "TASK_FINISHED"
	TaskFailed         = "TASK_FAILED"
	TaskKilled         = "TASK_KILLED"
	TaskError          = "TASK_ERROR"
	TaskLost           = "TASK_LOST"
	TaskDropped        = "TASK_DROPPED"
	TaskUnreachable    = "TASK_UNREACHABLE"
	TaskGone           = "TASK_GONE"
	TaskGoneByOperator = "TASK_GONE_BY_OPERATOR"
	TaskUnknown        = "TASK_UNKNOWN"
)

// IsTerminal reports whether a task in this state will never run again.
// TASK_UNREACHABLE is not terminal: the agent may come back.
func IsTerminal(state string) bool {
	switch state {
	case TaskFinished, TaskFailed, TaskKilled, TaskError, TaskLost, TaskDropped, TaskGone, TaskGoneByOperator:
		return true
	}
	return false
}

// Status update sources.
const (
	SourceMaster   = "SOURCE_MASTER"
	SourceAgent    = "SOURCE_AGENT"
	SourceExecutor = "SOURCE_EXECUTOR"
)

// Status update reasons used by Agora (a subset of mesos.proto's).
const (
	ReasonCommandExecutorFailed     = "REASON_COMMAND_EXECUTOR_FAILED"
	ReasonContainerLaunchFailed     = "REASON_CONTAINER_LAUNCH_FAILED"
	ReasonContainerLimitationMemory = "REASON_CONTAINER_LIMITATION_MEMORY"
	ReasonExecutorTerminated        = "REASON_EXECUTOR_TERMINATED"
	ReasonFrameworkRemoved          = "REASON_FRAMEWORK_REMOVED"
	ReasonInvalidOffers             = "REASON_INVALID_OFFERS"
	ReasonAgentRemoved              = "REASON_AGENT_REMOVED"
	ReasonAgentRestarted            = "REASON_AGENT_RESTARTED"
	ReasonAgentUnknown              = "REASON_AGENT_UNKNOWN"
	ReasonAgentDisconnected         = "REASON_AGENT_DISCONNECTED"
	ReasonReconciliation            = "REASON_RECONCILIATION"
	ReasonTaskInvalid               = "REASON_TASK_INVALID"
	ReasonTaskUnauthorized          = "REASON_TASK_UNAUTHORIZED"
	ReasonTaskUnknown               = "REASON_TASK_UNKNOWN"
	ReasonTaskKilledDuringLaunch    = "REASON_TASK_KILLED_DURING_LAUNCH"
	ReasonResourcesUnknown          = "REASON_RESOURCES_UNKNOWN"
	ReasonContainerPreempted        = "REASON_CONTAINER_PREEMPTED"
	ReasonTaskHealthCheckFailed     = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
)

// ContainerStatus is mesos.ContainerStatus (the parts Agora fills).
type ContainerStatus struct {
	ExecutorPID uint32 `json:"executor_pid,omitempty"`
}

// TaskStatus is mesos.TaskStatus.
type TaskStatus struct {
	TaskID          TaskID           `json:"task_id"`
	State           string           `json:"state"`
	Message         string           `json:"message,omitempty"`
	Source          string           `json:"source,omitempty"`
	Reason          string           `json:"reason,omitempty"`
	Data            []byte           `json:"data,omitempty"`
	AgentID         *AgentID         `json:"agent_id,omitempty"`
	ExecutorID      *ExecutorID      `json:"executor_id,omitempty"`
	Timestamp       float64          `json:"timestamp,omitempty"`
	UUID            []byte           `json:"uuid,omitempty"`
	Healthy         *bool            `json:"healthy,omitempty"`
	Labels          *Labels          `json:"labels,omitempty"`
	ContainerStatus *ContainerStatus `json:"container_status,omitempty"`
}

// Task is mesos.Task: the master's record of a launched task.
type Task struct {
	Name              string         `json:"name"`
	TaskID            TaskID         `json:"task_id"`
	FrameworkID       FrameworkID    `json:"framework_id"`
	ExecutorID        *ExecutorID    `json:"executor_id,omitempty"`
	AgentID           AgentID        `json:"agent_id"`
	State             string         `json:"state"`
	Resources         []Resource     `json:"resources"`
	Statuses          []TaskStatus   `json:"statuses,omitempty"`
	StatusUpdateState string         `json:"status_update_state,omitempty"`
	StatusUpdateUUID  []byte         `json:"status_update_uuid,omitempty"`
	Labels            *Labels        `json:"labels,omitempty"`
	Discovery         *DiscoveryInfo `json:"discovery,omitempty"`
	Container         *ContainerInfo `json:"container,omitempty"`
	HealthCheck       *HealthCheck   `json:"health_check,omitempty"`
	KillPolicy        *KillPolicy    `json:"kill_policy,omitempty"`
	User              string         `json:"user,omitempty"`
	Role              string         `json:"role,omitempty"`
}
