package state

import (
	"context"
	"sync"

	"agora/frameworks/cron/core"
)

// Apply writes what one core.Decisions asks to persist, in four phases:
// every run in PersistRuns, then every cursor in PersistCursors, then the
// runs in DeleteRuns, then the cursors in DeleteCursors (as DeleteJob, a
// deleted job's runs go before its cursor). Each phase ends before the
// next begins, so a cursor is never stored ahead of the runs it accounts
// for. Within a phase
// writes go to the store concurrently (at most DefaultParallel at a time,
// see WithParallel), which lets a group-committing store share one sync
// among them; when one key appears twice in a phase the later entry wins.
//
// Every record is encoded and checked before anything is written, so an
// invalid batch writes nothing. After a failed write no further write is
// started (in-flight ones finish) and no later phase runs; Apply returns
// the first error, which names the key. A batch cut short may be applied
// again whole: every write is idempotent.
func (s *Store) Apply(ctx context.Context, d core.Decisions) error {
	if s.rootErr != nil {
		return s.rootErr
	}
	runs := make([]op, 0, len(d.PersistRuns))
	for _, r := range d.PersistRuns {
		w, err := s.runOp(r)
		if err != nil {
			return err
		}
		runs = append(runs, w)
	}
	cursors := make([]op, 0, len(d.PersistCursors))
	for _, c := range d.PersistCursors {
		w, err := s.cursorOp(c)
		if err != nil {
			return err
		}
		cursors = append(cursors, w)
	}
	dels := make([]op, 0, len(d.DeleteRuns))
	for _, r := range d.DeleteRuns {
		w, err := s.deleteRunOp(r)
		if err != nil {
			return err
		}
		dels = append(dels, w)
	}
	cursorDels := make([]op, 0, len(d.DeleteCursors))
	for _, id := range d.DeleteCursors {
		w, err := s.deleteCursorOp(id)
		if err != nil {
			return err
		}
		cursorDels = append(cursorDels, w)
	}
	for _, phase := range [][]op{runs, cursors, dels, cursorDels} {
		if err := s.run(ctx, lastPerKey(phase)); err != nil {
			return err
		}
	}
	return nil
}

// lastPerKey drops every op that a later op on the same key supersedes,
// keeping order otherwise: concurrent writes to one key could land in
// either order.
func lastPerKey(ops []op) []op {
	if len(ops) < 2 {
		return ops
	}
	last := make(map[string]int, len(ops))
	for i, w := range ops {
		last[w.key] = i
	}
	if len(last) == len(ops) {
		return ops
	}
	out := make([]op, 0, len(last))
	for i, w := range ops {
		if last[w.key] == i {
			out = append(out, w)
		}
	}
	return out
}

// run performs ops with at most s.parallel in flight and returns the first
// error; once one failed, no further op is started.
func (s *Store) run(ctx context.Context, ops []op) error {
	switch len(ops) {
	case 0:
		return nil
	case 1:
		return s.write(ctx, ops[0])
	}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, max(s.parallel, 1))
	)
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return first != nil
	}
	for _, w := range ops {
		sem <- struct{}{}
		if failed() {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.write(ctx, w); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}
