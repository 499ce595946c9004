package deploy

// Action names a plan step, as Marathon's /v2/deployments reports them.
type Action string

// Plan step actions.
const (
	StartApplication   Action = "StartApplication"
	ScaleApplication   Action = "ScaleApplication"
	RestartApplication Action = "RestartApplication"
	StopApplication    Action = "StopApplication"
)

// PlanStep is one step of a deployment plan. (Named PlanStep because Step
// is the state machine's function.)
type PlanStep struct {
	Action  Action `json:"action"`
	App     string `json:"app"`
	Version string `json:"version,omitempty"`
	// Instances is the count the app has when the step is done.
	Instances int `json:"instances"`
	// Launch and Kill count instances started and stopped by the step.
	Launch int `json:"launch"`
	Kill   int `json:"kill"`
	// KillIDs are the instances a scale down removes, by killSelection.
	KillIDs []string `json:"killIds,omitempty"`
	// MinHealthy and MaxTotal are the bounds a restart keeps.
	MinHealthy int `json:"minHealthy,omitempty"`
	MaxTotal   int `json:"maxTotal,omitempty"`
}

// Plan says what deploying next over prev would do, given the app's current
// instances, without doing it. A zero prev (empty ID) is a new app; a zero
// next is a deletion. An empty plan means nothing would change. Instances
// already being killed are left out of the counts.
func Plan(prev, next AppSpec, current []Instance) []PlanStep {
	live := make([]Instance, 0, len(current))
	for _, in := range current {
		if in.State != Killing {
			live = append(live, in)
		}
	}
	switch {
	case next.ID == "" && prev.ID == "":
		return nil
	case next.ID == "":
		return []PlanStep{{Action: StopApplication, App: prev.ID, Version: prev.Version, Kill: len(live)}}
	case prev.ID == "" && len(live) == 0:
		return []PlanStep{
			{Action: StartApplication, App: next.ID, Version: next.Version},
			{Action: ScaleApplication, App: next.ID, Version: next.Version, Instances: next.Instances, Launch: next.Instances},
		}
	}

	n := next.Instances
	var fresh []*Instance
	old := 0
	for i := range live {
		if live[i].Version == next.Version {
			fresh = append(fresh, &live[i])
		} else {
			old++
		}
	}
	// Only instances of another version need replacing; a new version
	// with none running yet is just a scale.
	if old > 0 {
		minHealthy, maxTotal := Limits(next)
		kept := min(len(fresh), n)
		return []PlanStep{{
			Action: RestartApplication, App: next.ID, Version: next.Version, Instances: n,
			Launch: n - kept, Kill: old + len(fresh) - kept,
			MinHealthy: minHealthy, MaxTotal: maxTotal,
		}}
	}
	switch {
	case len(fresh) < n:
		return []PlanStep{{Action: ScaleApplication, App: next.ID, Version: next.Version, Instances: n, Launch: n - len(fresh)}}
	case len(fresh) > n:
		sortForKill(fresh, next.KillSelection)
		ids := make([]string, 0, len(fresh)-n)
		for _, in := range fresh[:len(fresh)-n] {
			ids = append(ids, in.ID)
		}
		return []PlanStep{{Action: ScaleApplication, App: next.ID, Version: next.Version, Instances: n, Kill: len(ids), KillIDs: ids}}
	}
	return nil
}
