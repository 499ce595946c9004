package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Parse reads an app definition in JSON or YAML (anything not starting with
// '{' is read as YAML, then decoded by the same strict JSON decoder), folds
// deprecated fields into canonical ones and applies Marathon's defaults.
// Problems with fields (unknown ones, wrong types, contradictory legacy
// fields) are returned as FieldErrors; Parse does not run Validate.
func Parse(data []byte) (*App, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("parse app: empty document")
	}
	if trimmed[0] != '{' {
		j, err := yamlToJSON(trimmed)
		if err != nil {
			return nil, fmt.Errorf("parse app: %w", err)
		}
		trimmed = j
	}
	return parseJSON(trimmed)
}

func parseJSON(data []byte) (*App, error) {
	var generic any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return nil, fmt.Errorf("parse app: %w", err)
	}
	if dec.More() {
		return nil, errors.New("parse app: trailing data after the app object")
	}
	if _, ok := generic.(map[string]any); !ok {
		return nil, errors.New("parse app: the document must be an object")
	}
	// encoding/json reports one error at a time, without array indices in
	// its paths, and matches keys case-insensitively; walk the document
	// against the type first so the user sees every bad field by its path.
	var shape FieldErrors
	checkShape(generic, reflect.TypeOf(App{}), "", &shape)
	if len(shape) > 0 {
		return nil, shape
	}

	a := newDefaultApp()
	if err := strictDecode(data, a); err != nil {
		return nil, decodeError(err)
	}
	if errs := a.canonicalize(); len(errs) > 0 {
		return nil, errs
	}
	a.dropEmpty()
	return a, nil
}

func newDefaultApp() *App {
	return &App{
		Instances:             DefaultInstances,
		CPUs:                  DefaultCPUs,
		Mem:                   DefaultMem,
		BackoffSeconds:        DefaultBackoffSeconds,
		BackoffFactor:         DefaultBackoffFactor,
		MaxLaunchDelaySeconds: DefaultMaxLaunchDelaySeconds,
		UpgradeStrategy:       UpgradeStrategy{MinimumHealthCapacity: 1, MaximumOverCapacity: 1},
		KillSelection:         DefaultKillSelection,
		// Marathon's default for apps without the field: replace and expunge
		// unreachable instances at once.
		UnreachableStrategy: UnreachableStrategy{},
	}
}

// decodeError turns the JSON decoder's error into FieldErrors where it names
// a field.
func decodeError(err error) error {
	var fe FieldErrors
	if errors.As(err, &fe) {
		return fe
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fieldError(te.Field, fmt.Sprintf("expected %s, got %s", jsonKind(te.Type), te.Value))
	}
	return fmt.Errorf("parse app: %w", err)
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

var (
	typeUnreachable = reflect.TypeOf(UnreachableStrategy{})
	typeEnv         = reflect.TypeOf(EnvVars{})
	typeRaw         = reflect.TypeOf(json.RawMessage{})
)

// checkShape reports, with its full path, every object key in v that the Go
// type t has no JSON field for, and every value of the wrong JSON kind.
func checkShape(v any, t reflect.Type, path string, errs *FieldErrors) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return // null leaves the default in place
	}
	switch t {
	case typeRaw:
		return
	case typeEnv:
		obj, ok := v.(map[string]any)
		if !ok {
			*errs = append(*errs, FieldError{path, "expected an object of strings"})
		}
		for _, k := range sortedKeys(obj) {
			switch obj[k].(type) {
			case string:
			case map[string]any:
				checkShape(obj[k], reflect.TypeOf(envRef{}), join(path, k), errs)
			default:
				*errs = append(*errs, FieldError{join(path, k), `must be a string (quote numbers and booleans) or {"secret": "<name>"}`})
			}
		}
		return
	case typeUnreachable:
		if s, ok := v.(string); ok {
			if s != "disabled" {
				*errs = append(*errs, FieldError{path, fmt.Sprintf("%q is neither \"disabled\" nor an object", s)})
			}
			return
		}
		t = reflect.TypeOf(unreachableEnabled{})
	}
	bad := func(want string) {
		*errs = append(*errs, FieldError{path, fmt.Sprintf("expected %s, got %s", want, kindOf(v))})
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			bad("an object")
			return
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(obj) {
			ft, ok := fields[k]
			if !ok {
				*errs = append(*errs, FieldError{Path: join(path, k), Message: "unknown field"})
				continue
			}
			checkShape(obj[k], ft, join(path, k), errs)
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			bad("an array")
			return
		}
		for i, e := range arr {
			checkShape(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			bad("an object")
			return
		}
		for _, k := range sortedKeys(obj) {
			checkShape(obj[k], t.Elem(), join(path, k), errs)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			bad("a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			bad("a boolean")
		}
	case reflect.Int, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			bad("an integer")
		} else if _, err := n.Int64(); err != nil {
			*errs = append(*errs, FieldError{path, fmt.Sprintf("expected an integer, got %s", n)})
		}
	case reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			bad("a number")
		}
	}
}

func kindOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "null"
}

func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlToJSON converts a YAML document to JSON, keeping YAML's scalar types
// (so `instances: 3` is a number and `image: "3"` a string).
func yamlToJSON(data []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	c, err := jsonCompatible(v, "")
	if err != nil {
		return nil, err
	}
	return json.Marshal(c)
}

func jsonCompatible(v any, path string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := jsonCompatible(e, join(path, k))
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ks := fmt.Sprint(k)
			c, err := jsonCompatible(e, join(path, ks))
			if err != nil {
				return nil, err
			}
			out[ks] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := jsonCompatible(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case float64:
		if x != x || x > 1e308 || x < -1e308 {
			return nil, fmt.Errorf("%s: %v is not a JSON number", path, x)
		}
		return x, nil
	}
	return v, nil
}

// canonicalize folds deprecated fields into canonical ones and applies the
// defaults that depend on other fields.
func (a *App) canonicalize() FieldErrors {
	var errs FieldErrors
	if id, err := normalizePath(a.AppID, "/", false); err == nil {
		a.AppID = id
	}
	if len(a.Dependencies) > 0 {
		base := parentPath(a.AppID)
		for i, d := range a.Dependencies {
			if n, err := normalizePath(d, base, true); err == nil {
				a.Dependencies[i] = n
			}
		}
	}

	if len(a.Ports) > 0 {
		if a.PortDefinitions != nil && !samePorts(a.Ports, a.PortDefinitions) {
			errs = append(errs, FieldError{"ports", "cannot specify both ports and portDefinitions"})
		} else if a.PortDefinitions == nil {
			for _, p := range a.Ports {
				a.PortDefinitions = append(a.PortDefinitions, PortDefinition{Port: p})
			}
		}
		a.Ports = nil
	}
	if len(a.Uris) > 0 {
		if len(a.Fetch) > 0 {
			errs = append(errs, FieldError{"uris", "may not be set in conjunction with fetch"})
		}
		for _, u := range a.Uris {
			a.Fetch = append(a.Fetch, Artifact{URI: u, Extract: true})
		}
		a.Uris = nil
	}

	if c := a.Container; c != nil {
		if c.Type == "" {
			c.Type = ContainerDocker
		}
		if d := c.Docker; d != nil {
			if d.Network != "" {
				if a.Networks != nil {
					errs = append(errs, FieldError{"container.docker.network", "must not specify both container.docker.network and networks"})
				} else {
					switch d.Network {
					case "HOST":
						a.Networks = []Network{{Mode: NetworkHost}}
					case "BRIDGE":
						a.Networks = []Network{{Mode: NetworkBridge}}
					case "USER":
						a.Networks = []Network{{Mode: NetworkContainer}}
					default:
						errs = append(errs, FieldError{"container.docker.network", fmt.Sprintf("%q is not one of HOST, BRIDGE, USER", d.Network)})
					}
				}
				d.Network = ""
			}
			if d.PortMappings != nil {
				if c.PortMappings != nil {
					errs = append(errs, FieldError{"container.docker.portMappings", "must not specify both container.docker.portMappings and container.portMappings"})
				} else {
					c.PortMappings = d.PortMappings
				}
				d.PortMappings = nil
			}
		}
	}
	if len(a.Networks) == 0 {
		a.Networks = []Network{{Mode: NetworkHost}}
	}

	if a.hostNetworking() {
		if a.PortDefinitions == nil {
			a.PortDefinitions = []PortDefinition{{Port: 0}}
		}
	} else {
		if a.PortDefinitions == nil {
			a.PortDefinitions = []PortDefinition{}
		}
		if a.Container != nil && a.Container.PortMappings == nil {
			zero := 0
			a.Container.PortMappings = []PortMapping{{HostPort: &zero}}
		}
	}
	for i := range a.PortDefinitions {
		if a.PortDefinitions[i].Protocol == "" {
			a.PortDefinitions[i].Protocol = "tcp"
		}
	}
	if a.Container != nil {
		bridge := slices.ContainsFunc(a.Networks, func(n Network) bool { return n.Mode == NetworkBridge })
		for i := range a.Container.PortMappings {
			pm := &a.Container.PortMappings[i]
			if pm.Protocol == "" {
				pm.Protocol = "tcp"
			}
			// In bridge mode every mapping needs a host port; Marathon
			// defaults it to a dynamic one.
			if bridge && pm.HostPort == nil {
				zero := 0
				pm.HostPort = &zero
			}
		}
	}

	for i := range a.HealthChecks {
		hc := &a.HealthChecks[i]
		if hc.Protocol == "" {
			hc.Protocol = ProtoHTTP
			if hc.Command != nil {
				hc.Protocol = ProtoCommand
			}
		}
		if usesPort(hc.Protocol) && hc.PortIndex == nil && hc.Port == nil {
			zero := 0
			hc.PortIndex = &zero
		}
	}
	return errs
}

