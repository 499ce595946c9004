package api

import (
	"encoding/json"
	"sort"
	"time"

	"agora/core/mesos"
	"agora/frameworks/services/app"
	"agora/frameworks/services/core"
	"agora/frameworks/services/deploy"
)

// AppView is an app as the API shows it: the stored definition, its
// secrets masked, plus Marathon's read-only fields.
type AppView struct {
	app.App
	AppStatus
}

// AppStatus is Marathon's read-only fields of app JSON.
type AppStatus struct {
	TasksStaged    int             `json:"tasksStaged"`
	TasksRunning   int             `json:"tasksRunning"`
	TasksHealthy   int             `json:"tasksHealthy"`
	TasksUnhealthy int             `json:"tasksUnhealthy"`
	Deployments    []DeploymentRef `json:"deployments"`
	// Tasks and ReadinessCheckResults are present when embedded.
	Tasks                 []Task            `json:"tasks,omitempty"`
	ReadinessCheckResults []ReadinessResult `json:"readinessCheckResults,omitempty"`
}

// MarshalJSON writes one object: the definition as app.App renders it (its
// own MarshalJSON would otherwise be promoted and drop the status), then
// the status fields.
func (v AppView) MarshalJSON() ([]byte, error) {
	def, err := v.App.MarshalJSON()
	if err != nil {
		return nil, err
	}
	st, err := json.Marshal(v.AppStatus)
	if err != nil {
		return nil, err
	}
	// Both are non-empty objects: join "{...def" and "st...}".
	out := make([]byte, 0, len(def)+len(st))
	out = append(out, def[:len(def)-1]...)
	out = append(out, ',')
	return append(out, st[1:]...), nil
}

// UnmarshalJSON reads both parts from the one object.
func (v *AppView) UnmarshalJSON(data []byte) error {
	if err := json.Unmarshal(data, &v.App); err != nil {
		return err
	}
	return json.Unmarshal(data, &v.AppStatus)
}

// Task is one instance of an app, in Marathon's task JSON.
type Task struct {
	ID                 string              `json:"id"`
	AppID              string              `json:"appId"`
	Host               string              `json:"host"`
	Ports              []uint64            `json:"ports"`
	ServicePorts       []int               `json:"servicePorts"`
	SlaveID            string              `json:"slaveId"`
	State              string              `json:"state"`
	StagedAt           *time.Time          `json:"stagedAt,omitempty"`
	StartedAt          *time.Time          `json:"startedAt,omitempty"`
	Version            string              `json:"version"`
	HealthCheckResults []HealthCheckResult `json:"healthCheckResults,omitempty"`
}

// HealthCheckResult is a task's health, as Marathon reports it.
type HealthCheckResult struct {
	Alive  bool   `json:"alive"`
	TaskID string `json:"taskId"`
}

// ReadinessResult is one task's readiness during a deployment.
type ReadinessResult struct {
	Name   string `json:"name"`
	TaskID string `json:"taskId"`
	Ready  bool   `json:"ready"`
}

// WriteResult answers PUT, PATCH, DELETE, restart, scaling kills and
// deployment cancels. DeploymentID is empty when nothing had to change.
type WriteResult struct {
	DeploymentID string `json:"deploymentId,omitempty"`
	Version      string `json:"version"`
}

// PlanView answers ?dryRun=true (an Agora extension): what the write would
// do, with nothing changed.
type PlanView struct {
	App   string            `json:"app"`
	Steps []deploy.PlanStep `json:"steps"`
	// Restart is set when running instances would be replaced.
	Restart bool `json:"restart"`
	// ChangedFields are the top-level fields that differ from the current
	// definition (all of them for a new app).
	ChangedFields []string `json:"changedFields"`
	Create        bool     `json:"create"`
}

// DeploymentView is a deployment in Marathon's /v2/deployments shape, plus
// Agora's status fields.
type DeploymentView struct {
	ID             string          `json:"id"`
	Version        string          `json:"version"`
	AffectedApps   []string        `json:"affectedApps"`
	AffectedPods   []string        `json:"affectedPods"`
	Steps          []StepView      `json:"steps"`
	CurrentActions []ActionView    `json:"currentActions"`
	CurrentStep    int             `json:"currentStep"`
	TotalSteps     int             `json:"totalSteps"`
	Status         deploy.Status   `json:"status,omitempty"`
	Reason         string          `json:"reason,omitempty"`
	RollbackOf     string          `json:"rollbackOf,omitempty"`
	StartedAt      *time.Time      `json:"startedAt,omitempty"`
	Target         *deploy.AppSpec `json:"target,omitempty"`
}

// StepView is one step of a deployment plan.
type StepView struct {
	Actions []ActionView `json:"actions"`
}

// ActionView is one action of a step.
type ActionView struct {
	Action                deploy.Action     `json:"action"`
	App                   string            `json:"app"`
	ReadinessCheckResults []ReadinessResult `json:"readinessCheckResults"`
}

// counts fills the task counts of v from the app's instances.
func (v *AppView) counts(ins []core.Instance) {
	for _, in := range ins {
		switch in.State {
		case "", mesos.TaskStaging, mesos.TaskStarting:
			v.TasksStaged++
		case mesos.TaskRunning:
			v.TasksRunning++
		}
		if in.Healthy != nil {
			if *in.Healthy {
				v.TasksHealthy++
			} else {
				v.TasksUnhealthy++
			}
		}
	}
}

