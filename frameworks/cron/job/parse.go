package job

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Parse reads a job (POST /v1/jobs, PUT /v1/jobs/{id}): strict JSON, where
// an unknown field, a wrong type or trailing data is an error at its path;
// then defaults are applied and the job validated. Every error is
// FieldErrors. A parsed job is canonical: json.Marshal of it parses back to
// an equal job.
//
// Defaults apply to fields that are absent (or null): run.restart.policy
// NEVER, run.maxLaunchDelay 3600; with ON_FAILURE retries 3,
// backoffSeconds 1, backoffFactor 2; per schedule timezone UTC,
// startingDeadlineSeconds 900, concurrencyPolicy ALLOW. A field given
// explicitly keeps its value and is validated (startingDeadlineSeconds 0 is
// an error, not the default).
func Parse(data []byte) (*Job, error) {
	doc, errs := decodeStrict(data, reflect.TypeOf(Job{}))
	if errs != nil {
		return nil, errs
	}
	j := &Job{}
	if err := json.Unmarshal(data, j); err != nil {
		// The shape walk should have caught it; keep it an error at "/".
		return nil, FieldErrors{{Path: "/", Errors: []string{err.Error()}}}
	}
	j.applyDefaults(doc.(map[string]any))
	j.canonical()
	if errs := j.Validate(); errs != nil {
		return nil, errs
	}
	return j, nil
}

// ParseSchedule reads one schedule (POST /v1/jobs/{id}/schedules, PUT
// .../schedules/{sid}) as Parse reads a job; paths are relative to the
// schedule ("/cron").
func ParseSchedule(data []byte) (*Schedule, error) {
	doc, errs := decodeStrict(data, reflect.TypeOf(Schedule{}))
	if errs != nil {
		return nil, errs
	}
	s := &Schedule{}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, FieldErrors{{Path: "/", Errors: []string{err.Error()}}}
	}
	s.applyDefaults(doc.(map[string]any))
	var ve FieldErrors
	s.validate("", &ve)
	if ve != nil {
		return nil, ve
	}
	return s, nil
}

// decodeStrict reads one JSON object and checks it against t, field by
// field, before encoding/json (which matches keys case-insensitively and
// stops at the first problem) sees it.
func decodeStrict(data []byte, t reflect.Type) (any, FieldErrors) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, FieldErrors{{Path: "/", Errors: []string{"invalid JSON: " + err.Error()}}}
	}
	if _, err := dec.Token(); err == nil {
		return nil, FieldErrors{{Path: "/", Errors: []string{"invalid JSON: trailing data after the object"}}}
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, FieldErrors{{Path: "/", Errors: []string{"must be a JSON object"}}}
	}
	var errs FieldErrors
	checkShape(doc, t, "", &errs)
	// Objects are walked in map order; answer in a stable one.
	sort.SliceStable(errs, func(a, b int) bool { return errs[a].Path < errs[b].Path })
	return doc, errs
}

var envVarType = reflect.TypeOf(EnvVar{})

// checkShape walks v (decoded with UseNumber) against t. null is accepted
// anywhere and means absent, as for encoding/json.
func checkShape(v any, t reflect.Type, path string, errs *FieldErrors) {
	if v == nil {
		return
	}
	at := path
	if at == "" {
		at = "/"
	}
	if t == envVarType {
		switch x := v.(type) {
		case string:
		case map[string]any:
			for k, val := range x {
				if k != "secret" {
					errs.add(path+"/"+pointer(k), `unknown field; a secret reference is {"secret": "<name>"}`)
					continue
				}
				if s, ok := val.(string); !ok || s == "" {
					errs.add(path+"/secret", "must name a secret")
				}
			}
			if _, ok := x["secret"]; !ok {
				errs.add(path+"/secret", "must name a secret")
			}
		default:
			errs.add(at, `must be a string (quote numbers and booleans) or {"secret": "<name>"}`)
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		checkShape(v, t.Elem(), path, errs)
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			errs.add(at, "must be an object")
			return
		}
		fields := jsonFields(t)
		for k, val := range obj {
			f, ok := fields[k]
			if !ok {
				errs.add(path+"/"+pointer(k), "unknown field")
				continue
			}
			checkShape(val, f, path+"/"+pointer(k), errs)
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			errs.add(at, "must be an object")
			return
		}
		for k, val := range obj {
			checkShape(val, t.Elem(), path+"/"+pointer(k), errs)
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			errs.add(at, "must be an array")
			return
		}
		for i, val := range arr {
			checkShape(val, t.Elem(), path+"/"+strconv.Itoa(i), errs)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			errs.add(at, "must be a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			errs.add(at, "must be true or false")
		}
	case reflect.Int:
		n, ok := v.(json.Number)
		if !ok {
			errs.add(at, "must be a whole number")
			return
		}
		if _, err := strconv.ParseInt(string(n), 10, 32); err != nil {
			errs.add(at, "must be a whole number between %d and %d", math.MinInt32, math.MaxInt32)
		}
	case reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			errs.add(at, "must be a number")
			return
		}
		if _, err := strconv.ParseFloat(string(n), 64); err != nil {
			errs.add(at, "must be a number in range")
		}
	}
}

