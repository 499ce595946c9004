package mesos

// Operator (master.proto) call and response types.
const (
	GetHealth     = "GET_HEALTH"
	GetFlags      = "GET_FLAGS"
	GetVersion    = "GET_VERSION"
	GetMetrics    = "GET_METRICS"
	GetState      = "GET_STATE"
	GetAgents     = "GET_AGENTS"
	GetFrameworks = "GET_FRAMEWORKS"
	GetExecutors  = "GET_EXECUTORS"
	GetTasks      = "GET_TASKS"
	GetRoles      = "GET_ROLES"
	GetMaster     = "GET_MASTER"
)

// OperatorCall is master.proto Call (the subset Agora answers).
type OperatorCall struct {
	Type string `json:"type"`
}

// OperatorResponse is master.proto Response.
type OperatorResponse struct {
	Type          string          `json:"type"`
	GetHealth     *HealthInfo     `json:"get_health,omitempty"`
	GetVersion    *VersionResp    `json:"get_version,omitempty"`
	GetState      *StateResp      `json:"get_state,omitempty"`
	GetAgents     *AgentsResp     `json:"get_agents,omitempty"`
	GetFrameworks *FrameworksResp `json:"get_frameworks,omitempty"`
	GetTasks      *TasksResp      `json:"get_tasks,omitempty"`
	GetRoles      *RolesResp      `json:"get_roles,omitempty"`
	GetMaster     *MasterResp     `json:"get_master,omitempty"`
	GetExecutors  *ExecutorsResp  `json:"get_executors,omitempty"`
}

// HealthInfo is Response.GetHealth.
type HealthInfo struct {
	Healthy bool `json:"healthy"`
}

// VersionInfo is mesos.VersionInfo.
type VersionInfo struct {
	Version   string  `json:"version"`
	BuildDate string  `json:"build_date,omitempty"`
	BuildTime float64 `json:"build_time,omitempty"`
	BuildUser string  `json:"build_user,omitempty"`
	GitSHA    string  `json:"git_sha,omitempty"`
}

// VersionResp is Response.GetVersion.
type VersionResp struct {
	VersionInfo VersionInfo `json:"version_info"`
}

// AgentState is Response.GetAgents.Agent.
type AgentState struct {
	AgentInfo          AgentInfo             `json:"agent_info"`
	Active             bool                  `json:"active"`
	Deactivated        bool                  `json:"deactivated,omitempty"`
	Version            string                `json:"version"`
	PID                string                `json:"pid,omitempty"`
	RegisteredTime     *TimeInfo             `json:"registered_time,omitempty"`
	ReregisteredTime   *TimeInfo             `json:"reregistered_time,omitempty"`
	TotalResources     []Resource            `json:"total_resources"`
	AllocatedResources []Resource            `json:"allocated_resources"`
	OfferedResources   []Resource            `json:"offered_resources"`
	Capabilities       []FrameworkCapability `json:"capabilities,omitempty"`
}

// AgentsResp is Response.GetAgents.
type AgentsResp struct {
	Agents          []AgentState `json:"agents"`
	RecoveredAgents []AgentInfo  `json:"recovered_agents"`
}

// FrameworkState is Response.GetFrameworks.Framework.
type FrameworkState struct {
	FrameworkInfo      FrameworkInfo `json:"framework_info"`
	Active             bool          `json:"active"`
	Connected          bool          `json:"connected"`
	Recovered          bool          `json:"recovered"`
	RegisteredTime     *TimeInfo     `json:"registered_time,omitempty"`
	ReregisteredTime   *TimeInfo     `json:"reregistered_time,omitempty"`
	UnregisteredTime   *TimeInfo     `json:"unregistered_time,omitempty"`
	Offers             []Offer       `json:"offers"`
	AllocatedResources []Resource    `json:"allocated_resources"`
	OfferedResources   []Resource    `json:"offered_resources"`
}

// FrameworksResp is Response.GetFrameworks.
type FrameworksResp struct {
	Frameworks          []FrameworkState `json:"frameworks"`
	CompletedFrameworks []FrameworkState `json:"completed_frameworks"`
}

// TasksResp is Response.GetTasks.
type TasksResp struct {
	PendingTasks     []TaskInfo `json:"pending_tasks"`
	Tasks            []Task     `json:"tasks"`
	UnreachableTasks []Task     `json:"unreachable_tasks"`
	CompletedTasks   []Task     `json:"completed_tasks"`
	OrphanTasks      []Task     `json:"orphan_tasks,omitempty"`
}

// ExecutorsResp is Response.GetExecutors.
type ExecutorsResp struct {
	Executors []struct{} `json:"executors"`
}

// StateResp is Response.GetState.
type StateResp struct {
	GetTasks      TasksResp      `json:"get_tasks"`
	GetExecutors  ExecutorsResp  `json:"get_executors"`
	GetFrameworks FrameworksResp `json:"get_frameworks"`
	GetAgents     AgentsResp     `json:"get_agents"`
}

// Role is mesos.Role.
type Role struct {
	Name       string        `json:"name"`
	Weight     float64       `json:"weight"`
	Frameworks []FrameworkID `json:"frameworks"`
	Resources  []Resource    `json:"resources"`
}

// RolesResp is Response.GetRoles.
type RolesResp struct {
	Roles []Role `json:"roles"`
}

// MasterResp is Response.GetMaster.
type MasterResp struct {
	MasterInfo  MasterInfo `json:"master_info"`
	StartTime   float64    `json:"start_time,omitempty"`
	ElectedTime float64    `json:"elected_time,omitempty"`
}
