package master

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"sync"
	"time"

	"agora/core/mesos"
	"agora/core/resources"
	"agora/core/store"
)

// Registry layout: one key per object, each a small JSON document.
const (
	agentsPrefix     = "/registry/agents"
	frameworksPrefix = "/registry/frameworks"
	tasksPrefix      = "/registry/tasks"
)

type agentRecord struct {
	Info           mesos.AgentInfo `json:"agent_info"`
	Containerizers []string        `json:"containerizers"`
	Version        string          `json:"version"`
	Registered     time.Time       `json:"registered"`
	Unreachable    bool            `json:"unreachable,omitempty"`
	Principal      string          `json:"principal,omitempty"`
	Scheme         string          `json:"scheme,omitempty"`
}

type frameworkRecord struct {
	Info       mesos.FrameworkInfo `json:"framework_info"`
	Registered time.Time           `json:"registered"`
}

type taskRecord struct {
	Info        mesos.TaskInfo     `json:"task_info"`
	FrameworkID string             `json:"framework_id"`
	AgentID     string             `json:"agent_id"`
	Role        string             `json:"role"`
	State       string             `json:"state"`
	Statuses    []mesos.TaskStatus `json:"statuses,omitempty"`
}

func taskKeyPath(fid, tid string) string {
	return tasksPrefix + "/" + url.PathEscape(fid) + "/" + url.PathEscape(tid)
}

// persister writes registry changes in order on its own goroutine, so the
// master's loop never waits for the disk. The latest value for a key wins;
// writes to one key are never reordered.
type persister struct {
	st   store.Store
	logf func(string, ...any)

	mu      sync.Mutex
	pending map[string][]byte // nil value = delete
	order   []string
	dropped bool // set when this master stopped leading: writes are discarded
	wake    chan struct{}
	quit    chan struct{}
	done    chan struct{}
}

// discard drops queued writes and ignores later ones: a master that lost
// leadership must not overwrite what the new leader writes.
func (p *persister) discard() {
	p.mu.Lock()
	p.dropped = true
	p.pending = map[string][]byte{}
	p.order = nil
	p.mu.Unlock()
}

func newPersister(st store.Store, logf func(string, ...any)) *persister {
	return &persister{st: st, logf: logf, pending: map[string][]byte{}, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
}

func (p *persister) enqueue(key string, val []byte) {
	p.mu.Lock()
	if p.dropped {
		p.mu.Unlock()
		return
	}
	if _, ok := p.pending[key]; !ok {
		p.order = append(p.order, key)
	}
	p.pending[key] = val
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *persister) put(key string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		p.logf("registry: encoding %s: %v", key, err)
		return
	}
	p.enqueue(key, b)
}

func (p *persister) putAgent(a *agent) {
	p.put(agentsPrefix+"/"+a.id, agentRecord{Info: a.info, Containerizers: a.containerizers, Version: a.version, Registered: a.registered, Unreachable: a.unreachable, Principal: a.principal, Scheme: a.scheme})
}

func (p *persister) deleteAgent(id string) { p.enqueue(agentsPrefix+"/"+id, nil) }

func (p *persister) putFramework(f *framework) {
	info := f.info
	info.ID = &mesos.FrameworkID{Value: f.id}
	p.put(frameworksPrefix+"/"+f.id, frameworkRecord{Info: info, Registered: f.registered})
}

func (p *persister) deleteFramework(id string) { p.enqueue(frameworksPrefix+"/"+id, nil) }

func (p *persister) putTask(t *task) {
	p.put(taskKeyPath(t.framework.id, t.info.TaskID.Value), taskRecord{Info: t.info, FrameworkID: t.framework.id, AgentID: t.agentID, Role: t.role, State: t.state, Statuses: t.statuses})
}

func (p *persister) deleteTask(t *task) {
	p.enqueue(taskKeyPath(t.framework.id, t.info.TaskID.Value), nil)
}

func (p *persister) run() {
	defer close(p.done)
	for {
		select {
		case <-p.wake:
			p.flush()
		case <-p.quit:
			p.flush()
			return
		}
	}
}

// writeBatch is how many keys are written at once. Stores commit
// concurrent writes together (bbolt's group commit, ZooKeeper's pipelining),
// so a batch costs about as much as one write.
const writeBatch = 64

// flush writes everything queued, in batches of distinct keys. A key is in
// at most one batch at a time and batches run one after another, so writes
// to one key are never reordered.
func (p *persister) flush() {
	for {
		p.mu.Lock()
		n := min(len(p.order), writeBatch)
		if n == 0 {
			p.mu.Unlock()
			return
		}
		keys := append([]string(nil), p.order[:n]...)
		p.order = p.order[n:]
		vals := make([][]byte, n)
		for i, k := range keys {
			vals[i] = p.pending[k]
			delete(p.pending, k)
		}
		p.mu.Unlock()
		var wg sync.WaitGroup
		for i := range keys {
			wg.Add(1)
			go func(key string, val []byte) {
				defer wg.Done()
				p.write(key, val)
			}(keys[i], vals[i])
		}
		wg.Wait()
	}
}

func (p *persister) write(key string, val []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if val == nil {
		err = p.st.Delete(ctx, key, store.Any)
	} else {
		_, err = p.st.Put(ctx, key, val, store.Any)
	}
	if err != nil {
		p.logf("registry: writing %s: %v", key, err)
	}
}

