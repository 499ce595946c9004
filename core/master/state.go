package master

import (
	"cmp"
	"strconv"
	"time"

	"agora/core/mesos"
	"agora/core/resources"
)

// framework is the master's record of one framework.
type framework struct {
	id       string
	info     mesos.FrameworkInfo
	roles    []string
	out      *outbox // nil while disconnected
	streamID string

	registered, reregistered, unregistered time.Time
	failoverDeadline                       time.Time // set while disconnected
	recovered                              bool      // loaded from the registry, not yet re-subscribed

	offers map[string]*offer
	tasks  map[string]*task // active and awaiting acknowledgement, by task id
	done   []*task          // completed, oldest first
}

func (f *framework) send(ev mesos.Event) {
	if f.out != nil {
		f.out.push(ev)
	}
}

func (f *framework) partitionAware() bool { return f.info.HasCapability("PARTITION_AWARE") }

func (f *framework) hasRole(role string) bool {
	for _, r := range f.roles {
		if r == role {
			return true
		}
	}
	return false
}

// agent is the master's record of one agent.
type agent struct {
	id             string
	principal      string // who registered it; later calls must come from it
	scheme         string // of its API: "" (http) or "https"
	info           mesos.AgentInfo
	total          resources.Resources
	containerizers []string
	version        string
	out            *outbox
	streamID       string

	registered, reregistered time.Time
	unreachable              bool
	unreachableSince         time.Time
	recovered                bool // loaded from the registry, awaiting re-registration
	reregisterDeadline       time.Time
	pingsMissed              int
	ponged                   bool

	tasks  map[taskKey]*task
	offers map[string]*offer
}

func (a *agent) send(ev any) {
	if a.out != nil {
		a.out.push(ev)
	}
}

func (a *agent) addr() string { return a.info.Hostname + ":" + strconv.Itoa(int(a.info.Port)) }

// used is what the agent's tasks hold.
func (a *agent) used() resources.Resources {
	var r resources.Resources
	for _, t := range a.tasks {
		if !t.released {
			r = r.Add(t.res)
		}
	}
	return r
}

func (a *agent) offered() resources.Resources {
	var r resources.Resources
	for _, o := range a.offers {
		r = r.Add(o.res)
	}
	return r
}

type taskKey struct{ framework, task string }

// task is the master's record of one task.
type task struct {
	info      mesos.TaskInfo
	framework *framework
	agentID   string
	role      string
	res       resources.Resources
	state     string             // latest state known
	statuses  []mesos.TaskStatus // recent history, newest last
	// pendingUUID is the uuid of the update the framework has been sent and
	// has not acknowledged yet; pendingState its state.
	pendingUUID  []byte
	pendingState string
	// released is set once the task's resources went back to the allocator.
	released bool
	// killPending: a framework asked to kill the task while its agent was
	// away; the kill goes out when the agent re-registers.
	killPending bool
	killPolicy  *mesos.KillPolicy
}

func (t *task) key() taskKey { return taskKey{t.framework.id, t.info.TaskID.Value} }

// recorded reports whether an update with uuid is in the task's history.
func (t *task) recorded(uuid []byte) bool {
	for _, s := range t.statuses {
		if string(s.UUID) == string(uuid) {
			return true
		}
	}
	return false
}

func (t *task) toMesos() mesos.Task {
	mt := mesos.Task{
		Name: t.info.Name, TaskID: t.info.TaskID, FrameworkID: mesos.FrameworkID{Value: t.framework.id},
		AgentID: mesos.AgentID{Value: t.agentID}, State: t.state, Resources: t.res.ToMesos(t.role),
		Statuses: t.statuses, Labels: t.info.Labels, Discovery: t.info.Discovery,
		Container: t.info.Container, HealthCheck: t.info.HealthCheck, KillPolicy: t.info.KillPolicy,
		User: taskUser(t.framework, &t.info), Role: t.role,
	}
	if t.pendingState != "" {
		mt.StatusUpdateState = t.pendingState
		mt.StatusUpdateUUID = t.pendingUUID
	}
	if t.info.Executor != nil {
		mt.ExecutorID = &t.info.Executor.ExecutorID
	}
	return mt
}

const maxStatuses = 10

func (t *task) record(s mesos.TaskStatus) {
	t.state = s.State
	t.statuses = append(t.statuses, s)
	if len(t.statuses) > maxStatuses {
		t.statuses = t.statuses[len(t.statuses)-maxStatuses:]
	}
}

// offer is one outstanding offer.
type offer struct {
	id        string
	framework *framework
	agent     *agent
	role      string
	res       resources.Resources
	expires   time.Time
}

func (o *offer) toMesos() mesos.Offer {
	a := o.agent
	return mesos.Offer{
		ID: mesos.OfferID{Value: o.id}, FrameworkID: mesos.FrameworkID{Value: o.framework.id},
		AgentID: mesos.AgentID{Value: a.id}, Hostname: a.info.Hostname,
		URL:       &mesos.URL{Scheme: cmp.Or(a.scheme, "http"), Address: mesos.Address{Hostname: a.info.Hostname, Port: a.info.Port}, Path: "/"},
		Resources: o.res.ToMesos(o.role), Attributes: a.info.Attributes,
	}
}
