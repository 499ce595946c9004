package containerizer

import (
	"strings"
	"testing"

	"agora/core/mesos"
)

func secretVar(name, typ string, data []byte) mesos.EnvironmentVariable {
	v := mesos.EnvironmentVariable{Name: name, Type: "SECRET", Secret: &mesos.Secret{Type: typ}}
	if data != nil {
		v.Secret.Value = &mesos.SecretValue{Data: data}
	}
	return v
}

func TestSetCommandSecretReachesTheTask(t *testing.T) {
	var e Env
	e.Set("DB_PASSWORD", "from-agent")
	cmd := &mesos.CommandInfo{Environment: &mesos.Environment{Variables: []mesos.EnvironmentVariable{
		{Name: "PLAIN", Value: "p"},
		secretVar("DB_PASSWORD", "VALUE", []byte("s3cret")),
	}}}
	if err := e.SetCommand(cmd, "process"); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(e.List(), " ")
	if got != "DB_PASSWORD=s3cret PLAIN=p" {
		t.Fatalf("env = %q, want the secret's data to win over the agent's value", got)
	}
}

func TestSetCommandRefusesSecretsItCannotResolve(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    mesos.EnvironmentVariable
		want string
	}{
		{"reference", mesos.EnvironmentVariable{Name: "TOKEN", Type: "SECRET", Secret: &mesos.Secret{Type: "REFERENCE"}}, "REFERENCE is not supported"},
		{"no secret", mesos.EnvironmentVariable{Name: "TOKEN", Type: "SECRET", Value: "x"}, "missing"},
		{"no data", secretVar("TOKEN", "VALUE", nil), "value: missing"},
		{"unknown type", mesos.EnvironmentVariable{Name: "TOKEN", Type: "FILE"}, "type FILE is not supported by the docker containerizer"},
	} {
		var e Env
		cmd := &mesos.CommandInfo{Environment: &mesos.Environment{Variables: []mesos.EnvironmentVariable{{Name: "A", Value: "a"}, tc.v}}}
		err := e.SetCommand(cmd, "docker")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "command.environment.variables[1]") || !strings.Contains(err.Error(), "TOKEN") {
			t.Errorf("%s: error %v, want one naming variables[1] (TOKEN) and %q", tc.name, err, tc.want)
		}
	}
}
