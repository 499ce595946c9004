// Package lb keeps an HAProxy load balancer in step with Agora's services.
//
// Contract: deciding is pure and lives here. Plan turns a set of
// discovery.Services and a Config into a Layout (which frontend, backend and
// server slot each service and endpoint gets); Render turns a Layout into
// haproxy.cfg text built with client-native's models and parser; Diff
// compares two Layouts and returns the Runtime API operations that move
// HAProxy from one to the other, or says a reload is needed when the
// structure changed. None of these touch a socket, a file or the clock.
// The process side (validation with `haproxy -c`, master-worker start,
// hitless reloads, runtime commands, adoption after a restart) is the
// Driver in driver.go, and lb/haproxy holds the thin HAProxy I/O it uses.
//
// Labels follow marathon-lb where they fit: HAPROXY_GROUP,
// HAPROXY_{n}_VHOST, HAPROXY_{n}_MODE, HAPROXY_{n}_BALANCE,
// HAPROXY_{n}_PATH and HAPROXY_{n}_STICKY, n being the port index. A bad
// label yields a LabelError for its service, which is then rendered with
// the default for that label (or skipped when it cannot be rendered at
// all); it never blocks the other services.
package lb

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"agora/discovery"
)

// Config is what the load balancer is told by its operator.
type Config struct {
	// Group: only services whose HAPROXY_GROUP includes it (or that have
	// none, which means "external") are rendered.
	Group string
	// BindAddr is the address frontends listen on.
	BindAddr string
	// HTTPPort is the shared port where HTTP virtual hosts are routed by
	// Host header and path; 0 leaves the vhost frontend out.
	HTTPPort int
	// StatsPort serves HAProxy's stats page; 0 leaves it out.
	StatsPort int
	// StatsSocket is the admin Runtime API socket path (expose-fd
	// listeners, so reloads keep listening sockets).
	StatsSocket string
	// HardStopAfter bounds how long old workers may linger after a reload.
	HardStopAfter time.Duration
	// MinSlots is the least number of server slots per backend.
	MinSlots int
	// Timeouts for defaults.
	ConnectTimeout, ClientTimeout, ServerTimeout time.Duration
	// MaxConn is the global connection limit.
	MaxConn int
}

// DefaultConfig returns a Config with the usual values, stats socket at
// socketPath.
func DefaultConfig(socketPath string) Config {
	return Config{
		Group:          "external",
		BindAddr:       "127.0.0.1",
		HTTPPort:       80,
		StatsPort:      9090,
		StatsSocket:    socketPath,
		HardStopAfter:  30 * time.Second,
		MinSlots:       4,
		ConnectTimeout: 5 * time.Second,
		ClientTimeout:  60 * time.Second,
		ServerTimeout:  60 * time.Second,
		MaxConn:        4096,
	}
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Group == "":
		return fmt.Errorf("lb config: group is empty")
	case net.ParseIP(c.BindAddr) == nil:
		return fmt.Errorf("lb config: bindAddr %q is not an IP address", c.BindAddr)
	case c.HTTPPort < 0 || c.HTTPPort > 65535:
		return fmt.Errorf("lb config: httpPort %d out of range", c.HTTPPort)
	case c.StatsPort < 0 || c.StatsPort > 65535:
		return fmt.Errorf("lb config: statsPort %d out of range", c.StatsPort)
	case c.HTTPPort != 0 && c.HTTPPort == c.StatsPort:
		return fmt.Errorf("lb config: httpPort and statsPort are both %d", c.HTTPPort)
	case c.StatsSocket == "" || strings.ContainsAny(c.StatsSocket, " \t\n"):
		return fmt.Errorf("lb config: statsSocket %q must be a path without spaces", c.StatsSocket)
	case c.HardStopAfter < time.Second:
		return fmt.Errorf("lb config: hardStopAfter %s is under 1s", c.HardStopAfter)
	case c.MinSlots < 1 || c.MinSlots > 1024:
		return fmt.Errorf("lb config: minSlots %d not in 1..1024", c.MinSlots)
	case c.ConnectTimeout <= 0 || c.ClientTimeout <= 0 || c.ServerTimeout <= 0:
		return fmt.Errorf("lb config: timeouts must be positive")
	case c.MaxConn <= 0:
		return fmt.Errorf("lb config: maxConn %d must be positive", c.MaxConn)
	}
	return nil
}

