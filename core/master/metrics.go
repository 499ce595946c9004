package master

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"agora/core/mesos"
)

// metrics are counters kept by the loop and rendered in the Prometheus
// text format.
type metrics struct {
	offersSent, offersDeclined, offersRescinded uint64
	tasksLaunched                               uint64
	statusUpdates                               map[string]uint64
	cycles                                      uint64
	cycleSeconds, lastCycleSeconds              float64
}

func (mt *metrics) observeCycle(d time.Duration) {
	mt.cycles++
	mt.cycleSeconds += d.Seconds()
	mt.lastCycleSeconds = d.Seconds()
}

func (mt *metrics) countState(state string) {
	if mt.statusUpdates == nil {
		mt.statusUpdates = map[string]uint64{}
	}
	mt.statusUpdates[state]++
}

func (m *Master) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	if e := m.exec(r.Context(), "GET /metrics", func() { m.writeMetrics(&b) }); e != nil {
		writeError(w, e)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	w.Write([]byte(b.String()))
}

func (m *Master) writeMetrics(b *strings.Builder) {
	metric := func(name, typ, help string, samples ...string) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, s := range samples {
			fmt.Fprintf(b, "%s%s\n", name, s)
		}
	}
	mt := &m.metrics
	metric("agora_master_offers_sent_total", "counter", "Offers sent to frameworks.", fmt.Sprintf(" %d", mt.offersSent))
	metric("agora_master_offers_declined_total", "counter", "Offers declined by frameworks.", fmt.Sprintf(" %d", mt.offersDeclined))
	metric("agora_master_offers_rescinded_total", "counter", "Offers rescinded by the master.", fmt.Sprintf(" %d", mt.offersRescinded))
	metric("agora_master_offers_outstanding", "gauge", "Offers not yet answered.", fmt.Sprintf(" %d", len(m.offers)))
	metric("agora_master_tasks_launched_total", "counter", "Tasks sent to agents.", fmt.Sprintf(" %d", mt.tasksLaunched))
	metric("agora_master_allocation_cycles_total", "counter", "Allocation cycles run.", fmt.Sprintf(" %d", mt.cycles))
	metric("agora_master_allocation_cycle_seconds_sum", "counter", "Time spent in allocation cycles.", fmt.Sprintf(" %g", mt.cycleSeconds))
	metric("agora_master_allocation_cycle_seconds_last", "gauge", "Duration of the last allocation cycle.", fmt.Sprintf(" %g", mt.lastCycleSeconds))

	byState := map[string]int{}
	for _, f := range m.frameworks {
		for _, t := range f.tasks {
			byState[t.state]++
		}
	}
	states := []string{mesos.TaskStaging, mesos.TaskStarting, mesos.TaskRunning, mesos.TaskKilling, mesos.TaskUnreachable,
		mesos.TaskFinished, mesos.TaskFailed, mesos.TaskKilled, mesos.TaskError, mesos.TaskLost}
	var samples []string
	for _, s := range states {
		samples = append(samples, fmt.Sprintf("{state=%q} %d", s, byState[s]))
	}
	metric("agora_master_tasks", "gauge", "Tasks the master tracks, by latest state.", samples...)
	samples = nil
	keys := make([]string, 0, len(mt.statusUpdates))
	for k := range mt.statusUpdates {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		samples = append(samples, fmt.Sprintf("{state=%q} %d", k, mt.statusUpdates[k]))
	}
	metric("agora_master_task_status_updates_total", "counter", "Task status updates, by state.", samples...)

	var active, unreachable, connected int
	for _, a := range m.agents {
		if a.unreachable {
			unreachable++
		} else if !a.recovered {
			active++
		}
	}
	for _, f := range m.frameworks {
		if f.out != nil {
			connected++
		}
	}
	metric("agora_master_agents", "gauge", "Agents by status.", fmt.Sprintf("{status=\"active\"} %d", active), fmt.Sprintf("{status=\"unreachable\"} %d", unreachable))
	metric("agora_master_frameworks_connected", "gauge", "Frameworks with an open subscription.", fmt.Sprintf(" %d", connected))
	total := m.alloc.Total()
	var used float64
	for _, a := range m.agents {
		used += a.used().CPUs
	}
	metric("agora_master_cpus_total", "gauge", "CPUs of all agents.", fmt.Sprintf(" %g", total.CPUs))
	metric("agora_master_cpus_used", "gauge", "CPUs held by tasks.", fmt.Sprintf(" %g", used))
}
