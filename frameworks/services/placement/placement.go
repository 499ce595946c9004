// Package placement decides where the instances of a long-running service
// may run: it holds the Marathon placement constraints (UNIQUE, CLUSTER,
// GROUP_BY, LIKE, UNLIKE, MAX_PER, IS) and Match, which fits pending
// instances onto resource offers.
//
// Contract: everything here is pure. Match takes the app's request, a
// snapshot of offers and the app's current instances and returns a Plan; it
// does no I/O, keeps no state between calls and never modifies its inputs.
// A Plan never commits more of an offer than the offer holds, honours every
// constraint as instances are added one by one, and, when instances are left
// unplaced, says per agent and per reason why, so that a user can act on it.
//
// Match takes no clock: no placement decision depends on time. Launch
// backoff and offer filters belong to the framework that calls it.
//
// Semantics follow Marathon's constraint documentation: the field
// "hostname" is the agent's hostname, any other field an agent attribute;
// an agent without the attribute is refused by every operator but UNLIKE.
// LIKE and UNLIKE match the whole value with Go's RE2 syntax (Marathon uses
// Java's; look-arounds and back-references are refused at Parse).
// As Marathon's constraint documentation says, CLUSTER's value is optional
// (without one, every instance follows the first), GROUP_BY's is an
// optional count and MAX_PER's is required; MAX_PER must be at least 1
// because 0 could never place an instance. The app package validates
// constraints with Parse, so what is accepted is what is placed.
package placement

import (
	"fmt"
	"strconv"
	"strings"

	"agora/core/mesos"
	"agora/core/resources"
)

// HostnameField is the constraint field that names the agent's hostname
// rather than one of its attributes.
const HostnameField = "hostname"

// Agent is what constraints see of an agent: its id, hostname and attribute
// values rendered as strings (see OfferFromMesos for the rendering).
type Agent struct {
	ID         string
	Hostname   string
	Attributes map[string]string
}

// Field returns the value a constraint on field compares: the hostname for
// "hostname", otherwise the attribute of that name. ok is false when the
// agent has no such attribute.
func (a Agent) Field(field string) (value string, ok bool) {
	if field == HostnameField {
		return a.Hostname, true
	}
	v, ok := a.Attributes[field]
	return v, ok
}

// Placement is one of the app's instances, placed or running, as constraints
// see it: the agent it is on.
type Placement struct {
	Agent Agent
}

// Result is a constraint's verdict on one agent. Reason is set when OK is
// false and is written for the user, naming the value and the rule that
// refused it.
type Result struct {
	OK     bool
	Reason string
}

// Constraint decides whether one more instance of an app may run on an
// agent, given where the app's instances already are.
type Constraint interface {
	// Name is the constraint in Marathon's form, e.g. "rack:MAX_PER:2".
	Name() string
	Check(agent Agent, placed []Placement) Result
}

// Offer is one resource offer as Match sees it.
type Offer struct {
	ID        string
	Agent     Agent
	Resources resources.Resources
}

// OfferFromMesos converts a Mesos offer, validating its resources. Attribute
// values are rendered as Marathon compares them: text as is, scalars without
// trailing zeros ("3", "2.5"), ranges as "[a-b,c-d]" and sets as "{x,y}".
func OfferFromMesos(o mesos.Offer) (Offer, error) {
	res, err := resources.FromMesos("offer "+o.ID.Value+" resources", o.Resources)
	if err != nil {
		return Offer{}, err
	}
	var attrs map[string]string
	if len(o.Attributes) > 0 {
		attrs = make(map[string]string, len(o.Attributes))
		for _, a := range o.Attributes {
			attrs[a.Name] = AttributeValue(a)
		}
	}
	return Offer{
		ID:        o.ID.Value,
		Agent:     Agent{ID: o.AgentID.Value, Hostname: o.Hostname, Attributes: attrs},
		Resources: res,
	}, nil
}

// AttributeValue renders a Mesos attribute the way constraints compare it.
func AttributeValue(a mesos.Attribute) string {
	switch {
	case a.Text != nil:
		return a.Text.Value
	case a.Scalar != nil:
		return strconv.FormatFloat(a.Scalar.Value, 'f', -1, 64)
	case a.Ranges != nil:
		parts := make([]string, len(a.Ranges.Range))
		for i, r := range a.Ranges.Range {
			parts[i] = fmt.Sprintf("%d-%d", r.Begin, r.End)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case a.Set != nil:
		return "{" + strings.Join(a.Set.Item, ",") + "}"
	}
	return ""
}
