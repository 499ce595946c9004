package app

import (
	"fmt"
	"regexp"
	"strconv"
)

// Constraint operators.
const (
	OpUnique  = "UNIQUE"
	OpCluster = "CLUSTER"
	OpGroupBy = "GROUP_BY"
	OpLike    = "LIKE"
	OpUnlike  = "UNLIKE"
	OpMaxPer  = "MAX_PER"
)

// Constraint is a checked placement constraint: Field is "hostname" or an
// agent attribute name.
type Constraint struct {
	Field    string
	Operator string
	Value    string
	// Number is GROUP_BY's optional group count (0 when absent) and
	// MAX_PER's limit.
	Number int
	// Pattern is LIKE's and UNLIKE's value, anchored to the whole attribute
	// value as Marathon matches it.
	Pattern *regexp.Regexp
}

// ParseConstraint checks one Marathon constraint ([field, operator] or
// [field, operator, value]).
func ParseConstraint(c []string) (Constraint, error) {
	if len(c) < 2 || len(c) > 3 {
		return Constraint{}, fmt.Errorf("must have 2 or 3 elements: field, operator and an optional value")
	}
	out := Constraint{Field: c[0], Operator: c[1]}
	hasValue := len(c) == 3
	if hasValue {
		out.Value = c[2]
	}
	if out.Field == "" {
		return Constraint{}, fmt.Errorf("field must not be empty")
	}
	switch out.Operator {
	case OpUnique:
		if hasValue {
			return Constraint{}, fmt.Errorf("UNIQUE takes no value")
		}
	case OpCluster:
		if !hasValue || out.Value == "" {
			return Constraint{}, fmt.Errorf("CLUSTER needs a value")
		}
	case OpGroupBy:
		if hasValue {
			n, err := strconv.Atoi(out.Value)
			if err != nil || n < 0 {
				return Constraint{}, fmt.Errorf("GROUP_BY value %q must be a non-negative integer", out.Value)
			}
			out.Number = n
		}
	case OpMaxPer:
		n, err := strconv.Atoi(out.Value)
		if !hasValue || err != nil || n < 0 {
			return Constraint{}, fmt.Errorf("MAX_PER needs a non-negative integer value")
		}
		out.Number = n
	case OpLike, OpUnlike:
		if !hasValue {
			return Constraint{}, fmt.Errorf("%s needs a regular expression value", out.Operator)
		}
		if _, err := regexp.Compile(out.Value); err != nil {
			return Constraint{}, fmt.Errorf("%q is not a valid regular expression", out.Value)
		}
		re, err := regexp.Compile("^(?:" + out.Value + ")$")
		if err != nil {
			return Constraint{}, fmt.Errorf("%q is not a valid regular expression", out.Value)
		}
		out.Pattern = re
	default:
		return Constraint{}, fmt.Errorf("operator %q must be one of UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER", out.Operator)
	}
	return out, nil
}

// PlacementConstraints returns the app's constraints, checked; it fails on
// the first bad one (Validate reports them all).
func (a *App) PlacementConstraints() ([]Constraint, error) {
	out := make([]Constraint, 0, len(a.Constraints))
	for i, c := range a.Constraints {
		pc, err := ParseConstraint(c)
		if err != nil {
			return nil, fmt.Errorf("constraints[%d]: %w", i, err)
		}
		out = append(out, pc)
	}
	return out, nil
}
