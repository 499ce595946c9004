package app

import (
	"bytes"
	"encoding/json"
	"sort"
)

// Change is what an update from one app definition to another means for
// running instances.
type Change struct {
	// Fields are the top-level JSON fields that differ, sorted.
	Fields []string
	// Scale is set when the instance count changed.
	Scale bool
	// Restart is set when running instances must be replaced by new ones:
	// as in Marathon, any change except instances (labels included).
	Restart bool
}

// None reports that nothing a deployment acts on changed.
func (c Change) None() bool { return len(c.Fields) == 0 }

// ignoredInDiff are bookkeeping fields that change with every update.
var ignoredInDiff = map[string]bool{"version": true, "versionInfo": true}

// Diff compares two parsed apps field by field (through their canonical
// JSON, so every field counts without a hand-kept list).
func Diff(old, new *App) Change {
	o, n := fieldsOf(old), fieldsOf(new)
	keys := map[string]bool{}
	for k := range o {
		keys[k] = true
	}
	for k := range n {
		keys[k] = true
	}
	var c Change
	for k := range keys {
		if ignoredInDiff[k] || bytes.Equal(o[k], n[k]) {
			continue
		}
		c.Fields = append(c.Fields, k)
		if k == "instances" {
			c.Scale = true
		} else {
			c.Restart = true
		}
	}
	sort.Strings(c.Fields)
	return c
}

func fieldsOf(a *App) map[string]json.RawMessage {
	if a == nil {
		return nil
	}
	data, err := json.Marshal(a)
	if err != nil {
		// Marshalling plain data cannot fail; treat it as all-changed.
		return map[string]json.RawMessage{"id": json.RawMessage(`"?"`)}
	}
	var m map[string]json.RawMessage
	_ = json.Unmarshal(data, &m)
	return m
}
