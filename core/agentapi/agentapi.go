// Package agentapi holds the protocol between an agent and the master.
//
// The agent opens the conversation: it POSTs a SUBSCRIBE call to the
// master's Path and keeps the response open; the master writes Events on it
// in RecordIO framing (package recordio), JSON-encoded, starting with
// REGISTERED. Every other call (UPDATE, PONG) is a separate POST to the same
// path, carrying the Agent-Stream-Id header from the SUBSCRIBE response, and
// is answered 202 Accepted.
//
// Liveness: the master sends PING every ping interval; the agent answers
// with a PONG call. The master marks an agent unreachable after it misses
// max_agent_ping_timeouts pings in a row; an agent that hears nothing for
// several intervals re-subscribes, carrying its agent id and current tasks.
//
// Status updates: the agent sends each task status as an UPDATE with a
// fresh UUID and resends the oldest unacknowledged one per task with backoff
// until the master relays the framework's acknowledgement as an ACKNOWLEDGE
// event; updates for one task are delivered in order.
package agentapi

import "agora/core/mesos"

// Path is the master endpoint agents talk to.
const Path = "/agent/api/v1"

// StreamHeader carries the stream id of an agent's subscription.
const StreamHeader = "Agent-Stream-Id"

// Call types sent by agents.
const (
	CallSubscribe = "SUBSCRIBE"
	CallUpdate    = "UPDATE"
	CallPong      = "PONG"
)

// Call is one message from an agent.
type Call struct {
	Type      string         `json:"type"`
	AgentID   *mesos.AgentID `json:"agent_id,omitempty"`
	Subscribe *Subscribe     `json:"subscribe,omitempty"`
	Update    *Update        `json:"update,omitempty"`
}

// Subscribe registers (no AgentInfo.ID) or re-registers (with the id the
// master gave earlier) an agent.
type Subscribe struct {
	AgentInfo mesos.AgentInfo `json:"agent_info"`
	// Containerizers the agent can run tasks with, e.g. ["process"].
	Containerizers []string `json:"containerizers"`
	Version        string   `json:"version"`
	// Scheme is how the agent's API (sandbox files) is reached: "http"
	// (default) or "https"; offers carry it in their URL.
	Scheme string `json:"scheme,omitempty"`
	// Tasks the agent runs or has ended but not yet had acknowledged, with
	// their latest state (re-registration only).
	Tasks []mesos.Task `json:"tasks,omitempty"`
	// Frameworks of those tasks.
	Frameworks []mesos.FrameworkInfo `json:"frameworks,omitempty"`
}

// Update carries one task status update.
type Update struct {
	FrameworkID mesos.FrameworkID `json:"framework_id"`
	Status      mesos.TaskStatus  `json:"status"`
	// LatestState is the task's newest known state, which may be ahead of
	// Status.State when older updates are still unacknowledged.
	LatestState string `json:"latest_state,omitempty"`
}

// Event types sent by the master.
const (
	EventRegistered        = "REGISTERED"
	EventRunTask           = "RUN_TASK"
	EventKillTask          = "KILL_TASK"
	EventAcknowledge       = "ACKNOWLEDGE"
	EventShutdownFramework = "SHUTDOWN_FRAMEWORK"
	EventPing              = "PING"
	EventShutdown          = "SHUTDOWN"
)

// Event is one message from the master.
type Event struct {
	Type              string             `json:"type"`
	Registered        *Registered        `json:"registered,omitempty"`
	RunTask           *RunTask           `json:"run_task,omitempty"`
	KillTask          *KillTask          `json:"kill_task,omitempty"`
	Acknowledge       *Acknowledge       `json:"acknowledge,omitempty"`
	ShutdownFramework *ShutdownFramework `json:"shutdown_framework,omitempty"`
	Shutdown          *Shutdown          `json:"shutdown,omitempty"`
}

// Registered answers a SUBSCRIBE.
type Registered struct {
	AgentID             mesos.AgentID    `json:"agent_id"`
	MasterInfo          mesos.MasterInfo `json:"master_info"`
	PingIntervalSeconds float64          `json:"ping_interval_seconds"`
}

// RunTask asks the agent to launch a task.
type RunTask struct {
	Framework mesos.FrameworkInfo `json:"framework"`
	Task      mesos.TaskInfo      `json:"task"`
}

// KillTask asks the agent to kill a task. A KillPolicy overrides the one the
// task was launched with.
type KillTask struct {
	FrameworkID mesos.FrameworkID `json:"framework_id"`
	TaskID      mesos.TaskID      `json:"task_id"`
	KillPolicy  *mesos.KillPolicy `json:"kill_policy,omitempty"`
}

// Acknowledge relays a framework's acknowledgement of one status update.
type Acknowledge struct {
	FrameworkID mesos.FrameworkID `json:"framework_id"`
	TaskID      mesos.TaskID      `json:"task_id"`
	UUID        []byte            `json:"uuid"`
}

// ShutdownFramework asks the agent to kill every task of a framework and
// forget it (teardown, or failover timeout).
type ShutdownFramework struct {
	FrameworkID mesos.FrameworkID `json:"framework_id"`
}

// Shutdown tells the agent that the master removed it; it kills its tasks
// and must register afresh.
type Shutdown struct {
	Message string `json:"message"`
}
