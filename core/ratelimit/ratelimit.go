// Package ratelimit limits how many requests each principal may make per
// second, in the shape of Mesos's --rate_limits:
//
//	{"limits": [{"principal": "ci", "qps": 50, "capacity": 100}, {"principal": "batch"}],
//	 "aggregate_default_qps": 200, "aggregate_default_capacity": 400}
//
// Contract:
//   - a listed principal with qps gets its own token bucket refilled at qps
//     tokens a second holding at most capacity (default max(1, qps));
//   - a listed principal without qps is unlimited;
//   - every principal not listed (including "", the unauthenticated
//     caller) draws from one shared bucket with the aggregate defaults, and
//     is unlimited when aggregate_default_qps is absent;
//   - Parse is strict: unknown fields, duplicate principals, non-positive
//     rates and a capacity without a rate are errors naming the field.
//
// The Limiter decides from the time it is given and never reads a clock;
// Middleware is the HTTP driver that answers 429 with Retry-After.
package ratelimit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// Limit is the rate of one bucket; QPS 0 means unlimited.
type Limit struct {
	QPS      float64 // tokens added per second
	Capacity float64 // most tokens held: the burst
}

// Unlimited reports whether the limit lets everything through.
func (l Limit) Unlimited() bool { return l.QPS == 0 }

func (l Limit) String() string {
	if l.Unlimited() {
		return "unlimited"
	}
	return fmt.Sprintf("%s requests per second (burst %s)", num(l.QPS), num(l.Capacity))
}

func num(f float64) string { return fmt.Sprintf("%g", f) }

// Limits is a parsed --rate_limits.
type Limits struct {
	principals map[string]Limit
	order      []string // principals as listed, for Principals
	aggregate  Limit
}

// For is the limit that applies to principal and whether it is shared by
// every principal not listed.
func (l *Limits) For(principal string) (limit Limit, shared bool) {
	if l == nil {
		return Limit{}, true
	}
	if lim, ok := l.principals[principal]; ok {
		return lim, false
	}
	return l.aggregate, true
}

// Principals lists the principals named in the limits, in file order.
func (l *Limits) Principals() []string {
	if l == nil {
		return nil
	}
	return append([]string(nil), l.order...)
}

// Aggregate is the limit shared by principals not listed.
func (l *Limits) Aggregate() Limit {
	if l == nil {
		return Limit{}
	}
	return l.aggregate
}

// wire is the JSON shape; pointers tell absent from zero.
type wire struct {
	Limits                   []json.RawMessage `json:"limits"`
	AggregateDefaultQPS      *float64          `json:"aggregate_default_qps"`
	AggregateDefaultCapacity *float64          `json:"aggregate_default_capacity"`
}

type wireLimit struct {
	Principal *string  `json:"principal"`
	QPS       *float64 `json:"qps"`
	Capacity  *float64 `json:"capacity"`
}

// Parse reads --rate_limits JSON.
func Parse(data []byte) (*Limits, error) {
	var w wire
	if err := decodeStrict(data, &w, ""); err != nil {
		return nil, err
	}
	out := &Limits{principals: make(map[string]Limit, len(w.Limits))}
	for i, raw := range w.Limits {
		field := fmt.Sprintf("limits[%d]", i)
		// Each entry is decoded on its own so errors carry its index.
		var wl wireLimit
		if err := decodeStrict(raw, &wl, field+"."); err != nil {
			return nil, err
		}
		if wl.Principal == nil || *wl.Principal == "" {
			return nil, fmt.Errorf("%s.principal: is required", field)
		}
		p := *wl.Principal
		if _, dup := out.principals[p]; dup {
			return nil, fmt.Errorf("%s.principal: %q is listed more than once", field, p)
		}
		lim, err := limit(field+".qps", field+".capacity", wl.QPS, wl.Capacity)
		if err != nil {
			return nil, err
		}
		out.principals[p] = lim
		out.order = append(out.order, p)
	}
	agg, err := limit("aggregate_default_qps", "aggregate_default_capacity", w.AggregateDefaultQPS, w.AggregateDefaultCapacity)
	if err != nil {
		return nil, err
	}
	out.aggregate = agg
	return out, nil
}

// limit validates one rate and burst.
func limit(qpsField, capField string, qps, capacity *float64) (Limit, error) {
	if qps == nil {
		if capacity != nil {
			return Limit{}, fmt.Errorf("%s: %s is given without %s (a principal without a rate is unlimited)", capField, num(*capacity), qpsField)
		}
		return Limit{}, nil
	}
	if !(*qps > 0) || math.IsInf(*qps, 0) {
		return Limit{}, fmt.Errorf("%s: %s must be positive", qpsField, num(*qps))
	}
	lim := Limit{QPS: *qps, Capacity: math.Max(1, *qps)}
	if capacity != nil {
		c := *capacity
		if c < 1 || c != math.Trunc(c) || math.IsInf(c, 0) {
			return Limit{}, fmt.Errorf("%s: %s must be a whole number of at least 1", capField, num(c))
		}
		lim.Capacity = c
	}
	return lim, nil
}

// decodeStrict decodes exactly one JSON value with no unknown fields,
// wording errors by the JSON field (prefix + name) rather than Go types.
func decodeStrict(data []byte, v any, prefix string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := where(prefix)
			if te.Field != "" {
				field = prefix + te.Field
			}
			return fmt.Errorf("%s: got a JSON %s, want %s", field, te.Value, jsonType(te.Type.Kind().String()))
		}
		if s := err.Error(); strings.HasPrefix(s, "json: unknown field ") {
			name := strings.Trim(strings.TrimPrefix(s, "json: unknown field "), `"`)
			return fmt.Errorf("%s%s: unknown field", prefix, name)
		}
		return fmt.Errorf("%s: %w", where(prefix), err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: unexpected data after the JSON object", where(prefix))
	}
	return nil
}

func where(prefix string) string {
	if prefix == "" {
		return "rate limits"
	}
	return strings.TrimSuffix(prefix, ".")
}

func jsonType(kind string) string {
	switch kind {
	case "float64":
		return "a number"
	case "slice":
		return "a list"
	case "struct", "map":
		return "an object"
	case "string":
		return "a string"
	}
	return kind
}
