package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"agora/core/containerizer"
)

// Files of a container's runtime directory, RuntimeDir/<ContainerID>/.
// launch.json and shim.json are written by the containerizer, task.json,
// outcome.json by the shim, kill.json by Kill and Destroy.
const (
	launchFile  = "launch.json"  // what the shim runs (launchRecord)
	shimFile    = "shim.json"    // the shim's pid and start time
	taskFile    = "task.json"    // the task's pid and start time
	killFile    = "kill.json"    // a kill request: the SIGKILL deadline
	outcomeFile = "outcome.json" // how the task ended (outcomeRecord)
	shimLogFile = "shim.log"     // the shim's own stdout and stderr
)

// launchRecord is everything the shim needs to start the task, and what a
// restarted containerizer needs to Exec in it or Destroy it.
type launchRecord struct {
	ContainerID string        `json:"container_id"`
	AgentID     string        `json:"agent_id"`
	Path        string        `json:"path"`
	Argv        []string      `json:"argv"`
	Env         []string      `json:"env"`
	Dir         string        `json:"dir"`
	Cred        *credRecord   `json:"cred,omitempty"`
	Cgroup      *cgroupRecord `json:"cgroup,omitempty"`
	LimitMB     float64       `json:"limit_mb,omitempty"`
}

type credRecord struct {
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
}

func (c *credRecord) credential() *syscall.Credential {
	if c == nil {
		return nil
	}
	return &syscall.Credential{Uid: c.UID, Gid: c.GID, Groups: c.Groups}
}

func credOf(c *syscall.Credential) *credRecord {
	if c == nil {
		return nil
	}
	return &credRecord{UID: c.Uid, GID: c.Gid, Groups: c.Groups}
}

// cgroupRecord is a taskCgroup on disk.
type cgroupRecord struct {
	Version int               `json:"version"`
	Dirs    []cgroupDirRecord `json:"dirs"`
}

type cgroupDirRecord struct {
	Controller string `json:"controller,omitempty"`
	Mount      string `json:"mount"`
	Path       string `json:"path"`
}

func (t *taskCgroup) record() *cgroupRecord {
	if t == nil {
		return nil
	}
	r := &cgroupRecord{Version: t.version}
	for _, d := range t.dirs {
		r.Dirs = append(r.Dirs, cgroupDirRecord{d.controller, d.mount, d.path})
	}
	return r
}

func (r *cgroupRecord) taskCgroup() *taskCgroup {
	if r == nil || len(r.Dirs) == 0 {
		return nil
	}
	t := &taskCgroup{version: r.Version}
	for _, d := range r.Dirs {
		t.dirs = append(t.dirs, cgroupDir{controller: d.Controller, mount: d.Mount, path: d.Path})
	}
	return t
}

// procRecord identifies a process across pid reuse: a pid plus its start
// time in clock ticks since boot (field 22 of /proc/<pid>/stat).
type procRecord struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// killRecord is a kill request. The deadline is absolute so that repeated
// requests and a restarted agent agree on when SIGKILL is due.
type killRecord struct {
	DeadlineUnixNano int64 `json:"deadline_unix_nano"`
}

// outcomeRecord is how the task ended, as the shim saw it.
type outcomeRecord struct {
	Code    int       `json:"code"`
	Signal  int       `json:"signal,omitempty"`
	Killed  bool      `json:"killed,omitempty"`
	OOM     bool      `json:"oom,omitempty"`
	Message string    `json:"message"`
	Ended   time.Time `json:"ended"`
}

func (o outcomeRecord) exit() containerizer.Exit {
	return containerizer.Exit{Code: o.Code, Signal: o.Signal, Killed: o.Killed, OOM: o.OOM, Message: o.Message}
}

// writeJSON replaces file atomically (temporary file, then rename), so a
// reader never sees half a record, even if the writer dies. There is no
// fsync: runtime files only need to survive the agent's death, not the
// host's (a reboot ends every task anyway, which the boot id detects).
func writeJSON(file string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(file), err)
	}
	tmp := file + ".tmp." + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func readJSON(file string, v any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// procStat reads pid's start time and state letter from /proc/<pid>/stat.
func procStat(pid int) (start uint64, state byte, err error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may contain spaces and parentheses; the
	// fields after its closing parenthesis are plain.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: starttime: %w", pid, err)
	}
	return start, fields[0][0], nil
}