// jsonFields maps a struct's JSON names (exact case) to field types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// given reports whether the object at doc holds a non-null value at the
// path of keys and indices.
func given(doc any, path ...any) bool {
	cur := doc
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return false
			}
			cur = m[k]
		case int:
			a, ok := cur.([]any)
			if !ok || k >= len(a) {
				return false
			}
			cur = a[k]
		}
		if cur == nil {
			return false
		}
	}
	return true
}

// ApplyDefaults fills the defaults (see Parse) into fields left at their
// zero value, for a job built in code rather than parsed.
func (j *Job) ApplyDefaults() {
	j.applyDefaults(nil)
}

// applyDefaults fills what doc (the submitted object; nil: treat every
// zero field as absent) does not give.
func (j *Job) applyDefaults(doc map[string]any) {
	absent := func(path ...any) bool { return doc == nil || !given(doc, path...) }
	r := &j.Run
	if r.MaxLaunchDelay == 0 && absent("run", "maxLaunchDelay") {
		r.MaxLaunchDelay = DefaultMaxLaunchDelay
	}
	if r.Restart.Policy == "" && absent("run", "restart", "policy") {
		r.Restart.Policy = Never
	}
	if r.Restart.Policy == OnFailure {
		if r.Restart.Retries == nil {
			n := DefaultRetries
			r.Restart.Retries = &n
		}
		if r.Restart.BackoffSeconds == 0 && absent("run", "restart", "backoffSeconds") {
			r.Restart.BackoffSeconds = DefaultBackoffSeconds
		}
		if r.Restart.BackoffFactor == 0 && absent("run", "restart", "backoffFactor") {
			r.Restart.BackoffFactor = DefaultBackoffFactor
		}
	}
	for i := range j.Schedules {
		var sd map[string]any
		if doc != nil {
			if arr, ok := doc["schedules"].([]any); ok && i < len(arr) {
				sd, _ = arr[i].(map[string]any)
			}
			if sd == nil {
				sd = map[string]any{}
			}
		}
		j.Schedules[i].applyDefaults(sd)
	}
}

// ApplyDefaults fills the schedule's defaults into zero fields.
func (s *Schedule) ApplyDefaults() { s.applyDefaults(nil) }

func (s *Schedule) applyDefaults(doc map[string]any) {
	absent := func(key string) bool { return doc == nil || !given(doc, key) }
	// "" is the default, given or not: it is what an omitted field reads as.
	if s.Timezone == "" {
		s.Timezone = "UTC"
	}
	if s.StartingDeadlineSeconds == 0 && absent("startingDeadlineSeconds") {
		s.StartingDeadlineSeconds = DefaultStartingDeadlineSeconds
	}
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = Allow
	}
}

// canonical makes empty collections nil, as json.Marshal omits them, so
// that a parsed job equals its own round trip.
func (j *Job) canonical() {
	if len(j.Labels) == 0 {
		j.Labels = nil
	}
	if len(j.Schedules) == 0 {
		j.Schedules = nil
	}
	if len(j.Dependencies) == 0 {
		j.Dependencies = nil
	}
	r := &j.Run
	if len(r.Args) == 0 {
		r.Args = nil
	}
	if len(r.Env) == 0 {
		r.Env = nil
	}
	if len(r.Secrets) == 0 {
		r.Secrets = nil
	}
	if len(r.Volumes) == 0 {
		r.Volumes = nil
	}
	if r.Placement != nil && len(r.Placement.Constraints) == 0 {
		r.Placement.Constraints = nil
	}
}
