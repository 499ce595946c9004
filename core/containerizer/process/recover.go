package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"agora/core/containerizer"
)

// checkpointVersion is bumped when checkpoint's meaning changes; Recover
// refuses versions it does not know rather than guess.
const checkpointVersion = 1

// checkpoint is what the agent stores to find a container again.
type checkpoint struct {
	Version     int        `json:"version"`
	ContainerID string     `json:"container_id"`
	RuntimeDir  string     `json:"runtime_dir"`
	BootID      string     `json:"boot_id"`
	Shim        procRecord `json:"shim"`
	Task        procRecord `json:"task"`
}

// Checkpoint returns the bytes Recover needs: the container's runtime
// directory, the boot id, and the shim's and task's pids with start times.
func (c *Containerizer) Checkpoint(ctr containerizer.Container) ([]byte, error) {
	pc, ok := ctr.(*container)
	if !ok {
		return nil, fmt.Errorf("process containerizer: checkpoint: %T is not a process container", ctr)
	}
	return json.Marshal(checkpoint{
		Version:     checkpointVersion,
		ContainerID: pc.id,
		RuntimeDir:  pc.dir,
		BootID:      c.bootID,
		Shim:        pc.shim.proc,
		Task:        pc.task,
	})
}

// Recover re-attaches to a container from its checkpoint. If the shim still
// runs, the returned container ends when it does; if it has ended, the
// container is already Done with the recorded outcome. It fails when the
// checkpoint is unreadable or belongs to another container, directory or
// boot, or when the shim is gone without an outcome.
func (c *Containerizer) Recover(ctx context.Context, spec containerizer.Spec, raw []byte) (containerizer.Container, error) {
	ctr, err := c.recover(spec, raw)
	if err != nil {
		return nil, fmt.Errorf("recover %s: %w", spec.ContainerID, err)
	}
	return ctr, nil
}

func (c *Containerizer) recover(spec containerizer.Spec, raw []byte) (*container, error) {
	var cp checkpoint
	if err := json.Unmarshal(raw, &cp); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	switch {
	case cp.Version != checkpointVersion:
		return nil, fmt.Errorf("checkpoint: version %d, want %d", cp.Version, checkpointVersion)
	case cp.ContainerID != spec.ContainerID:
		return nil, fmt.Errorf("checkpoint: container_id %q, want %q", cp.ContainerID, spec.ContainerID)
	case cp.RuntimeDir != filepath.Join(c.runtimeDir, spec.ContainerID):
		// Never trust a path from a file more than the configuration.
		return nil, fmt.Errorf("checkpoint: runtime_dir %q is not %q", cp.RuntimeDir, filepath.Join(c.runtimeDir, spec.ContainerID))
	case cp.BootID != c.bootID:
		return nil, fmt.Errorf("checkpoint: boot_id %q is not this boot's %q: the host rebooted and the task is gone", cp.BootID, c.bootID)
	case cp.Shim.PID <= 0 || cp.Task.PID <= 0:
		return nil, errors.New("checkpoint: missing shim or task pid")
	}
	var rec launchRecord
	if err := readJSON(filepath.Join(cp.RuntimeDir, launchFile), &rec); err != nil {
		return nil, fmt.Errorf("runtime dir: %w", err)
	}
	if rec.ContainerID != spec.ContainerID {
		return nil, fmt.Errorf("runtime dir: %s names container %q", launchFile, rec.ContainerID)
	}
	var task procRecord
	if err := readJSON(filepath.Join(cp.RuntimeDir, taskFile), &task); err != nil {
		return nil, fmt.Errorf("runtime dir: %w", err)
	}
	if task != cp.Task {
		return nil, fmt.Errorf("runtime dir: task %+v, checkpoint says %+v", task, cp.Task)
	}
	ctr := &container{
		id:   spec.ContainerID,
		dir:  cp.RuntimeDir,
		rec:  rec,
		task: cp.Task,
		logf: c.logf,
		done: make(chan struct{}),
	}
	var k killRecord
	if readJSON(filepath.Join(cp.RuntimeDir, killFile), &k) == nil {
		ctr.killDeadline = time.Unix(0, k.DeadlineUnixNano)
	}
	// An outcome means the task has ended, whether or not its shim has
	// finished exiting; otherwise the shim must still be running. The
	// outcome is read again after opening the shim: it may have written
	// it in between.
	exit, oerr := readOutcome(cp.RuntimeDir)
	var shim *pidHandle
	if oerr != nil {
		var err error
		shim, err = openProcess(cp.Shim)
		if err != nil {
			if exit, oerr = readOutcome(cp.RuntimeDir); oerr != nil {
				return nil, fmt.Errorf("shim %d has exited (%v) and %v", cp.Shim.PID, err, oerr)
			}
		}
	}
	if shim == nil {
		ctr.shim = &pidHandle{proc: cp.Shim}
		ctr.finish(exit)
		return ctr, nil
	}
	ctr.shim = shim
	go ctr.watch()
	return ctr, nil
}

