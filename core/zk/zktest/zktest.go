// Package zktest runs a real, standalone ZooKeeper for tests: Debian's
// zookeeper package (3.8) started with the machine's java on a free loopback
// port, with a temporary data directory.
//
// Contract:
//   - Start returns once the server answers on its port (waiting up to
//     StartTimeout) and stops it when the test ends. A missing java or
//     ZooKeeper, or a server that will not come up, fails the test with the
//     tail of the server's log; it never skips, because a test that silently
//     skips its real component proves nothing.
//   - Stop kills the server (SIGKILL, as a crash would) and keeps its data;
//     Restart brings it back on the same port and data directory, so clients
//     configured with Addr reconnect and find their data.
//   - Proxy puts a cuttable TCP forwarder in front of the server, to
//     partition one client (say, the leading master) while others still
//     reach ZooKeeper.
//   - The server is tuned for tests: a 500 ms tick, session timeouts allowed
//     from 1 s to 60 s, and no fsync (forceSync=no): killing the process
//     loses nothing written before the kill; only a machine crash would.
//     Its network I/O runs on the selector thread
//     (zookeeper.nio.numWorkerThreads=0) and it uses the serial collector:
//     on a small, shared test machine the thread hand-offs of the default
//     pipeline cost more than they bring (about 3x the CPU per request).
package zktest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// StartTimeout bounds how long Start and Restart wait for the server
	// to answer.
	StartTimeout = 60 * time.Second
	// Java is the runtime used to start the server.
	Java = "java"
	// JarDir holds Debian's zookeeper jars and their logging dependencies.
	JarDir = "/usr/share/java"
)

// jars are what a standalone server needs on Debian 12: the server itself
// (jute is bundled in it) and slf4j routed to log4j 1.2.
var jars = []string{"zookeeper.jar", "slf4j-api.jar", "log4j-1.2.jar", "slf4j-log4j12.jar"}

const log4jProperties = `log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] %m%n
`

// Server is one running (or stopped) standalone ZooKeeper.
type Server struct {
	t       testing.TB
	dir     string // config and log
	dataDir string
	port    int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start starts a ZooKeeper server for the test and registers its shutdown
// with t.Cleanup. It fails the test if the server cannot be started.
func Start(t testing.TB) *Server {
	t.Helper()
	if err := checkInstalled(); err != nil {
		t.Fatalf("zktest: %v", err)
	}
	s := &Server{t: t, dir: t.TempDir()}
	s.dataDir = filepath.Join(s.dir, "data")
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		t.Fatalf("zktest: %v", err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "log4j.properties"), []byte(log4jProperties), 0o644); err != nil {
		t.Fatalf("zktest: %v", err)
	}
	t.Cleanup(s.Stop)
	// A free port can be taken by someone else between our probe and the
	// server's bind; try a few.
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if s.port, err = freePort(); err != nil {
			t.Fatalf("zktest: %v", err)
		}
		if err = s.start(); err == nil {
			return s
		}
		s.Stop()
		if !strings.Contains(s.logTail(), "Address already in use") {
			break
		}
	}
	t.Fatalf("zktest: %v\n--- zookeeper log tail ---\n%s", err, s.logTail())
	return nil
}

// Addr is the client address, "127.0.0.1:port".
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// Servers is Addr as the server list ZooKeeper clients take.
func (s *Server) Servers() []string { return []string{s.Addr()} }

// URL is a zk:// URL for path on this server, as masters and agents take it.
func (s *Server) URL(path string) string { return "zk://" + s.Addr() + path }

// Stop kills the server and waits for it to exit; its data stays. Stopping
// a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart starts a stopped server again on the same port and data
// directory (stopping it first if it is running) and waits until it
// answers. It fails the test if it cannot.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	// The old process's listening socket is gone once it has exited, but
	// give the bind a few tries in case the kernel is slow to release it.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		s.Stop()
		if !strings.Contains(s.logTail(), "Address already in use") {
			break
		}
		time.Sleep(time.Second)
	}
	s.t.Fatalf("zktest: restart: %v\n--- zookeeper log tail ---\n%s", err, s.logTail())
}

func (s *Server) logPath() string { return filepath.Join(s.dir, "zookeeper.log") }

// start launches the server process and waits for it to answer.
func (s *Server) start() error {
	cfg := strings.Join([]string{
		"tickTime=500",
		"dataDir=" + s.dataDir,
		"clientPortAddress=127.0.0.1",
		fmt.Sprintf("clientPort=%d", s.port),
		"admin.enableServer=false",
		"minSessionTimeout=1000",
		"maxSessionTimeout=60000",
		"forceSync=no",
		"4lw.commands.whitelist=srvr,ruok",
		"",
	}, "\n")
	cfgPath := filepath.Join(s.dir, "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	logFile, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "=== zktest: starting on port %d at %s\n", s.port, time.Now().Format(time.RFC3339Nano))

	cp := []string{s.dir}
	for _, j := range jars {
		cp = append(cp, filepath.Join(JarDir, j))
	}
	cmd := exec.Command(Java,
		"-Xms32m", "-Xmx512m",
		"-XX:+UseSerialGC",
		"-Dzookeeper.admin.enableServer=false",
		"-Dzookeeper.nio.numWorkerThreads=0",
		"-cp", strings.Join(cp, ":"),
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = s.dir
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", Java, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(StartTimeout)
	for {
		if ok, _ := s.answers(); ok {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("zookeeper on port %d exited during startup (%v)", s.port, cmd.ProcessState)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("zookeeper on port %d did not answer within %v", s.port, StartTimeout)
		}
	}
}

// answers reports whether the server serves requests: "ruok" alone is
// answered before the database is loaded, "srvr" only once it serves.
func (s *Server) answers() (bool, error) {
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return false, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("srvr")); err != nil {
		return false, err
	}
	var out bytes.Buffer
	_, _ = out.ReadFrom(c)
	return strings.Contains(out.String(), "Mode: standalone"), nil
}

// logTail returns the last lines of the server's log, for failure messages.
func (s *Server) logTail() string {
	f, err := os.Open(s.logPath())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	const keep = 40
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > keep {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// checkInstalled names what is missing, so a failing test says what to
// install rather than why java crashed.
func checkInstalled() error {
	if _, err := exec.LookPath(Java); err != nil {
		return fmt.Errorf("java not found (install Debian's default-jre-headless, or run deploy/deps.sh): %w", err)
	}
	var missing []string
	for _, j := range jars {
		if _, err := os.Stat(filepath.Join(JarDir, j)); err != nil {
			missing = append(missing, j)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s in %s (install Debian's zookeeper package, or run deploy/deps.sh)",
			strings.Join(missing, ", "), JarDir)
	}
	return nil
}

// freePort picks a free port below the kernel's ephemeral range (Linux
// hands out 32768 and up for port-0 binds), so that while a server is
// stopped for Restart, no other test's ephemeral socket can take its port.
func freePort() (int, error) {
	for attempt := 0; attempt < 100; attempt++ {
		port := 20000 + rand.IntN(10000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, errors.New("find a free port: none free in 20000-29999")
}
