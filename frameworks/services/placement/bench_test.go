package placement

import (
	"fmt"
	"testing"

	"agora/core/resources"
)

// benchOffers builds one offer per agent, spread over 10 racks, each large
// enough for 32 small instances with a port each.
func benchOffers(agents int) []Offer {
	offers := make([]Offer, agents)
	for i := range offers {
		a := Agent{
			ID:         fmt.Sprintf("agent-%05d", i),
			Hostname:   fmt.Sprintf("host-%05d", i),
			Attributes: map[string]string{"rack": fmt.Sprintf("r%d", i%10), "zone": fmt.Sprintf("z%d", i%3)},
		}
		offers[i] = Offer{ID: fmt.Sprintf("offer-%05d", i), Agent: a, Resources: resources.Resources{
			CPUs: 16, Mem: 65536, Disk: 100000, Ports: resources.Ranges{{Begin: 31000, End: 32000}},
		}}
	}
	return offers
}

func BenchmarkMatch(b *testing.B) {
	for _, tc := range []struct {
		name   string
		agents int
		c      [][]string
	}{
		{"agents=50/none", 50, nil},
		{"agents=50/rack:GROUP_BY+rack:MAX_PER", 50, [][]string{{"rack", "GROUP_BY"}, {"rack", "MAX_PER", "100"}}},
		{"agents=5000/none", 5000, nil},
		{"agents=5000/hostname:UNIQUE", 5000, [][]string{{"hostname", "UNIQUE"}}},
		{"agents=5000/rack:GROUP_BY+zone:LIKE", 5000, [][]string{{"rack", "GROUP_BY", "10"}, {"zone", "LIKE", "z[01]"}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cs, err := ParseAll(tc.c)
			if err != nil {
				b.Fatal(err)
			}
			offers := benchOffers(tc.agents)
			req := Request{Instances: 1000, Resources: resources.Resources{CPUs: 0.5, Mem: 128, Disk: 10}, HostPorts: []uint64{0}, Constraints: cs}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p, err := Match(req, offers, nil)
				if err != nil || len(p.Launches) != 1000 {
					b.Fatalf("placed %d, err %v", len(p.Launches), err)
				}
			}
		})
	}
}
