package job

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"agora/frameworks/cron/schedule"
	"agora/frameworks/services/placement"
)

// idSegment is one '.'-separated segment of a job id (Metronome's rule).
var idSegment = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

var scheduleID = regexp.MustCompile(`^[a-z0-9-]+$`)

// Bounds from Metronome's job schema, and Agora's for retries.
const (
	MinCPUs    = 0.01
	MinMem     = 32.0
	MaxRetries = 100
)

// ValidID reports whether id is a valid job id (empty when it is, else
// why not).
func ValidID(id string) string {
	if id == "" {
		return "must not be empty"
	}
	for _, seg := range strings.Split(id, ".") {
		if !idSegment.MatchString(seg) {
			return fmt.Sprintf("%q is not a valid id: use lower-case letters, digits and '-' in segments separated by '.', each starting and ending with a letter or digit, e.g. \"team-a.nightly-backup\"", id)
		}
	}
	return ""
}

// Validate checks every field and returns all problems, or nil.
// Dependencies on other jobs are checked by CheckDependencies, which sees
// them all.
func (j *Job) Validate() FieldErrors {
	var errs FieldErrors
	if msg := ValidID(j.ID); msg != "" {
		errs.add("/id", "%s", msg)
	}
	for _, k := range sortedKeys(j.Labels) {
		if k == "" {
			errs.add("/labels", "label names must not be empty")
		}
	}
	j.Run.validate(&errs)
	seen := map[string]bool{}
	for i, s := range j.Schedules {
		p := "/schedules/" + strconv.Itoa(i)
		s.validate(p, &errs)
		if seen[s.ID] {
			errs.add(p+"/id", "%q is the id of an earlier schedule; schedule ids must be unique", s.ID)
		}
		seen[s.ID] = true
	}
	deps := map[string]bool{}
	for i, d := range j.Dependencies {
		p := "/dependencies/" + strconv.Itoa(i) + "/id"
		switch {
		case ValidID(d.ID) != "":
			errs.add(p, "%s", ValidID(d.ID))
		case d.ID == j.ID:
			errs.add(p, "a job may not depend on itself")
		case deps[d.ID]:
			errs.add(p, "%q is listed twice", d.ID)
		}
		deps[d.ID] = true
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func (r *Run) validate(errs *FieldErrors) {
	// !(x >= min) also refuses NaN.
	if !(r.CPUs >= MinCPUs) {
		errs.add("/run/cpus", "must be at least %g", MinCPUs)
	}
	if !(r.Mem >= MinMem) {
		errs.add("/run/mem", "must be at least %g (MiB)", MinMem)
	}
	if !(r.Disk >= 0) {
		errs.add("/run/disk", "must be at least 0")
	}
	hasImage := r.Docker != nil && r.Docker.Image != ""
	switch {
	case r.Cmd != "" && len(r.Args) > 0:
		errs.add("/run/cmd", "cmd and args may not both be given: cmd runs in a shell, args without one")
	case r.Cmd == "" && len(r.Args) == 0 && !hasImage:
		errs.add("/run/cmd", `one of cmd, args or docker.image must be given, e.g. "cmd": "echo hello"`)
	}
	if r.Docker != nil && r.Docker.Image == "" {
		errs.add("/run/docker/image", "must not be empty")
	}
	if r.MaxLaunchDelay < 1 {
		errs.add("/run/maxLaunchDelay", "must be at least 1 (seconds)")
	}
	r.Restart.validate(errs)
	if r.Placement != nil {
		for i, c := range r.Placement.Constraints {
			p := "/run/placement/constraints/" + strconv.Itoa(i)
			if c.Attribute == "" {
				errs.add(p+"/attribute", `must not be empty; use "hostname" or an agent attribute name`)
				continue
			}
			if _, ok := metronomeOps[c.Operator]; !ok {
				errs.add(p+"/operator", "%q is not an operator; use one of %s", c.Operator, strings.Join(opNames(), ", "))
				continue
			}
			if _, err := c.toPlacement(); err != nil {
				errs.add(p+"/value", "%v", err)
			}
		}
	}
	for _, name := range sortedKeys(r.Secrets) {
		if name == "" {
			errs.add("/run/secrets", "secret names must not be empty")
			continue
		}
		if r.Secrets[name].Value == "" {
			errs.add("/run/secrets/"+pointer(name)+"/value", "must not be empty: Agora has no secret store and takes the secret inline")
		}
	}
	for _, k := range sortedKeys(r.Env) {
		v, p := r.Env[k], "/run/env/"+pointer(k)
		switch {
		case k == "":
			errs.add("/run/env", "variable names must not be empty")
		case v.Secret != "" && v.Value != "":
			errs.add(p, "is both a value and a secret reference")
		case v.Secret != "":
			if _, ok := r.Secrets[v.Secret]; !ok {
				errs.add(p+"/secret", "%q is not declared in run.secrets", v.Secret)
			}
		}
	}
	for i, v := range r.Volumes {
		p := "/run/volumes/" + strconv.Itoa(i)
		if !path.IsAbs(v.ContainerPath) {
			errs.add(p+"/containerPath", "must be an absolute path, e.g. \"/data\"")
		}
		if v.HostPath == "" {
			errs.add(p+"/hostPath", "must not be empty")
		}
		if v.Mode != "RO" && v.Mode != "RW" {
			errs.add(p+"/mode", "%q is not a mode; use RO or RW", v.Mode)
		}
	}
}

func (r *Restart) validate(errs *FieldErrors) {
	switch r.Policy {
	case Never, OnFailure:
	default:
		errs.add("/run/restart/policy", "%q is not a restart policy; use NEVER or ON_FAILURE", r.Policy)
	}
	if r.ActiveDeadlineSeconds < 0 {
		errs.add("/run/restart/activeDeadlineSeconds", "must be at least 0 (0: no deadline)")
	}
	if r.Retries != nil && (*r.Retries < 0 || *r.Retries > MaxRetries) {
		errs.add("/run/restart/retries", "must be between 0 and %d", MaxRetries)
	}
	if r.Policy == OnFailure && !(r.BackoffSeconds > 0) || r.BackoffSeconds < 0 {
		errs.add("/run/restart/backoffSeconds", "must be more than 0")
	}
	if r.Policy == OnFailure && !(r.BackoffFactor >= 1) || r.BackoffFactor < 0 {
		errs.add("/run/restart/backoffFactor", "must be at least 1")
	}
}

// validate checks one schedule; prefix is its path ("/schedules/0", or ""
// for a schedule sent on its own).
func (s *Schedule) validate(prefix string, errs *FieldErrors) {
	if !scheduleID.MatchString(s.ID) {
		errs.add(prefix+"/id", `%q is not a valid schedule id: use lower-case letters, digits and '-', e.g. "nightly"`, s.ID)
	}
	// The expression and the zone are checked apart so that both are
	// reported when both are wrong.
	if _, err := schedule.Parse(s.Cron, "UTC"); err != nil {
		errs.add(prefix+"/cron", "%s", fieldMsg(err))
	}
	if s.Timezone != "UTC" && s.Timezone != "" {
		if _, err := schedule.Parse("@daily", s.Timezone); err != nil {
			errs.add(prefix+"/timezone", "%s", fieldMsg(err))
		}
	}
	if s.StartingDeadlineSeconds < 1 {
		errs.add(prefix+"/startingDeadlineSeconds", "must be at least 1")
	}
	switch s.ConcurrencyPolicy {
	case Allow, Forbid, Replace:
	default:
		errs.add(prefix+"/concurrencyPolicy", "%q is not a concurrency policy; use ALLOW, FORBID or REPLACE", s.ConcurrencyPolicy)
	}
}

// Validate checks one schedule on its own; paths are relative to it.
func (s *Schedule) Validate() FieldErrors {
	var errs FieldErrors
	s.validate("", &errs)
	return errs
}

// IsEnabled reports whether the schedule fires (Enabled nil is true).
func (s Schedule) IsEnabled() bool { return s.Enabled == nil || *s.Enabled }

// Parsed returns the schedule's fire-time computation.
func (s Schedule) Parsed() (schedule.Schedule, error) {
	return schedule.Parse(s.Cron, s.Timezone)
}

func fieldMsg(err error) string {
	if fe, ok := err.(*schedule.FieldError); ok {
		return fe.Msg
	}
	return err.Error()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// metronomeOps maps Metronome's operators to the placement package's.
var metronomeOps = map[string]string{
	"EQ":       placement.OpIs,
	"IS":       placement.OpIs,
	"LIKE":     placement.OpLike,
	"UNLIKE":   placement.OpUnlike,
	"UNIQUE":   placement.OpUnique,
	"GROUP_BY": placement.OpGroupBy,
	"MAX_PER":  placement.OpMaxPer,
}

func opNames() []string { return sortedKeys(metronomeOps) }

func (c Constraint) toPlacement() (placement.Constraint, error) {
	spec := []string{c.Attribute, metronomeOps[c.Operator]}
	if c.Value != "" {
		spec = append(spec, c.Value)
	}
	return placement.Parse(spec)
}

// Constraints converts run.placement.constraints to the services
// framework's placement constraints: EQ becomes IS, the others keep their
// names; the attribute "hostname" is the agent's hostname. Errors name the
// constraint by its index.
func (r Run) Constraints() ([]placement.Constraint, error) {
	if r.Placement == nil {
		return nil, nil
	}
	out := make([]placement.Constraint, 0, len(r.Placement.Constraints))
	for i, c := range r.Placement.Constraints {
		if _, ok := metronomeOps[c.Operator]; !ok {
			return nil, fmt.Errorf("run.placement.constraints[%d]: operator %q is not one of %s", i, c.Operator, strings.Join(opNames(), ", "))
		}
		k, err := c.toPlacement()
		if err != nil {
			return nil, fmt.Errorf("run.placement.constraints[%d]: %w", i, err)
		}
		out = append(out, k)
	}
	return out, nil
}
