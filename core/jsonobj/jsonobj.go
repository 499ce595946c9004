// Package jsonobj reads JSON objects strictly, for files an operator
// writes by hand (credentials, ACLs): members come back in order, a key
// given twice is an error (a second "run_tasks" must not silently replace
// the first), and so is anything after the object. Errors name the object
// by its path, so callers can say which field to fix.
package jsonobj

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Field is one member of an object.
type Field struct {
	Name  string
	Value json.RawMessage
}

// ErrNotObject is Fields' answer for valid JSON that is not an object.
var ErrNotObject = errors.New("not a JSON object")

// Fields splits raw into its members. where is the object's path ("" at
// the top, where errors say label instead).
func Fields(raw []byte, where, label string) ([]Field, error) {
	if where != "" {
		label = where
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%s: invalid JSON: %w", label, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, ErrNotObject
	}
	var out []Field
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: invalid JSON: %w", label, err)
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: invalid JSON: %w", label, err)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: given twice", Join(where, name))
		}
		seen[name] = true
		out = append(out, Field{name, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%s: invalid JSON: %w", label, err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("%s: unexpected data after the object", label)
	}
	return out, nil
}

// Join appends a member's name to an object's path ("" is the top).
func Join(where, name string) string {
	if where == "" {
		return name
	}
	return where + "." + name
}

// IsNull reports whether a member's value is JSON null.
func IsNull(raw []byte) bool { return string(bytes.TrimSpace(raw)) == "null" }
