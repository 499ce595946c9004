package lb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"agora/discovery"
	"agora/lb/haproxy"
)

// Options configure a Driver.
type Options struct {
	Config Config
	// Dir holds haproxy.cfg, the master socket, the pid file and the log
	// (and the stats socket when Config.StatsSocket is empty).
	// A Driver that finds a live master there adopts it.
	Dir string
	// Bin is the haproxy binary; "" looks "haproxy" up on PATH, then
	// /usr/sbin/haproxy.
	Bin string
	// MinReloadInterval: at most one reload per interval; updates that
	// need one meanwhile are coalesced into the next. Default 500ms.
	MinReloadInterval time.Duration
	// LeaveRunning keeps HAProxy serving when Run returns, for an lb
	// restart that adopts it; otherwise Run soft-stops it.
	LeaveRunning bool
	// Logf reports what the driver does; nil is quiet.
	Logf func(format string, args ...any)
}

// Status is what the lb reports about itself.
type Status struct {
	Running bool `json:"running"`
	Pid     int  `json:"pid"`
	Adopted bool `json:"adopted"`
	// Updates counts service sets taken and fully handled.
	Updates           uint64    `json:"updates"`
	Reloads           uint64    `json:"reloads"`
	RuntimeUpdates    uint64    `json:"runtimeUpdates"`
	FailedValidations uint64    `json:"failedValidations"`
	FailedReloads     uint64    `json:"failedReloads"`
	Services          int       `json:"services"`
	Servers           int       `json:"servers"`
	LabelErrors       []string  `json:"labelErrors,omitempty"`
	LastError         string    `json:"lastError,omitempty"`
	LastErrorAt       time.Time `json:"lastErrorAt,omitzero"`
	LastReloadAt      time.Time `json:"lastReloadAt,omitzero"`
}

// Driver keeps one HAProxy in step with the service sets it is sent.
type Driver struct {
	opts  Options
	files haproxy.Files

	// corrupt, when set by a test, edits the rendered text before the
	// check: it stands in for a renderer bug HAProxy would refuse.
	corrupt func(string) string

	mu     sync.Mutex
	status Status
}

// New checks the options; nothing starts until Run.
func New(opts Options) (*Driver, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("lb: dir is empty")
	}
	files := haproxy.FilesIn(opts.Dir)
	if opts.Config.StatsSocket == "" {
		opts.Config.StatsSocket = files.StatsSocket
	}
	files.StatsSocket = opts.Config.StatsSocket
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	if opts.Bin == "" {
		if p, err := exec.LookPath("haproxy"); err == nil {
			opts.Bin = p
		} else {
			opts.Bin = "/usr/sbin/haproxy"
		}
	}
	if opts.MinReloadInterval <= 0 {
		opts.MinReloadInterval = 500 * time.Millisecond
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("lb: dir: %w", err)
	}
	return &Driver{opts: opts, files: files}, nil
}

// Status returns a copy of the current status.
func (d *Driver) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.status
	s.LabelErrors = append([]string(nil), s.LabelErrors...)
	return s
}

func (d *Driver) update(f func(*Status)) {
	d.mu.Lock()
	f(&d.status)
	d.mu.Unlock()
}

func (d *Driver) fail(err error) {
	d.opts.Logf("lb: %v", err)
	d.update(func(s *Status) { s.LastError, s.LastErrorAt = err.Error(), time.Now() })
}

