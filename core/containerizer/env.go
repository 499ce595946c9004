package containerizer

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
