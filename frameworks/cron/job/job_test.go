package job

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"agora/core/mesos"
)

// base is a valid job using most fields; cases change one thing.
func base() map[string]any {
	return map[string]any{
		"id":          "team-a.nightly",
		"description": "nightly backup",
		"labels":      map[string]any{"owner": "team-a"},
		"run": map[string]any{
			"cmd":     "backup.sh",
			"cpus":    0.5,
			"mem":     128,
			"disk":    0,
			"user":    "nobody",
			"env":     map[string]any{"MODE": "full", "DB_PASSWORD": map[string]any{"secret": "db"}},
			"secrets": map[string]any{"db": map[string]any{"value": "hunter2"}},
			"placement": map[string]any{"constraints": []any{
				map[string]any{"attribute": "rack", "operator": "EQ", "value": "r1"},
			}},
			"restart": map[string]any{"policy": "ON_FAILURE", "activeDeadlineSeconds": 600},
			"volumes": []any{map[string]any{"containerPath": "/data", "hostPath": "/srv/data", "mode": "RW"}},
		},
		"schedules":    []any{map[string]any{"id": "nightly", "cron": "30 2 * * *", "timezone": "Europe/Berlin"}},
		"dependencies": []any{map[string]any{"id": "team-a.extract"}},
	}
}