// State is a server slot's administrative state.
type State string

// Slot states, as the Runtime API names them.
const (
	Ready State = "ready"
	Drain State = "drain"
	Maint State = "maint"
)

// Slot is one server line of a backend. A free slot is in Maint.
type Slot struct {
	Name  string
	Host  string
	Port  int
	State State
}

func (s Slot) key() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Backend is one service port: its own frontend on ServicePort, its
// backend, and (with Hosts) a place on the shared vhost frontend.
type Backend struct {
	// Name is the backend's name; the service's frontend is "fe_"+Name.
	Name        string
	Service     string
	PortIndex   int
	ServicePort int
	Mode        string // "tcp" or "http"
	Balance     string
	Sticky      bool
	Hosts       []string
	Paths       []string
	Slots       []Slot
}

// Layout is what a rendered config holds: enough to compute runtime
// updates against the next set of services.
type Layout struct {
	Config   Config
	Backends []Backend // sorted by Name
}

// Servers counts slots that hold an endpoint (ready or draining).
func (l Layout) Servers() int {
	n := 0
	for _, b := range l.Backends {
		for _, s := range b.Slots {
			if s.State != Maint {
				n++
			}
		}
	}
	return n
}

func (l Layout) backend(name string) *Backend {
	i := sort.Search(len(l.Backends), func(i int) bool { return l.Backends[i].Name >= name })
	if i < len(l.Backends) && l.Backends[i].Name == name {
		return &l.Backends[i]
	}
	return nil
}

// LabelError says why a service, or one of its labels, was not taken.
// Skipped is true when the whole service was left out.
type LabelError struct {
	Service string
	Label   string
	Value   string
	Reason  string
	Skipped bool
}

func (e LabelError) Error() string {
	what := "using the default"
	if e.Label == "endpoint" {
		what = "endpoint left out"
	}
	if e.Skipped {
		what = "service skipped"
	}
	return fmt.Sprintf("service %s: %s=%q: %s (%s)", e.Service, e.Label, e.Value, e.Reason, what)
}

var (
	balances = map[string]bool{"roundrobin": true, "static-rr": true, "leastconn": true,
		"first": true, "source": true, "random": true, "uri": true}
	hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)
	// No quotes or backslashes: HAProxy's tokenizer would read them.
	pathRE = regexp.MustCompile(`^/[A-Za-z0-9._~!$&()*+,;=:@%/-]*$`)
	nameRE = regexp.MustCompile(`[^A-Za-z0-9_.:-]`)
)

// placeholder is the address of a free slot: a port nothing listens on.
const (
	placeholderHost = "127.0.0.1"
	placeholderPort = 1
)

// Plan lays services out. With prev (the layout HAProxy runs now),
// endpoints keep the slots they hold and new ones take free slots, so a
// membership change maps to few runtime operations; slot counts never
// shrink while they suffice. Plan is deterministic.
func Plan(prev *Layout, services []discovery.Service, cfg Config) (Layout, []LabelError) {
	svcs := make([]discovery.Service, len(services))
	copy(svcs, services)
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })

	var errs []LabelError
	usedPorts := map[int]string{}
	if cfg.HTTPPort != 0 {
		usedPorts[cfg.HTTPPort] = "the vhost frontend"
	}
	if cfg.StatsPort != 0 {
		usedPorts[cfg.StatsPort] = "the stats page"
	}
	names := map[string]string{}
	out := Layout{Config: cfg, Backends: make([]Backend, 0, len(svcs))}
	for _, s := range svcs {
		b, berrs, ok := planService(s, cfg)
		errs = append(errs, berrs...)
		if !ok {
			continue
		}
		if other, taken := usedPorts[s.ServicePort]; taken {
			errs = append(errs, LabelError{Service: s.Name, Label: "servicePort", Value: strconv.Itoa(s.ServicePort),
				Reason: "already used by " + other, Skipped: true})
			continue
		}
		if other, taken := names[b.Name]; taken {
			errs = append(errs, LabelError{Service: s.Name, Label: "name", Value: s.Name,
				Reason: "same HAProxy name as service " + other, Skipped: true})
			continue
		}
		usedPorts[s.ServicePort] = "service " + s.Name
		names[b.Name] = s.Name
		var old *Backend
		if prev != nil {
			old = prev.backend(b.Name)
		}
		want, eerrs := endpointSlots(s)
		errs = append(errs, eerrs...)
		b.Slots = assignSlots(old, want, cfg.MinSlots)
		out.Backends = append(out.Backends, b)
	}
	sort.Slice(out.Backends, func(i, j int) bool { return out.Backends[i].Name < out.Backends[j].Name })
	errs = append(errs, vhostConflicts(&out)...)
	return out, errs
}

