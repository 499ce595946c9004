package core

import (
	"fmt"

	"agora/frameworks/services/app"
)

// portSlot is one of an app's ports that gets a service port.
type portSlot struct {
	path string
	p    *int
}

// servicePortSlots lists the app's service ports in the order of its ports
// (see hostPorts): container port mappings when it has any, otherwise port
// definitions, whose port is the service port in Marathon's model.
func servicePortSlots(a *app.App) []portSlot {
	var out []portSlot
	if a.Container != nil && len(a.Container.PortMappings) > 0 {
		for i := range a.Container.PortMappings {
			out = append(out, portSlot{fmt.Sprintf("container.portMappings[%d].servicePort", i), &a.Container.PortMappings[i].ServicePort})
		}
		return out
	}
	for i := range a.PortDefinitions {
		out = append(out, portSlot{fmt.Sprintf("portDefinitions[%d].port", i), &a.PortDefinitions[i].Port})
	}
	return out
}

// assignServicePorts gives every port of a a service port for the load
// balancer: a given one is kept (an error naming the field when another app
// has it), a 0 keeps cur's port at the same index when it has one, and
// otherwise takes the lowest free port of Config.ServicePorts. Ports are
// unique across apps; apps being deleted have released theirs.
func (c *Core) assignServicePorts(a *app.App, cur *app.App) error {
	id := a.ID()
	used := map[int]string{}
	for _, other := range sortedKeys(c.apps) {
		as := c.apps[other]
		if other == id || as.deleting {
			continue
		}
		for _, s := range servicePortSlots(as.app) {
			if *s.p != 0 {
				if _, ok := used[*s.p]; !ok {
					used[*s.p] = other
				}
			}
		}
	}
	slots := servicePortSlots(a)
	mine := map[int]bool{}
	var errs app.FieldErrors
	for _, s := range slots {
		if *s.p == 0 {
			continue
		}
		if other, ok := used[*s.p]; ok {
			errs = append(errs, app.FieldError{Path: s.path, Message: fmt.Sprintf("service port %d is already used by app %s", *s.p, other)})
		}
		mine[*s.p] = true
	}
	if errs != nil {
		return errs
	}
	var curPorts []int
	if cur != nil {
		for _, s := range servicePortSlots(cur) {
			curPorts = append(curPorts, *s.p)
		}
	}
	lo, hi := c.cfg.ServicePorts[0], c.cfg.ServicePorts[1]
	next := lo
	for i, s := range slots {
		if *s.p != 0 {
			continue
		}
		if i < len(curPorts) && curPorts[i] != 0 && !mine[curPorts[i]] {
			if _, taken := used[curPorts[i]]; !taken {
				*s.p = curPorts[i]
				mine[*s.p] = true
				continue
			}
		}
		for next <= hi && (mine[next] || used[next] != "") {
			next++
		}
		if next > hi {
			errs = append(errs, app.FieldError{Path: s.path, Message: fmt.Sprintf("no free service port left in %d-%d", lo, hi)})
			continue
		}
		*s.p = next
		mine[next] = true
	}
	if errs != nil {
		return errs
	}
	return nil
}
