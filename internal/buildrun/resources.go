package buildrun

import (
	"fmt"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/buildkit/util/cpuset"
)

// Resources are the cgroup limits of every RUN of a build (--resource). Zero values are unset.
type Resources struct {
	// Memory is the memory limit in bytes.
	Memory int64
	// MemorySwap is memory plus swap in bytes; -1 is unlimited swap.
	MemorySwap int64
	// CPUShares is the relative CPU weight.
	CPUShares int64
	// CPUPeriod and CPUQuota are the CFS period and the run time allowed in it, in µs; the
	// daemon's default period is 100000 (100ms).
	CPUPeriod int64
	CPUQuota  int64
	// CpusetCPUs and CpusetMems are the CPUs and memory nodes RUN may use (0-3,5).
	CpusetCPUs string
	CpusetMems string
}

// The keys of --resource, as buildx names them (docker run's flag names).
const (
	resMemory     = "memory"
	resMemorySwap = "memory-swap"
	resCPUShares  = "cpu-shares"
	resCPUPeriod  = "cpu-period"
	resCPUQuota   = "cpu-quota"
	resCpusetCPUs = "cpuset-cpus"
	resCpusetMems = "cpuset-mems"
)

var resourceKeys = strings.Join([]string{resMemory, resMemorySwap, resCPUShares, resCPUPeriod,
	resCPUQuota, resCpusetCPUs, resCpusetMems}, ", ")

// ParseResources parses --resource KEY=VALUE values: memory and memory-swap are sizes (2g,
// 512m; memory-swap -1 is unlimited), the cpu ones integers, the cpuset ones lists such as
// 0-3,5. A key given again takes its last value; 0 leaves a key unset, as with docker's flags,
// and so does cpu-quota -1 (no limit).
// It refuses what the kernel refuses: a CFS period outside 1ms–1s, a quota under 1ms, and a
// memory-swap below memory or without it.
func ParseResources(values []string) (Resources, error) {
	var r Resources
	raw := map[string]string{} // the last value of each key, for the errors below
	for _, in := range values {
		k, v, ok := strings.Cut(in, "=")
		if !ok {
			return r, fmt.Errorf("--resource %q: want KEY=VALUE (%s)", in, resourceKeys)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if err := r.set(k, v); err != nil {
			return r, fmt.Errorf("--resource %q: %w", in, err)
		}
		raw[k] = v
	}
	switch {
	case r.MemorySwap > 0 && r.Memory == 0:
		return r, fmt.Errorf("--resource memory-swap=%s: memory-swap is memory plus swap and needs memory too (hint: add memory=SIZE, or memory-swap=-1 for unlimited swap)", raw[resMemorySwap])
	case r.MemorySwap > 0 && r.MemorySwap < r.Memory:
		return r, fmt.Errorf("--resource memory-swap=%s: less than memory=%s (memory-swap is memory plus swap; -1 is unlimited)", raw[resMemorySwap], raw[resMemory])
	}
	return r, nil
}

// set parses the value of one key into r.
func (r *Resources) set(k, v string) error {
	var err error
	switch k {
	case resMemory:
		r.Memory, err = units.RAMInBytes(v)
	case resMemorySwap:
		if v == "-1" {
			r.MemorySwap = -1
			return nil
		}
		r.MemorySwap, err = units.RAMInBytes(v)
	case resCPUShares:
		r.CPUShares, err = cpuValue(v, 0, 0)
	case resCPUPeriod:
		r.CPUPeriod, err = cpuValue(v, 1000, 1000000)
	case resCPUQuota:
		if v == "-1" { // docker's and buildx's "no limit"
			r.CPUQuota = 0
			return nil
		}
		r.CPUQuota, err = cpuValue(v, 1000, 0)
	case resCpusetCPUs:
		r.CpusetCPUs, err = v, cpuset.Validate(v)
	case resCpusetMems:
		r.CpusetMems, err = v, cpuset.Validate(v)
	default:
		return fmt.Errorf("unknown key %q (want %s)", k, resourceKeys)
	}
	return err
}

// cpuValue parses a cpu value: 0 is unset, else it must be at least lo (and at most hi, when
// hi is not 0).
func cpuValue(v string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err != nil:
		return 0, fmt.Errorf("not an integer")
	case n == 0:
		return 0, nil
	case n < 0:
		return 0, fmt.Errorf("must be positive (0 leaves it unset)")
	case n < lo || (hi > 0 && n > hi):
		if hi > 0 {
			return 0, fmt.Errorf("must be between %d and %d µs", lo, hi)
		}
		return 0, fmt.Errorf("must be at least %d µs", lo)
	}
	return n, nil
}

// Attrs returns the dockerfile frontend's attributes of the keys that are set.
func (r Resources) Attrs() map[string]string {
	out := map[string]string{}
	for k, v := range map[string]int64{"memory": r.Memory, "memswap": r.MemorySwap,
		"cpushares": r.CPUShares, "cpuperiod": r.CPUPeriod, "cpuquota": r.CPUQuota} {
		if v != 0 {
			out[k] = strconv.FormatInt(v, 10)
		}
	}
	if r.CpusetCPUs != "" {
		out["cpusetcpus"] = r.CpusetCPUs
	}
	if r.CpusetMems != "" {
		out["cpusetmems"] = r.CpusetMems
	}
	return out
}

// LegacyResources are the older per-key flags of docker buildx build (--memory, --cpu-shares,
// …); each value is that of the --resource key of the same name. Empty values are unset.
type LegacyResources struct {
	Memory, MemorySwap, CPUShares, CPUPeriod, CPUQuota, CpusetCPUs, CpusetMems string
}

// Entries returns the --resource values of the flags that are set. buildx puts them before the
// --resource values, so a key in both takes the --resource value. A value that does not parse
// is an error naming its flag.
func (l LegacyResources) Entries() ([]string, error) {
	var out []string
	for _, kv := range [][2]string{{resMemory, l.Memory}, {resMemorySwap, l.MemorySwap},
		{resCPUShares, l.CPUShares}, {resCPUPeriod, l.CPUPeriod}, {resCPUQuota, l.CPUQuota},
		{resCpusetCPUs, l.CpusetCPUs}, {resCpusetMems, l.CpusetMems}} {
		if kv[1] == "" {
			continue
		}
		var r Resources
		if err := r.set(kv[0], kv[1]); err != nil {
			return nil, fmt.Errorf("--%s %q: %w", kv[0], kv[1], err)
		}
		out = append(out, kv[0]+"="+kv[1])
	}
	return out, nil
}
