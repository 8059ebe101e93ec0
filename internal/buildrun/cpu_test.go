package buildrun_test

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// cpuSeconds returns the CPU time (user and system) that the processes of the test environment
// and this test binary have used so far, by command name: kube-apiserver, kwok, buildctl (the
// commands kwok runs for exec), buildkitd, and the test binary as "client". A process that ended
// in between is missing, so a difference of two samples is a lower bound.
func cpuSeconds() map[string]float64 {
	self := strconv.Itoa(os.Getpid())
	out := map[string]float64{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid := e.Name()
		if _, err := strconv.Atoi(pid); err != nil {
			continue
		}
		if pid != self && !mentions(pid, env.RunDir) {
			continue
		}
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			continue
		}
		open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || closing < open {
			continue
		}
		name := string(b[open+1 : closing])
		if pid == self {
			name = "client"
		}
		f := strings.Fields(string(b[closing+1:]))
		if len(f) < 14 {
			continue
		}
		utime, _ := strconv.ParseFloat(f[11], 64)
		stime, _ := strconv.ParseFloat(f[12], 64)
		out[name] += (utime + stime) / 100 // USER_HZ
	}
	return out
}

// mentions reports whether the process's command line or environment contains s.
func mentions(pid, s string) bool {
	for _, f := range []string{"cmdline", "environ"} {
		if b, err := os.ReadFile("/proc/" + pid + "/" + f); err == nil && bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// cpuDelta returns after-before for every process name, leaving out what barely moved.
func cpuDelta(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, a := range after {
		if v := a - before[k]; v >= 0.005 {
			d[k] = v
		}
	}
	return d
}
