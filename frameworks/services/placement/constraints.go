package placement

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Operators, as Marathon spells them.
const (
	OpUnique  = "UNIQUE"
	OpCluster = "CLUSTER"
	OpGroupBy = "GROUP_BY"
	OpLike    = "LIKE"
	OpUnlike  = "UNLIKE"
	OpMaxPer  = "MAX_PER"
	OpIs      = "IS"
)

// parser builds one operator's constraint from its field and optional value.
type parser func(field, value string, hasValue bool) (Constraint, error)

// registry is the flat operator table Parse consults.
var registry = map[string]parser{
	OpUnique:  parseUnique,
	OpCluster: parseCluster,
	OpGroupBy: parseGroupBy,
	OpLike:    func(f, v string, has bool) (Constraint, error) { return parseLike(f, v, has, false) },
	OpUnlike:  func(f, v string, has bool) (Constraint, error) { return parseLike(f, v, has, true) },
	OpMaxPer:  parseMaxPer,
	OpIs:      parseIs,
}

// Parse reads one constraint in Marathon's JSON form ["field", "OPERATOR"]
// or ["field", "OPERATOR", "value"]. The field "hostname" means the agent's
// hostname; any other field names an agent attribute.
func Parse(c []string) (Constraint, error) {
	if len(c) < 2 || len(c) > 3 {
		return nil, fmt.Errorf("constraint %q: want [field, operator] or [field, operator, value]", c)
	}
	field, op := c[0], c[1]
	if strings.TrimSpace(field) == "" {
		return nil, fmt.Errorf("constraint %q: field is empty; use hostname or an agent attribute name", c)
	}
	p, ok := registry[op]
	if !ok {
		return nil, fmt.Errorf("constraint %q: operator %q is unknown; use one of %s", c, op, strings.Join(operators(), ", "))
	}
	value, hasValue := "", len(c) == 3
	if hasValue {
		value = c[2]
	}
	k, err := p(field, value, hasValue)
	if err != nil {
		return nil, fmt.Errorf("constraint %q: %w", c, err)
	}
	return k, nil
}

// ParseAll reads an app's constraints; errors name the index, as in
// "constraints[1]: ...".
func ParseAll(cs [][]string) ([]Constraint, error) {
	out := make([]Constraint, 0, len(cs))
	for i, c := range cs {
		k, err := Parse(c)
		if err != nil {
			return nil, fmt.Errorf("constraints[%d]: %w", i, err)
		}
		out = append(out, k)
	}
	return out, nil
}

