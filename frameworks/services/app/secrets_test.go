package app

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"agora/core/mesos"
)

const secretApp = `{"id": "/db/client", "cmd": "run",
	"env": {"MODE": "prod", "DB_PASSWORD": {"secret": "db"}},
	"secrets": {"db": {"value": "s3cr3t"}, "unused": {"value": "spare"}}}`

func TestSecretReferencesParseAndRoundTrip(t *testing.T) {
	a := mustParse(t, secretApp)
	if errs := a.Validate(); errs != nil {
		t.Fatalf("a declared, referenced secret (and an unused one, as Marathon allows) must be valid: %v", errs)
	}
	if a.Env["MODE"] != "prod" || a.SecretEnv["DB_PASSWORD"] != "db" || a.Secrets["db"].Value != "s3cr3t" {
		t.Fatalf("env and secrets not split as declared: env %v secretEnv %v secrets %v", a.Env, a.SecretEnv, a.Secrets)
	}
	if _, plain := a.Env["DB_PASSWORD"]; plain {
		t.Fatalf("the secret reference leaked into the plain env: %v", a.Env)
	}
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var shape struct {
		Env     map[string]any    `json:"env"`
		Secrets map[string]Secret `json:"secrets"`
	}
	if err := json.Unmarshal(data, &shape); err != nil {
		t.Fatal(err)
	}
	if ref, ok := shape.Env["DB_PASSWORD"].(map[string]any); !ok || ref["secret"] != "db" || shape.Env["MODE"] != "prod" {
		t.Fatalf("env is not Marathon's one object of strings and secret references: %s", data)
	}
	b, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("JSON round trip changed the app:\n%+v\n%+v", a, b)
	}
	y := mustParse(t, "id: /db/client\ncmd: run\nenv:\n  DB_PASSWORD:\n    secret: db\nsecrets:\n  db:\n    value: s3cr3t\n  unused:\n    value: spare\n")
	y.Env = EnvVars{"MODE": "prod"}
	if !reflect.DeepEqual(a, y) {
		t.Fatalf("YAML gives a different app:\n%+v\n%+v", a, y)
	}
}

func TestSecretValidationNamesTheField(t *testing.T) {
	cases := []struct{ name, app, path, says string }{
		{"undeclared", `{"id": "/a", "cmd": "x", "env": {"P": {"secret": "nope"}}}`, "env.P.secret", `"nope" is not declared`},
		{"empty reference", `{"id": "/a", "cmd": "x", "env": {"P": {"secret": ""}}, "secrets": {"s": {"value": "v"}}}`, "env.P.secret", "must name a secret"},
		{"empty value", `{"id": "/a", "cmd": "x", "secrets": {"s": {"value": ""}}}`, "secrets.s.value", "must not be empty"},
		{"no value", `{"id": "/a", "cmd": "x", "secrets": {"s": {}}}`, "secrets.s.value", "must not be empty"},
		{"source", `{"id": "/a", "cmd": "x", "secrets": {"s": {"source": "vault/db"}}}`, "secrets.s.source", "value"},
		{"value and source", `{"id": "/a", "cmd": "x", "secrets": {"s": {"value": "v", "source": "vault/db"}}}`, "secrets.s.source", "together with value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := mustParse(t, tc.app).Validate()
			if !errs.Has(tc.path) || !strings.Contains(errs.Error(), tc.says) {
				t.Fatalf("want %q at %s, got %v", tc.says, tc.path, errs)
			}
			body, _ := json.Marshal(errs)
			if !strings.Contains(string(body), MarathonPath(tc.path)) {
				t.Fatalf("422 body does not name %s: %s", MarathonPath(tc.path), body)
			}
		})
	}
	_, err := Parse([]byte(`{"id": "/a", "cmd": "x", "secrets": {"s": {"value": "v", "store": "x"}}}`))
	if fe, ok := err.(FieldErrors); !ok || !fe.Has("secrets.s.store") {
		t.Fatalf("an unknown field of a secret must be named, got %v", err)
	}
}

func TestMaskedHidesEverySecretValue(t *testing.T) {
	a := mustParse(t, secretApp)
	m := a.Masked()
	data, _ := json.Marshal(m)
	if strings.Contains(string(data), "s3cr3t") || strings.Contains(string(data), "spare") {
		t.Fatalf("masked app shows a secret value: %s", data)
	}
	if m.Secrets["db"].Value != mesos.SecretMask || m.SecretEnv["DB_PASSWORD"] != "db" {
		t.Fatalf("masked app lost its shape: %+v", m)
	}
	if a.Secrets["db"].Value != "s3cr3t" {
		t.Fatal("Masked changed the stored app")
	}
}

func TestKeepMaskedSecrets(t *testing.T) {
	cur := mustParse(t, secretApp)
	// GET then PUT: the masked definition comes back.
	back := mustParse(t, mustJSON(t, cur.Masked()))
	if errs := back.KeepMaskedSecrets(cur); errs != nil {
		t.Fatal(errs)
	}
	if !reflect.DeepEqual(back, cur) {
		t.Fatalf("a masked round trip must give the stored app back:\n%+v\n%+v", back, cur)
	}
	if c := Diff(cur, back); !c.None() {
		t.Fatalf("a masked round trip must change nothing, changed %v", c.Fields)
	}

	// A new value is a change that restarts.
	changed := mustParse(t, strings.Replace(secretApp, "s3cr3t", "n3w", 1))
	if errs := changed.KeepMaskedSecrets(cur); errs != nil || changed.Secrets["db"].Value != "n3w" {
		t.Fatalf("a new value must be kept as given: %v %v", errs, changed.Secrets)
	}
	if c := Diff(cur, changed); !c.Restart || c.Fields[0] != "secrets" {
		t.Fatalf("a changed secret must restart the app, got %+v", c)
	}

	// Nothing to keep: a new app, or a secret the stored app lacks.
	masked := strings.Replace(secretApp, "s3cr3t", mesos.SecretMask, 1)
	for name, stored := range map[string]*App{"new app": nil, "new secret": mustParse(t, `{"id": "/db/client", "cmd": "run"}`)} {
		a := mustParse(t, masked)
		errs := a.KeepMaskedSecrets(stored)
		if !errs.Has("secrets.db.value") || a.Secrets["db"].Value != mesos.SecretMask {
			t.Errorf("%s: want secrets.db.value refused, got %v", name, errs)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
