package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"agora/core/resources"
)

// defaultPorts is the port range Mesos agents offer when none is given.
func defaultPorts() resources.Ranges { return resources.Ranges{{Begin: 31000, End: 32000}} }

// DetectResources measures this host the way a Mesos agent does: every CPU,
// memory less min(1 GB, half) and the disk holding workDir less min(5 GB,
// half), leaving room for the system, plus ports [31000-32000].
func DetectResources(workDir string) (resources.Resources, error) {
	info, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return resources.Resources{}, fmt.Errorf("detect mem: %w", err)
	}
	memKB, err := memTotalKB(info)
	if err != nil {
		return resources.Resources{}, fmt.Errorf("detect mem: %w", err)
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(workDir, &fs); err != nil {
		return resources.Resources{}, fmt.Errorf("detect disk of %s: %w", workDir, err)
	}
	diskBytes := fs.Blocks * uint64(fs.Bsize)
	return hostResources(runtime.NumCPU(), memKB*1024, diskBytes), nil
}

// hostResources turns raw host totals into what the agent offers.
func hostResources(cpus int, memBytes, diskBytes uint64) resources.Resources {
	const mb = 1 << 20
	memMB := math.Floor(float64(memBytes) / mb)
	diskMB := math.Floor(float64(diskBytes) / mb)
	return resources.Resources{
		CPUs:  float64(cpus),
		Mem:   memMB - math.Min(1024, math.Floor(memMB/2)),
		Disk:  diskMB - math.Min(5120, math.Floor(diskMB/2)),
		Ports: defaultPorts(),
	}
}

// memTotalKB reads MemTotal from /proc/meminfo's text.
func memTotalKB(meminfo []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == "MemTotal:" {
			v, err := strconv.ParseUint(string(f[1]), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("MemTotal %q is not a number", f[1])
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("no MemTotal line in /proc/meminfo")
}

// fillResources keeps what the operator gave and detects the rest, so that
// "ports:[8000-9000]" alone still offers the host's cpus, mem and disk.
func fillResources(given, detected resources.Resources) resources.Resources {
	r := given
	if r.CPUs == 0 {
		r.CPUs = detected.CPUs
	}
	if r.Mem == 0 {
		r.Mem = detected.Mem
	}
	if r.Disk == 0 {
		r.Disk = detected.Disk
	}
	if len(r.Ports) == 0 {
		r.Ports = detected.Ports
	}
	return r
}