func samePorts(ports []int, defs []PortDefinition) bool {
	if len(ports) != len(defs) {
		return false
	}
	for i := range ports {
		if ports[i] != defs[i].Port {
			return false
		}
	}
	return true
}

func usesPort(protocol string) bool {
	switch protocol {
	case ProtoHTTP, ProtoHTTPS, ProtoTCP, ProtoMesosHTTP, ProtoMesosHTTPS, ProtoMesosTCP:
		return true
	}
	return false
}

func (a *App) hostNetworking() bool {
	for _, n := range a.Networks {
		if n.Mode != NetworkHost {
			return false
		}
	}
	return true
}

// dropEmpty makes empty collections nil so that an App compares equal to its
// own JSON round trip (empty ones are omitted when marshalled).
func (a *App) dropEmpty() {
	a.Args = nilIfEmpty(a.Args)
	a.Constraints = nilIfEmpty(a.Constraints)
	a.Fetch = nilIfEmpty(a.Fetch)
	a.StoreUrls = nilIfEmpty(a.StoreUrls)
	a.HealthChecks = nilIfEmpty(a.HealthChecks)
	a.ReadinessChecks = nilIfEmpty(a.ReadinessChecks)
	a.Dependencies = nilIfEmpty(a.Dependencies)
	if len(a.Env) == 0 {
		a.Env = nil
	}
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	for i := range a.PortDefinitions {
		if len(a.PortDefinitions[i].Labels) == 0 {
			a.PortDefinitions[i].Labels = nil
		}
	}
	for i := range a.Networks {
		if len(a.Networks[i].Labels) == 0 {
			a.Networks[i].Labels = nil
		}
	}
	if c := a.Container; c != nil {
		c.Volumes = nilIfEmpty(c.Volumes)
		if c.Docker != nil {
			c.Docker.Parameters = nilIfEmpty(c.Docker.Parameters)
		}
		for i := range c.PortMappings {
			if len(c.PortMappings[i].Labels) == 0 {
				c.PortMappings[i].Labels = nil
			}
			c.PortMappings[i].NetworkNames = nilIfEmpty(c.PortMappings[i].NetworkNames)
		}
	}
	if len(a.SecretEnv) == 0 {
		a.SecretEnv = nil
	}
	if len(a.Secrets) == 0 {
		a.Secrets = nil
	}
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
