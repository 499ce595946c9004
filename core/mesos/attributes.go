package mesos

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseAttributes reads the agent command-line form "rack:r1;zone:a;level:3".
// Numbers become SCALAR attributes, everything else TEXT, as in Mesos.
func ParseAttributes(s string) ([]Attribute, error) {
	var out []Attribute
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, ":")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !ok || name == "" || val == "" {
			return nil, fmt.Errorf("attribute %q: want name:value, e.g. rack:r1", part)
		}
		if seen[name] {
			return nil, fmt.Errorf("attribute %q is given twice", name)
		}
		seen[name] = true
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out = append(out, Attribute{Name: name, Type: Scalar, Scalar: &ValueScalar{Value: v}})
			continue
		}
		out = append(out, Attribute{Name: name, Type: Text, Text: &ValueText{Value: val}})
	}
	return out, nil
}
