package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// runDev starts a master and one agent in one process: a whole cluster on
// one machine, state kept under --data-dir.
func runDev(args []string) error {
	fs := newServerFlags("dev")
	var mf masterFlags
	var af agentFlags
	var l lbFlags
	var dataDir, lbMode string
	mf.register(fs)
	mf.sec.register(fs, false, false)
	af.register(fs, "127.0.0.1:5051")
	l.register(fs, "lb_", "")
	fs.str(&dataDir, "data_dir", filepath.Join(defaultDataDir(), "dev"), "directory for the registry and the agent's sandboxes")
	fs.str(&lbMode, "lb", "auto", "run a load balancer in front of the services: auto (when haproxy is on the PATH), on or off")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if lbMode != "auto" && lbMode != "on" && lbMode != "off" {
		return fmt.Errorf("--lb %q: want auto, on or off", lbMode)
	}
	if l.dir == "" {
		l.dir = filepath.Join(dataDir, "lb")
	}
	if !mf.sec.authenticate && mf.sec.credentials == "" && (!isLoopback(mf.listen) || !isLoopback(af.listen)) {
		return fmt.Errorf("agora dev serves without authentication only on loopback: --listen %s, --agent_listen %s; give --credentials FILE, or listen on 127.0.0.1", mf.listen, af.listen)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	logf := newLogger("")
	if err := mf.secure("agora dev", filepath.Join(dataDir, "master"), nil, logf); err != nil {
		return err
	}
	defer mf.srv.close()
	mf.defaultUsers(true)
	_, url, stopMaster, err := mf.start(ctx, filepath.Join(dataDir, "master"), logf)
	if err != nil {
		return err
	}
	defer stopMaster()
	lbLine := "off (--lb on, or install haproxy)"
	if lbMode == "on" || (lbMode == "auto" && mf.services.enabled && haproxyAvailable()) {
		reg, err := mf.services.registry(ctx, logf)
		if err != nil {
			return err
		}
		lbCtx, stopLB := context.WithCancel(context.Background())
		lbDone := make(chan struct{})
		go func() {
			defer close(lbDone)
			if err := l.run(lbCtx, reg, nil, mf.srv, logf); err != nil && lbCtx.Err() == nil {
				logf("lb: %v", err)
			}
		}()
		defer func() { stopLB(); <-lbDone }()
		lbLine = fmt.Sprintf("HAProxy on %s: each app's service port, HTTP virtual hosts on :%d, stats on :%d", l.bind, l.httpPort, l.statsPort)
	}
	a, err := af.build(url, filepath.Join(dataDir, "agent"), mf.srv, mf.srv.internalClient().Transport, logf)
	if err != nil {
		return err
	}
	agentCtx, stopAgent := context.WithCancel(context.Background())
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Run(agentCtx) }()
	fmt.Printf(`agora dev is running
  master      %[1]s   (scheduler API %[1]s/api/v1/scheduler, operator API %[1]s/api/v1, metrics %[1]s/metrics)
  agent       %[6]s://%[2]s
  data dir    %[3]s
  services    %[1]s/v2   (Marathon API: agora app deploy -f app.json)
  lb          %[4]s
  security    %[5]s
  try         agora agents; agora frameworks; agora tasks; agora app list
Ctrl-C stops it and leaves running tasks running; starting it again recovers the stored state and the tasks.
`, url, af.listen, dataDir, lbLine, mf.srv.describe(), mf.srv.scheme())
	select {
	case <-ctx.Done():
	case err := <-agentDone:
		stopAgent()
		return fmt.Errorf("agent stopped: %w", err)
	}
	fmt.Println("agora dev: stopping")
	stopAgent()
	if err := <-agentDone; err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	fmt.Printf("agora dev: stopped; running tasks keep running and are recovered when agora dev starts again with --data_dir %s\n", dataDir)
	return nil
}
