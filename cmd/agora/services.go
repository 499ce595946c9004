package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"agora/core/store"
	"agora/discovery"
	"agora/discovery/consul"
	"agora/discovery/embedded"
	"agora/frameworks/services"
	"agora/frameworks/services/api"
	"agora/frameworks/services/core"
)

// servicesHost serves the services framework's Marathon API (/v2) on the
// master's port, for whichever framework currently runs in this process.
type servicesHost struct {
	enabled  bool
	deadline time.Duration
	consul   string
	user     string // --services_user
	api      mount

	// How the framework reaches the master and who it is there; set by
	// the host (the master's internal client, or the --principal flags).
	http      *http.Client
	principal string
	// authz decides what callers of /v2 may do; nil allows everything.
	authz api.Authorizer

	regOnce sync.Once
	reg     discovery.Registry
	regErr  error
}

func (s *servicesHost) register(fs serverFlags) {
	fs.BoolVar(&s.enabled, "services", true, "run the services framework (Marathon API under /v2) inside this process")
	s.api.prefixes = []string{"/v2"}
	s.frameworkFlags(fs)
}

// frameworkFlags are the flags of the framework wherever it runs.
func (s *servicesHost) frameworkFlags(fs serverFlags) {
	fs.dur(&s.deadline, "services_deployment_deadline", services.DefaultProgressDeadline,
		"a services deployment with no progress for this long fails and rolls back (negative: wait forever)")
	fs.str(&s.consul, "consul", "", "register running instances in the Consul agent at this host:port (default: an embedded registry in this process)")
	fs.str(&s.user, "services_user", "", "user the services' tasks run as unless an app names one (default: the user running this process, or nobody for root outside dev mode)")
}

// registry opens the discovery registry once per process: Consul's with
// --consul (kept alive until ctx ends), else an embedded one.
func (s *servicesHost) registry(ctx context.Context, logf func(string, ...any)) (discovery.Registry, error) {
	s.regOnce.Do(func() {
		if s.consul == "" {
			s.reg = embedded.New()
			return
		}
		r, err := consul.New(consul.Config{Address: s.consul, Logf: logf})
		if err != nil {
			s.regErr = fmt.Errorf("--consul %s: %w", s.consul, err)
			return
		}
		go r.Run(ctx)
		s.reg = r
	})
	return s.reg, s.regErr
}

func (s *servicesHost) config(ctx context.Context, masterURL string, st store.Store, logf func(string, ...any)) (services.Config, error) {
	reg, err := s.registry(ctx, logf)
	if err != nil {
		return services.Config{}, err
	}
	return services.Config{Master: masterURL, HTTP: s.http, Principal: s.principal, User: s.user,
		Store: st, Logf: logf, Registry: reg, Core: core.Config{ProgressDeadline: s.deadline}}, nil
}

// defaultUser fills in --services_user: the user running this process,
// except that outside dev mode root gives way to nobody, since tasks do not
// run as root unless the ACLs allow it.
func (s *servicesHost) defaultUser(dev bool) {
	if s.user != "" {
		return
	}
	if u, err := user.Current(); err == nil {
		s.user = u.Username
	}
	if s.user == "" || (s.user == "root" && !dev) {
		s.user = "nobody"
	}
}

// apiOptions has /v2 act for its authenticated caller.
func (s *servicesHost) apiOptions() api.Options {
	return api.Options{Authorizer: s.authz, Principal: principalOf}
}

// run runs a services framework against the master at masterURL, with its
// state in st, serving its API until ctx ends.
func (s *servicesHost) run(ctx context.Context, masterURL string, st store.Store, logf func(string, ...any)) {
	if !s.enabled {
		return
	}
	cfg, err := s.config(ctx, masterURL, st, logf)
	if err != nil {
		logf("services: %v", err)
		return
	}
	f, err := services.New(cfg)
	if err != nil {
		logf("services: %v", err)
		return
	}
	h := api.New(f, s.apiOptions())
	s.api.set(h)
	defer s.api.set(nil)
	f.Run(ctx)
}

// runServices runs the services framework on its own, against a master
// somewhere else, serving the Marathon API on its own port.
func runServices(args []string) error {
	fs := newServerFlags("services")
	var masterAddr, listen, dataDir, zk string
	var zkTimeout time.Duration
	fs.str(&masterAddr, "master", "127.0.0.1:5050", "the master: host:port, http://... or zk://host:port/path")
	fs.str(&listen, "listen", "127.0.0.1:8080", "HTTP address of the Marathon API (/v2)")
	fs.str(&dataDir, "data_dir", filepath.Join(defaultDataDir(), "services"), "directory of the framework's state (without --zk)")
	fs.str(&zk, "zk", "", "keep the framework's state in ZooKeeper instead, e.g. zk://127.0.0.1:2181/agora")
	fs.dur(&zkTimeout, "zk_session_timeout", 10*time.Second, "ZooKeeper session timeout")
	var host servicesHost
	var sec securityFlags
	host.frameworkFlags(fs)
	sec.register(fs, true, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("services: unexpected argument %q; flags only", fs.Arg(0))
	}
	logf := newLogger("services: ")
	srv, tr, err := sec.peer("agora services", dataDir, logf)
	if err != nil {
		return err
	}
	defer srv.close()
	host.http = &http.Client{Transport: tr}
	host.principal = firstNonEmpty(sec.principal, os.Getenv("AGORA_PRINCIPAL"))
	host.defaultUser(false)
	if srv.acls != nil {
		host.authz = aclAuthorizer{srv.acls}
	}
	var st store.Store
	if zk != "" {
		st, _, _, err = openZK(zk, zkTimeout, logf)
	} else {
		st, err = openBolt("--data_dir", dataDir, "state.db")
	}
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	cfg, err := host.config(ctx, masterAddr, st, logf)
	if err != nil {
		return err
	}
	f, err := services.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", listen, err)
	}
	stopHTTP := serve(srv.listen(ln), srv.wrap(api.New(f, host.apiOptions())), logf)
	defer stopHTTP()
	fmt.Printf("agora services: Marathon API on %s://%s/v2, master %s\n", srv.scheme(), ln.Addr(), masterAddr)
	return f.Run(ctx)
}
