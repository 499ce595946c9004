package process

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"agora/core/resources"
)

// Kernel defaults and floors, as Mesos uses them.
const (
	cfsPeriodMicros   = 100000 // 100ms, the kernel's default period
	minCFSQuotaMicros = 1000   // the kernel refuses quotas below 1ms
	minCPUShares      = 2      // the kernel's floor for cpu.shares
	sharesPerCPU      = 1024
)

// hierarchy is where Agora's task cgroups live on this host.
type hierarchy struct {
	version int
	// memory and cpu are the mount points of the hierarchies holding those
	// controllers (the same directory on v2).
	memory, cpu string
	parent      string // Agora's parent cgroup name under each mount
}

// setupHierarchy detects the cgroup version under root and creates Agora's
// parent cgroup, enabling the controllers it needs. Any error means tasks
// must run without cgroups; the message says why.
func setupHierarchy(root, parent string) (*hierarchy, error) {
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		return setupV2(root, parent)
	}
	return setupV1(root, parent)
}

func setupV2(root, parent string) (*hierarchy, error) {
	raw, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("cgroup v2 at %s: %w", root, err)
	}
	have := strings.Fields(string(raw))
	var missing []string
	for _, want := range []string{"memory", "cpu"} {
		if !slices.Contains(have, want) {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("cgroup v2 at %s lacks the %s controller(s) (bound to cgroup v1?)", root, strings.Join(missing, ", "))
	}
	dir := filepath.Join(root, parent)
	if err := enableControllers(root); err != nil {
		return nil, err
	}
	if err := mkdirCgroup(dir); err != nil {
		return nil, err
	}
	if err := enableControllers(dir); err != nil {
		return nil, err
	}
	return &hierarchy{version: 2, memory: root, cpu: root, parent: parent}, nil
}

// enableControllers lets dir's children use the memory and cpu controllers.
func enableControllers(dir string) error {
	file := filepath.Join(dir, "cgroup.subtree_control")
	raw, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("cgroup v2: %w", err)
	}
	enabled := strings.Fields(string(raw))
	for _, ctl := range []string{"memory", "cpu"} {
		if slices.Contains(enabled, ctl) {
			continue
		}
		if err := os.WriteFile(file, []byte("+"+ctl), 0); err != nil {
			return fmt.Errorf("cgroup v2: enable %s in %s: %w", ctl, file, err)
		}
	}
	return nil
}

