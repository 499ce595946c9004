package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"agora/discovery"
	"agora/discovery/consul"
	"agora/lb"
)

// lbFlags configure a load balancer, in `agora lb` and in `agora dev`.
type lbFlags struct {
	dir, bind, group string
	httpPort         int
	statsPort        int
	hardStop         time.Duration
}

func (l *lbFlags) register(fs serverFlags, prefix, dir string) {
	httpPort := 80
	if os.Geteuid() != 0 {
		httpPort = 8080 // 80 needs root
	}
	fs.str(&l.dir, prefix+"work_dir", dir, "directory of HAProxy's config, sockets and pid file")
	fs.str(&l.bind, prefix+"bind", "127.0.0.1", "address HAProxy's frontends listen on")
	fs.str(&l.group, prefix+"group", "external", "serve apps whose HAPROXY_GROUP label names this group (no label: external)")
	fs.int(&l.httpPort, prefix+"http_port", httpPort, "shared port of HTTP virtual hosts (HAPROXY_n_VHOST); 0 turns it off")
	fs.int(&l.statsPort, prefix+"stats_port", 9090, "port of HAProxy's stats page; 0 turns it off")
	fs.dur(&l.hardStop, prefix+"hard_stop_after", 30*time.Second, "old HAProxy workers are stopped this long after a reload")
}

func (l *lbFlags) driver(logf func(string, ...any)) (*lb.Driver, error) {
	cfg := lb.DefaultConfig(filepath.Join(l.dir, "admin.sock"))
	cfg.BindAddr, cfg.Group, cfg.HTTPPort, cfg.StatsPort, cfg.HardStopAfter = l.bind, l.group, l.httpPort, l.statsPort, l.hardStop
	return lb.New(lb.Options{Config: cfg, Dir: l.dir, Logf: logf})
}

// runLB keeps HAProxy in step with Agora's services in reg until ctx
// ends, serving the lb's status and metrics on ln when it is not nil.
func (l *lbFlags) run(ctx context.Context, reg discovery.Registry, ln net.Listener, srv *server, logf func(string, ...any)) error {
	d, err := l.driver(logf)
	if err != nil {
		return err
	}
	sets, err := reg.Watch(ctx)
	if err != nil {
		return fmt.Errorf("lb: watching services: %w", err)
	}
	if ln != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", d.Metrics())
		mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(d.Status())
		})
		stop := serve(srv.listen(ln), srv.wrap(mux), logf)
		defer stop()
	}
	return d.Run(ctx, sets)
}

// haproxyAvailable reports whether an haproxy binary is on PATH.
func haproxyAvailable() bool {
	_, err := exec.LookPath("haproxy")
	return err == nil
}

func runLB(args []string) error {
	fs := newServerFlags("lb")
	var l lbFlags
	var consulAddr, listen string
	l.register(fs, "", filepath.Join(defaultDataDir(), "lb"))
	fs.str(&consulAddr, "consul", "127.0.0.1:8500", "the Consul agent where Agora registers its services")
	fs.str(&listen, "listen", "127.0.0.1:9091", "HTTP address of the lb's /status and /metrics")
	var sec securityFlags
	sec.register(fs, true, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("lb: unexpected argument %q; flags only", fs.Arg(0))
	}
	logf := newLogger("lb: ")
	srv, err := sec.build("agora lb", l.dir, nil, logf)
	if err != nil {
		return err
	}
	defer srv.close()
	reg, err := consul.New(consul.Config{Address: consulAddr, Logf: logf})
	if err != nil {
		return fmt.Errorf("--consul %s: %w", consulAddr, err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", listen, err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	fmt.Printf("agora lb: services from Consul at %s; HAProxy frontends on %s (vhosts on :%d, stats on :%d); status on %s://%s/status (%s)\n",
		consulAddr, l.bind, l.httpPort, l.statsPort, srv.scheme(), ln.Addr(), srv.describe())
	return l.run(ctx, reg, ln, srv, logf)
}
