package agent

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"agora/core/agent/checkpoint"
	"agora/core/agent/gc"
	"agora/core/agent/updates"
)

// trashDir holds sandboxes being deleted: a sandbox is renamed there (fast,
// under the lock) and removed afterwards, so a task relaunched under the
// same id never has its new sandbox deleted.
const trashDir = ".trash"

// gcLoop collects garbage at start and every GCInterval until ctx ends.
func (a *Agent) gcLoop(ctx context.Context) {
	tick := time.NewTicker(a.cfg.GCInterval)
	defer tick.Stop()
	for {
		a.collectGarbage()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// collectGarbage removes the sandboxes and records of completed tasks that
// gc.Select picks.
func (a *Agent) collectGarbage() {
	// Leftovers of an interrupted collection go first.
	_ = os.RemoveAll(filepath.Join(a.cfg.WorkDir, trashDir))
	fws, err := a.meta.Load()
	if err != nil {
		a.logf("agent: gc: %v", err)
		return
	}
	var cands []gc.Candidate
	keys := map[string]updates.Key{}
	now := a.now()
	for _, f := range fws {
		for _, r := range f.Tasks {
			if r.Completed == nil && r.CompletedErr == nil {
				continue
			}
			at := now
			if r.Completed != nil {
				at = *r.Completed
			}
			id := r.FrameworkID + "/" + r.TaskID
			keys[id] = updates.Key{FrameworkID: r.FrameworkID, TaskID: r.TaskID}
			cands = append(cands, gc.Candidate{ID: id, Completed: at})
		}
	}
	if len(cands) == 0 {
		return
	}
	policy := gc.Policy{Delay: a.cfg.GCDelay, DiskThreshold: a.cfg.GCDiskThreshold}
	disk, err := a.diskUsage(a.cfg.WorkDir)
	if err != nil {
		a.logf("agent: gc: %v; collecting by age only", err)
		disk = gc.Disk{}
	}
	if disk.Total > 0 && float64(disk.Used) > policy.DiskThreshold*float64(disk.Total) {
		// Sizes matter only when the disk is over the threshold.
		for i := range cands {
			k := keys[cands[i].ID]
			cands[i].Size = dirSize(filepath.Join(a.cfg.WorkDir, sandboxRel(k.FrameworkID, k.TaskID)))
		}
	}
	for _, id := range gc.Select(policy, cands, disk, now) {
		a.removeCompleted(keys[id])
	}
}

// removeCompleted deletes one completed task's sandbox and records, unless
// a task by that id runs again.
func (a *Agent) removeCompleted(k updates.Key) {
	sandbox := filepath.Join(a.cfg.WorkDir, sandboxRel(k.FrameworkID, k.TaskID))
	trash := filepath.Join(a.cfg.WorkDir, trashDir, strconv.FormatInt(time.Now().UnixNano(), 36))
	a.mu.Lock()
	if a.tasks[k] != nil {
		a.mu.Unlock()
		return
	}
	err := os.MkdirAll(filepath.Dir(trash), 0o755)
	if err == nil {
		err = os.Rename(sandbox, trash)
	}
	if err != nil && !os.IsNotExist(err) {
		a.mu.Unlock()
		a.logf("agent: gc: sandbox of task %q: %v", k.TaskID, err)
		return
	}
	// Submitted under the lock, so it is ordered before the records of a
	// task launched by this id later; the framework's records may go with
	// it, so its info is written again by its next launch.
	removed := a.meta.Submit(checkpoint.RemoveTaskOp(k.FrameworkID, k.TaskID))
	delete(a.fwCheckpoints, k.FrameworkID)
	a.mu.Unlock()
	if err := removed.Wait(); err != nil {
		a.logf("agent: gc: %v", err)
	}
	if err := os.RemoveAll(trash); err != nil {
		a.logf("agent: gc: %v", err)
	}
	// The framework's sandbox directory goes with its last task.
	tasks := filepath.Join(a.cfg.WorkDir, frameworksDir, k.FrameworkID, "tasks")
	if os.Remove(tasks) == nil {
		_ = os.Remove(filepath.Dir(tasks))
	}
	a.logf("agent: gc: removed the sandbox of completed task %q of framework %q", k.TaskID, k.FrameworkID)
}

// diskUsage measures the disk holding dir as df does: used is what is not
// available to unprivileged users.
func diskUsage(dir string) (gc.Disk, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return gc.Disk{}, fmt.Errorf("statfs %s: %w", dir, err)
	}
	total := int64(st.Blocks) * st.Bsize
	return gc.Disk{Total: total, Used: total - int64(st.Bavail)*st.Bsize}, nil
}

// dirSize is the disk space the files under dir occupy.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			} else {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