func setupV1(root, parent string) (*hierarchy, error) {
	h := &hierarchy{version: 1, memory: filepath.Join(root, "memory"), cpu: filepath.Join(root, "cpu"), parent: parent}
	for _, probe := range []string{
		filepath.Join(h.memory, "memory.limit_in_bytes"),
		filepath.Join(h.cpu, "cpu.shares"),
	} {
		if _, err := os.Stat(probe); err != nil {
			return nil, fmt.Errorf("no cgroup v2 at %s and no cgroup v1 hierarchy: %w", root, err)
		}
	}
	for _, mount := range []string{h.memory, h.cpu} {
		if err := mkdirCgroup(filepath.Join(mount, parent)); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func mkdirCgroup(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	return nil
}

// taskCgroup is one task's cgroup: one directory per v1 hierarchy, or a
// single v2 directory. A nil *taskCgroup means "no cgroup" and its methods
// degrade to plain process handling.
type taskCgroup struct {
	version int
	dirs    []cgroupDir
}

type cgroupDir struct {
	controller string // "memory" or "cpu" on v1, "" on v2
	mount      string // the hierarchy's mount point
	path       string // the task's cgroup directory
}

func (t *taskCgroup) memoryDir() string { return t.dirs[0].path }

// taskCgroup names the cgroup of container id, without creating it.
func (h *hierarchy) taskCgroup(id string) *taskCgroup {
	t := &taskCgroup{version: h.version}
	if h.version == 2 {
		t.dirs = []cgroupDir{{mount: h.memory, path: filepath.Join(h.memory, h.parent, id)}}
	} else {
		t.dirs = []cgroupDir{
			{controller: "memory", mount: h.memory, path: filepath.Join(h.memory, h.parent, id)},
			{controller: "cpu", mount: h.cpu, path: filepath.Join(h.cpu, h.parent, id)},
		}
	}
	return t
}

// create makes the task's cgroup and writes its limits. A cgroup left by an
// earlier run under the same ID is replaced if empty, so that stale OOM
// counters cannot be mistaken for this task's.
func (h *hierarchy) create(id string, limits resources.Resources) (*taskCgroup, error) {
	t := h.taskCgroup(id)
	for _, d := range t.dirs {
		if err := os.Remove(d.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("stale cgroup %s is still in use: %w", d.path, err)
		}
	}
	for i, d := range t.dirs {
		if err := os.Mkdir(d.path, 0o755); err != nil {
			(&taskCgroup{dirs: t.dirs[:i]}).remove()
			return nil, fmt.Errorf("create cgroup %s: %w", d.path, err)
		}
	}
	for _, w := range limitWrites(h.version, limits) {
		if err := t.write(w); err != nil {
			t.remove()
			return nil, err
		}
	}
	return t, nil
}

// limitWrite is one control file to write to enforce a limit.
type limitWrite struct {
	controller string // v1 hierarchy ("memory", "cpu"); "" on v2
	file       string
	value      string
	// optional files may be absent (swap accounting off, older kernels).
	optional bool
}

// limitWrites is the list of control-file writes, in order, that enforce
// limits. A zero mem or cpus means no limit of that kind.
func limitWrites(version int, limits resources.Resources) []limitWrite {
	var ws []limitWrite
	v1 := version == 1
	if limits.Mem > 0 {
		bytes := strconv.FormatInt(int64(math.Round(limits.Mem*(1<<20))), 10)
		if v1 {
			// The plain limit first: memsw may never be below it.
			ws = append(ws,
				limitWrite{"memory", "memory.limit_in_bytes", bytes, false},
				limitWrite{"memory", "memory.memsw.limit_in_bytes", bytes, true})
		} else {
			ws = append(ws,
				limitWrite{"", "memory.max", bytes, false},
				limitWrite{"", "memory.swap.max", "0", true})
		}
	}
	if limits.CPUs > 0 {
		shares := cpuShares(limits.CPUs)
		quota := strconv.FormatInt(cfsQuota(limits.CPUs), 10)
		if v1 {
			ws = append(ws,
				limitWrite{"cpu", "cpu.shares", strconv.FormatInt(shares, 10), false},
				limitWrite{"cpu", "cpu.cfs_period_us", strconv.Itoa(cfsPeriodMicros), false},
				limitWrite{"cpu", "cpu.cfs_quota_us", quota, false})
		} else {
			ws = append(ws,
				limitWrite{"", "cpu.weight", strconv.FormatInt(cpuWeight(shares), 10), false},
				limitWrite{"", "cpu.max", quota + " " + strconv.Itoa(cfsPeriodMicros), false})
		}
	}
	return ws
}

// cpuShares is the v1 cpu.shares for cpus: 1024 per CPU.
func cpuShares(cpus float64) int64 {
	return max(minCPUShares, int64(math.Round(cpus*sharesPerCPU)))
}

// cfsQuota is the CFS quota in microseconds per cfsPeriodMicros for cpus.
func cfsQuota(cpus float64) int64 {
	return max(minCFSQuotaMicros, int64(math.Round(cpus*cfsPeriodMicros)))
}

// cpuWeight maps v1 shares [2, 262144] onto v2 weights [1, 10000] the way
// runc and the kubelet do, so a task weighs the same on either version.
func cpuWeight(shares int64) int64 {
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

func (t *taskCgroup) write(w limitWrite) error {
	for _, d := range t.dirs {
		if d.controller != w.controller {
			continue
		}
		file := filepath.Join(d.path, w.file)
		if err := os.WriteFile(file, []byte(w.value), 0); err != nil {
			if w.optional && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("set %s=%s: %w", file, w.value, err)
		}
	}
	return nil
}

// start starts cmd so that its process is inside t before it executes the
// command's first instruction.
func (t *taskCgroup) start(cmd *exec.Cmd) error {
	switch {
	case t == nil:
		return cmd.Start()
	case t.version == 2:
		// clone3(CLONE_INTO_CGROUP): the child is born in the cgroup.
		dir, err := os.Open(t.dirs[0].path)
		if err != nil {
			return fmt.Errorf("open cgroup: %w", err)
		}
		defer dir.Close()
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(dir.Fd())
		return cmd.Start()
	default:
		return t.startV1(cmd)
	}
}

// startV1 forks the task from an OS thread that is temporarily a member of
// the task's cgroups. On v1, cgroup membership is per thread and a child
// inherits its forking thread's cgroups, so the child is limited from its
// first instruction. This avoids a wrapper shell (`echo $$ > cgroup.procs &&
// exec ...`), which could not set argv[0] and would turn a missing
// executable into an exit status instead of a launch error.
func (t *taskCgroup) startV1(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is unlocked only once it is back in its own cgroups;
		// if that fails, exiting while locked makes the runtime discard it
		// rather than run other goroutines in the task's cgroup.
		runtime.LockOSThread()
		tid := unix.Gettid()
		home, err := threadCgroups()
		if err != nil {
			errc <- err
			return
		}
		var moved []cgroupDir
		restore := func() bool {
			ok := true
			for _, d := range moved {
				back := filepath.Join(d.mount, home[d.controller], "tasks")
				if err := writeInt(back, tid); err != nil {
					ok = false
				}
			}
			return ok
		}
		for _, d := range t.dirs {
			if _, ok := home[d.controller]; !ok {
				restore()
				errc <- fmt.Errorf("thread %d has no %s cgroup", tid, d.controller)
				return
			}
			if err := writeInt(filepath.Join(d.path, "tasks"), tid); err != nil {
				restore()
				errc <- fmt.Errorf("join cgroup %s: %w", d.path, err)
				return
			}
			moved = append(moved, d)
		}
		startErr := cmd.Start()
		if restore() {
			runtime.UnlockOSThread()
		}
		errc <- startErr
	}()
	return <-errc
}

// join moves process pid (all its threads) into the task's cgroup(s).
func (t *taskCgroup) join(pid int) error {
	var errs []error
	for _, d := range t.dirs {
		if err := writeInt(filepath.Join(d.path, "cgroup.procs"), pid); err != nil {
			errs = append(errs, fmt.Errorf("join cgroup %s: %w", d.path, err))
		}
	}
	return errors.Join(errs...)
}

// threadCgroups reads the calling thread's v1 cgroup paths by controller.
func threadCgroups() (map[string]string, error) {
	raw, err := os.ReadFile("/proc/thread-self/cgroup")
	if err != nil {
		return nil, err
	}
	return parseProcCgroup(string(raw)), nil
}

// parseProcCgroup parses /proc/<pid>/cgroup into controller -> path. The v2
// line ("0::/path") is keyed by "".
func parseProcCgroup(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			out[ctl] = parts[2]
		}
	}
	return out
}

