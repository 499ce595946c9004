package master

import (
	"fmt"
	"testing"

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
					if _, _, err := m.registerAgent(sub, res, newOutbox()); err != nil {
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
