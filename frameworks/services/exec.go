package services

import (
	"context"
	"fmt"
	"sync"
	"time"

	"agora/core/mesos"
	"agora/core/store"
	"agora/frameworks/services/core"
)

// persistParallelism bounds concurrent instance writes; the store commits
// concurrent writes together, so a thousand launches cost a few commits.
const persistParallelism = 64

// act carries out decisions: stores what they change, then tells the
// master. It returns the first write error; calls to the master that fail
// are logged, as the core retries kills and reconciles lost launches.
func (f *Framework) act(ctx context.Context, d core.Decisions) error {
	sched := f.drv.Scheduler()
	if err := f.persist(ctx, d.Persist); err != nil {
		f.cfg.Logf("services: storing state: %v", err)
		// Nothing that depends on the write may reach the master; offers
		// are declined so they are not held.
		var ids []mesos.OfferID
		for _, a := range d.Accept {
			ids = append(ids, a.OfferID)
		}
		for _, dc := range d.Decline {
			ids = append(ids, dc.OfferID)
		}
		if len(ids) > 0 {
			refuse := 1.0
			f.drv.Call(ctx, "DECLINE", sched.Decline(ctx, ids, &mesos.Filters{RefuseSeconds: &refuse}))
		}
		return err
	}
	f.send(ctx, d)
	for _, e := range d.Events {
		f.hub.publish(e)
	}
	f.publish(false)
	return nil
}

// publish hands the running instances to the registry, if there is one:
// when they changed, or always with force.
func (f *Framework) publish(force bool) {
	if f.pub == nil || !f.recovered {
		return
	}
	f.pub.offer(published(f.core.Apps(), f.core.Instances("")), force)
	f.published = time.Now()
}

// send makes the master calls of d, accepts on different agents at once.
func (f *Framework) send(ctx context.Context, d core.Decisions) {
	sched := f.drv.Scheduler()
	var wg sync.WaitGroup
	for _, a := range d.Accept {
		wg.Add(1)
		go func() {
			defer wg.Done()
			op := mesos.Operation{Type: "LAUNCH", Launch: &mesos.LaunchOperation{TaskInfos: a.Tasks}}
			refuse := 1.0
			f.drv.Call(ctx, "ACCEPT", sched.Accept(ctx, []mesos.OfferID{a.OfferID}, []mesos.Operation{op}, &mesos.Filters{RefuseSeconds: &refuse}))
		}()
	}
	if len(d.Decline) > 0 {
		// Declines with the same filter go in one call.
		byRefuse := map[float64][]mesos.OfferID{}
		for _, dc := range d.Decline {
			byRefuse[dc.RefuseSeconds] = append(byRefuse[dc.RefuseSeconds], dc.OfferID)
		}
		for refuse, ids := range byRefuse {
			r := refuse
			f.drv.Call(ctx, "DECLINE", sched.Decline(ctx, ids, &mesos.Filters{RefuseSeconds: &r}))
		}
	}
	wg.Wait()
	for _, t := range d.Kill {
		f.drv.Call(ctx, "KILL "+t.Value, sched.Kill(ctx, t, nil))
	}
	var recon []mesos.ReconcileTask
	for _, t := range d.Reconcile {
		recon = append(recon, mesos.ReconcileTask{TaskID: t})
	}
	if len(recon) > 0 {
		f.drv.Call(ctx, "RECONCILE", sched.Reconcile(ctx, recon))
	}
	if d.ReconcileAll {
		f.drv.Call(ctx, "RECONCILE", sched.Reconcile(ctx, nil))
	}
	if d.Revive {
		f.drv.Call(ctx, "REVIVE", sched.Revive(ctx, f.cfg.Role))
	}
	if d.Suppress {
		f.drv.Call(ctx, "SUPPRESS", sched.Suppress(ctx, f.cfg.Role))
	}
}

// persist writes changes. App-level changes (apps, versions, deployments)
// are written in order; instance changes are collapsed to the last one per
// task and written concurrently, after the app-level ones.
func (f *Framework) persist(ctx context.Context, changes []core.Change) error {
	last := map[string]int{} // task id -> index of its last change
	for i, c := range changes {
		if c.Kind == core.PutInstance || c.Kind == core.DeleteInstance {
			last[taskOf(c)] = i
		}
	}
	for _, c := range changes {
		var err error
		switch c.Kind {
		case core.PutApp:
			if _, err = f.st.PutApp(ctx, c.App, store.Any); err == nil {
				err = f.st.PutVersion(ctx, c.App)
			}
		case core.DeleteApp:
			err = f.st.DeleteApp(ctx, c.AppID)
		case core.PutDeployment:
			err = f.st.PutDeployment(ctx, c.AppID, c.Deployment)
		case core.DeleteDeployment:
			err = f.st.DeleteDeployment(ctx, c.AppID)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", c.Kind, c.AppID, err)
		}
	}
	sem := make(chan struct{}, persistParallelism)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for i, c := range changes {
		if (c.Kind != core.PutInstance && c.Kind != core.DeleteInstance) || last[taskOf(c)] != i {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			var err error
			if c.Kind == core.PutInstance {
				err = f.st.PutInstance(ctx, *c.Instance)
			} else {
				err = f.st.DeleteInstance(ctx, c.AppID, c.TaskID)
			}
			if err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("%s %s: %w", c.Kind, taskOf(c), err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

func taskOf(c core.Change) string {
	if c.Instance != nil {
		return c.Instance.TaskID
	}
	return c.TaskID
}
