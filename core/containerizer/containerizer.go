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
	// User is the host user the process containerizer runs the task as:
	// the agent sets it to the task's user (command.user, else the
	// framework's) when it switches users, and leaves it empty to run the
	// task as the agent's own user. The docker containerizer ignores it: a
	// container runs as command.user, else as its image's user.
	User string `json:"user,omitempty"`
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

// Recoverer is implemented by containerizers whose containers outlive the
// agent process, so that a restarted agent can adopt them.
type Recoverer interface {
	// Checkpoint returns what Recover needs to find c again (a pid and its
	// start time, a container id...). The agent stores it with the Spec.
	Checkpoint(c Container) ([]byte, error)
	// Recover re-attaches to a container launched by an earlier agent
	// process. If the container ended meanwhile, the returned Container is
	// already Done and its Exit tells how it ended, as far as can be known.
	// An error means the container cannot be found or trusted; the agent
	// then reports the task failed and calls Destroy for it.
	Recover(ctx context.Context, spec Spec, checkpoint []byte) (Container, error)
	// Destroy kills and removes a container known only by its id, e.g.
	// one whose checkpoint is corrupt.
	Destroy(ctx context.Context, containerID string) error
	// Orphans lists the ids of containers this agent started that still
	// exist (running or not), so the agent can destroy those no checkpoint
	// knows.
	Orphans(ctx context.Context, agentID string) ([]string, error)
}

// Execer is implemented by containers that can run a command inside the
// task's context (its container, namespaces and environment), as COMMAND
// health checks need.
type Execer interface {
	Exec(ctx context.Context, argv []string, env []string) (exitCode int, err error)
}
