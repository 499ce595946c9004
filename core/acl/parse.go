package acl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"agora/core/jsonobj"
)

// field is one member of a JSON object, in document order.
// Parse reads an ACLs file (see the package comment for the rules). Every
// error names the field at fault and, where it helps, the fix.
func Parse(data []byte) (*ACLs, error) {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("acls: invalid JSON at byte %d: %w", se.Offset, err)
		}
		return nil, fmt.Errorf("acls: invalid JSON: %w", err)
	}
	fields, err := jsonobj.Fields(data, "", "acls")
	if err == jsonobj.ErrNotObject {
		return nil, errors.New(`acls: want a JSON object like {"permissive": true, "run_tasks": [...]}`)
	}
	if err != nil {
		return nil, err
	}
	a := AllowAll()
	for _, f := range fields {
		if f.Name == "permissive" {
			if err := json.Unmarshal(f.Value, &a.permissive); err != nil || jsonobj.IsNull(f.Value) {
				return nil, errors.New("permissive: want true or false")
			}
			continue
		}
		si := specIndex(Action(f.Name))
		if si < 0 {
			return nil, fmt.Errorf("%s: unknown field; want permissive or one of %s", f.Name, actionList())
		}
		rules, err := parseRules(f.Value, specs[si])
		if err != nil {
			return nil, err
		}
		a.rules[si] = rules
	}
	return a, nil
}

func actionList() string {
	names := make([]string, len(specs))
	for i := range specs {
		names[i] = string(specs[i].action)
	}
	return strings.Join(names, ", ")
}

func parseRules(raw []byte, sp actionSpec) ([]rule, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || jsonobj.IsNull(raw) {
		return nil, fmt.Errorf("%s: want a list of rules like [{\"principals\": {...}, %q: {...}}]", sp.action, sp.object)
	}
	rules := make([]rule, 0, len(items))
	for i, item := range items {
		where := fmt.Sprintf("%s[%d]", sp.action, i)
		fields, err := jsonobj.Fields(item, where, "acls")
		if err == jsonobj.ErrNotObject {
			return nil, fmt.Errorf("%s: want an object with principals and %s", where, sp.object)
		}
		if err != nil {
			return nil, err
		}
		var r rule
		for _, f := range fields {
			var e *entity
			switch f.Name {
			case "principals":
				e = &r.subject
			case sp.object:
				e = &r.object
			default:
				return nil, fmt.Errorf("%s.%s: unknown field; %s rules take principals and %s", where, f.Name, sp.action, sp.object)
			}
			if *e, err = parseEntity(f.Value, jsonobj.Join(where, f.Name), f.Name == sp.object, sp.match); err != nil {
				return nil, err
			}
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func parseEntity(raw []byte, where string, isObject bool, kind matchKind) (entity, error) {
	fields, err := jsonobj.Fields(raw, where, "acls")
	if err == jsonobj.ErrNotObject {
		return entity{}, fmt.Errorf(`%s: want {"values": [...]}, {"type": "ANY"} or {"type": "NONE"}`, where)
	}
	if err != nil {
		return entity{}, err
	}
	var (
		typ       = ""
		values    []string
		hasValues bool
	)
	for _, f := range fields {
		switch f.Name {
		case "type":
			if err := json.Unmarshal(f.Value, &typ); err != nil || jsonobj.IsNull(f.Value) {
				return entity{}, fmt.Errorf("%s.type: want \"ANY\" or \"NONE\"; give values or type", where)
			}
		case "values":
			hasValues = true
			if err := json.Unmarshal(f.Value, &values); err != nil || jsonobj.IsNull(f.Value) {
				return entity{}, fmt.Errorf("%s.values: want a list of strings", where)
			}
		default:
			return entity{}, fmt.Errorf("%s.%s: unknown field; an entity takes values or type", where, f.Name)
		}
	}
	switch typ {
	case "ANY", "NONE":
		if hasValues {
			return entity{}, fmt.Errorf("%s.values: not allowed with type %s; give values or type, not both", where, typ)
		}
		if typ == "ANY" {
			return entity{typ: typeAny}, nil
		}
		return entity{typ: typeNone}, nil
	case "", "SOME":
		if !hasValues {
			if typ == "" {
				return entity{}, fmt.Errorf("%s: empty; give values or type", where)
			}
			return entity{}, fmt.Errorf("%s.values: missing; type SOME needs values", where)
		}
	default:
		return entity{}, fmt.Errorf("%s.type: %q is not ANY or NONE; give values or type", where, typ)
	}
	if len(values) == 0 {
		return entity{}, fmt.Errorf("%s.values: empty; give at least one value, or type ANY or NONE", where)
	}
	if !isObject {
		kind = matchExact
	}
	for i, v := range values {
		if err := checkValue(v, kind); err != nil {
			return entity{}, fmt.Errorf("%s.values[%d]: %w", where, i, err)
		}
	}
	return entity{typ: typeSome, values: values}, nil
}

// checkValue refuses values that could never match or would match more
// than they appear to.
func checkValue(v string, kind matchKind) error {
	if v == "" {
		return errors.New("empty; give a name")
	}
	switch kind {
	case matchApp:
		if !strings.HasPrefix(v, "/") {
			return fmt.Errorf("%q is not an app id; app ids start with \"/\" (\"/team-a/web\")", v)
		}
		if v != "/" && strings.HasSuffix(v, "/") {
			return fmt.Errorf("%q ends with \"/\"; write %q", v, strings.TrimRight(v, "/"))
		}
	case matchJob:
		if strings.HasSuffix(v, ".") || strings.HasSuffix(v, "/") {
			return fmt.Errorf("%q ends with a separator; write %q", v, strings.TrimRight(v, "./"))
		}
	}
	return nil
}

// Marshal writes the ACLs as indented JSON: permissive first, then the
// actions in the order of Actions, every entity spelled out. Parse reads it
// back to the same ACLs.
func (a *ACLs) Marshal() ([]byte, error) {
	if a == nil {
		a = AllowAll()
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"permissive":%t`, a.permissive)
	for si, rules := range a.rules {
		if len(rules) == 0 {
			continue
		}
		sp := specs[si]
		fmt.Fprintf(&b, `,%q:[`, sp.action)
		for i, r := range rules {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"principals":`)
			if err := r.subject.write(&b); err != nil {
				return nil, err
			}
			fmt.Fprintf(&b, `,%q:`, sp.object)
			if err := r.object.write(&b); err != nil {
				return nil, err
			}
			b.WriteByte('}')
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("acls: marshal: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func (e entity) write(b *bytes.Buffer) error {
	switch e.typ {
	case typeAny:
		b.WriteString(`{"type":"ANY"}`)
	case typeNone:
		b.WriteString(`{"type":"NONE"}`)
	default:
		v, err := json.Marshal(e.values)
		if err != nil {
			return fmt.Errorf("acls: marshal values: %w", err)
		}
		b.WriteString(`{"values":`)
		b.Write(v)
		b.WriteByte('}')
	}
	return nil
}

// Equal reports whether a and b hold the same rules in the same order and
// the same permissive flag (nil counts as AllowAll), e.g. to tell whether
// an ACLs file changed in substance.
func Equal(a, b *ACLs) bool {
	x, errA := a.Marshal()
	y, errB := b.Marshal()
	return errA == nil && errB == nil && bytes.Equal(x, y)
}
