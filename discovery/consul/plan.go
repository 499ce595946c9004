package consul

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"

	"agora/discovery"
)

// IDPrefix starts the id of every service instance Agora registers, so its
// entries are recognisable beside others in the same Consul.
const IDPrefix = "agora-"

// Tag is added to every instance Agora registers; the watch uses it to find
// Agora's services in the catalog.
const Tag = "agora"

// Check outputs: what the TTL check says beside its status.
const (
	OutputHealthy  = "healthy"
	OutputNotReady = "not healthy and ready"
	OutputDraining = "draining"
)

// Meta keys Agora sets on each instance.
const (
	MetaAgora       = "agora" // "1" on every Agora entry
	MetaAppID       = "app_id"
	MetaVersion     = "version"
	MetaTaskID      = "task_id"
	MetaAgentID     = "agent_id"
	MetaServicePort = "service_port"
	MetaPortIndex   = "port_index"
	MetaPortName    = "port_name"
	MetaProtocol    = "protocol"
	// MetaDraining is "1" on a draining instance. It is meta, not only the
	// check's output, because Consul's agent copies a changed output
	// without a status change to the catalog only every few minutes.
	MetaDraining = "draining"
)

// Registered is one service instance as Agora registers it in Consul (the
// desired form) or as Consul holds it (the actual form).
type Registered struct {
	ID      string
	Name    string
	Address string
	Port    int
	Tags    []string
	Meta    map[string]string
	// Status is the health check's: api.HealthPassing or
	// api.HealthCritical. Read from Consul, it is "" when either check is
	// missing or Agora's liveness has lapsed, so Plan sets both again.
	Status string
	// Output is the health check's output, for people reading Consul.
	Output string
}

// Update is a change to an instance Consul already holds.
type Update struct {
	Registered
	// StatusOnly: only the check's status or output differ, so the check
	// is updated without registering the service again.
	StatusOnly bool
}

// InstanceID is the Consul service id of a task's instance behind the port
// with the given index.
func InstanceID(taskID string, portIndex int) string {
	return IDPrefix + taskID + "-" + strconv.Itoa(portIndex)
}

// CheckID is the id of the TTL check that follows an instance's health.
func CheckID(instanceID string) string { return "service:" + instanceID }

// AliveCheckID is the id of the TTL check that says Agora is alive: passing
// while Agora refreshes it. It alone carries DeregisterCriticalServiceAfter,
// so Consul removes an instance when Agora is gone for good, but not one
// that is merely not ready or draining for a while.
func AliveCheckID(instanceID string) string { return "agora-alive:" + instanceID }

// IsAgora reports whether an entry Consul holds is one Agora registered:
// anything else is never changed or removed.
func IsAgora(id string, meta map[string]string) bool {
	return strings.HasPrefix(id, IDPrefix) && meta[MetaAgora] == "1"
}

// Tags are an app's labels as Consul tags (key=value, or the bare key when
// the value is empty) plus Tag, sorted.
func Tags(labels map[string]string) []string {
	tags := make([]string, 0, len(labels)+1)
	tags = append(tags, Tag)
	for k, v := range labels {
		if v == "" {
			tags = append(tags, k)
		} else {
			tags = append(tags, k+"="+v)
		}
	}
	slices.Sort(tags)
	return tags
}

// Desired is the instances services should have in Consul, sorted by id.
// An endpoint listed twice under one id keeps its first entry.
func Desired(services []discovery.Service) []Registered {
	n := 0
	for i := range services {
		n += len(services[i].Endpoints)
	}
	out := make([]Registered, 0, n)
	seen := make(map[string]struct{}, n)
	for i := range services {
		s := &services[i]
		tags := Tags(s.Labels) // shared by the service's instances; never changed
		for j := range s.Endpoints {
			e := &s.Endpoints[j]
			id := InstanceID(e.TaskID, s.PortIndex)
			if _, dup := seen[id]; dup {
				continue
			}
			seen[id] = struct{}{}
			status, output := checkState(*e)
			out = append(out, Registered{
				ID:      id,
				Name:    s.Name,
				Address: e.Host,
				Port:    e.Port,
				Tags:    tags,
				Meta:    meta(s, e),
				Status:  status,
				Output:  output,
			})
		}
	}
	slices.SortFunc(out, func(a, b Registered) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// checkState is the TTL check an endpoint should show: passing only when it
// is healthy, ready and not draining.
func checkState(e discovery.Endpoint) (status, output string) {
	switch {
	case e.Draining:
		return api.HealthCritical, OutputDraining
	case e.Healthy:
		return api.HealthPassing, OutputHealthy
	default:
		return api.HealthCritical, OutputNotReady
	}
}

func meta(s *discovery.Service, e *discovery.Endpoint) map[string]string {
	m := make(map[string]string, 9)
	m[MetaAgora] = "1"
	m[MetaServicePort] = strconv.Itoa(s.ServicePort)
	m[MetaPortIndex] = strconv.Itoa(s.PortIndex)
	// Empty values say nothing: leave them out.
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	appID := e.AppID
	if appID == "" {
		appID = s.AppID
	}
	put(MetaAppID, appID)
	put(MetaVersion, e.Version)
	put(MetaTaskID, e.TaskID)
	put(MetaAgentID, e.AgentID)
	put(MetaPortName, s.PortName)
	put(MetaProtocol, s.Protocol)
	if e.Draining {
		m[MetaDraining] = "1"
	}
	return m
}

// Plan compares the instances services should have with those Consul holds
// and returns what to register (missing), update (different) and
// deregister (ids of Agora's instances no longer wanted). Entries that are
// not Agora's (see IsAgora) are never in the plan. Each list is sorted by id.
func Plan(desired []discovery.Service, actual []Registered) (register []Registered, update []Update, deregister []string) {
	want := Desired(desired)
	have := make(map[string]*Registered, len(actual))
	for i := range actual {
		if IsAgora(actual[i].ID, actual[i].Meta) {
			have[actual[i].ID] = &actual[i]
		}
	}
	for i := range want {
		w := &want[i]
		h, ok := have[w.ID]
		if !ok {
			register = append(register, *w)
			continue
		}
		delete(have, w.ID)
		sameService := w.Name == h.Name && w.Address == h.Address && w.Port == h.Port &&
			slices.Equal(w.Tags, h.Tags) && maps.Equal(w.Meta, h.Meta)
		sameCheck := w.Status == h.Status && w.Output == h.Output
		if !sameService || !sameCheck {
			update = append(update, Update{Registered: *w, StatusOnly: sameService})
		}
	}
	for id := range have {
		deregister = append(deregister, id)
	}
	slices.Sort(deregister)
	return register, update, deregister
}
