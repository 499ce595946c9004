package lb

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"agora/discovery"

	parser "github.com/haproxytech/client-native/v5/config-parser"
	"github.com/haproxytech/client-native/v5/config-parser/options"
	"github.com/haproxytech/client-native/v5/configuration"
	"github.com/haproxytech/client-native/v5/models"
)

// vhostFrontend is the name of the shared HTTP virtual host frontend.
const vhostFrontend = "http_vhosts"

// Render plans services from scratch and renders the config text.
func Render(services []discovery.Service, cfg Config) (string, Layout, []LabelError) {
	l, errs := Plan(nil, services, cfg)
	text, err := RenderLayout(l)
	if err != nil {
		// Plan only lets through values the renderer accepts, so this is a
		// bug; say so in the text so `haproxy -c` refuses it loudly.
		return "# render failed: " + err.Error() + "\n", l, errs
	}
	return text, l, errs
}

// RenderLayout renders haproxy.cfg for a layout with client-native's
// models, serialized through its config parser.
func RenderLayout(l Layout) (string, error) {
	// Start from a skeleton so the unnamed defaults section exists.
	p, err := parser.New(options.Reader(strings.NewReader("global\ndefaults\n")))
	if err != nil {
		return "", fmt.Errorf("render: new parser: %w", err)
	}
	cfg := l.Config
	ms := func(d time.Duration) *int64 { v := d.Milliseconds(); return &v }
	str := func(s string) *string { return &s }

	global := &models.Global{
		MasterWorker:  true,
		Maxconn:       int64(cfg.MaxConn),
		HardStopAfter: ms(cfg.HardStopAfter),
		RuntimeAPIs: []*models.RuntimeAPI{{
			Address:    str(cfg.StatsSocket),
			BindParams: models.BindParams{Level: "admin", ExposeFdListeners: true, Mode: "600"},
		}},
	}
	if err := configuration.SerializeGlobalSection(p, global); err != nil {
		return "", fmt.Errorf("render: global: %w", err)
	}
	defaults := &models.Defaults{
		Mode:           "tcp",
		ConnectTimeout: ms(cfg.ConnectTimeout),
		ClientTimeout:  ms(cfg.ClientTimeout),
		ServerTimeout:  ms(cfg.ServerTimeout),
		QueueTimeout:   ms(cfg.ConnectTimeout),
		// Retries and redispatch turn a connect failure to an instance
		// that just went away into a retry on another one.
		Retries:    int64p(3),
		Redispatch: &models.Redispatch{Enabled: str("enabled"), Interval: 1},
	}
	if err := configuration.CreateEditSection(defaults, parser.Defaults, parser.DefaultSectionName, p); err != nil {
		return "", fmt.Errorf("render: defaults: %w", err)
	}

	if cfg.StatsPort != 0 {
		fe := &models.Frontend{Name: "stats", Mode: "http",
			StatsOptions: &models.StatsOptions{StatsEnable: true, StatsURIPrefix: "/", StatsRefreshDelay: int64p(10000)}}
		if err := frontend(p, fe, cfg.BindAddr, cfg.StatsPort); err != nil {
			return "", err
		}
	}

	if cfg.HTTPPort != 0 && hasVHosts(l) {
		fe := &models.Frontend{Name: vhostFrontend, Mode: "http"}
		if err := frontend(p, fe, cfg.BindAddr, cfg.HTTPPort); err != nil {
			return "", err
		}
		if err := vhostRules(p, l); err != nil {
			return "", err
		}
	}

	for i := range l.Backends {
		b := &l.Backends[i]
		fe := &models.Frontend{Name: "fe_" + strings.TrimPrefix(b.Name, "be_"), Mode: b.Mode, DefaultBackend: b.Name}
		if err := frontend(p, fe, cfg.BindAddr, b.ServicePort); err != nil {
			return "", err
		}
		be := &models.Backend{Name: b.Name, Mode: b.Mode, Balance: &models.Balance{Algorithm: str(b.Balance)}}
		if b.Sticky {
			be.Cookie = &models.Cookie{Name: str("AGORA_SERVER_ID"), Type: "insert", Indirect: true, Nocache: true}
		}
		if err := section(p, parser.Backends, b.Name, be); err != nil {
			return "", err
		}
		for _, s := range b.Slots {
			srv := models.Server{Name: s.Name, Address: s.Host, Port: int64p(int64(s.Port))}
			// A draining slot is off in a fresh worker: the old worker
			// keeps serving its connections until they end.
			if s.State != Ready {
				srv.Maintenance = "enabled"
			}
			if b.Sticky {
				srv.Cookie = s.Name
			}
			if err := p.Insert(parser.Backends, b.Name, "server", configuration.SerializeServer(srv), -1); err != nil {
				return "", fmt.Errorf("render: backend %s server %s: %w", b.Name, s.Name, err)
			}
		}
	}
	return p.String(), nil
}

