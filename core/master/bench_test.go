package master

import (
	"context"
	"fmt"
	"testing"
	"time"

	"agora/core/store"
	"agora/core/store/zkstore"
	"agora/core/zk/zktest"

	"agora/core/agentapi"
	"agora/core/mesos"
	"agora/core/resources"
)

// BenchmarkMasterCycle measures one allocation cycle inside the master:
// the allocator's decisions plus creating the offers and encoding the
// OFFERS events onto each framework's stream. Offers are rescinded between
// iterations, outside the timer.
func BenchmarkMasterCycle(b *testing.B) {
	for _, agents := range []int{1000, 10000} {
		for _, fws := range []int{10, 1000} {
			b.Run(fmt.Sprintf("agents=%d/frameworks=%d", agents, fws), func(b *testing.B) {
				st := openStoreB(b)
				m, err := New(fastConfig(st))
				if err != nil {
					b.Fatal(err)
				}
				// The registry writer is not started: registry writes happen
				// off the loop and are not part of a cycle's cost.
				res, _ := resources.Parse("cpus:8;mem:32768;disk:100000;ports:[31000-32000]")
				for i := 0; i < agents; i++ {
					sub := &agentapi.Subscribe{AgentInfo: mesos.AgentInfo{Hostname: fmt.Sprintf("host%d", i), Port: 5051}, Containerizers: []string{"process"}}
					if _, _, err := m.registerAgent("", sub, res, newOutbox()); err != nil {
						b.Fatal(err)
					}
				}
				outs := make([]*outbox, fws)
				for i := range outs {
					outs[i] = newOutbox()
					if _, _, err := m.subscribeFramework(mesos.FrameworkInfo{Name: fmt.Sprintf("fw%d", i), Roles: []string{fmt.Sprintf("r%d", i%10)}, Capabilities: []mesos.FrameworkCapability{{Type: "MULTI_ROLE"}}}, outs[i]); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				offers := 0
				for i := 0; i < b.N; i++ {
					m.allocate(nil)
					b.StopTimer()
					offers += len(m.offers)
					for _, o := range m.offers {
						m.rescindOffer(o, false)
					}
					clear(m.dirty)
					for _, o := range outs {
						o.take()
					}
					b.StartTimer()
				}
				b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/cycle")
				b.ReportMetric(float64(offers)/b.Elapsed().Seconds(), "offers/s")
			})
		}
	}
}

func openStoreB(b *testing.B) *boltStore {
	st, err := openBolt(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkFailoverReregister measures what a new leader does after a
// failover: recover a registry of N agents with 10 tasks each from the
// store, then take all N agents' re-registrations (each reporting its 10
// running tasks). HTTP and the network are not included.
func BenchmarkFailoverReregister(b *testing.B) {
	for _, kind := range []string{"bolt", "zk"} {
		for _, agents := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("store=%s/agents=%d/tasks=%d", kind, agents, agents*10), func(b *testing.B) {
				var st store.Store
				switch kind {
				case "bolt":
					st = openStoreB(b)
				case "zk":
					zk := zktest.Start(b)
					zs, err := zkstore.Open(zk.Servers(), "/bench", 10*time.Second, func(string, ...any) {})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { zs.Close() })
					st = zs
				}
				benchFailover(b, st, agents)
			})
		}
	}
}

func benchFailover(b *testing.B, st store.Store, agents int) {
	cfg := fastConfig(st)
	// Build the registry as a previous leader would have.
	m0, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	go m0.pers.run()
	fw := newOutbox()
	fid, _, err := m0.subscribeFramework(mesos.FrameworkInfo{Name: "fw", FailoverTimeout: 3600}, fw)
	if err != nil {
		b.Fatal(err)
	}
	res, _ := resources.Parse("cpus:16;mem:65536;disk:100000;ports:[31000-32000]")
	taskRes, _ := resources.Parse("cpus:1;mem:1024")
	subs := make([]*agentapi.Subscribe, agents)
	for i := range subs {
		sub := &agentapi.Subscribe{AgentInfo: mesos.AgentInfo{Hostname: fmt.Sprintf("host%d", i), Port: 5051}, Containerizers: []string{"process"}}
		id, _, err := m0.registerAgent("", sub, res, newOutbox())
		if err != nil {
			b.Fatal(err)
		}
		a := m0.agents[id]
		for j := 0; j < 10; j++ {
			ti := mesos.TaskInfo{Name: "t", TaskID: mesos.TaskID{Value: fmt.Sprintf("t-%d-%d", i, j)}, AgentID: mesos.AgentID{Value: id}, Resources: taskRes.ToMesos(""), Command: &mesos.CommandInfo{Value: "sleep 1"}}
			m0.launch(m0.frameworks[fid], a, ti, "*", taskRes)
			sub.Tasks = append(sub.Tasks, mesos.Task{TaskID: ti.TaskID, FrameworkID: mesos.FrameworkID{Value: fid}, State: mesos.TaskStaging, Resources: ti.Resources})
		}
		sub.AgentInfo.ID = &mesos.AgentID{Value: id}
		subs[i] = sub
	}
	m0.pers.stop()
	var recoverTime, reregisterTime, tasksTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		m, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		recoverTime += time.Since(start)
		start = time.Now()
		for _, sub := range subs {
			if _, _, err := m.registerAgent("", sub, res, newOutbox()); err != nil {
				b.Fatal(err)
			}
		}
		reregisterTime += time.Since(start)
		if len(m.agents) != agents || m.agents[subs[0].AgentInfo.ID.Value].recovered {
			b.Fatal("agents not re-registered")
		}
		// The task records, read in the background meanwhile.
		start = time.Now()
		kvs, err := st.List(context.Background(), tasksPrefix)
		if err != nil {
			b.Fatal(err)
		}
		m.adoptTasks(kvs)
		tasksTime += time.Since(start)
	}
	b.ReportMetric(recoverTime.Seconds()/float64(b.N), "s-recover")
	b.ReportMetric(reregisterTime.Seconds()/float64(b.N), "s-reregister")
	b.ReportMetric(tasksTime.Seconds()/float64(b.N), "s-task-records")
}
