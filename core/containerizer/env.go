package containerizer

import (
	"errors"
	"fmt"
	"strings"

	"agora/core/mesos"
)

// Env is an ordered environment in which a later Set of a name replaces
// the earlier value in place, as containerizers merge the agent's
// variables with the command's own.
type Env struct {
	names  []string
	values map[string]string
}

// Set defines name, replacing an earlier definition.
func (e *Env) Set(name, value string) {
	if e.values == nil {
		e.values = map[string]string{}
	}
	if _, ok := e.values[name]; !ok {
		e.names = append(e.names, name)
	}
	e.values[name] = value
}

// List returns NAME=value strings in first-definition order.
func (e *Env) List() []string {
	out := make([]string, len(e.names))
	for i, n := range e.names {
		out[i] = n + "=" + e.values[n]
	}
	return out
}

// SetCommand adds a command's own environment variables, which come last
// and win. VALUE variables carry their value; SECRET variables carry an
// inline secret (secret.type VALUE, its data the value), which reaches the
// task like any other variable: masking it where it is shown is the
// showing side's job (mesos.Environment.Masked). A REFERENCE secret names
// a secret store Agora does not have and is refused. Errors name the
// variable, never its value, and the containerizer by.
func (e *Env) SetCommand(cmd *mesos.CommandInfo, by string) error {
	if cmd == nil || cmd.Environment == nil {
		return nil
	}
	for i, v := range cmd.Environment.Variables {
		field := fmt.Sprintf("command.environment.variables[%d]", i)
		if v.Name == "" || strings.Contains(v.Name, "=") {
			return fmt.Errorf("%s.name: invalid name %q", field, v.Name)
		}
		switch v.Type {
		case "", "VALUE":
			e.Set(v.Name, v.Value)
		case "SECRET":
			value, err := secretValue(v.Secret)
			if err != nil {
				return fmt.Errorf("%s (%s).secret: %w", field, v.Name, err)
			}
			e.Set(v.Name, value)
		default:
			return fmt.Errorf("%s (%s): type %s is not supported by the %s containerizer; use VALUE or SECRET", field, v.Name, v.Type, by)
		}
	}
	return nil
}

// secretValue is the data of an inline secret.
func secretValue(s *mesos.Secret) (string, error) {
	switch {
	case s == nil:
		return "", errors.New("missing (a SECRET variable needs secret.type VALUE and secret.value.data)")
	case s.Type == "REFERENCE":
		return "", errors.New("type REFERENCE is not supported: Agora has no secret store; give the secret inline as type VALUE with value.data")
	case s.Type != "VALUE" && s.Type != "":
		return "", fmt.Errorf("type %q is unknown; use VALUE", s.Type)
	case s.Value == nil:
		return "", errors.New("value: missing (type VALUE needs value.data)")
	}
	return string(s.Value.Data), nil
}
