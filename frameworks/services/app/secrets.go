package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"agora/core/mesos"
)

// Secret is one entry of App.Secrets. Marathon's Source names an entry of an
// external secret store; Agora has none, so it takes the Value inline (an
// Agora extension) and refuses Source by name.
type Secret struct {
	Value  string `json:"value,omitempty"`
	Source string `json:"source,omitempty"`
}

// envRef is the JSON of an env variable that references a secret.
type envRef struct {
	Secret string `json:"secret"`
}

// MarshalJSON renders App.Env and App.SecretEnv as Marathon's one "env"
// object: plain variables as strings, secret references as
// {"secret": "name"}.
func (a App) MarshalJSON() ([]byte, error) {
	type plain App
	p := plain(a)
	p.Env = nil
	env := make(map[string]any, len(a.Env)+len(a.SecretEnv))
	for k, v := range a.Env {
		env[k] = v
	}
	for k, s := range a.SecretEnv {
		env[k] = envRef{Secret: s}
	}
	// The embedded struct's "env" is shadowed by the outer field.
	return json.Marshal(struct {
		plain
		Env map[string]any `json:"env,omitempty"`
	}{p, env})
}

// UnmarshalJSON splits "env" into App.Env (strings) and App.SecretEnv
// (secret references). Other fields decode as the struct says; Parse checks
// unknown fields before it gets here.
func (a *App) UnmarshalJSON(data []byte) error {
	type plain App
	aux := struct {
		*plain
		Env map[string]json.RawMessage `json:"env"`
	}{plain: (*plain)(a)}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	if aux.Env == nil {
		return nil
	}
	a.Env, a.SecretEnv = nil, nil
	for _, k := range sortedRawKeys(aux.Env) {
		v := bytes.TrimSpace(aux.Env[k])
		switch {
		case len(v) > 0 && v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return fieldError("env."+k, err.Error())
			}
			if a.Env == nil {
				a.Env = EnvVars{}
			}
			a.Env[k] = s
		case len(v) > 0 && v[0] == '{':
			var ref envRef
			if err := strictDecode(v, &ref); err != nil {
				return fieldError("env."+k, `a secret reference must be {"secret": "<name>"}`)
			}
			if a.SecretEnv == nil {
				a.SecretEnv = map[string]string{}
			}
			a.SecretEnv[k] = ref.Secret
		case string(v) == "null":
		default:
			return fieldError("env."+k, `must be a string (quote numbers and booleans) or {"secret": "<name>"}`)
		}
	}
	return nil
}

func sortedRawKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// validateSecrets checks the secrets and the env variables that reference
// them. A declared secret nobody references is allowed, as in Marathon.
func (a *App) validateSecrets(c *checker) {
	for _, name := range sortedSecretNames(a.Secrets) {
		s, p := a.Secrets[name], "secrets."+name
		if name == "" {
			c.add("secrets", "secret names must not be empty")
			continue
		}
		switch {
		case s.Source != "" && s.Value != "":
			c.add(p+".source", "must not be given together with value: Agora has no secret store and takes the secret inline as value")
		case s.Source != "":
			c.add(p+".source", "is not supported: Agora has no secret store; give the secret inline as value")
		case s.Value == "":
			c.add(p+".value", "must not be empty")
		}
	}
	keys := make([]string, 0, len(a.SecretEnv))
	for k := range a.SecretEnv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name, p := a.SecretEnv[k], "env."+k
		switch {
		case k == "":
			c.add("env", "variable names must not be empty")
		case name == "":
			c.add(p+".secret", "must name a secret")
		default:
			if _, ok := a.Secrets[name]; !ok {
				c.add(p+".secret", "%q is not declared in secrets", name)
			}
		}
		if _, dup := a.Env[k]; dup {
			c.add(p, "is both a value and a secret reference")
		}
	}
}

func sortedSecretNames(m map[string]Secret) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Masked returns a copy of a whose secret values are mesos.SecretMask, for
// every answer that shows a definition; a itself is not changed. A nil a
// gives nil.
func (a *App) Masked() *App {
	if a == nil {
		return nil
	}
	cp := *a
	if len(a.Secrets) > 0 {
		cp.Secrets = make(map[string]Secret, len(a.Secrets))
		for k, s := range a.Secrets {
			if s.Value != "" {
				s.Value = mesos.SecretMask
			}
			cp.Secrets[k] = s
		}
	}
	return &cp
}

// KeepMaskedSecrets replaces every secret value of a that is
// mesos.SecretMask by the value of the same secret in cur, the stored
// definition, so that a definition read from the API (masked) and sent back
// keeps its secrets. A masked secret with nothing to keep (cur is nil or has
// no such secret) is a FieldError naming it. a is changed in place.
func (a *App) KeepMaskedSecrets(cur *App) FieldErrors {
	var errs FieldErrors
	var kept map[string]Secret // a copy, so a caller's shared map is not changed
	for _, name := range sortedSecretNames(a.Secrets) {
		s := a.Secrets[name]
		if s.Value != mesos.SecretMask {
			continue
		}
		var old Secret
		if cur != nil {
			old = cur.Secrets[name]
		}
		if old.Value == "" || old.Value == mesos.SecretMask {
			errs = append(errs, FieldError{"secrets." + name + ".value", fmt.Sprintf("is the mask %s but there is no stored value of secret %q to keep; give its value", mesos.SecretMask, name)})
			continue
		}
		if kept == nil {
			kept = cloneSecrets(a.Secrets)
		}
		s.Value = old.Value
		kept[name] = s
	}
	if len(errs) > 0 {
		return errs
	}
	if kept != nil {
		a.Secrets = kept
	}
	return nil
}

func cloneSecrets(m map[string]Secret) map[string]Secret {
	out := make(map[string]Secret, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