// Run keeps HAProxy in step with updates until ctx ends or updates is
// closed. Each set is planned against what HAProxy runs: membership changes
// go out as Runtime API commands, structural ones as a validated, hitless,
// rate-limited reload. A set whose config fails `haproxy -c` is not
// applied (runtime changes for unchanged backends still are); the error
// stays in Status until a later config is accepted.
func (d *Driver) Run(ctx context.Context, updates <-chan []discovery.Service) error {
	proc, err := haproxy.Adopt(ctx, d.opts.Bin, d.files)
	if err != nil {
		return fmt.Errorf("lb: %w", err)
	}
	// An adopted master runs a layout we do not know: the first set
	// reloads (hitlessly) to a config we rendered.
	var cur *Layout
	if proc != nil {
		d.opts.Logf("lb: adopted haproxy master %d", proc.Pid())
		d.update(func(s *Status) { s.Running, s.Pid, s.Adopted = true, proc.Pid(), true })
	}
	defer func() {
		if proc == nil || d.opts.LeaveRunning {
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), d.opts.Config.HardStopAfter+5*time.Second)
		defer cancel()
		if err := proc.Stop(sctx); err != nil {
			d.fail(err)
		}
		d.update(func(s *Status) { s.Running = false })
	}()

	var (
		pending      []discovery.Service
		havePending  bool
		lastReload   time.Time
		lastRefused  string
		reloadTimer  <-chan time.Time
		watchProcess = time.NewTicker(time.Second)
	)
	defer watchProcess.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case svcs, ok := <-updates:
			if !ok {
				return nil
			}
			pending, havePending = svcs, true
		case <-reloadTimer:
			reloadTimer = nil
		case <-watchProcess.C:
			if proc != nil && !proc.Alive() {
				d.fail(fmt.Errorf("haproxy master %d exited; starting a new one", proc.Pid()))
				proc, cur = nil, nil
				d.update(func(s *Status) { s.Running, s.Pid = false, 0 })
				havePending = havePending || pending != nil
			}
		}
		// Take the newest set: a burst costs one pass.
	drain:
		for {
			select {
			case svcs, ok := <-updates:
				if !ok {
					break drain
				}
				pending, havePending = svcs, true
			default:
				break drain
			}
		}
		if !havePending || reloadTimer != nil {
			continue
		}

		next, lerrs := Plan(cur, resolve(ctx, pending), d.opts.Config)
		d.update(func(s *Status) {
			s.LabelErrors = s.LabelErrors[:0]
			for _, e := range lerrs {
				s.LabelErrors = append(s.LabelErrors, e.Error())
			}
		})

		if proc == nil {
			p, err := d.start(ctx, next)
			if err != nil {
				d.fail(err)
				// Retry on the next tick or set.
				continue
			}
			proc, cur = p, &next
			d.applied(next)
			havePending = false
			continue
		}

		reload := true
		var ops []Op
		if cur != nil {
			ops, reload = DiffLayouts(*cur, next)
		}
		if !reload {
			if err := d.runtime(ctx, proc, ops); err == nil {
				cur = &next
				d.applied(next)
				havePending = false
				continue
			} else {
				d.fail(err)
			}
			// A refused runtime command: a reload sets every slot.
		}
		if wait := d.opts.MinReloadInterval - time.Since(lastReload); wait > 0 {
			// Meanwhile, backends that kept their structure move now.
			if cur != nil && len(ops) > 0 && d.runtime(ctx, proc, ops) == nil {
				kept := keepStructure(*cur, next)
				cur = &kept
			}
			reloadTimer = time.After(wait)
			continue
		}
		text, err := RenderLayout(next)
		if d.corrupt != nil {
			text = d.corrupt(text)
		}
		if err == nil && text == lastRefused {
			err = errors.New("config refused by haproxy -c (unchanged since)")
		} else if err == nil {
			err = d.validate(ctx, text)
			if err != nil {
				lastRefused = text
				d.update(func(s *Status) { s.FailedValidations++ })
			}
		}
		if err != nil {
			d.fail(err)
			if cur != nil && len(ops) > 0 && d.runtime(ctx, proc, ops) == nil {
				kept := keepStructure(*cur, next)
				cur = &kept
			}
			havePending = false
			d.update(func(s *Status) { s.Updates++ })
			continue
		}
		lastReload = time.Now()
		if err := d.reload(ctx, proc); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			d.fail(err)
			d.update(func(s *Status) { s.FailedReloads++; s.Updates++ })
			havePending = false
			continue
		}
		lastRefused = ""
		cur = &next
		d.applied(next)
		havePending = false
	}
}

// applied records that HAProxy now runs l.
func (d *Driver) applied(l Layout) {
	d.update(func(s *Status) {
		s.Services, s.Servers = len(l.Backends), l.Servers()
		s.Updates++
	})
}

// validate writes the candidate beside the live config and checks it; on
// success the candidate becomes the live config file.
func (d *Driver) validate(ctx context.Context, text string) error {
	cand := filepath.Join(d.opts.Dir, "haproxy.cfg.candidate")
	if err := os.WriteFile(cand, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write candidate: %w", err)
	}
	if err := haproxy.Check(ctx, d.opts.Bin, cand); err != nil {
		return err
	}
	// Keep the running config for a reload that fails after the check.
	if old, err := os.ReadFile(d.files.Config); err == nil {
		os.WriteFile(d.files.Config+".previous", old, 0o644)
	}
	if err := os.Rename(cand, d.files.Config); err != nil {
		return fmt.Errorf("install config: %w", err)
	}
	return nil
}

