// Package job holds the cron framework's job definition: Metronome's job
// JSON (id, description, labels, run) with its schedules, plus what Agora
// adds from Chronos (parent jobs) and Kubernetes CronJobs (retries with
// backoff). Parsing is strict and validation names every bad field in the
// 422 body the API returns.
//
// This file is the shared contract: the types and their JSON names.
package job

// Job is one job: Metronome's JobSpec with its schedules.
type Job struct {
	// ID is Metronome's job id: lower-case letters, digits, '-' and '.'
	// separated segments ("team-a.nightly"), each segment starting and
	// ending with a letter or digit.
	ID          string            `json:"id"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Run         Run               `json:"run"`
	// Schedules: Metronome allows at most one per job; Agora allows
	// several (each fires on its own).
	Schedules []Schedule `json:"schedules,omitempty"`
	// Dependencies are parent jobs: this job runs after each successful
	// run of all of them (Chronos's parents). A job with dependencies may
	// still have schedules.
	Dependencies []Dependency `json:"dependencies,omitempty"`
}

// Dependency names a parent job.
type Dependency struct {
	ID string `json:"id"`
}

// Run is Metronome's run spec: what one run of the job launches.
type Run struct {
	Cmd            string            `json:"cmd,omitempty"`
	Args           []string          `json:"args,omitempty"`
	User           string            `json:"user,omitempty"`
	CPUs           float64           `json:"cpus"`
	Mem            float64           `json:"mem"`
	Disk           float64           `json:"disk"`
	Env            map[string]EnvVar `json:"env,omitempty"`
	Secrets        map[string]Secret `json:"secrets,omitempty"`
	Docker         *Docker           `json:"docker,omitempty"`
	Placement      *Placement        `json:"placement,omitempty"`
	MaxLaunchDelay int               `json:"maxLaunchDelay,omitempty"` // seconds, default 3600
	Restart        Restart           `json:"restart"`
	Volumes        []Volume          `json:"volumes,omitempty"`
}

// EnvVar is a value, or a reference to a secret ({"secret": "name"}), as
// in Metronome's and Marathon's env.
type EnvVar struct {
	Value  string `json:"-"`
	Secret string `json:"-"`
}

// Secret is a secret's value, inline (Agora has no secret store).
type Secret struct {
	Value string `json:"value"`
}

// Docker runs the job's task in a container.
type Docker struct {
	Image          string `json:"image"`
	ForcePullImage bool   `json:"forcePullImage,omitempty"`
}

// Placement holds Metronome's constraints.
type Placement struct {
	Constraints []Constraint `json:"constraints,omitempty"`
}

// Constraint is Metronome's {attribute, operator, value}; operators EQ,
// LIKE, UNLIKE, IS, UNIQUE, GROUP_BY, MAX_PER (hostname is an attribute).
type Constraint struct {
	Attribute string `json:"attribute"`
	Operator  string `json:"operator"`
	Value     string `json:"value,omitempty"`
}

// Restart is Metronome's restart policy, with Agora's retries.
type Restart struct {
	// Policy is NEVER (default) or ON_FAILURE.
	Policy string `json:"policy"`
	// ActiveDeadlineSeconds bounds one run from its start: a run still
	// going then is killed and recorded as failed; with ON_FAILURE it also
	// bounds the retries. 0: no bound.
	ActiveDeadlineSeconds int `json:"activeDeadlineSeconds,omitempty"`
	// Retries is how many times a failed run is relaunched with
	// ON_FAILURE (default 3); BackoffSeconds (default 1) doubles by
	// BackoffFactor (default 2) after each failure, capped at
	// MaxLaunchDelay.
	Retries        *int    `json:"retries,omitempty"`
	BackoffSeconds float64 `json:"backoffSeconds,omitempty"`
	BackoffFactor  float64 `json:"backoffFactor,omitempty"`
}

// Volume is a Metronome volume (hostPath mounted at containerPath).
type Volume struct {
	ContainerPath string `json:"containerPath"`
	HostPath      string `json:"hostPath"`
	Mode          string `json:"mode"` // RO or RW
}

// Schedule is Metronome's schedule.
type Schedule struct {
	ID string `json:"id"`
	// Cron is a cron expression (five fields, or six with seconds first,
	// or a descriptor such as @hourly, @daily, @every 5m) or a Chronos
	// ISO 8601 repeating interval "R[n]/<start>/<period>".
	Cron string `json:"cron"`
	// Timezone is an IANA name; default UTC.
	Timezone string `json:"timezone,omitempty"`
	// StartingDeadlineSeconds: a run that cannot start within this long of
	// its fire time is recorded as missed, not started late (default 900,
	// as Metronome).
	StartingDeadlineSeconds int `json:"startingDeadlineSeconds,omitempty"`
	// ConcurrencyPolicy is ALLOW (default), FORBID or REPLACE; it applies
	// to manual and dependency-triggered runs too.
	ConcurrencyPolicy string `json:"concurrencyPolicy,omitempty"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled,omitempty"`
}

// Defaults.
const (
	DefaultMaxLaunchDelay          = 3600
	DefaultStartingDeadlineSeconds = 900
	DefaultRetries                 = 3
	DefaultBackoffSeconds          = 1.0
	DefaultBackoffFactor           = 2.0
)

// Concurrency policies and restart policies.
const (
	Allow     = "ALLOW"
	Forbid    = "FORBID"
	Replace   = "REPLACE"
	Never     = "NEVER"
	OnFailure = "ON_FAILURE"
)