// embeds says which optional parts of app JSON to include.
type embeds struct {
	tasks, readiness bool
}

// appView builds the API's view of a from its instances and the running
// deployments.
func appView(a *app.App, ins []core.Instance, deps []deploy.Deployment, e embeds) AppView {
	v := AppView{App: *a.Masked(), AppStatus: AppStatus{Deployments: []DeploymentRef{}}}
	v.counts(ins)
	id := a.ID()
	for _, d := range deps {
		if d.Target.ID == id || (d.Target.ID == "" && d.Previous.ID == id) {
			v.Deployments = append(v.Deployments, DeploymentRef{ID: d.ID})
		}
	}
	if e.tasks {
		v.Tasks = make([]Task, 0, len(ins))
		for _, in := range ins {
			v.Tasks = append(v.Tasks, taskView(a, in))
		}
	}
	if e.readiness && len(a.ReadinessChecks) > 0 {
		for _, in := range ins {
			if in.State != mesos.TaskRunning {
				continue
			}
			for _, rc := range a.ReadinessChecks {
				v.ReadinessCheckResults = append(v.ReadinessCheckResults, ReadinessResult{Name: rc.Name, TaskID: in.TaskID, Ready: in.Ready})
			}
		}
	}
	return v
}

// taskView renders one instance; a may be nil when its app is gone.
func taskView(a *app.App, in core.Instance) Task {
	t := Task{
		ID:           in.TaskID,
		AppID:        in.AppID,
		Host:         in.Host,
		Ports:        in.Ports,
		ServicePorts: servicePorts(a),
		SlaveID:      in.AgentID,
		State:        in.State,
		Version:      in.Version,
	}
	if t.State == "" {
		t.State = mesos.TaskStaging
	}
	if t.Ports == nil {
		t.Ports = []uint64{}
	}
	if !in.LaunchedAt.IsZero() {
		at := in.LaunchedAt
		t.StagedAt = &at
	}
	if !in.StartedAt.IsZero() {
		at := in.StartedAt
		t.StartedAt = &at
	}
	if in.Healthy != nil {
		t.HealthCheckResults = []HealthCheckResult{{Alive: *in.Healthy, TaskID: in.TaskID}}
	}
	return t
}

func servicePorts(a *app.App) []int {
	out := []int{}
	if a == nil {
		return out
	}
	if a.Container != nil && len(a.Container.PortMappings) > 0 {
		for _, pm := range a.Container.PortMappings {
			out = append(out, pm.ServicePort)
		}
		return out
	}
	for _, pd := range a.PortDefinitions {
		out = append(out, pd.Port)
	}
	return out
}

// deploymentView renders d in Marathon's shape. Agora's deployments touch one
// app each, in one step with one action.
func deploymentView(d deploy.Deployment, ins []core.Instance, a *app.App) DeploymentView {
	id, action := d.Target.ID, deploy.ScaleApplication
	switch {
	case d.Target.ID == "":
		id, action = d.Previous.ID, deploy.StopApplication
	case d.Target.Version == "" && d.Target.Instances == 0:
		// A deletion: the target is the app with nothing left running.
		action = deploy.StopApplication
	case d.Previous.ID == "":
		action = deploy.StartApplication
	case d.Previous.Version != d.Target.Version:
		action = deploy.RestartApplication
	}
	act := ActionView{Action: action, App: id, ReadinessCheckResults: []ReadinessResult{}}
	if a != nil && len(a.ReadinessChecks) > 0 {
		for _, in := range ins {
			if in.Version != d.Target.Version || in.State != mesos.TaskRunning {
				continue
			}
			for _, rc := range a.ReadinessChecks {
				act.ReadinessCheckResults = append(act.ReadinessCheckResults, ReadinessResult{Name: rc.Name, TaskID: in.TaskID, Ready: in.Ready})
			}
		}
	}
	v := DeploymentView{
		ID:           d.ID,
		Version:      d.Target.Version,
		AffectedApps: []string{id},
		AffectedPods: []string{},
		Steps:        []StepView{{Actions: []ActionView{act}}},
		TotalSteps:   1,
		Status:       d.Status,
		Reason:       d.Reason,
		RollbackOf:   d.RollbackOf,
	}
	if action != deploy.StopApplication {
		t := d.Target
		v.Target = &t
	}
	if !d.StartedAt.IsZero() {
		at := d.StartedAt
		v.StartedAt = &at
	}
	if d.Status == deploy.StatusRunning || d.Status == "" {
		v.CurrentStep = 1
		v.CurrentActions = []ActionView{act}
	} else {
		v.CurrentActions = []ActionView{}
	}
	return v
}

// byApp groups instances by app id.
func byApp(ins []core.Instance) map[string][]core.Instance {
	m := map[string][]core.Instance{}
	for _, in := range ins {
		m[in.AppID] = append(m[in.AppID], in)
	}
	for _, l := range m {
		sort.Slice(l, func(i, j int) bool { return l[i].TaskID < l[j].TaskID })
	}
	return m
}
