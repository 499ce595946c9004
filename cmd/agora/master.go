package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"agora/core/acl"
	"agora/core/election"
	"agora/core/master"
	"agora/core/store"
)

type masterFlags struct {
	listen, hostname, dataDir, weights, zk string
	quorum                                 int
	zkSessionTimeout                       time.Duration
	cfg                                    master.Config
	services                               servicesHost
	cron                                   cronHost
	sec                                    securityFlags
	srv                                    *server // built from sec by secure
}

func (mf *masterFlags) register(fs serverFlags) {
	fs.str(&mf.listen, "listen", "127.0.0.1:5050", "HTTP address of the master")
	fs.str(&mf.hostname, "hostname", "", "hostname the master advertises (default: the listen host)")
	fs.str(&mf.weights, "weights", "", "role weights for DRF, e.g. web=2,batch=1")
	fs.dur(&mf.cfg.AllocationInterval, "allocation_interval", time.Second, "time between allocation cycles")
	fs.dur(&mf.cfg.OfferTimeout, "offer_timeout", 60*time.Second, "outstanding offers are rescinded after this")
	fs.dur(&mf.cfg.AgentPingTimeout, "agent_ping_timeout", 15*time.Second, "time an agent has to answer a ping")
	fs.int(&mf.cfg.MaxAgentPingTimeouts, "max_agent_ping_timeouts", 5, "missed pings before an agent is marked unreachable")
	fs.dur(&mf.cfg.AgentReregisterTimeout, "agent_reregister_timeout", 10*time.Minute, "time agents have to re-register after a master restart or failover")
	fs.dur(&mf.cfg.AgentRemovalTimeout, "agent_removal_timeout", time.Hour, "unreachable agents are removed for good after this")
	fs.dur(&mf.cfg.HeartbeatInterval, "heartbeat_interval", 15*time.Second, "interval of HEARTBEAT events to frameworks")
	mf.services.register(fs)
	mf.cron.register(fs)
}

// defaultUsers sets the user the built-in frameworks' tasks run as unless
// an app or job names one (see servicesHost.defaultUser).
func (mf *masterFlags) defaultUsers(dev bool) {
	mf.services.defaultUser(dev)
	mf.cron.user = mf.services.user
}

// handler is the master's API with the built-in frameworks' APIs mounted
// beside it, behind the server's protection.
func (mf *masterFlags) handler(master http.Handler) http.Handler {
	return mf.srv.wrap(mf.cron.api.wrap(mf.services.api.wrap(master)))
}

// runFrameworks runs the built-in frameworks against the master at url
// until ctx ends.
func (mf *masterFlags) runFrameworks(ctx context.Context, url string, st store.Store, logf func(string, ...any)) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); mf.services.run(ctx, url, st, logf) }()
	go func() { defer wg.Done(); mf.cron.run(ctx, url, st, logf) }()
	wg.Wait()
}

// secure builds the API's protection; the master's ACLs default to
// acl.Default (no tasks as root), dev mode's to none.
func (mf *masterFlags) secure(role, dataDir string, acls *acl.ACLs, logf func(string, ...any)) error {
	srv, err := mf.sec.build(role, dataDir, acls, logf)
	if err != nil {
		return err
	}
	mf.srv = srv
	mf.cfg.Authenticated = srv.authn != nil
	mf.cfg.ACLs, mf.cfg.ACLFile = srv.acls, srv.aclFile
	hc := srv.internalClient()
	mf.services.http, mf.cron.http = hc, hc
	if srv.authn != nil {
		mf.services.principal, mf.cron.principal = internalPrincipal, internalPrincipal
	}
	if srv.acls != nil {
		mf.services.authz, mf.cron.authz = aclAuthorizer{srv.acls}, aclAuthorizer{srv.acls}
	}
	return nil
}

// url is the master's address as clients use it.
func (mf *masterFlags) url(hostport string) string { return mf.srv.scheme() + "://" + hostport }

// listener binds the master's address; an explicit port 0 picks one.
func (mf *masterFlags) listener() (net.Listener, error) {
	ln, err := net.Listen("tcp", mf.listen)
	if err != nil {
		return nil, fmt.Errorf("master: --listen %s: %w", mf.listen, err)
	}
	return ln, nil
}

func (mf *masterFlags) config(st store.Store, listen string, logf func(string, ...any)) (master.Config, error) {
	w, err := parseWeights(mf.weights)
	if err != nil {
		return master.Config{}, err
	}
	cfg := mf.cfg
	cfg.Listen, cfg.Hostname, cfg.Weights, cfg.Store, cfg.Logf = listen, mf.hostname, w, st, logf
	return cfg, nil
}

