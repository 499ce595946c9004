package core

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"agora/core/mesos"
	"agora/frameworks/services/app"
)

const secretApp = `{"id":"/db/client","cmd":"run","instances":1,"cpus":0.1,"mem":32,
	"env":{"MODE":"prod","DB_PASSWORD":{"secret":"db"}},
	"secrets":{"db":{"value":"s3cr3t"}}}`

func TestTaskInfoCarriesSecretsAsSecretVariables(t *testing.T) {
	c := New(Config{Seed: 1})
	if _, err := c.PutApp(mustApp(t, secretApp), false, t0); err != nil {
		t.Fatal(err)
	}
	ts := launched(c.Offers([]mesos.Offer{offer("o1", "a1", 4, 1024)}, t0))
	if len(ts) != 1 {
		t.Fatalf("launched %d tasks", len(ts))
	}
	var got *mesos.EnvironmentVariable
	for _, v := range ts[0].Command.Environment.Variables {
		if v.Name == "DB_PASSWORD" {
			v := v
			got = &v
		}
	}
	if got == nil || got.Type != "SECRET" || got.Value != "" || got.Secret == nil || got.Secret.Type != "VALUE" ||
		got.Secret.Value == nil || string(got.Secret.Value.Data) != "s3cr3t" {
		t.Fatalf("DB_PASSWORD = %+v, want a SECRET variable with the value inline", got)
	}
	data, _ := json.Marshal(got)
	if want := `{"name":"DB_PASSWORD","type":"SECRET","secret":{"type":"VALUE","value":{"data":"czNjcjN0"}}}`; string(data) != want {
		t.Fatalf("JSON %s, want %s", data, want)
	}
	if env := envMap(ts[0]); env["MODE"] != "prod" || env["MARATHON_APP_ID"] != "/db/client" {
		t.Fatalf("plain variables lost: %v", env)
	}
}

func TestMaskedSecretKeepsTheStoredValue(t *testing.T) {
	c := New(Config{Seed: 1})
	if _, err := c.PutApp(mustApp(t, secretApp), false, t0); err != nil {
		t.Fatal(err)
	}
	finishDeployment(t, c)
	stored := c.Apps()[0]
	masked, _ := json.Marshal(stored.Masked())
	back := mustApp(t, string(masked))
	back.Version, back.VersionInfo = "", nil

	if p, err := c.Preview(back); err != nil || len(p.Changed) != 0 {
		t.Fatalf("preview of the masked definition: %+v, %v; want no change", p, err)
	}
	dep, err := c.PutApp(back, false, t0.Add(time.Minute))
	if err != nil || dep != "" {
		t.Fatalf("PUT of the masked definition: deployment %q, %v; want nothing to do", dep, err)
	}
	if got := c.Apps()[0].Secrets["db"].Value; got != "s3cr3t" {
		t.Fatalf("stored secret = %q after a masked PUT, want it kept", got)
	}

	changed := mustApp(t, strings.Replace(secretApp, "s3cr3t", "n3w", 1))
	p, err := c.Preview(changed)
	if err != nil || !p.Restart {
		t.Fatalf("preview of a new secret value: %+v, %v; want a restart", p, err)
	}
	dep, err = c.PutApp(changed, false, t0.Add(2*time.Minute))
	if err != nil || dep == "" {
		t.Fatalf("PUT of a new secret value: %q, %v; want a deployment", dep, err)
	}
	ts := launched(c.Offers([]mesos.Offer{offer("o2", "a1", 4, 1024)}, t0.Add(2*time.Minute)))
	if len(ts) != 1 {
		t.Fatalf("want one replacement launched, got %d", len(ts))
	}
	for _, v := range ts[0].Command.Environment.Variables {
		if v.Name == "DB_PASSWORD" && string(v.Secret.Value.Data) != "n3w" {
			t.Fatalf("replacement carries %q, want the new value", v.Secret.Value.Data)
		}
	}
}

func TestMaskedSecretOfANewAppIsRefused(t *testing.T) {
	c := New(Config{Seed: 1})
	a := mustApp(t, strings.Replace(secretApp, "s3cr3t", mesos.SecretMask, 1))
	_, err := c.PutApp(a, false, t0)
	var fe app.FieldErrors
	if !errors.As(err, &fe) || !fe.Has("secrets.db.value") {
		t.Fatalf("want a FieldError at secrets.db.value, got %v", err)
	}
	if len(c.Apps()) != 0 {
		t.Fatal("the refused app was stored")
	}
	if _, err := c.Preview(a); !errors.As(err, &fe) {
		t.Fatalf("preview must refuse it too, got %v", err)
	}
}

// finishDeployment launches and runs the current deployment's instances.
func finishDeployment(t *testing.T, c *Core) {
	t.Helper()
	d := c.Offers([]mesos.Offer{offer("o1", "a1", 4, 1024)}, t0)
	runAll(c, d, t0)
	if deps := c.Deployments(); len(deps) != 0 {
		t.Fatalf("deployment still running: %+v", deps)
	}
}