// planService reads a service's labels; ok is false when it is not
// rendered (another group, udp, no service port).
func planService(s discovery.Service, cfg Config) (Backend, []LabelError, bool) {
	var errs []LabelError
	bad := func(label, value, reason string, skipped bool) {
		errs = append(errs, LabelError{Service: s.Name, Label: label, Value: value, Reason: reason, Skipped: skipped})
	}
	if !inGroup(s.Labels["HAPROXY_GROUP"], cfg.Group) {
		return Backend{}, nil, false
	}
	if s.Protocol != "" && s.Protocol != "tcp" {
		bad("protocol", s.Protocol, "HAProxy proxies tcp only", true)
		return Backend{}, errs, false
	}
	if s.ServicePort < 1 || s.ServicePort > 65535 {
		bad("servicePort", strconv.Itoa(s.ServicePort), "not in 1..65535", true)
		return Backend{}, errs, false
	}
	if s.Name == "" {
		bad("name", "", "empty", true)
		return Backend{}, errs, false
	}
	b := Backend{
		Name:        "be_" + nameRE.ReplaceAllString(s.Name, "_"),
		Service:     s.Name,
		PortIndex:   s.PortIndex,
		ServicePort: s.ServicePort,
		Mode:        "tcp",
		Balance:     "roundrobin",
	}
	label := func(key string) (string, string, bool) {
		name := fmt.Sprintf("HAPROXY_%d_%s", s.PortIndex, key)
		v, ok := s.Labels[name]
		return name, strings.TrimSpace(v), ok
	}
	if name, v, ok := label("VHOST"); ok && v != "" {
		for _, h := range strings.Split(v, ",") {
			h = strings.ToLower(strings.TrimSpace(h))
			if !hostRE.MatchString(h) {
				bad(name, v, fmt.Sprintf("%q is not a host name", h), false)
				b.Hosts = nil
				break
			}
			b.Hosts = append(b.Hosts, h)
		}
	}
	if len(b.Hosts) > 0 {
		b.Mode = "http"
	}
	if name, v, ok := label("MODE"); ok {
		switch m := strings.ToLower(v); {
		case m != "http" && m != "tcp":
			bad(name, v, "want http or tcp", false)
		case m == "tcp" && len(b.Hosts) > 0:
			bad(name, v, "virtual hosts need http mode", false)
		default:
			b.Mode = m
		}
	}
	if name, v, ok := label("BALANCE"); ok {
		if m := strings.ToLower(v); balances[m] {
			b.Balance = m
		} else {
			bad(name, v, "unknown balance algorithm", false)
		}
	}
	if name, v, ok := label("PATH"); ok && v != "" {
		for _, p := range strings.Fields(v) {
			if !pathRE.MatchString(p) {
				bad(name, v, fmt.Sprintf("%q is not a path prefix", p), false)
				b.Paths = nil
				break
			}
			b.Paths = append(b.Paths, p)
		}
		if len(b.Paths) > 0 && len(b.Hosts) == 0 {
			bad(name, v, "a path needs HAPROXY_n_VHOST", false)
			b.Paths = nil
		}
		sort.Strings(b.Paths)
	}
	if name, v, ok := label("STICKY"); ok {
		sticky, err := strconv.ParseBool(v)
		switch {
		case err != nil:
			bad(name, v, "want true or false", false)
		case sticky && b.Mode != "http":
			bad(name, v, "sticky sessions need http mode", false)
		default:
			b.Sticky = sticky
		}
	}
	sort.Strings(b.Hosts)
	return b, errs, true
}

func inGroup(label, group string) bool {
	if strings.TrimSpace(label) == "" {
		return group == "external"
	}
	for _, g := range strings.Split(label, ",") {
		if g = strings.TrimSpace(g); g == group || g == "*" {
			return true
		}
	}
	return false
}

