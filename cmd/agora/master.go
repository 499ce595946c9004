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
	"syscall"
	"time"

	"agora/core/master"
	"agora/core/store/boltstore"
)

type masterFlags struct {
	listen, hostname, dataDir, weights string
	cfg                                master.Config
}

func (mf *masterFlags) register(fs serverFlags) {
	fs.str(&mf.listen, "listen", "127.0.0.1:5050", "HTTP address of the master")
	fs.str(&mf.hostname, "hostname", "", "hostname the master advertises (default: the listen host)")
	fs.str(&mf.weights, "weights", "", "role weights for DRF, e.g. web=2,batch=1")
	fs.dur(&mf.cfg.AllocationInterval, "allocation_interval", time.Second, "time between allocation cycles")
	fs.dur(&mf.cfg.OfferTimeout, "offer_timeout", 60*time.Second, "outstanding offers are rescinded after this")
	fs.dur(&mf.cfg.AgentPingTimeout, "agent_ping_timeout", 15*time.Second, "time an agent has to answer a ping")
	fs.int(&mf.cfg.MaxAgentPingTimeouts, "max_agent_ping_timeouts", 5, "missed pings before an agent is marked unreachable")
	fs.dur(&mf.cfg.AgentReregisterTimeout, "agent_reregister_timeout", 10*time.Minute, "time agents have to re-register after a master restart")
	fs.dur(&mf.cfg.AgentRemovalTimeout, "agent_removal_timeout", time.Hour, "unreachable agents are removed for good after this")
	fs.dur(&mf.cfg.HeartbeatInterval, "heartbeat_interval", 15*time.Second, "interval of HEARTBEAT events to frameworks")
}

// start opens the registry under dir and starts the master's loop and HTTP
// server. The returned function stops both and closes the registry.
func (mf *masterFlags) start(ctx context.Context, dir string, logf func(string, ...any)) (*master.Master, string, func(), error) {
	w, err := parseWeights(mf.weights)
	if err != nil {
		return nil, "", nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", nil, fmt.Errorf("--data-dir: %w", err)
	}
	st, err := boltstore.Open(filepath.Join(dir, "registry.db"))
	if err != nil {
		return nil, "", nil, fmt.Errorf("opening the registry in %s: %w", dir, err)
	}
	cfg := mf.cfg
	cfg.Listen, cfg.Hostname, cfg.Weights, cfg.Store, cfg.Logf = mf.listen, mf.hostname, w, st, logf
	ln, err := net.Listen("tcp", mf.listen)
	if err != nil {
		st.Close()
		return nil, "", nil, fmt.Errorf("master: --listen %s: %w", mf.listen, err)
	}
	cfg.Listen = ln.Addr().String()
	m, err := master.New(cfg)
	if err != nil {
		ln.Close()
		st.Close()
		return nil, "", nil, err
	}
	loopCtx, stopLoop := context.WithCancel(ctx)
	loopDone := make(chan struct{})
	go func() { m.Run(loopCtx); close(loopDone) }()
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("master HTTP server: %v", err)
		}
	}()
	stop := func() {
		stopLoop() // closes event streams so the server can drain
		<-loopDone
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(sctx)
		cancel()
		st.Close()
	}
	return m, "http://" + cfg.Listen, stop, nil
}

func runMaster(args []string) error {
	fs := newServerFlags("master")
	var mf masterFlags
	var dataDir string
	mf.register(fs)
	fs.str(&dataDir, "data_dir", filepath.Join(defaultDataDir(), "master"), "directory of the embedded registry")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	logf := newLogger("master: ")
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
