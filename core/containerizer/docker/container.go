package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"agora/core/containerizer"
)

// logDrainTimeout is how long the end of a task waits for the daemon to end
// the followed log stream of an exited container before reading the rest
// without following.
const logDrainTimeout = 10 * time.Second

// maxRetryDelay caps the back-off between attempts to reach a daemon that
// stopped answering while a container runs.
const maxRetryDelay = 5 * time.Second

// dockerContainer is one launched (or recovered) task container.
type dockerContainer struct {
	cz       *Containerizer
	id       string // Agora's ContainerID
	dockerID string
	name     string
	pid      int
	limitMB  float64
	sinks    *logSink
	done     chan struct{}

	mu           sync.Mutex
	ended        bool // the container has stopped; Kill is moot
	killed       bool
	killDeadline time.Time
	killTimer    *time.Timer
	exit         containerizer.Exit
}

var (
	_ containerizer.Container = (*dockerContainer)(nil)
	_ containerizer.Execer    = (*dockerContainer)(nil)
)

func newContainer(cz *Containerizer, spec containerizer.Spec, dockerID, name string, pid int, sinks *logSink) *dockerContainer {
	return &dockerContainer{
		cz:       cz,
		id:       spec.ContainerID,
		dockerID: dockerID,
		name:     name,
		pid:      pid,
		limitMB:  spec.Limits.Mem,
		sinks:    sinks,
		done:     make(chan struct{}),
	}
}

// PID is the host pid of the container's init process (0 if unknown).
func (d *dockerContainer) PID() int { return d.pid }

// DockerID is the container's Docker id.
func (d *dockerContainer) DockerID() string { return d.dockerID }

func (d *dockerContainer) Done() <-chan struct{} { return d.done }

// Exit is valid once Done is closed.
func (d *dockerContainer) Exit() containerizer.Exit {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.exit
}

// Kill stops the container as `docker stop -t grace` does: its stop signal
// (SIGTERM unless the image or task says otherwise), then SIGKILL after
// grace, rounded up to whole seconds as Docker counts them. A later Kill
// with a shorter grace brings the SIGKILL forward.
func (d *dockerContainer) Kill(grace time.Duration) {
	grace = max(0, grace)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ended {
		return
	}
	deadline := time.Now().Add(grace)
	if !d.killed {
		d.killed = true
		d.killDeadline = deadline
		go d.stop(grace)
		return
	}
	if deadline.Before(d.killDeadline) {
		d.killDeadline = deadline
		if d.killTimer != nil {
			d.killTimer.Stop()
		}
		d.killTimer = time.AfterFunc(grace, d.forceKill)
	}
}

func (d *dockerContainer) stop(grace time.Duration) {
	secs := int(math.Ceil(grace.Seconds()))
	ctx, cancel := context.WithTimeout(context.Background(), grace+apiTimeout)
	defer cancel()
	err := d.cz.cli.ContainerStop(ctx, d.dockerID, container.StopOptions{Timeout: &secs})
	if err != nil && !cerrdefs.IsNotFound(err) {
		d.cz.logf("docker containerizer: %s: stop: %v", d.id, err)
	}
}

func (d *dockerContainer) forceKill() {
	d.mu.Lock()
	ended := d.ended
	d.mu.Unlock()
	if ended {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	err := d.cz.cli.ContainerKill(ctx, d.dockerID, "KILL")
	if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
		d.cz.logf("docker containerizer: %s: kill: %v", d.id, err)
	}
}

// run follows the container until it ends, then collects its exit, copies
// the rest of its output, removes it and closes done. since is where output
// copying resumes (zero: from the container's first line). If the
// containerizer is closed first, run returns leaving the container alone
// and done open. The caller has added run to cz.watchers.
func (d *dockerContainer) run(since time.Time) {
	defer d.cz.watchers.Done()
	ctx, cancel := context.WithCancel(d.cz.ctx)
	defer cancel()
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		d.followLogs(ctx, since)
	}()
	detach := func() {
		cancel()
		<-logsDone
		if err := d.sinks.close(); err != nil {
			d.cz.logf("docker containerizer: %s: %v", d.id, err)
		}
	}

	state, gone, err := d.waitStopped(ctx)
	if err != nil {
		detach()
		return
	}
	d.mu.Lock()
	d.ended = true
	if d.killTimer != nil {
		d.killTimer.Stop()
	}
	killed := d.killed
	d.mu.Unlock()

	// The followed stream ends once the daemon has drained the container's
	// output; a last unfollowed read then catches anything a broken
	// stream missed (the sinks drop what they already have).
	timer := time.NewTimer(logDrainTimeout)
	select {
	case <-logsDone:
	case <-timer.C:
		d.cz.logf("docker containerizer: %s: log stream did not end %v after the container; reading the rest", d.id, logDrainTimeout)
	}
	timer.Stop()
	if !gone {
		if err := d.copyLogs(ctx, false); err != nil {
			d.cz.logf("docker containerizer: %s: copy output: %v", d.id, err)
		}
	}
	if ctx.Err() != nil {
		// Closed before the container was collected: a later Recover
		// collects it.
		detach()
		return
	}
	cancel()
	<-logsDone

	var exit containerizer.Exit
	if gone {
		exit = containerizer.Exit{Code: -1, Killed: killed,
			Message: fmt.Sprintf("Container %s was removed before its exit status could be read", d.name)}
	} else {
		exit = describeExit(state, killed, d.limitMB)
		d.cz.removeQuietly(d.dockerID, d.id)
	}
	if err := d.sinks.close(); err != nil {
		d.cz.logf("docker containerizer: %s: %v", d.id, err)
	}
	d.mu.Lock()
	d.exit = exit
	d.mu.Unlock()
	close(d.done)
}