// serve runs h on ln until stop is called.
func serve(ln net.Listener, h http.Handler, logf func(string, ...any)) (stop func()) {
	// No Read/WriteTimeout: the scheduler and agent event streams are
	// long-lived responses. Header and idle timeouts stop slowloris and
	// parked connections; MaxHeaderBytes bounds what a header can cost.
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("master HTTP server: %v", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
}

// start opens the embedded registry under dir and starts a single master:
// its loop and HTTP server. The returned function stops both and closes the
// registry.
func (mf *masterFlags) start(ctx context.Context, dir string, logf func(string, ...any)) (*master.Master, string, func(), error) {
	st, err := openBolt("--data-dir", dir, "registry.db")
	if err != nil {
		return nil, "", nil, err
	}
	ln, err := mf.listener()
	if err != nil {
		st.Close()
		return nil, "", nil, err
	}
	cfg, err := mf.config(st, ln.Addr().String(), logf)
	if err == nil {
		var m *master.Master
		if m, err = master.New(cfg); err == nil {
			loopCtx, stopLoop := context.WithCancel(ctx)
			loopDone := make(chan struct{})
			go func() { m.Run(loopCtx); close(loopDone) }()
			stopHTTP := serve(mf.srv.listen(ln), mf.handler(m.Handler()), logf)
			url := mf.url(cfg.Listen)
			fwCtx, stopFramework := context.WithCancel(ctx)
			fwDone := make(chan struct{})
			go func() { mf.runFrameworks(fwCtx, url, st, logf); close(fwDone) }()
			stop := func() {
				stopFramework()
				<-fwDone
				stopLoop() // closes event streams so the server can drain
				<-loopDone
				stopHTTP()
				st.Close()
			}
			return m, url, stop, nil
		}
	}
	ln.Close()
	st.Close()
	return nil, "", nil, err
}

// runHA runs one of several masters sharing a registry in ZooKeeper; the
// election decides which one leads.
func (mf *masterFlags) runHA(ctx context.Context, logf func(string, ...any)) error {
	if mf.quorum < 1 {
		return fmt.Errorf("--quorum: %d; want the number of masters that must agree, at least 1", mf.quorum)
	}
	st, servers, path, err := openZK(mf.zk, mf.zkSessionTimeout, logf)
	if err != nil {
		return err
	}
	defer st.Close()
	ln, err := mf.listener()
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	cfg, err := mf.config(st, addr, logf)
	if err != nil {
		ln.Close()
		return err
	}
	host := mf.hostname
	if host == "" {
		host, _, _ = net.SplitHostPort(addr)
	}
	_, port, _ := net.SplitHostPort(addr)
	url := mf.url(net.JoinHostPort(host, port))
	el, err := election.Join(ctx, servers, path, mf.zkSessionTimeout, election.Candidate{ID: fmt.Sprintf("%s-%d", addr, os.Getpid()), Address: url}, logf)
	if err != nil {
		ln.Close()
		return fmt.Errorf("joining the leader election at %s: %w", mf.zk, err)
	}
	defer el.Close()
	ha, err := master.NewHA(cfg, electorAdapter{el})
	if err != nil {
		ln.Close()
		return err
	}
	ha.Beside(func(ctx context.Context, _ *master.Master) { mf.runFrameworks(ctx, url, st, logf) })
	stopHTTP := serve(mf.srv.listen(ln), mf.handler(ha), logf)
	defer stopHTTP()
	fmt.Printf("agora master listening on %s, contending for leadership at %s (registry in ZooKeeper under %s/state, quorum %d)\n", url, mf.zk, path, mf.quorum)
	return ha.Run(ctx)
}

func orNotZK(err error, s string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%q is not a zk:// URL", s)
}

// electorAdapter gives master.HA the election's leader address.
type electorAdapter struct{ *election.Election }

func (e electorAdapter) LeaderAddress() (string, bool) {
	c, ok := e.Leader()
	return c.Address, ok && c.Address != ""
}

func runMaster(args []string) error {
	fs := newServerFlags("master")
	var mf masterFlags
	var dataDir string
	mf.register(fs)
	mf.sec.register(fs, true, false)
	fs.str(&dataDir, "data_dir", filepath.Join(defaultDataDir(), "master"), "directory of the embedded registry (single master) and the audit log")
	fs.str(&mf.zk, "zk", "", "ZooKeeper URL for highly available masters, e.g. zk://127.0.0.1:2181/agora")
	fs.int(&mf.quorum, "quorum", 1, "number of masters expected to run with --zk")
	fs.dur(&mf.zkSessionTimeout, "zk_session_timeout", 10*time.Second, "ZooKeeper session timeout; a leader cut off for this long is replaced")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	logf := newLogger("master: ")
	if err := mf.secure("agora master", dataDir, acl.Default(), logf); err != nil {
		return err
	}
	mf.defaultUsers(false)
	defer mf.srv.close()
	if mf.zk != "" {
		return mf.runHA(ctx, logf)
	}
	_, url, stop, err := mf.start(ctx, dataDir, logf)
	if err != nil {
		return err
	}
	fmt.Printf("agora master listening on %s (registry in %s)\n", url, dataDir)
	<-ctx.Done()
	fmt.Println("agora master: stopping")
	stop()
	return nil
}
