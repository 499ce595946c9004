package agent

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"agora/core/agent/checkpoint"
	"agora/core/containerizer"
	"agora/core/mesos"
	"agora/core/resources"
)

// The pure decisions of the agent: which containerizer runs a task, the
// environment it gets, where its sandbox is, how a container's end maps to a
// task state, how long a kill may take, and what a restarted agent does with
// each checkpointed task. None of them does I/O.

// containerizerFor names the containerizer a task asks for.
func containerizerFor(c *mesos.ContainerInfo) (string, error) {
	if c == nil {
		return "process", nil
	}
	switch c.Type {
	case "", "MESOS":
		return "process", nil
	case "DOCKER":
		return "docker", nil
	}
	return "", fmt.Errorf("container.type %q is unknown; use MESOS or DOCKER", c.Type)
}

// checkID rejects ids that cannot name a sandbox directory safely.
func checkID(field, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%s is empty", field)
	case id == "." || id == "..":
		return fmt.Errorf("%s %q is not allowed", field, id)
	case strings.ContainsAny(id, "/\\\x00"):
		return fmt.Errorf("%s %q contains a path separator or NUL", field, id)
	}
	return nil
}

// sandboxRel is a task's sandbox relative to the work directory; it is also
// the path the /files endpoints take (with a leading slash).
func sandboxRel(frameworkID, taskID string) string {
	return filepath.Join("frameworks", frameworkID, "tasks", taskID)
}

// taskUser is who a task runs as, as Mesos decides it: command.user, else
// its framework's user; "" if neither says.
func taskUser(info mesos.TaskInfo, fw *mesos.FrameworkInfo) string {
	if info.Command != nil && info.Command.User != "" {
		return info.Command.User
	}
	if fw != nil {
		return fw.User
	}
	return ""
}

// runUser is the host user the agent asks the containerizer to run a task
// as (containerizer.Spec.User): the task's user when it switches users,
// else "" for the agent's own.
func runUser(switchUser bool, info mesos.TaskInfo, fw *mesos.FrameworkInfo) string {
	if !switchUser {
		return ""
	}
	return taskUser(info, fw)
}

// maskedCommand is a command as the agent shows it: its secrets masked.
func maskedCommand(cmd *mesos.CommandInfo) *mesos.CommandInfo {
	if cmd == nil {
		return nil
	}
	c := *cmd
	c.Environment = cmd.Environment.Masked()
	return &c
}

// taskEnv is the environment the agent gives a task, before the command's
// own variables: the Mesos names for ids and sandbox, HOST, and PORT0..n,
// PORT and PORTS for the task's ports in ascending order.
func taskEnv(agentID, hostname, frameworkID, taskID, sandbox string, ports resources.Ranges) []string {
	env := []string{
		"MESOS_TASK_ID=" + taskID,
		"MESOS_FRAMEWORK_ID=" + frameworkID,
		"MESOS_AGENT_ID=" + agentID,
		"MESOS_SANDBOX=" + sandbox,
		"MESOS_DIRECTORY=" + sandbox,
		"HOST=" + hostname,
	}
	var list []string
	for _, r := range ports {
		for p := r.Begin; p <= r.End; p++ {
			n := len(list)
			list = append(list, strconv.FormatUint(p, 10))
			env = append(env, "PORT"+strconv.Itoa(n)+"="+list[n])
		}
	}
	if len(list) > 0 {
		env = append(env, "PORT="+list[0], "PORTS="+strings.Join(list, ","))
	}
	return env
}

// exitState maps how a container ended to the task's terminal state.
func exitState(e containerizer.Exit) (state, reason string) {
	switch {
	case e.Killed:
		return mesos.TaskKilled, ""
	case e.OOM:
		return mesos.TaskFailed, mesos.ReasonContainerLimitationMemory
	case e.Code == 0 && e.Signal == 0:
		return mesos.TaskFinished, ""
	}
	return mesos.TaskFailed, mesos.ReasonCommandExecutorFailed
}

// killGrace is how long a killed task gets between SIGTERM and SIGKILL: the
// kill call's policy, else the task's, else the agent's default.
func killGrace(call, task *mesos.KillPolicy, def time.Duration) time.Duration {
	for _, p := range []*mesos.KillPolicy{call, task} {
		if p != nil && p.GracePeriod != nil {
			return max(0, p.GracePeriod.Duration())
		}
	}
	return def
}

// newStatus builds one status update. Every update carries the agent id, a
// timestamp in float seconds and its own UUID, by which it is acknowledged.
func newStatus(taskID, state, source, reason, message, agentID string, now time.Time, uuid []byte) mesos.TaskStatus {
	st := mesos.TaskStatus{
		TaskID:    mesos.TaskID{Value: taskID},
		State:     state,
		Source:    source,
		Reason:    reason,
		Message:   message,
		Timestamp: float64(now.UnixNano()) / 1e9,
		UUID:      uuid,
	}
	if agentID != "" {
		st.AgentID = &mesos.AgentID{Value: agentID}
	}
	return st
}

// nextBackoff doubles a reconnect delay within [min, max].
func nextBackoff(cur, lo, hi time.Duration) time.Duration {
	if cur < lo {
		return lo
	}
	return min(2*cur, hi)
}

// recoveryAction is what a restarted agent does with one checkpointed task.
type recoveryAction int

const (
	// recoverCompleted: the task was done with before the restart; only
	// its sandbox and records remain, for garbage collection.
	recoverCompleted recoveryAction = iota
	// recoverResend: the task ended but its last updates were not
	// acknowledged; resend them.
	recoverResend
	// recoverAttach: the task was launched and not ended; re-attach to its
	// container through the containerizer.
	recoverAttach
	// recoverFail: the task cannot be trusted to run on: destroy whatever
	// is left of it and report it TASK_FAILED.
	recoverFail
)

// recoveryPlan is the decision for one task, with why it fails.
type recoveryPlan struct {
	action  recoveryAction
	message string
}

// planRecovery decides what to do with a checkpointed task, from its
// records alone. recoverable maps the names of this agent's containerizers
// to whether they can recover containers (implement Recoverer).
func planRecovery(r *checkpoint.TaskRecord, recoverable map[string]bool) recoveryPlan {
	fail := func(format string, args ...any) recoveryPlan {
		return recoveryPlan{action: recoverFail, message: fmt.Sprintf(format, args...)}
	}
	switch {
	case r.Completed != nil || r.CompletedErr != nil:
		return recoveryPlan{action: recoverCompleted}
	case r.TaskErr != nil:
		return fail("its checkpointed task info is unreadable: %v", r.TaskErr)
	case r.UpdatesErr != nil:
		return fail("its checkpointed status updates are unreadable: %v", r.UpdatesErr)
	case r.Updates == nil:
		return fail("the agent stopped before the task's launch was recorded")
	case mesos.IsTerminal(r.Updates.State):
		if len(r.Updates.Pending) > 0 {
			return recoveryPlan{action: recoverResend}
		}
		return recoveryPlan{action: recoverCompleted}
	}
	can, enabled := recoverable[r.Task.Containerizer]
	switch {
	case !enabled:
		return fail("its containerizer %q is not enabled on this agent any more", r.Task.Containerizer)
	case !can:
		return fail("its containerizer %q cannot recover tasks after an agent restart", r.Task.Containerizer)
	case r.ContainerErr != nil:
		return fail("its container checkpoint is unreadable: %v", r.ContainerErr)
	case r.Container == nil:
		return fail("the agent stopped while the task was launching")
	}
	return recoveryPlan{action: recoverAttach}
}