func operators() []string {
	ops := make([]string, 0, len(registry))
	for op := range registry {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// tally summarises where an app's instances are, as seen through one field.
type tally struct {
	n      int    // instances whose agent has the candidate's value
	total  int    // instances whose agent has the field at all
	groups int    // distinct values that have instances
	min    int    // fewest instances on any value that has some (0 if none)
	some   string // a value that has instances, for messages
}

// rule is a constraint on one field whose verdict depends only on the
// agent's value of that field and a tally of the placed instances. Match
// uses it to check built-in constraints without rescanning placed; Check is
// the same decision over a tally built from scratch.
type rule interface {
	Constraint
	field() string
	// static rules depend on the agent alone, so Match checks them once.
	static() bool
	// monotone rules, once they refuse an agent, keep refusing it as more
	// instances are placed, so Match stops looking at that agent.
	monotone() bool
	allow(v string, ok bool, t tally) bool
	explain(v string, ok bool, t tally) string
}

func check(r rule, a Agent, placed []Placement) Result {
	v, ok := a.Field(r.field())
	t := tallyOf(r.field(), v, placed)
	if r.allow(v, ok, t) {
		return Result{OK: true}
	}
	return Result{Reason: r.explain(v, ok, t)}
}

func tallyOf(field, v string, placed []Placement) tally {
	ids := map[string]int{}
	var c counter
	c.init(0)
	some := ""
	for _, p := range placed {
		pv, ok := p.Agent.Field(field)
		if !ok {
			continue
		}
		id, seen := ids[pv]
		if !seen {
			id = len(ids)
			ids[pv] = id
			c.grow(len(ids))
		}
		if c.total == 0 {
			some = pv
		}
		c.add(id)
	}
	t := tally{total: c.total, groups: c.groups, min: c.min, some: some}
	if id, ok := ids[v]; ok {
		t.n = c.counts[id]
	}
	return t
}

func missing(name, field string) string {
	return fmt.Sprintf("agent has no attribute %s (%s)", field, name)
}

func plural(n int) string {
	if n == 1 {
		return "an instance"
	}
	return strconv.Itoa(n) + " instances"
}

// unique allows one instance per value of the field.
type unique struct{ f string }

func parseUnique(f, v string, has bool) (Constraint, error) {
	if has && v != "" {
		return nil, fmt.Errorf("UNIQUE takes no value, got %q", v)
	}
	return unique{f}, nil
}

func (u unique) Name() string                             { return u.f + ":" + OpUnique }
func (u unique) Check(a Agent, placed []Placement) Result { return check(u, a, placed) }
func (u unique) field() string                            { return u.f }
func (u unique) static() bool                             { return false }
func (u unique) monotone() bool                           { return true }
func (u unique) allow(_ string, ok bool, t tally) bool    { return ok && t.n == 0 }
func (u unique) explain(v string, ok bool, t tally) string {
	if !ok {
		return missing(u.Name(), u.f)
	}
	return fmt.Sprintf("%s:%s already has %s (UNIQUE)", u.f, v, plural(t.n))
}

// cluster keeps all instances on one value: the given one, or else the
// value of wherever the first instance went.
type cluster struct {
	f, v string
	has  bool
}

func parseCluster(f, v string, has bool) (Constraint, error) {
	return cluster{f, v, has && v != ""}, nil
}

func (c cluster) Name() string {
	if c.has {
		return c.f + ":" + OpCluster + ":" + c.v
	}
	return c.f + ":" + OpCluster
}
func (c cluster) Check(a Agent, placed []Placement) Result { return check(c, a, placed) }
func (c cluster) field() string                            { return c.f }
func (c cluster) static() bool                             { return c.has }
func (c cluster) monotone() bool                           { return true }
func (c cluster) allow(v string, ok bool, t tally) bool {
	if !ok {
		return false
	}
	if c.has {
		return v == c.v
	}
	return t.n == t.total
}
func (c cluster) explain(v string, ok bool, t tally) string {
	switch {
	case !ok:
		return missing(c.Name(), c.f)
	case c.has:
		return fmt.Sprintf("%s:%s is not %s:%s (CLUSTER)", c.f, v, c.f, c.v)
	}
	return fmt.Sprintf("instances run on %s:%s, not %s:%s (CLUSTER)", c.f, t.some, c.f, v)
}

// groupBy spreads instances evenly over the field's values: a value that
// has instances only gets another when it is among the least used and, with
// a count, once at least that many values are in use.
type groupBy struct {
	f   string
	min int
}

func parseGroupBy(f, v string, has bool) (Constraint, error) {
	if !has || v == "" {
		return groupBy{f, 0}, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("GROUP_BY value %q: want the number of %s values to spread over, a whole number >= 1", v, f)
	}
	return groupBy{f, n}, nil
}

func (g groupBy) Name() string {
	if g.min > 0 {
		return g.f + ":" + OpGroupBy + ":" + strconv.Itoa(g.min)
	}
	return g.f + ":" + OpGroupBy
}
func (g groupBy) Check(a Agent, placed []Placement) Result { return check(g, a, placed) }
func (g groupBy) field() string                            { return g.f }
func (g groupBy) static() bool                             { return false }
func (g groupBy) monotone() bool                           { return false }
func (g groupBy) allow(_ string, ok bool, t tally) bool {
	return ok && (t.n == 0 || (t.groups >= g.min && t.n == t.min))
}
func (g groupBy) explain(v string, ok bool, t tally) string {
	switch {
	case !ok:
		return missing(g.Name(), g.f)
	case t.groups < g.min:
		return fmt.Sprintf("%s:%s already has %s and only %d of %d %s values are used (GROUP_BY %d)",
			g.f, v, plural(t.n), t.groups, g.min, g.f, g.min)
	}
	return fmt.Sprintf("%s:%s has %s, more than the least used %s value with %d (GROUP_BY)", g.f, v, plural(t.n), g.f, t.min)
}

// like allows (or, negated, refuses) values the regular expression matches
// in full. An agent without the field passes UNLIKE and fails LIKE, as in
// Marathon.
type like struct {
	f, expr string
	re      *regexp.Regexp
	negate  bool
}

func parseLike(f, v string, has, negate bool) (Constraint, error) {
	op := OpLike
	if negate {
		op = OpUnlike
	}
	if !has || v == "" {
		return nil, fmt.Errorf("%s needs a regular expression value, e.g. [%q, %q, \"rack-[1-3]\"]", op, f, op)
	}
	// Marathon matches the whole value, not a substring.
	re, err := regexp.Compile("^(?:" + v + ")$")
	if err != nil {
		return nil, fmt.Errorf("%s value %q is not a valid regular expression: %w", op, v, err)
	}
	return like{f, v, re, negate}, nil
}

func (l like) op() string {
	if l.negate {
		return OpUnlike
	}
	return OpLike
}
func (l like) Name() string                             { return l.f + ":" + l.op() + ":" + l.expr }
func (l like) Check(a Agent, placed []Placement) Result { return check(l, a, placed) }
func (l like) field() string                            { return l.f }
func (l like) static() bool                             { return true }
func (l like) monotone() bool                           { return true }
func (l like) allow(v string, ok bool, _ tally) bool {
	if !ok {
		return l.negate
	}
	return l.re.MatchString(v) != l.negate
}
func (l like) explain(v string, ok bool, _ tally) string {
	switch {
	case !ok:
		return missing(l.Name(), l.f)
	case l.negate:
		return fmt.Sprintf("%s:%s matches %s (UNLIKE)", l.f, v, l.expr)
	}
	return fmt.Sprintf("%s:%s does not match %s (LIKE)", l.f, v, l.expr)
}

// maxPer caps the instances on each value of the field.
type maxPer struct {
	f string
	n int
}

func parseMaxPer(f, v string, has bool) (Constraint, error) {
	n, err := strconv.Atoi(v)
	if !has || err != nil || n < 1 {
		return nil, fmt.Errorf("MAX_PER value %q: want the most instances per %s value, a whole number >= 1", v, f)
	}
	return maxPer{f, n}, nil
}

func (m maxPer) Name() string                             { return m.f + ":" + OpMaxPer + ":" + strconv.Itoa(m.n) }
func (m maxPer) Check(a Agent, placed []Placement) Result { return check(m, a, placed) }
func (m maxPer) field() string                            { return m.f }
func (m maxPer) static() bool                             { return false }
func (m maxPer) monotone() bool                           { return true }
func (m maxPer) allow(_ string, ok bool, t tally) bool    { return ok && t.n < m.n }
func (m maxPer) explain(v string, ok bool, t tally) string {
	if !ok {
		return missing(m.Name(), m.f)
	}
	return fmt.Sprintf("%s:%s already has %s (MAX_PER %d)", m.f, v, plural(t.n), m.n)
}

// is allows only agents whose field equals the value exactly.
type is struct{ f, v string }

func parseIs(f, v string, has bool) (Constraint, error) {
	if !has {
		return nil, fmt.Errorf("IS needs a value, e.g. [%q, \"IS\", \"r1\"]", f)
	}
	return is{f, v}, nil
}

func (i is) Name() string                             { return i.f + ":" + OpIs + ":" + i.v }
func (i is) Check(a Agent, placed []Placement) Result { return check(i, a, placed) }
func (i is) field() string                            { return i.f }
func (i is) static() bool                             { return true }
func (i is) monotone() bool                           { return true }
func (i is) allow(v string, ok bool, _ tally) bool    { return ok && v == i.v }
func (i is) explain(v string, ok bool, _ tally) string {
	if !ok {
		return missing(i.Name(), i.f)
	}
	return fmt.Sprintf("%s:%s is not %s (IS)", i.f, v, i.v)
}
