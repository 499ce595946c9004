package core

import (
	"fmt"
	"testing"

	"agora/core/mesos"
)

// BenchmarkOffers1000On50 places 1,000 instances of one app on 50 agents'
// offers in one Offers call, TaskInfos included.
func BenchmarkOffers1000On50(b *testing.B) {
	a := mustApp(b, `{"id":"/web","cmd":"x","instances":1000,"cpus":0.5,"mem":128,"disk":10}`)
	offers := make([]mesos.Offer, 50)
	for i := range offers {
		offers[i] = offer(fmt.Sprintf("o%d", i), fmt.Sprintf("a%d", i), 16, 65536)
	}
	// 31000-31100 holds 101 ports: enough for 20 instances per agent.
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		c := New(Config{Seed: 1})
		c.PutApp(a, false, t0)
		b.StartTimer()
		d := c.Offers(offers, t0)
		if n := len(launched(d)); n != 1000 {
			b.Fatalf("placed %d", n)
		}
	}
}