// running reports whether p still names a live process: same pid, same
// start time, not a zombie (an exited process whose parent has not reaped
// it, which orphaned shims can stay forever where PID 1 does not reap).
func (p procRecord) running() bool {
	if p.PID <= 0 {
		return false
	}
	start, state, err := procStat(p.PID)
	return err == nil && start == p.Start && state != 'Z'
}

// readBootID identifies the current boot: processes recorded under another
// boot id are gone, whatever their pids now name.
func readBootID() string {
	raw, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(raw))
}

// errGone means a recorded process no longer exists.
var errGone = errors.New("process has exited")

// pidHandle refers to one process without the pid-reuse race: through a
// pidfd where the kernel has them (Linux 5.3+), else by pid with a start
// time check before every signal.
type pidHandle struct {
	proc procRecord
	file *os.File // the pidfd, nil without pidfd support
}

// openProcess opens a handle on a process that must still be running.
func openProcess(p procRecord) (*pidHandle, error) {
	fd, err := unix.PidfdOpen(p.PID, unix.PIDFD_NONBLOCK)
	switch {
	case errors.Is(err, syscall.ESRCH):
		return nil, errGone
	case err != nil && !errors.Is(err, syscall.ENOSYS):
		return nil, fmt.Errorf("pidfd_open %d: %w", p.PID, err)
	}
	h := &pidHandle{proc: p}
	if err == nil {
		// Non-blocking, so the runtime's poller waits for the exit rather
		// than a thread per container.
		h.file = os.NewFile(uintptr(fd), "pidfd")
	}
	// Checked after opening: the pidfd now pins the process we verify.
	if !p.running() {
		h.close()
		return nil, errGone
	}
	return h, nil
}

// openChild opens a handle on a child this process started and has not
// reaped, which cannot have been replaced; it may already have exited.
func openChild(pid int) (*pidHandle, error) {
	start, _, err := procStat(pid)
	if err != nil {
		return nil, err
	}
	h := &pidHandle{proc: procRecord{PID: pid, Start: start}}
	if fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK); err == nil {
		h.file = os.NewFile(uintptr(fd), "pidfd")
	}
	return h, nil
}

// signal sends sig; errGone if the process has exited.
func (h *pidHandle) signal(sig syscall.Signal) error {
	if h.file == nil {
		if !h.proc.running() {
			return errGone
		}
		err := syscall.Kill(h.proc.PID, sig)
		if errors.Is(err, syscall.ESRCH) {
			return errGone
		}
		return err
	}
	rc, err := h.file.SyscallConn()
	if err != nil {
		return err
	}
	var sigErr error
	if err := rc.Control(func(fd uintptr) {
		sigErr = unix.PidfdSendSignal(int(fd), sig, nil, 0)
	}); err != nil {
		return err
	}
	if errors.Is(sigErr, syscall.ESRCH) {
		return errGone
	}
	return sigErr
}

// wait blocks until the process has exited (a zombie counts as exited).
// Without pidfd support it polls every 100ms.
func (h *pidHandle) wait() {
	if h.file == nil {
		for h.proc.running() {
			time.Sleep(100 * time.Millisecond)
		}
		return
	}
	rc, err := h.file.SyscallConn()
	if err != nil {
		return
	}
	exited := func(fd uintptr, timeout int) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, timeout)
		// Readable means exited; an error other than EINTR will not improve.
		return (err == nil && n > 0) || (err != nil && !errors.Is(err, syscall.EINTR))
	}
	err = rc.Read(func(fd uintptr) bool { return exited(fd, 0) })
	if err != nil && !errors.Is(err, os.ErrClosed) {
		// The runtime's poller refused the pidfd: block a thread instead.
		_ = rc.Control(func(fd uintptr) {
			for !exited(fd, -1) {
			}
		})
	}
}

func (h *pidHandle) close() {
	if h != nil && h.file != nil {
		h.file.Close()
	}
}

// removeRuntimeDir deletes a container's runtime directory.
func removeRuntimeDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove runtime dir: %w", err)
	}
	return nil
}
