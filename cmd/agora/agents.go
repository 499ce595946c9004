package main

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"agora/core/mesos"
)

func runAgents(args []string) error { return withCLI((*cli).agents)(args) }

// agents prints the master's agents: `agora agents [--master URL] [--json]`.
func (c *cli) agents(args []string) error {
	v := c.newFlags("agents", "agora agents [--master URL] [--json]",
		"List the agents registered with the master: address, whether they are active,\n"+
			"resources in use out of their total, and attributes.")
	resp, op, done, err := c.list(v, args, mesos.GetAgents)
	if done {
		return err
	}
	if resp.GetAgents == nil {
		return fmt.Errorf("master at %s answered GET_AGENTS without get_agents", op.Master())
	}
	rows := agentRows(*resp.GetAgents)
	if len(rows) == 0 {
		fmt.Fprintf(c.stderr, "no agents are registered with the master at %s\n", op.Master())
		return nil
	}
	return writeTable(c.stdout, []string{"ID", "HOSTNAME:PORT", "ACTIVE", "CPUS", "MEM", "DISK", "PORTS", "ATTRIBUTES"}, rows)
}

// agentRows renders one row per agent, sorted by address. Agents the master
// recovered from its registry but which have not re-registered yet are
// listed as "recovering", with unknown usage.
func agentRows(r mesos.AgentsResp) [][]string {
	var rows [][]string
	for _, a := range r.Agents {
		total := a.TotalResources
		if len(total) == 0 {
			total = a.AgentInfo.Resources
		}
		t, u := sum(total), sum(a.AllocatedResources)
		active := yesNo(a.Active)
		if a.Deactivated {
			active = "deactivated"
		}
		ports := fmtPorts(t.Ports)
		if n := u.Ports.Size(); n > 0 {
			ports += fmt.Sprintf(" (%d used)", n)
		}
		rows = append(rows, []string{
			idOf(a.AgentInfo.ID), agentAddr(a.AgentInfo), active,
			fmtNum(u.CPUs) + "/" + fmtNum(t.CPUs),
			fmtMB(u.Mem) + "/" + fmtMB(t.Mem),
			fmtMB(u.Disk) + "/" + fmtMB(t.Disk),
			ports, fmtAttributes(a.AgentInfo.Attributes),
		})
	}
	for _, a := range r.RecoveredAgents {
		t := sum(a.Resources)
		rows = append(rows, []string{
			idOf(a.ID), agentAddr(a), "recovering",
			"-/" + fmtNum(t.CPUs), "-/" + fmtMB(t.Mem), "-/" + fmtMB(t.Disk),
			fmtPorts(t.Ports), fmtAttributes(a.Attributes),
		})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i][1] != rows[j][1] {
			return rows[i][1] < rows[j][1]
		}
		return rows[i][0] < rows[j][0]
	})
	return rows
}

// defaultAgentPort is the agent's port when its AgentInfo leaves it out.
const defaultAgentPort = 5051

// agentAddr is the host:port an agent serves its HTTP API on.
func agentAddr(a mesos.AgentInfo) string {
	port := a.Port
	if port == 0 {
		port = defaultAgentPort
	}
	return net.JoinHostPort(a.Hostname, strconv.Itoa(int(port)))
}

func idOf(id *mesos.ID) string {
	if id == nil {
		return "-"
	}
	return id.Value
}

func fmtAttributes(attrs []mesos.Attribute) string {
	if len(attrs) == 0 {
		return "-"
	}
	parts := make([]string, len(attrs))
	for i, a := range attrs {
		parts[i] = a.Name + ":" + a.String()
	}
	return strings.Join(parts, ",")
}