// destroyTimeout bounds how long Destroy waits for a shim to finish once its
// task is killed, when ctx gives no deadline.
const destroyTimeout = 30 * time.Second

// Destroy kills whatever is left of a container (its task's process group,
// every process in its cgroup, its shim), removes its cgroup and its
// runtime directory. Destroying a container that is gone is not an error.
func (c *Containerizer) Destroy(ctx context.Context, containerID string) error {
	if err := validName(containerID); err != nil {
		return fmt.Errorf("destroy: container_id: %w", err)
	}
	dir := filepath.Join(c.runtimeDir, containerID)
	var rec launchRecord
	recErr := readJSON(filepath.Join(dir, launchFile), &rec)
	cg := rec.Cgroup.taskCgroup()
	if recErr != nil && c.cgroups != nil {
		// Without launch.json the cgroup is where this configuration puts it.
		cg = c.cgroups.taskCgroup(containerID)
	}
	var shim *pidHandle
	var sp procRecord
	if readJSON(filepath.Join(dir, shimFile), &sp) == nil {
		if h, err := openProcess(sp); err == nil {
			shim = h
			defer shim.close()
			// The shim records the kill in the outcome and ends.
			_ = writeJSON(filepath.Join(dir, killFile), killRecord{DeadlineUnixNano: time.Now().UnixNano()})
			_ = shim.signal(syscall.SIGUSR1)
		}
	}
	var task procRecord
	if readJSON(filepath.Join(dir, taskFile), &task) == nil {
		killTask(task, nil, c.logf)
	}
	cleanupCgroup(cg, c.logf)
	if shim != nil {
		waited := make(chan struct{})
		go func() { shim.wait(); close(waited) }()
		timeout := time.NewTimer(destroyTimeout)
		defer timeout.Stop()
		select {
		case <-waited:
		case <-ctx.Done():
			return fmt.Errorf("destroy %s: shim %d still running: %w", containerID, sp.PID, ctx.Err())
		case <-timeout.C:
			return fmt.Errorf("destroy %s: shim %d still running after %v", containerID, sp.PID, destroyTimeout)
		}
	}
	if err := removeRuntimeDir(dir); err != nil {
		return fmt.Errorf("destroy %s: %w", containerID, err)
	}
	return nil
}

// Orphans lists the containers in the runtime directory launched for
// agentID, running or not. A directory without a readable launch.json (a
// launch interrupted at its very start, before anything ran) cannot be
// attributed to an agent and is left alone.
func (c *Containerizer) Orphans(ctx context.Context, agentID string) ([]string, error) {
	entries, err := os.ReadDir(c.runtimeDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("orphans: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if !e.IsDir() || validName(e.Name()) != nil {
			continue
		}
		var rec launchRecord
		if err := readJSON(filepath.Join(c.runtimeDir, e.Name(), launchFile), &rec); err != nil || rec.AgentID != agentID {
			continue
		}
		ids = append(ids, e.Name())
	}
	sort.Strings(ids)
	return ids, nil
}
