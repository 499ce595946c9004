package containerizer

import (
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
// and win. Only plain VALUE variables are supported; errors name the
// containerizer by.
func (e *Env) SetCommand(cmd *mesos.CommandInfo, by string) error {
	if cmd == nil || cmd.Environment == nil {
		return nil
	}
	for i, v := range cmd.Environment.Variables {
		if v.Name == "" || strings.Contains(v.Name, "=") {
			return fmt.Errorf("command.environment.variables[%d].name: invalid name %q", i, v.Name)
		}
		if v.Type != "" && v.Type != "VALUE" {
			return fmt.Errorf("command.environment.variables[%d] (%s): type %s is not supported by the %s containerizer", i, v.Name, v.Type, by)
		}
		e.Set(v.Name, v.Value)
	}
	return nil
}
