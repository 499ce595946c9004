package main

import (
	"fmt"
	"io"
	"testing"

	"agora/core/mesos"
)

// BenchmarkAgentsTable renders `agora agents` for a 10,000-agent cluster.
func BenchmarkAgentsTable(b *testing.B) {
	var r mesos.AgentsResp
	for i := range 10000 {
		r.Agents = append(r.Agents, mesos.AgentState{
			AgentInfo: mesos.AgentInfo{Hostname: fmt.Sprintf("10.0.%d.%d", i/256, i%256), Port: 5051,
				ID:         &mesos.AgentID{Value: fmt.Sprintf("agent-%05d", i)},
				Attributes: []mesos.Attribute{{Name: "rack", Type: mesos.Text, Text: &mesos.ValueText{Value: fmt.Sprint("r", i%40)}}}},
			Active:             true,
			TotalResources:     []mesos.Resource{scalar("cpus", 16), scalar("mem", 65536), scalar("disk", 500000), ports(31000, 32000)},
			AllocatedResources: []mesos.Resource{scalar("cpus", 3.5), scalar("mem", 4096), ports(31000, 31003)},
		})
	}
	header := []string{"ID", "HOSTNAME:PORT", "ACTIVE", "CPUS", "MEM", "DISK", "PORTS", "ATTRIBUTES"}
	b.ReportAllocs()
	for b.Loop() {
		if err := writeTable(io.Discard, header, agentRows(r)); err != nil {
			b.Fatal(err)
		}
	}
}