// vhostConflicts drops host/path routes already claimed by an earlier
// backend, so one app cannot take another's traffic by accident.
func vhostConflicts(l *Layout) []LabelError {
	var errs []LabelError
	claimed := map[string]string{}
	for i := range l.Backends {
		b := &l.Backends[i]
		if len(b.Hosts) == 0 {
			continue
		}
		paths := b.Paths
		if len(paths) == 0 {
			paths = []string{""}
		}
		var clash string
		for _, h := range b.Hosts {
			for _, p := range paths {
				if other, ok := claimed[h+p]; ok {
					clash = fmt.Sprintf("%s%s is routed to %s", h, p, other)
				}
			}
		}
		if clash != "" {
			errs = append(errs, LabelError{Service: b.Service, Label: fmt.Sprintf("HAPROXY_%d_VHOST", b.PortIndex), Value: strings.Join(b.Hosts, ","),
				Reason: clash})
			b.Hosts, b.Paths = nil, nil
			continue
		}
		for _, h := range b.Hosts {
			for _, p := range paths {
				claimed[h+p] = b.Service
			}
		}
	}
	return errs
}

// endpointSlots turns endpoints into wanted slots: healthy ones ready,
// draining ones drain, others left out; duplicates of an address merged.
// Hosts must be IP addresses (the Runtime API sets addresses, it does not
// resolve names): the driver resolves names before planning.
func endpointSlots(s discovery.Service) ([]Slot, []LabelError) {
	seen := map[string]int{}
	var out []Slot
	var errs []LabelError
	for _, e := range s.Endpoints {
		st := Ready
		switch {
		case e.Draining:
			st = Drain
		case !e.Healthy:
			continue
		}
		if e.Port < 1 || e.Port > 65535 || net.ParseIP(e.Host) == nil {
			errs = append(errs, LabelError{Service: s.Name, Label: "endpoint", Value: net.JoinHostPort(e.Host, strconv.Itoa(e.Port)),
				Reason: "want an IP address and a port in 1..65535", Skipped: false})
			continue
		}
		s := Slot{Host: e.Host, Port: e.Port, State: st}
		if i, ok := seen[s.key()]; ok {
			if st == Ready {
				out[i].State = Ready
			}
			continue
		}
		seen[s.key()] = len(out)
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out, errs
}

// assignSlots places wanted endpoints into slots, keeping old positions.
// New endpoints prefer slots that were already free in old, so a slot
// that just lost its endpoint is not readdressed in the same update.
func assignSlots(old *Backend, want []Slot, minSlots int) []Slot {
	n := slotCount(len(want), minSlots)
	if old != nil && len(old.Slots) >= len(want) {
		n = len(old.Slots)
	}
	slots := make([]Slot, n)
	for i := range slots {
		slots[i] = Slot{Name: "s" + strconv.Itoa(i+1), Host: placeholderHost, Port: placeholderPort, State: Maint}
	}
	placed := make([]bool, len(want))
	taken := make([]bool, n)
	if old != nil && len(old.Slots) == n {
		at := map[string]int{}
		for i, s := range old.Slots {
			slots[i].Host, slots[i].Port = s.Host, s.Port
			if s.State != Maint {
				at[s.key()] = i
			}
		}
		for j, w := range want {
			if i, ok := at[w.key()]; ok {
				slots[i].State = w.State
				taken[i], placed[j] = true, true
			}
		}
	}
	wasFree := func(i int) bool { return old == nil || len(old.Slots) != n || old.Slots[i].State == Maint }
	next := func(preferFree bool) int {
		for i := range slots {
			if !taken[i] && (!preferFree || wasFree(i)) {
				return i
			}
		}
		return -1
	}
	for j, w := range want {
		if placed[j] {
			continue
		}
		i := next(true)
		if i < 0 {
			i = next(false)
		}
		slots[i].Host, slots[i].Port, slots[i].State = w.Host, w.Port, w.State
		taken[i] = true
	}
	return slots
}

// slotCount is the power of two at or above want, at least minSlots.
func slotCount(want, minSlots int) int {
	n := 1
	for n < want || n < minSlots {
		n *= 2
	}
	return n
}
