package lb

import (
	"fmt"
	"slices"

	"agora/discovery"
)

// Op is one Runtime API operation on a server slot.
type Op struct {
	Backend string
	Server  string
	// Addr set (Host non-empty): move the slot to Host:Port.
	Host string
	Port int
	// State set: change the slot's administrative state.
	State State
}

// Command is the Runtime API command line for the op.
func (o Op) Command() string {
	if o.Host != "" {
		return fmt.Sprintf("set server %s/%s addr %s port %d", o.Backend, o.Server, o.Host, o.Port)
	}
	return fmt.Sprintf("set server %s/%s state %s", o.Backend, o.Server, o.State)
}

// Diff compares the layout HAProxy runs with a new set of services, under
// the config old was made with. It returns the runtime operations that
// bring HAProxy to the new set, or reload=true when only a reload can.
func Diff(old Layout, services []discovery.Service) (ops []Op, reload bool) {
	next, _ := Plan(&old, services, old.Config)
	return DiffLayouts(old, next)
}

// DiffLayouts is Diff between two planned layouts. A reload is needed when
// the set of backends or anything but slot contents changed (ports, mode,
// balance, stickiness, virtual hosts, paths, slot counts, the config). Ops
// are returned for every backend whose structure is unchanged, even when a
// reload is needed, so a driver whose reload is refused can still move
// those. Per backend, slots that gain an endpoint come first (address, then
// ready), then slots that lose one go to drain or maint, so a replacement
// never leaves a backend empty in between.
func DiffLayouts(old, next Layout) (ops []Op, reload bool) {
	reload = old.Config != next.Config || len(old.Backends) != len(next.Backends)
	for i := range next.Backends {
		n := &next.Backends[i]
		o := old.backend(n.Name)
		if o == nil || !sameStructure(o, n) {
			reload = true
			continue
		}
		var later []Op
		for k := range n.Slots {
			os, ns := o.Slots[k], n.Slots[k]
			if ns.State == Maint {
				if os.State != Maint {
					later = append(later, Op{Backend: n.Name, Server: ns.Name, State: Maint})
				}
				continue
			}
			moved := os.Host != ns.Host || os.Port != ns.Port
			if moved {
				ops = append(ops, Op{Backend: n.Name, Server: ns.Name, Host: ns.Host, Port: ns.Port})
			}
			if os.State != ns.State || moved {
				op := Op{Backend: n.Name, Server: ns.Name, State: ns.State}
				if ns.State == Drain {
					later = append(later, op)
				} else {
					ops = append(ops, op)
				}
			}
		}
		ops = append(ops, later...)
	}
	return ops, reload
}

// keepStructure is cur with the slots of every backend whose structure is
// the same in next: what HAProxy runs after DiffLayouts' ops were applied
// without the reload.
func keepStructure(cur, next Layout) Layout {
	out := Layout{Config: cur.Config, Backends: make([]Backend, len(cur.Backends))}
	copy(out.Backends, cur.Backends)
	for i := range out.Backends {
		if n := next.backend(out.Backends[i].Name); n != nil && sameStructure(&out.Backends[i], n) {
			out.Backends[i].Slots = n.Slots
		}
	}
	return out
}

func sameStructure(a, b *Backend) bool {
	return a.Name == b.Name && a.Service == b.Service && a.PortIndex == b.PortIndex && a.ServicePort == b.ServicePort &&
		a.Mode == b.Mode && a.Balance == b.Balance && a.Sticky == b.Sticky &&
		slices.Equal(a.Hosts, b.Hosts) && slices.Equal(a.Paths, b.Paths) && len(a.Slots) == len(b.Slots)
}
