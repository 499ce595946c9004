package dockertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

func TestDaemonAnswers(t *testing.T) {
	cli := Daemon(t)
	if err := ping(cli, 10*time.Second); err != nil {
		t.Fatalf("Daemon returned a client whose daemon does not answer: %v", err)
	}
	if Daemon(t) != cli {
		t.Fatal("a second Daemon call in the same process returned a different client")
	}
}

// TestStartDaemon starts a private dockerd, as Daemon does when none
// answers, and stops it again. It has its own socket, directories and
// network namespace so that it cannot disturb the shared daemon: a second
// dockerd in the host's network namespace rewires (or, with --bridge none,
// deletes) the shared docker0 bridge.
func TestStartDaemon(t *testing.T) {
	Daemon(t)                       // fails early with a clear message if docker is not installed
	t.Setenv("TMPDIR", t.TempDir()) // for the daemon's log
	dir, err := os.MkdirTemp("", "agora-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := "unix://" + filepath.Join(dir, "docker.sock")
	cli, err := client.NewClientWithOpts(client.WithHost(sock), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if ping(cli, time.Second) == nil {
		t.Fatal("something already answers on a fresh socket path")
	}
	d, err := startDaemon(cli, true,
		"-H", sock,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(60 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.exited
			t.Errorf("private dockerd did not stop within 60s of SIGTERM")
		}
	}()
	v, err := cli.ServerVersion(context.Background())
	if err != nil {
		t.Fatalf("started daemon does not answer: %v", err)
	}
	if v.APIVersion == "" {
		t.Fatalf("started daemon reports no API version: %+v", v)
	}
}

func TestStartDaemonFailureShowsLog(t *testing.T) {
	Daemon(t)
	t.Setenv("TMPDIR", t.TempDir()) // for the daemon's log
	cli, err := client.NewClientWithOpts(client.WithHost("unix://"+filepath.Join(t.TempDir(), "none.sock")), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	_, err = startDaemon(cli, true, "--no-such-flag")
	if err == nil {
		t.Fatal("dockerd with a bad flag reported started")
	}
	if !strings.Contains(err.Error(), "dockerd exited") || !strings.Contains(err.Error(), "no-such-flag") {
		t.Fatalf("error should say dockerd exited and show its log mentioning the bad flag, got: %v", err)
	}
}

func TestBusyboxImageRuns(t *testing.T) {
	cli := Daemon(t)
	ref := BusyboxImage(t, cli)
	if ref != BusyboxRef {
		t.Fatalf("ref = %q, want %q", ref, BusyboxRef)
	}
	out := runOnce(t, cli, ref, "echo hello from $(busybox | head -1 | cut -d' ' -f1)")
	if !strings.Contains(out, "hello from BusyBox") {
		t.Fatalf("container output %q, want a greeting from BusyBox", out)
	}
}

// TestBuildBusybox builds the image under a throwaway tag, so that the
// build itself is exercised even where the shared image already exists.
func TestBuildBusybox(t *testing.T) {
	cli := Daemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ref := fmt.Sprintf("agora-test/busybox-build:%d", os.Getpid())
	if err := BuildBusybox(ctx, cli, ref); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	for _, applet := range []string{"sh", "httpd", "nc", "sleep", "tail"} {
		out := runOnce(t, cli, ref, "readlink /bin/"+applet)
		if strings.TrimSpace(out) != "/bin/busybox" {
			t.Errorf("/bin/%s links to %q, want /bin/busybox", applet, strings.TrimSpace(out))
		}
	}
}

// runOnce runs a shell command in a throwaway container and returns its
// output.
func runOnce(t *testing.T, cli *client.Client, ref, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: ref, Cmd: []string{"/bin/sh", "-c", script}}, &container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	okCh, errCh := cli.ContainerWait(ctx, c.ID, container.WaitConditionNotRunning)
	select {
	case r := <-okCh:
		if r.StatusCode != 0 {
			t.Fatalf("%q exited with %d", script, r.StatusCode)
		}
	case err := <-errCh:
		t.Fatal(err)
	}
	rc, err := cli.ContainerLogs(ctx, c.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var sb strings.Builder
	if _, err := stdcopy.StdCopy(&sb, &sb, rc); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}