// stop flushes what is queued and ends the writer.
func (p *persister) stop() {
	close(p.quit)
	<-p.done
}

// readTasks reads every task record, retrying while the store is
// unreachable, and hands them to the loop.
func (m *Master) readTasks(ctx context.Context) {
	for {
		kvs, err := m.cfg.Store.List(ctx, tasksPrefix)
		if err == nil {
			m.post(func() { m.adoptTasks(kvs) })
			return
		}
		m.cfg.Logf("registry: reading tasks: %v; retrying", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// adoptTasks merges the registry's task records into the recovered state.
// A task its agent already reported is kept as reported (that is newer); a
// task missing from an agent that already re-registered is lost; the rest
// wait for their agents.
func (m *Master) adoptTasks(kvs []store.KV) {
	m.tasksPending = false
	adopted, lost := 0, 0
	for _, kv := range kvs {
		var r taskRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			m.cfg.Logf("registry: %s: corrupt record left in place: %v", kv.Key, err)
			continue
		}
		f, a := m.frameworks[r.FrameworkID], m.agents[r.AgentID]
		if f == nil || a == nil {
			m.pers.enqueue(kv.Key, nil) // orphan of a removed framework or agent
			continue
		}
		if f.tasks[r.Info.TaskID.Value] != nil {
			continue
		}
		res, _ := resources.FromMesos("task", r.Info.Resources)
		t := &task{info: r.Info, framework: f, agentID: a.id, role: r.Role, res: res, state: r.State, statuses: r.Statuses}
		if mesos.IsTerminal(t.state) {
			t.released = true
		}
		if !a.recovered && !mesos.IsTerminal(t.state) {
			state := mesos.TaskLost
			if f.partitionAware() {
				state = mesos.TaskGone
			}
			t.released = true
			t.record(mesos.TaskStatus{TaskID: t.info.TaskID, State: state, Source: mesos.SourceMaster, Reason: mesos.ReasonReconciliation,
				Message: "Task was not reported by its re-registered agent", AgentID: &mesos.AgentID{Value: a.id}, Timestamp: ts(m.now())})
			m.sendMasterUpdate(f, t.info.TaskID, a.id, state, mesos.ReasonReconciliation, "Task was not reported by its re-registered agent")
			f.done = append(f.done, t)
			m.pers.deleteTask(t)
			lost++
			continue
		}
		f.tasks[t.info.TaskID.Value] = t
		a.tasks[t.key()] = t
		if !t.released {
			m.alloc.Allocate(a.id, f.id, t.role, t.res)
		}
		adopted++
	}
	if len(kvs) > 0 {
		m.cfg.Logf("recovered %d tasks from the registry (%d lost while their agents re-registered without them)", adopted, lost)
	}
}

// recover loads the registry: frameworks wait to re-subscribe within their
// failover timeout, agents to re-register within AgentReregisterTimeout.
// Called from New, before the loop starts.
func (m *Master) recover(ctx context.Context) error {
	now := m.now()
	if err := m.loadACLs(ctx); err != nil {
		return err
	}
	fws, err := m.cfg.Store.List(ctx, frameworksPrefix)
	if err != nil {
		return err
	}
	for _, kv := range fws {
		var r frameworkRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil || r.Info.ID == nil {
			return fmt.Errorf("%s: corrupt record: %v", kv.Key, err)
		}
		f := &framework{id: r.Info.ID.Value, info: r.Info, roles: r.Info.EffectiveRoles(), offers: map[string]*offer{}, tasks: map[string]*task{},
			registered: r.Registered, recovered: true}
		// A recovered framework gets its failover timeout, counted from now,
		// to re-subscribe; at least the agent re-registration window so
		// agents can report its tasks first.
		wait := failoverTimeout(r.Info)
		if wait < m.cfg.AgentReregisterTimeout {
			wait = m.cfg.AgentReregisterTimeout
		}
		f.failoverDeadline = now.Add(wait)
		m.frameworks[f.id] = f
		m.alloc.AddFramework(f.id, f.roles)
		m.alloc.DeactivateFramework(f.id)
	}
	agents, err := m.cfg.Store.List(ctx, agentsPrefix)
	if err != nil {
		return err
	}
	for _, kv := range agents {
		var r agentRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil || r.Info.ID == nil {
			return fmt.Errorf("%s: corrupt record: %v", kv.Key, err)
		}
		total, err := resources.FromMesos("agent_info.resources", r.Info.Resources)
		if err != nil {
			return fmt.Errorf("%s: %w", kv.Key, err)
		}
		a := &agent{id: r.Info.ID.Value, principal: r.Principal, scheme: r.Scheme, info: r.Info, total: total, containerizers: r.Containerizers, version: r.Version,
			registered: r.Registered, recovered: true, reregisterDeadline: now.Add(m.cfg.AgentReregisterTimeout),
			tasks: map[taskKey]*task{}, offers: map[string]*offer{}}
		m.agents[a.id] = a
		m.alloc.AddAgent(a.id, total)
		m.alloc.DeactivateAgent(a.id)
	}
	// Task records, the bulk of the registry, are read in the background
	// (Run starts it) so that agents can re-register at once after a
	// failover; adoptTasks merges them with what the agents report.
	m.tasksPending = true
	if len(fws)+len(agents) > 0 {
		m.cfg.Logf("recovered registry: %d frameworks, %d agents; reading tasks", len(fws), len(agents))
	}
	return nil
}