// waitStopped blocks until the container is not running and returns its
// state, or gone=true if it no longer exists. A daemon that stops answering
// is retried with back-off: the container may well outlive the hiccup. The
// error is ctx's, when it ends first.
func (d *dockerContainer) waitStopped(ctx context.Context) (state *container.State, gone bool, err error) {
	delay := 100 * time.Millisecond
	for {
		okCh, errCh := d.cz.cli.ContainerWait(ctx, d.dockerID, container.WaitConditionNotRunning)
		var err error
		select {
		case <-okCh:
		case err = <-errCh:
		}
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		if err != nil && cerrdefs.IsNotFound(err) {
			return nil, true, nil
		}
		if err == nil {
			ictx, cancel := context.WithTimeout(ctx, apiTimeout)
			var info container.InspectResponse
			info, err = d.cz.cli.ContainerInspect(ictx, d.dockerID)
			cancel()
			switch {
			case err != nil && cerrdefs.IsNotFound(err):
				return nil, true, nil
			case err == nil && info.State != nil && !isLive(info.State):
				return info.State, false, nil
			}
		}
		if err != nil && ctx.Err() == nil {
			d.cz.logf("docker containerizer: %s: waiting for the container: %v (retrying in %v)", d.id, err, delay)
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, maxRetryDelay)
	}
}

// followLogs copies the container's output as it comes until the container
// stops or ctx ends, reopening the stream where it broke off if the daemon
// drops it while the container still runs.
func (d *dockerContainer) followLogs(ctx context.Context, since time.Time) {
	delay := 100 * time.Millisecond
	for first := true; ; first = false {
		var err error
		if first && since.IsZero() {
			err = d.copyFrom(ctx, time.Time{}, true)
		} else {
			err = d.copyLogs(ctx, true)
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			// A followed stream ends cleanly when the container stops.
			return
		}
		d.cz.logf("docker containerizer: %s: output stream: %v (retrying in %v)", d.id, err, delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, maxRetryDelay)
	}
}

// copyLogs copies output from where the sandbox files left off.
func (d *dockerContainer) copyLogs(ctx context.Context, follow bool) error {
	since, err := d.sinks.since()
	if err != nil {
		return err
	}
	return d.copyFrom(ctx, since, follow)
}

func (d *dockerContainer) copyFrom(ctx context.Context, since time.Time, follow bool) error {
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: follow}
	if !since.IsZero() {
		opts.Since = since.UTC().Format(time.RFC3339Nano)
	}
	if !follow {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, apiTimeout)
		defer cancel()
	}
	rc, err := d.cz.cli.ContainerLogs(ctx, d.dockerID, opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	return d.sinks.consume(rc)
}

// describeExit turns the state of a stopped container into the Exit a user
// sees, with the process containerizer's messages.
func describeExit(s *container.State, killed bool, limitMB float64) containerizer.Exit {
	e := containerizer.Exit{Code: s.ExitCode, Killed: killed}
	switch {
	case s.Status == container.StateCreated:
		e.Code = -1
		e.Message = "Container was created but never started"
	default:
		e.Message = fmt.Sprintf("Command exited with status %d", e.Code)
	}
	if s.Error != "" {
		e.Message += ": " + s.Error
	}
	if s.OOMKilled {
		e.OOM = true
		if limitMB > 0 {
			e.Message = fmt.Sprintf("Memory limit exceeded: requested %s MB (%s)", formatMB(limitMB), e.Message)
		} else {
			e.Message = fmt.Sprintf("Memory limit exceeded (%s)", e.Message)
		}
	}
	return e
}

func formatMB(mb float64) string { return strings.TrimSuffix(fmt.Sprintf("%.1f", mb), ".0") }

// Exec runs argv inside the container, with env added to the container's
// environment, and returns its exit code. Its output is discarded.
func (d *dockerContainer) Exec(ctx context.Context, argv []string, env []string) (int, error) {
	if len(argv) == 0 {
		return -1, errors.New("exec: empty command")
	}
	created, err := d.cz.cli.ContainerExecCreate(ctx, d.dockerID, container.ExecOptions{
		Cmd: argv, Env: env, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return -1, fmt.Errorf("exec %q in %s: %w", argv[0], d.name, err)
	}
	hj, err := d.cz.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return -1, fmt.Errorf("exec %q in %s: attach: %w", argv[0], d.name, err)
	}
	stop := context.AfterFunc(ctx, hj.Close)
	_, copyErr := io.Copy(io.Discard, hj.Reader)
	stop()
	hj.Close()
	if err := ctx.Err(); err != nil {
		return -1, fmt.Errorf("exec %q in %s: %w", argv[0], d.name, err)
	}
	if copyErr != nil {
		return -1, fmt.Errorf("exec %q in %s: output: %w", argv[0], d.name, copyErr)
	}
	// The stream can end a moment before the daemon records the exit code.
	delay := 5 * time.Millisecond
	for {
		info, err := d.cz.cli.ContainerExecInspect(ctx, created.ID)
		if err != nil {
			return -1, fmt.Errorf("exec %q in %s: inspect: %w", argv[0], d.name, err)
		}
		if !info.Running {
			return info.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("exec %q in %s: %w", argv[0], d.name, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}