func encode(t testing.TB, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// at walks a map by keys and indices, for mutations.
func at(m map[string]any, path ...any) map[string]any {
	var cur any = m
	for _, p := range path {
		switch k := p.(type) {
		case string:
			cur = cur.(map[string]any)[k]
		case int:
			cur = cur.([]any)[k]
		}
	}
	return cur.(map[string]any)
}

func TestParseValidJob(t *testing.T) {
	j, err := Parse(encode(t, base()))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if j.ID != "team-a.nightly" || j.Run.Env["DB_PASSWORD"].Secret != "db" || j.Run.Env["MODE"].Value != "full" {
		t.Errorf("fields lost: %+v", j)
	}
	// Defaults: ON_FAILURE's retries and backoff, the schedule's deadline
	// and policy, the launch delay.
	r := j.Run.Restart
	if r.Retries == nil || *r.Retries != DefaultRetries || r.BackoffSeconds != 1 || r.BackoffFactor != 2 {
		t.Errorf("restart defaults: %+v", r)
	}
	if j.Run.MaxLaunchDelay != 3600 {
		t.Errorf("maxLaunchDelay %d", j.Run.MaxLaunchDelay)
	}
	s := j.Schedules[0]
	if s.StartingDeadlineSeconds != 900 || s.ConcurrencyPolicy != Allow || s.Timezone != "Europe/Berlin" || !s.IsEnabled() {
		t.Errorf("schedule defaults: %+v", s)
	}
}

func TestParseMinimalDefaults(t *testing.T) {
	j, err := Parse([]byte(`{"id":"a","run":{"cmd":"true","cpus":0.01,"mem":32,"disk":0},"schedules":[{"id":"s","cron":"@daily"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if j.Run.Restart.Policy != Never || j.Run.Restart.Retries != nil || j.Run.Restart.BackoffSeconds != 0 {
		t.Errorf("NEVER gets no retry defaults: %+v", j.Run.Restart)
	}
	if j.Schedules[0].Timezone != "UTC" {
		t.Errorf("timezone %q", j.Schedules[0].Timezone)
	}
}

func TestExplicitValuesKept(t *testing.T) {
	j, err := Parse([]byte(`{"id":"a","run":{"cmd":"true","cpus":1,"mem":64,"disk":1,"maxLaunchDelay":60,
		"restart":{"policy":"ON_FAILURE","retries":0,"backoffSeconds":5,"backoffFactor":1.5}},
		"schedules":[{"id":"s","cron":"@daily","startingDeadlineSeconds":30,"concurrencyPolicy":"FORBID","enabled":false}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r := j.Run.Restart
	if *r.Retries != 0 || r.BackoffSeconds != 5 || r.BackoffFactor != 1.5 || j.Run.MaxLaunchDelay != 60 {
		t.Errorf("explicit restart values lost: %+v", r)
	}
	s := j.Schedules[0]
	if s.StartingDeadlineSeconds != 30 || s.ConcurrencyPolicy != Forbid || s.IsEnabled() {
		t.Errorf("explicit schedule values lost: %+v", s)
	}
}

func TestValidationPaths(t *testing.T) {
	cases := []struct {
		name     string
		mutate   func(m map[string]any)
		path     string
		mentions string
	}{
		{"id missing", func(m map[string]any) { delete(m, "id") }, "/id", "empty"},
		{"id upper case", func(m map[string]any) { m["id"] = "Team.a" }, "/id", "lower-case"},
		{"id empty segment", func(m map[string]any) { m["id"] = "a..b" }, "/id", "segments"},
		{"id segment ends with -", func(m map[string]any) { m["id"] = "a-.b" }, "/id", "segments"},
		{"id with slash", func(m map[string]any) { m["id"] = "a/b" }, "/id", "segments"},
		{"cpus too small", func(m map[string]any) { at(m, "run")["cpus"] = 0.001 }, "/run/cpus", "at least 0.01"},
		{"mem too small", func(m map[string]any) { at(m, "run")["mem"] = 16 }, "/run/mem", "at least 32"},
		{"disk negative", func(m map[string]any) { at(m, "run")["disk"] = -1 }, "/run/disk", "at least 0"},
		{"nothing to run", func(m map[string]any) { delete(at(m, "run"), "cmd") }, "/run/cmd", "one of cmd, args or docker.image"},
		{"cmd and args", func(m map[string]any) { at(m, "run")["args"] = []any{"x"} }, "/run/cmd", "both"},
		{"docker without image", func(m map[string]any) { at(m, "run")["docker"] = map[string]any{"forcePullImage": true} }, "/run/docker/image", "empty"},
		{"maxLaunchDelay 0", func(m map[string]any) { at(m, "run")["maxLaunchDelay"] = 0 }, "/run/maxLaunchDelay", "at least 1"},
		{"restart policy", func(m map[string]any) { at(m, "run", "restart")["policy"] = "ALWAYS" }, "/run/restart/policy", "NEVER or ON_FAILURE"},
		{"active deadline negative", func(m map[string]any) { at(m, "run", "restart")["activeDeadlineSeconds"] = -1 }, "/run/restart/activeDeadlineSeconds", "at least 0"},
		{"retries negative", func(m map[string]any) { at(m, "run", "restart")["retries"] = -1 }, "/run/restart/retries", "between 0 and 100"},
		{"retries too many", func(m map[string]any) { at(m, "run", "restart")["retries"] = 101 }, "/run/restart/retries", "between 0 and 100"},
		{"backoff 0", func(m map[string]any) { at(m, "run", "restart")["backoffSeconds"] = 0 }, "/run/restart/backoffSeconds", "more than 0"},
		{"backoff factor below 1", func(m map[string]any) { at(m, "run", "restart")["backoffFactor"] = 0.5 }, "/run/restart/backoffFactor", "at least 1"},
		{"schedule id", func(m map[string]any) { at(m, "schedules", 0)["id"] = "Nightly" }, "/schedules/0/id", "lower-case"},
		{"schedule id empty", func(m map[string]any) { at(m, "schedules", 0)["id"] = "" }, "/schedules/0/id", "schedule id"},
		{"schedule ids unique", func(m map[string]any) {
			m["schedules"] = append(m["schedules"].([]any), map[string]any{"id": "nightly", "cron": "@hourly"})
		}, "/schedules/1/id", "unique"},
		{"cron", func(m map[string]any) { at(m, "schedules", 0)["cron"] = "61 * * * *" }, "/schedules/0/cron", "examples"},
		{"cron never fires", func(m map[string]any) { at(m, "schedules", 0)["cron"] = "0 0 30 2 *" }, "/schedules/0/cron", "never fires"},
		{"timezone", func(m map[string]any) { at(m, "schedules", 0)["timezone"] = "Europe/Atlantis" }, "/schedules/0/timezone", "Europe/Berlin"},
		{"starting deadline 0", func(m map[string]any) { at(m, "schedules", 0)["startingDeadlineSeconds"] = 0 }, "/schedules/0/startingDeadlineSeconds", "at least 1"},
		{"concurrency policy", func(m map[string]any) { at(m, "schedules", 0)["concurrencyPolicy"] = "QUEUE" }, "/schedules/0/concurrencyPolicy", "ALLOW, FORBID or REPLACE"},
		{"constraint operator", func(m map[string]any) { at(m, "run", "placement", "constraints", 0)["operator"] = "NEAR" }, "/run/placement/constraints/0/operator", "EQ"},
		{"constraint attribute", func(m map[string]any) { at(m, "run", "placement", "constraints", 0)["attribute"] = "" }, "/run/placement/constraints/0/attribute", "hostname"},
		{"constraint value", func(m map[string]any) {
			at(m, "run", "placement", "constraints", 0)["operator"] = "MAX_PER"
			at(m, "run", "placement", "constraints", 0)["value"] = "many"
		}, "/run/placement/constraints/0/value", "many"},
		{"secret without value", func(m map[string]any) { at(m, "run", "secrets")["db"] = map[string]any{} }, "/run/secrets/db/value", "must not be empty"},
		{"env references an undeclared secret", func(m map[string]any) { at(m, "run", "env")["X"] = map[string]any{"secret": "nope"} }, "/run/env/X/secret", "not declared"},
		{"env reference without a name", func(m map[string]any) { at(m, "run", "env")["X"] = map[string]any{"secret": ""} }, "/run/env/X/secret", "must name a secret"},
		{"env number", func(m map[string]any) { at(m, "run", "env")["X"] = 5 }, "/run/env/X", "must be a string"},
		{"volume mode", func(m map[string]any) { at(m, "run", "volumes", 0)["mode"] = "RX" }, "/run/volumes/0/mode", "RO or RW"},
		{"volume relative path", func(m map[string]any) { at(m, "run", "volumes", 0)["containerPath"] = "data" }, "/run/volumes/0/containerPath", "absolute"},
		{"volume host path", func(m map[string]any) { at(m, "run", "volumes", 0)["hostPath"] = "" }, "/run/volumes/0/hostPath", "empty"},
		{"self dependency", func(m map[string]any) { at(m, "dependencies", 0)["id"] = "team-a.nightly" }, "/dependencies/0/id", "itself"},
		{"bad dependency id", func(m map[string]any) { at(m, "dependencies", 0)["id"] = "X" }, "/dependencies/0/id", "lower-case"},
		{"duplicate dependency", func(m map[string]any) {
			m["dependencies"] = append(m["dependencies"].([]any), map[string]any{"id": "team-a.extract"})
		}, "/dependencies/1/id", "twice"},
		// Shape: unknown fields and wrong types, at their paths.
		{"unknown top-level field", func(m map[string]any) { m["schedule"] = "x" }, "/schedule", "unknown field"},
		{"unknown field by case", func(m map[string]any) { at(m, "run")["CPUs"] = 1 }, "/run/CPUs", "unknown field"},
		{"unknown schedule field", func(m map[string]any) { at(m, "schedules", 0)["crontab"] = "x" }, "/schedules/0/crontab", "unknown field"},
		{"unknown env reference field", func(m map[string]any) { at(m, "run", "env")["X"] = map[string]any{"secret": "db", "key": "k"} }, "/run/env/X/key", "unknown field"},
		{"cpus as a string", func(m map[string]any) { at(m, "run")["cpus"] = "1" }, "/run/cpus", "must be a number"},
		{"retries fraction", func(m map[string]any) { at(m, "run", "restart")["retries"] = 1.5 }, "/run/restart/retries", "whole number"},
		{"schedules not an array", func(m map[string]any) { m["schedules"] = map[string]any{} }, "/schedules", "array"},
		{"enabled as a string", func(m map[string]any) { at(m, "schedules", 0)["enabled"] = "yes" }, "/schedules/0/enabled", "true or false"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := base()
			c.mutate(m)
			_, err := Parse(encode(t, m))
			var fe FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("Parse = %v, want FieldErrors", err)
			}
			for _, d := range fe {
				if d.Path == c.path && strings.Contains(strings.Join(d.Errors, "|"), c.mentions) {
					return
				}
			}
			t.Errorf("want %s mentioning %q; got %v", c.path, c.mentions, fe)
		})
	}
}

func TestRunForms(t *testing.T) {
	ok := []string{
		`{"id":"a","run":{"cmd":"true","cpus":1,"mem":32,"disk":0}}`,
		`{"id":"a","run":{"args":["/bin/true"],"cpus":1,"mem":32,"disk":0}}`,
		`{"id":"a","run":{"docker":{"image":"busybox"},"cpus":1,"mem":32,"disk":0}}`,
		`{"id":"a","run":{"docker":{"image":"busybox"},"cmd":"echo hi","cpus":1,"mem":32,"disk":0}}`,
		`{"id":"a","run":{"docker":{"image":"busybox"},"args":["echo","hi"],"cpus":1,"mem":32,"disk":0}}`,
	}
	for _, doc := range ok {
		if _, err := Parse([]byte(doc)); err != nil {
			t.Errorf("%s: %v", doc, err)
		}
	}
	if _, err := Parse([]byte(`{"id":"a","run":{"docker":{"image":"busybox"},"cmd":"x","args":["y"],"cpus":1,"mem":32,"disk":0}}`)); err == nil {
		t.Error("cmd and args together accepted")
	}
}

func TestParseNotJSON(t *testing.T) {
	for _, doc := range []string{``, `{`, `[]`, `"job"`, `{"id":"a"} {"id":"b"}`, `{"id":"a"} x`} {
		_, err := Parse([]byte(doc))
		var fe FieldErrors
		if !errors.As(err, &fe) || fe[0].Path != "/" {
			t.Errorf("Parse(%q) = %v, want a FieldErrors at /", doc, err)
		}
	}
}

func TestErrorBody(t *testing.T) {
	_, perr := Parse([]byte(`{"id":"a","run":{"cmd":"x","cpus":0,"mem":32,"disk":0}}`))
	b, _ := json.Marshal(perr)
	want := `{"message":"Object is not valid","details":[{"path":"/run/cpus","errors":["must be at least 0.01"]}]}`
	if string(b) != want {
		t.Errorf("422 body:\n got  %s\n want %s", b, want)
	}
	var back FieldErrors
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, perr.(FieldErrors)) {
		t.Errorf("body does not read back: %v %v", back, err)
	}
}

func TestRoundTrip(t *testing.T) {
	docs := [][]byte{
		encode(t, base()),
		[]byte(`{"id":"a","run":{"cmd":"true","cpus":0.01,"mem":32,"disk":0}}`),
		[]byte(`{"id":"a","labels":{},"run":{"args":[],"docker":{"image":"x"},"cpus":0.01,"mem":32,"disk":0,"env":{},"secrets":{},"volumes":[],"placement":{"constraints":[]}},"schedules":[],"dependencies":[]}`),
	}
	for _, doc := range docs {
		j, err := Parse(doc)
		if err != nil {
			t.Fatalf("Parse(%s): %v", doc, err)
		}
		out, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		j2, err := Parse(out)
		if err != nil {
			t.Fatalf("reparse of %s: %v", out, err)
		}
		if !reflect.DeepEqual(j, j2) {
			t.Errorf("round trip changed the job:\n %+v\n %+v", j, j2)
		}
	}
}

func TestEnvVarJSON(t *testing.T) {
	env := map[string]EnvVar{"A": {Value: "1"}, "B": {Secret: "db"}, "C": {}}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"A":"1","B":{"secret":"db"},"C":""}` {
		t.Errorf("marshal: %s", b)
	}
	var back map[string]EnvVar
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, env) {
		t.Errorf("unmarshal: %v %v", back, err)
	}
	for _, bad := range []string{`5`, `true`, `null`, `[]`, `{"secret":"db","x":1}`, `{"secret":5}`} {
		var v EnvVar
		if err := json.Unmarshal([]byte(bad), &v); err == nil && bad != "null" {
			t.Errorf("EnvVar accepted %s", bad)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	s, err := ParseSchedule([]byte(`{"id":"every-hour","cron":"0 * * * *"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Schedule{ID: "every-hour", Cron: "0 * * * *", Timezone: "UTC", StartingDeadlineSeconds: 900, ConcurrencyPolicy: Allow}
	if !reflect.DeepEqual(*s, want) {
		t.Errorf("got %+v want %+v", *s, want)
	}
	_, err = ParseSchedule([]byte(`{"id":"x","cron":"nope","timezone":"Nowhere/Land","extra":1}`))
	if fe, ok := err.(FieldErrors); !ok || fe[0].Path != "/extra" {
		t.Errorf("unknown field: %v", err)
	}
	_, err = ParseSchedule([]byte(`{"id":"x","cron":"nope","timezone":"Nowhere/Land"}`))
	fe, _ := err.(FieldErrors)
	if len(fe) != 2 || fe[0].Path != "/cron" || fe[1].Path != "/timezone" {
		t.Errorf("both cron and timezone reported: %v", err)
	}
	if _, err := ParseSchedule([]byte(`{"id":"iso","cron":"R5/2024-01-01T00:00:00Z/PT1H"}`)); err != nil {
		t.Errorf("ISO interval refused: %v", err)
	}
}

func TestCheckDependencies(t *testing.T) {
	mk := func(id string, deps ...string) *Job {
		j := &Job{ID: id}
		for _, d := range deps {
			j.Dependencies = append(j.Dependencies, Dependency{ID: d})
		}
		return j
	}
	graph := func(js ...*Job) map[string]*Job {
		m := map[string]*Job{}
		for _, j := range js {
			m[j.ID] = j
		}
		return m
	}
	cases := []struct {
		name string
		jobs map[string]*Job
		want string // FieldErrors.Error(), "" for none
	}{
		{"chain", graph(mk("a"), mk("b", "a"), mk("c", "b", "a")), ""},
		{"unknown parent", graph(mk("a"), mk("b", "a", "zz")), `invalid job: /dependencies/1/id: job "b" depends on "zz", which does not exist`},
		{"cycle", graph(mk("a", "b"), mk("b", "c"), mk("c", "a")), "invalid job: /dependencies: cycle: a -> b -> c -> a"},
		{"cycle found from its middle", graph(mk("x", "c"), mk("c", "b"), mk("b", "c")), "invalid job: /dependencies: cycle: b -> c -> b"},
		{"two cycles", graph(mk("a", "b"), mk("b", "a"), mk("c", "d"), mk("d", "c")), "invalid job: /dependencies: cycle: a -> b -> a; cycle: c -> d -> c"},
		{"self", graph(mk("a", "a")), "invalid job: /dependencies: cycle: a -> a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := CheckDependencies(c.jobs)
			got := ""
			if errs != nil {
				got = errs.Error()
			}
			if got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestMaskedAndKeepMaskedSecrets(t *testing.T) {
	j, err := Parse(encode(t, base()))
	if err != nil {
		t.Fatal(err)
	}
	m := j.Masked()
	if m.Run.Secrets["db"].Value != mesos.SecretMask || j.Run.Secrets["db"].Value != "hunter2" {
		t.Fatalf("Masked: %v, original %v", m.Run.Secrets, j.Run.Secrets)
	}
	if b, _ := json.Marshal(m); strings.Contains(string(b), "hunter2") {
		t.Fatalf("masked JSON shows the secret: %s", b)
	}
	// The masked job sent back keeps the stored value.
	sent, err := Parse(encode(t, jsonMap(t, m)))
	if err != nil {
		t.Fatal(err)
	}
	if errs := sent.KeepMaskedSecrets(j); errs != nil || sent.Run.Secrets["db"].Value != "hunter2" {
		t.Fatalf("KeepMaskedSecrets: %v %v", errs, sent.Run.Secrets)
	}
	// A mask with nothing stored is an error at the secret's value.
	sent2, _ := Parse(encode(t, jsonMap(t, m)))
	errs := sent2.KeepMaskedSecrets(nil)
	if len(errs) != 1 || errs[0].Path != "/run/secrets/db/value" || sent2.Run.Secrets["db"].Value != mesos.SecretMask {
		t.Fatalf("KeepMaskedSecrets(nil): %v", errs)
	}
	if (*Job)(nil).Masked() != nil {
		t.Fatal("nil job masked")
	}
}

func jsonMap(t *testing.T, v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestIsEnabled(t *testing.T) {
	f, tr := false, true
	if !(Schedule{}).IsEnabled() || !(Schedule{Enabled: &tr}).IsEnabled() || (Schedule{Enabled: &f}).IsEnabled() {
		t.Fatal("IsEnabled: nil and true are enabled, false is not")
	}
}

func TestConstraints(t *testing.T) {
	r := Run{Placement: &Placement{Constraints: []Constraint{
		{Attribute: "rack", Operator: "EQ", Value: "r1"},
		{Attribute: "hostname", Operator: "UNIQUE"},
		{Attribute: "zone", Operator: "GROUP_BY", Value: "3"},
		{Attribute: "rack", Operator: "MAX_PER", Value: "2"},
		{Attribute: "os", Operator: "LIKE", Value: "linux.*"},
		{Attribute: "os", Operator: "UNLIKE", Value: "win.*"},
		{Attribute: "gpu", Operator: "IS", Value: "true"},
	}}}
	cs, err := r.Constraints()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Name())
	}
	want := "rack:IS:r1 hostname:UNIQUE zone:GROUP_BY:3 rack:MAX_PER:2 os:LIKE:linux.* os:UNLIKE:win.* gpu:IS:true"
	if strings.Join(names, " ") != want {
		t.Errorf("got %s\nwant %s", strings.Join(names, " "), want)
	}
	if cs, err := (Run{}).Constraints(); cs != nil || err != nil {
		t.Errorf("no placement: %v %v", cs, err)
	}
	if _, err := (Run{Placement: &Placement{Constraints: []Constraint{{Attribute: "a", Operator: "CLUSTER", Value: "x"}}}}).Constraints(); err == nil {
		t.Error("CLUSTER is not a Metronome operator")
	}
}
