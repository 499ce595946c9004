package agent

import (
	"context"
	"fmt"
	"path/filepath"

	"agora/core/agent/checkpoint"
	"agora/core/agent/updates"
	"agora/core/containerizer"
	"agora/core/health"
	"agora/core/mesos"
)

// recoverTasks rebuilds the agent's tasks from its checkpoints before it
// subscribes: running tasks are re-attached, tasks that ended meanwhile get
// their terminal update, untrustworthy ones are destroyed and reported
// TASK_FAILED, and containers no checkpoint knows are destroyed.
func (a *Agent) recoverTasks(ctx context.Context) error {
	fws, err := a.meta.Load()
	if err != nil {
		return fmt.Errorf("agent: recover: %w", err)
	}
	recoverable := map[string]bool{}
	for name, cz := range a.czs {
		_, ok := cz.(containerizer.Recoverer)
		recoverable[name] = ok
	}
	// Containers that belong to recovered tasks, per containerizer.
	known := map[string]map[string]bool{}
	var attached, ended, resent, failed int
	for _, f := range fws {
		fw := mesos.FrameworkInfo{ID: &mesos.FrameworkID{Value: f.ID}}
		if f.Info != nil {
			fw = *f.Info
		} else if f.Err != nil {
			a.logf("agent: recover: framework %s: %v", f.ID, f.Err)
		}
		for _, r := range f.Tasks {
			plan := planRecovery(r, recoverable)
			switch plan.action {
			case recoverCompleted:
				if r.Completed == nil {
					// Acknowledged, but the agent stopped before marking it.
					a.mu.Lock()
					a.completeLocked(a.restoredTask(fw, r))
					a.mu.Unlock()
				}
				continue
			case recoverResend:
				a.mu.Lock()
				a.restoreLocked(fw, r)
				a.mu.Unlock()
				resent++
				continue
			case recoverAttach:
				cz := a.czs[r.Task.Containerizer]
				c, err := cz.(containerizer.Recoverer).Recover(ctx, r.Task.Spec, r.Container)
				if err == nil {
					if known[cz.Name()] == nil {
						known[cz.Name()] = map[string]bool{}
					}
					known[cz.Name()][r.Task.Spec.ContainerID] = true
					if a.attach(fw, r, cz, c) {
						ended++
					} else {
						attached++
					}
					continue
				}
				plan.message = err.Error()
			}
			a.failRecovery(ctx, fw, r, plan.message)
			failed++
		}
	}
	a.destroyOrphans(ctx, known)
	a.mu.Lock()
	if n := attached + ended + resent + failed; n > 0 {
		a.logf("agent: recovered %d task(s) from checkpoints: %d running, %d ended while the agent was down, %d with updates to resend, %d failed",
			n, attached, ended, resent, failed)
	}
	a.mu.Unlock()
	return nil
}

// restoredTask is a task as its records describe it. A task whose info is
// unreadable keeps at least its ids.
func (a *Agent) restoredTask(fw mesos.FrameworkInfo, r *checkpoint.TaskRecord) *task {
	t := &task{
		key:       updates.Key{FrameworkID: r.FrameworkID, TaskID: r.TaskID},
		info:      mesos.TaskInfo{Name: r.TaskID, TaskID: mesos.TaskID{Value: r.TaskID}},
		framework: fw,
		state:     mesos.TaskStaging,
		sandbox:   filepath.Join(a.cfg.WorkDir, sandboxRel(r.FrameworkID, r.TaskID)),
		meta:      true,
		done:      make(chan struct{}),
	}
	if r.Task != nil {
		t.info, t.czName, t.spec = r.Task.Spec.Task, r.Task.Containerizer, r.Task.Spec
		t.sandbox = r.Task.Spec.Sandbox
	}
	if r.Updates != nil {
		t.state = r.Updates.State
	}
	if t.info.HealthCheck != nil {
		if hc, err := health.FromMesos(t.info.HealthCheck); err == nil {
			t.health = &hc
		}
	}
	return t
}