func writeInt(file string, v int) error {
	return os.WriteFile(file, []byte(strconv.Itoa(v)), 0)
}

// pids lists the processes in the task's cgroup(s).
func (t *taskCgroup) pids() []int {
	if t == nil {
		return nil
	}
	seen := map[int]bool{}
	var out []int
	for _, d := range t.dirs {
		raw, err := os.ReadFile(filepath.Join(d.path, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(raw)) {
			if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
				seen[pid] = true
				out = append(out, pid)
			}
		}
	}
	return out
}

// killAll sends SIGKILL to every process in the cgroup and reports how many
// were found.
func (t *taskCgroup) killAll() int {
	if t == nil {
		return 0
	}
	if t.version == 2 {
		// cgroup.kill (Linux 5.14+) kills atomically, forks included.
		_ = os.WriteFile(filepath.Join(t.dirs[0].path, "cgroup.kill"), []byte("1"), 0)
	}
	pids := t.pids()
	self := os.Getpid()
	n := 0
	for _, pid := range pids {
		// The agent is listed if one of its threads failed to leave the
		// cgroup after a v1 launch; it must never kill itself.
		if pid == self {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
		n++
	}
	return n
}

// memStats reads the memory controller's account of the task.
func (t *taskCgroup) memStats() memStats {
	if t == nil {
		return memStats{}
	}
	dir := t.memoryDir()
	m := memStats{known: true}
	if t.version == 2 {
		m.oomKills = keyedInt(readString(filepath.Join(dir, "memory.events")), "oom_kill")
		m.peakBytes = parseInt(readString(filepath.Join(dir, "memory.peak")))
		return m
	}
	m.oomKills = keyedInt(readString(filepath.Join(dir, "memory.oom_control")), "oom_kill")
	m.failcnt = parseInt(readString(filepath.Join(dir, "memory.failcnt")))
	m.peakBytes = parseInt(readString(filepath.Join(dir, "memory.max_usage_in_bytes")))
	return m
}

// remove deletes the task's cgroup directories; they must be empty.
func (t *taskCgroup) remove() error {
	if t == nil {
		return nil
	}
	var errs []error
	for _, d := range t.dirs {
		if err := os.Remove(d.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cgroup: %w", err))
		}
	}
	return errors.Join(errs...)
}

func readString(file string) string {
	raw, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	return string(raw)
}

func parseInt(s string) int64 {
	v, _ := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return v
}

// keyedInt finds "key N" in a flat-keyed control file such as memory.events.
func keyedInt(s, key string) int64 {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			return parseInt(v)
		}
	}
	return 0
}