func (d *Driver) start(ctx context.Context, l Layout) (*haproxy.Process, error) {
	text, err := RenderLayout(l)
	if err != nil {
		return nil, err
	}
	if err := d.validate(ctx, text); err != nil {
		d.update(func(s *Status) { s.FailedValidations++ })
		return nil, err
	}
	p, err := haproxy.Start(ctx, d.opts.Bin, d.files)
	if err != nil {
		return nil, err
	}
	d.opts.Logf("lb: started haproxy master %d", p.Pid())
	d.update(func(s *Status) { s.Running, s.Pid, s.Adopted = true, p.Pid(), false })
	return p, nil
}

func (d *Driver) reload(ctx context.Context, p *haproxy.Process) error {
	t0 := time.Now()
	if err := p.Reload(ctx); err != nil {
		if old, rerr := os.ReadFile(d.files.Config + ".previous"); rerr == nil {
			os.WriteFile(d.files.Config, old, 0o644)
		}
		return err
	}
	d.opts.Logf("lb: reloaded haproxy in %v", time.Since(t0).Round(time.Millisecond))
	// A config HAProxy took supersedes an earlier refusal.
	d.update(func(s *Status) { s.Reloads++; s.LastReloadAt = time.Now(); s.LastError = "" })
	return nil
}

func (d *Driver) runtime(ctx context.Context, p *haproxy.Process, ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	cmds := make([]string, len(ops))
	for i, op := range ops {
		cmds[i] = op.Command()
	}
	if err := p.Runtime(ctx, cmds); err != nil {
		return err
	}
	d.update(func(s *Status) { s.RuntimeUpdates += uint64(len(ops)) })
	return nil
}

// Metrics serves the lb's counters in Prometheus text format.
func (d *Driver) Metrics() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := d.Status()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		b := func(v bool) int {
			if v {
				return 1
			}
			return 0
		}
		metric := func(name, kind, help string, v any) {
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %v\n", name, help, name, kind, name, v)
		}
		metric("agora_lb_up", "gauge", "Whether an HAProxy master runs.", b(s.Running))
		metric("agora_lb_reloads_total", "counter", "Hitless reloads done.", s.Reloads)
		metric("agora_lb_runtime_updates_total", "counter", "Runtime API server updates done.", s.RuntimeUpdates)
		metric("agora_lb_failed_validations_total", "counter", "Configs refused by haproxy -c.", s.FailedValidations)
		metric("agora_lb_failed_reloads_total", "counter", "Reloads the master refused.", s.FailedReloads)
		metric("agora_lb_updates_total", "counter", "Service sets handled.", s.Updates)
		metric("agora_lb_services", "gauge", "Services rendered.", s.Services)
		metric("agora_lb_servers", "gauge", "Server slots holding an instance.", s.Servers)
		metric("agora_lb_label_errors", "gauge", "Label problems in the last set.", len(s.LabelErrors))
		last := 0.0
		if !s.LastErrorAt.IsZero() && s.LastError != "" {
			last = float64(s.LastErrorAt.UnixMilli()) / 1000
		}
		metric("agora_lb_last_error_timestamp_seconds", "gauge", "When the standing error happened (0: none).", last)
	})
}

// resolve replaces endpoint host names with an IP address (IPv4 first);
// a name that does not resolve is left for Plan to report.
func resolve(ctx context.Context, svcs []discovery.Service) []discovery.Service {
	var out []discovery.Service
	cache := map[string]string{}
	for i, s := range svcs {
		for j, e := range s.Endpoints {
			if e.Host == "" || net.ParseIP(e.Host) != nil {
				continue
			}
			if out == nil {
				out = make([]discovery.Service, len(svcs))
				copy(out, svcs)
			}
			if &out[i].Endpoints[0] == &svcs[i].Endpoints[0] {
				out[i].Endpoints = append([]discovery.Endpoint(nil), s.Endpoints...)
			}
			ip, ok := cache[e.Host]
			if !ok {
				rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				addrs, err := net.DefaultResolver.LookupIPAddr(rctx, e.Host)
				cancel()
				ip = e.Host
				if err == nil && len(addrs) > 0 {
					ip = addrs[0].IP.String()
					for _, a := range addrs {
						if a.IP.To4() != nil {
							ip = a.IP.String()
							break
						}
					}
				}
				cache[e.Host] = ip
			}
			out[i].Endpoints[j].Host = ip
		}
	}
	if out == nil {
		return svcs
	}
	return out
}
