// Package containerizer defines how an agent runs a task: the Spec it hands
// to a containerizer and the Exit it gets back. Implementations live in
// subpackages (process; docker arrives later) and all satisfy Containerizer.
package containerizer

import (
	"context"
	"time"

	"agora/core/mesos"
	"agora/core/resources"
)

// Spec is everything a containerizer needs to start one task.
type Spec struct {
	// ContainerID is unique per launch on this agent; it names cgroups and
	// containers.
	ContainerID string
	Task        mesos.TaskInfo
	FrameworkID string
	AgentID     string
	// Sandbox is the task's working directory; it exists when Launch is
	// called. The task's stdout and stderr go to Sandbox/stdout and
	// Sandbox/stderr.
	Sandbox string
	// Env is the environment the agent computed (MESOS_TASK_ID,
	// MESOS_SANDBOX, PORT0..PORTn, ...) merged before the command's own.
	Env []string
	// Limits are the task's resources; containerizers enforce CPU and
	// memory where the host allows.
	Limits resources.Resources
}

// Exit describes how a task ended.
type Exit struct {
	// Code is the exit status, or -1 if the task was killed by a signal.
	Code int
	// Signal is the terminating signal number, or 0.
	Signal int
	// Killed is true when the task ended because Kill was called.
	Killed bool
	// OOM is true when the task was killed for exceeding its memory limit.
	OOM bool
	// Message is a human-readable summary, e.g. "Command exited with status 3".
	Message string
}

// Container is one launched task.
type Container interface {
	// PID of the task's main process, if it has one.
	PID() int
	// Done is closed when the task has ended; Exit is valid after that.
	Done() <-chan struct{}
	Exit() Exit
	// Kill sends SIGTERM to the whole task, then SIGKILL after grace if it
	// is still running. It returns at once; watch Done.
	Kill(grace time.Duration)
}

// Containerizer starts tasks.
type Containerizer interface {
	// Name is the containerizer's name as the agent advertises it
	// ("process", "docker").
	Name() string
	// Launch starts the task. An error means it never started; the message
	// says why.
	Launch(ctx context.Context, spec Spec) (Container, error)
}
