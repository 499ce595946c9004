// Package dockertest gives tests a Docker daemon and a tiny local image,
// with nothing fetched from a registry.
//
// Daemon returns a client to the daemon that DOCKER_HOST (or the default
// socket) names. If none answers, it starts `dockerd` in the background,
// logging to a temporary file, and waits up to a minute for it. The daemon
// it starts is deliberately left running when the test process exits, so
// that later test processes (other packages of the same `go test ./...`)
// reuse it instead of each paying for a start; CI machines are thrown away
// afterwards. Starting is serialized across processes with a lock file, so
// parallel test binaries do not race to start two daemons.
//
// BusyboxImage builds agora-test/busybox:1 FROM scratch out of Debian's
// static busybox, once per process, and reuses it when it already exists.
//
// Both helpers fail the test (never skip it) when they cannot deliver, with
// the reason and, for the daemon, the tail of its log.
package dockertest

import (
	"agora/core/containerizer/docker/progress"
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
)

// BusyboxRef is the image BusyboxImage provides.
const BusyboxRef = "agora-test/busybox:1"

// BusyboxBinary is where Debian's busybox-static installs busybox.
const BusyboxBinary = "/bin/busybox"

// startTimeout bounds how long Daemon waits for a dockerd it started.
const startTimeout = 60 * time.Second

// lockPath serializes daemon start-up and image builds across test
// processes.
var lockPath = filepath.Join(os.TempDir(), "agora-dockertest.lock")

// Process-wide memo: the helpers run once per test process by design, so
// that hundreds of tests share one daemon check and one image build.
var (
	daemonMu  sync.Mutex
	daemonCli *client.Client

	imageMu   sync.Mutex
	imageDone bool
)

// Daemon returns a client to a Docker daemon that answers, starting dockerd
// if none does. The client is shared by the whole test process; do not
// close it.
func Daemon(t testing.TB) *client.Client {
	t.Helper()
	daemonMu.Lock()
	defer daemonMu.Unlock()
	if daemonCli != nil {
		return daemonCli
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("dockertest: docker client: %v", err)
	}
	if ping(cli, 3*time.Second) == nil {
		daemonCli = cli
		return cli
	}
	unlock, err := lockFile()
	if err != nil {
		t.Fatalf("dockertest: %v", err)
	}
	defer unlock()
	// Another test process may have started one while we waited for the
	// lock.
	if ping(cli, 3*time.Second) == nil {
		daemonCli = cli
		return cli
	}
	if _, err := startDaemon(cli, false); err != nil {
		t.Fatalf("dockertest: no Docker daemon answers at %s and starting one failed: %v", cli.DaemonHost(), err)
	}
	daemonCli = cli
	return cli
}

func ping(cli *client.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := cli.Ping(ctx)
	return err
}

// daemonProc is a dockerd this package started.
type daemonProc struct {
	cmd     *exec.Cmd
	exited  <-chan error // receives Wait's result once
	logPath string
}

// startDaemon runs dockerd with args in its own session, so that it
// survives the test process (see the package comment), and waits for cli
// to get an answer from it. With ownNetNS the daemon gets a network
// namespace of its own: a second daemon on a host must not touch the
// host's docker0 bridge or firewall rules, which belong to the first.
func startDaemon(cli *client.Client, ownNetNS bool, args ...string) (*daemonProc, error) {
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		// sbin is often missing from a non-login PATH.
		if _, serr := os.Stat("/usr/sbin/dockerd"); serr != nil {
			return nil, fmt.Errorf("dockerd not found (install docker.io): %w", err)
		}
		bin = "/usr/sbin/dockerd"
	}
	logFile, err := os.CreateTemp("", "agora-dockerd-*.log")
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if ownNetNS {
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNET
	}
	// dockerd needs the sbin tools (iptables, modprobe) on its PATH.
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/local/sbin:/usr/sbin:/sbin")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	d := &daemonProc{cmd: cmd, exited: exited, logPath: logFile.Name()}

	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		if ping(cli, 2*time.Second) == nil {
			return d, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("dockerd exited (%v); log %s ends:\n%s", err, d.logPath, tail(d.logPath, 30))
		case <-time.After(250 * time.Millisecond):
		}
	}
	// A daemon that never answered would only hold the pid file.
	_ = cmd.Process.Kill()
	return nil, fmt.Errorf("dockerd did not answer within %v; log %s ends:\n%s", startTimeout, d.logPath, tail(d.logPath, 30))
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lockFile takes the cross-process lock and returns its release.
func lockFile() (func(), error) {
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// BusyboxImage makes sure agora-test/busybox:1 exists and returns its
// reference. The image holds /bin/busybox and its applets as symlinks in
// /bin (sh, httpd, nc, sleep, tail...).
func BusyboxImage(t testing.TB, cli *client.Client) string {
	t.Helper()
	imageMu.Lock()
	defer imageMu.Unlock()
	if imageDone {
		return BusyboxRef
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if exists, err := imageExists(ctx, cli, BusyboxRef); err != nil {
		t.Fatalf("dockertest: %v", err)
	} else if !exists {
		unlock, err := lockFile()
		if err != nil {
			t.Fatalf("dockertest: %v", err)
		}
		defer unlock()
		if exists, err = imageExists(ctx, cli, BusyboxRef); err != nil {
			t.Fatalf("dockertest: %v", err)
		} else if !exists {
			if err := BuildBusybox(ctx, cli, BusyboxRef); err != nil {
				t.Fatalf("dockertest: %v", err)
			}
		}
	}
	imageDone = true
	return BusyboxRef
}

func imageExists(ctx context.Context, cli *client.Client, ref string) (bool, error) {
	_, err := cli.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("inspect image %s: %w", ref, err)
}

// busyboxDockerfile installs the applets as symlinks with busybox itself:
// the image has no shell before that.
const busyboxDockerfile = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["/bin/sh"]
`

// BuildBusybox builds the busybox image under ref through the Engine API,
// replacing any image of that name. BusyboxImage is what tests want; this
// is exported for tests of the build itself.
func BuildBusybox(ctx context.Context, cli *client.Client, ref string) error {
	bin, err := staticBusybox()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := add("Dockerfile", 0o644, []byte(busyboxDockerfile)); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	if err := add("busybox", 0o755, bin); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{
		Tags:        []string{ref},
		Remove:      true,
		ForceRemove: true,
		// The classic builder needs no BuildKit session.
		Version: build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("build %s: %w", ref, err)
	}
	defer resp.Body.Close()
	if err := progress.Error(resp.Body); err != nil {
		return fmt.Errorf("build %s: %w", ref, err)
	}
	return nil
}

// staticBusybox reads Debian's busybox-static binary. A dynamically linked
// busybox (the plain busybox package) would not run in an empty image.
func staticBusybox() ([]byte, error) {
	const hint = "install busybox-static (apt-get install busybox-static)"
	f, err := elf.Open(BusyboxBinary)
	if err != nil {
		return nil, fmt.Errorf("%s: %v; %s", BusyboxBinary, err, hint)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("%s is dynamically linked; %s", BusyboxBinary, hint)
		}
	}
	b, err := os.ReadFile(BusyboxBinary)
	if err != nil {
		return nil, fmt.Errorf("%s: %v; %s", BusyboxBinary, err, hint)
	}
	return b, nil
}