func hasVHosts(l Layout) bool {
	for _, b := range l.Backends {
		if len(b.Hosts) > 0 {
			return true
		}
	}
	return false
}

// vhostRules routes the shared frontend: routes with paths first (longest
// first) so a path-specific app wins over a host-wide one.
func vhostRules(p parser.Parser, l Layout) error {
	type route struct {
		backend, acl string
		pathLen      int
	}
	var routes []route
	for _, b := range l.Backends {
		if len(b.Hosts) == 0 {
			continue
		}
		short := strings.TrimPrefix(b.Name, "be_")
		hostACL := "host_" + short
		acl := models.ACL{ACLName: hostACL, Criterion: "hdr(host),field(1,:)", Value: "-i " + strings.Join(b.Hosts, " ")}
		if err := p.Insert(parser.Frontends, vhostFrontend, "acl", configuration.SerializeACL(acl), -1); err != nil {
			return fmt.Errorf("render: vhost acl for %s: %w", b.Name, err)
		}
		r := route{backend: b.Name, acl: hostACL}
		if len(b.Paths) > 0 {
			pathACL := "path_" + short
			acl := models.ACL{ACLName: pathACL, Criterion: "path_beg", Value: strings.Join(b.Paths, " ")}
			if err := p.Insert(parser.Frontends, vhostFrontend, "acl", configuration.SerializeACL(acl), -1); err != nil {
				return fmt.Errorf("render: path acl for %s: %w", b.Name, err)
			}
			r.acl += " " + pathACL
			for _, pth := range b.Paths {
				r.pathLen = max(r.pathLen, len(pth))
			}
		}
		routes = append(routes, r)
	}
	// Backends come sorted by name, and the sort is stable.
	for _, r := range sortedByPathLen(routes, func(r route) int { return r.pathLen }) {
		rule := models.BackendSwitchingRule{Name: r.backend, Cond: "if", CondTest: r.acl}
		if err := p.Insert(parser.Frontends, vhostFrontend, "use_backend", configuration.SerializeBackendSwitchingRule(rule), -1); err != nil {
			return fmt.Errorf("render: use_backend %s: %w", r.backend, err)
		}
	}
	return nil
}

func sortedByPathLen[T any](in []T, key func(T) int) []T {
	out := make([]T, len(in))
	copy(out, in)
	// Insertion sort by descending key keeps equal keys in name order.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && key(out[j]) > key(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func section(p parser.Parser, kind parser.Section, name string, data any) error {
	if err := p.SectionsCreate(kind, name); err != nil {
		return fmt.Errorf("render: %s %s: %w", kind, name, err)
	}
	if err := configuration.CreateEditSection(data, kind, name, p); err != nil {
		return fmt.Errorf("render: %s %s: %w", kind, name, err)
	}
	return nil
}

func frontend(p parser.Parser, fe *models.Frontend, addr string, port int) error {
	if err := section(p, parser.Frontends, fe.Name, fe); err != nil {
		return err
	}
	bind := models.Bind{Address: addr, Port: int64p(int64(port)), BindParams: models.BindParams{Name: addr + ":" + strconv.Itoa(port)}}
	if err := p.Insert(parser.Frontends, fe.Name, "bind", configuration.SerializeBind(bind), -1); err != nil {
		return fmt.Errorf("render: frontend %s bind: %w", fe.Name, err)
	}
	return nil
}

func int64p(v int64) *int64 { return &v }