// restoreLocked registers a restored task and queues its unacknowledged
// updates again, in order.
func (a *Agent) restoreLocked(fw mesos.FrameworkInfo, r *checkpoint.TaskRecord) *task {
	t := a.restoredTask(fw, r)
	if fw.ID != nil && fw.ID.Value != "" {
		if op, changed := a.frameworkOpLocked(fw); changed {
			a.meta.Submit(op)
		}
	}
	a.tasks[t.key] = t
	if r.Updates != nil {
		for _, st := range r.Updates.Pending {
			a.updates.Add(t.key, st, r.Updates.Latest)
		}
	}
	if mesos.IsTerminal(t.state) {
		close(t.done)
	}
	return t
}

// attach adopts a recovered container: the task runs on as it was, reports
// RUNNING if it had not yet, resumes a kill in progress, restarts its health
// checker, and is watched as if launched by this agent. It reports whether
// the task had already ended.
func (a *Agent) attach(fw mesos.FrameworkInfo, r *checkpoint.TaskRecord, cz containerizer.Containerizer, c containerizer.Container) (ended bool) {
	a.mu.Lock()
	t := a.restoreLocked(fw, r)
	t.container = c
	select {
	case <-c.Done():
		// It ended while the agent was down: its terminal update is queued
		// before the agent subscribes.
		a.mu.Unlock()
		a.watch(t, cz, c)
		return true
	default:
	}
	switch t.state {
	case mesos.TaskStaging, mesos.TaskStarting:
		a.runningLocked(t, c)
	case mesos.TaskKilling:
		a.killLocked(t, killGrace(nil, t.info.KillPolicy, a.cfg.DefaultKillGrace))
	default:
		a.startHealthLocked(t, c)
	}
	a.mu.Unlock()
	a.taskGroup.Add(1)
	go func() {
		defer a.taskGroup.Done()
		a.watch(t, cz, c)
	}()
	return false
}

// failRecovery destroys what may be left of a task that cannot be
// recovered and reports it TASK_FAILED (after its pending updates), as Mesos
// does for an executor it cannot reconnect to: REASON_EXECUTOR_TERMINATED.
func (a *Agent) failRecovery(ctx context.Context, fw mesos.FrameworkInfo, r *checkpoint.TaskRecord, why string) {
	a.logf("agent: task %q of framework %q cannot be recovered: %s", r.TaskID, r.FrameworkID, why)
	if r.Task != nil {
		if rc, ok := a.czs[r.Task.Containerizer].(containerizer.Recoverer); ok {
			if err := rc.Destroy(ctx, r.Task.Spec.ContainerID); err != nil {
				a.logf("agent: destroy container of task %q: %v", r.TaskID, err)
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.restoreLocked(fw, r)
	if mesos.IsTerminal(t.state) {
		return
	}
	st := a.statusLocked(r.TaskID, mesos.TaskFailed, mesos.SourceAgent, mesos.ReasonExecutorTerminated,
		"Task could not be recovered after the agent restarted: "+why)
	a.finishLocked(t, st)
}

// destroyOrphans destroys the containers each recovering containerizer
// has for this agent that no recovered task owns.
func (a *Agent) destroyOrphans(ctx context.Context, known map[string]map[string]bool) {
	a.mu.Lock()
	id := a.id
	a.mu.Unlock()
	if id == "" {
		return // never registered: nothing can have been launched
	}
	for _, name := range a.czNames {
		rc, ok := a.czs[name].(containerizer.Recoverer)
		if !ok {
			continue
		}
		ids, err := rc.Orphans(ctx, id)
		if err != nil {
			a.logf("agent: %s containerizer: list orphans: %v", name, err)
			continue
		}
		for _, cid := range ids {
			if known[name][cid] {
				continue
			}
			a.logf("agent: destroying %s container %s, which no checkpointed task owns", name, cid)
			if err := rc.Destroy(ctx, cid); err != nil {
				a.logf("agent: destroy orphan %s: %v", cid, err)
			}
		}
	}
}
