package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// HostSnapshot is the part of the machine's state a real node changes: what Stop must restore.
type HostSnapshot struct {
	sysctls  map[string]string
	dirs     map[string]bool
	netns    []string
	links    []string
	cgroups  map[string]bool
	iptables string
	mounts   []string
}

// SnapshotHost records the machine-wide state a real node touches.
func SnapshotHost() (*HostSnapshot, error) {
	s := &HostSnapshot{sysctls: map[string]string{}, dirs: map[string]bool{}, cgroups: map[string]bool{}}
	for k := range nodeSysctls {
		b, err := os.ReadFile(filepath.Join("/proc/sys", k))
		if err != nil {
			return nil, err
		}
		s.sysctls[k] = strings.TrimSpace(string(b))
	}
	for _, d := range nodeHostDirs {
		_, err := os.Lstat(d)
		s.dirs[d] = err == nil
	}
	s.netns = listDir("/run/netns")
	s.links = listDir("/sys/class/net")
	for _, c := range cgroupHierarchies() {
		_, err := os.Stat(filepath.Join(c, cgroupParent))
		s.cgroups[c] = err == nil
	}
	var err error
	if s.iptables, err = iptablesRules(); err != nil {
		return nil, err
	}
	if s.mounts, err = nodeMounts(); err != nil {
		return nil, err
	}
	return s, nil
}

// Leftovers compares the machine with the snapshot and describes every difference a real node
// could have made: a process of containerd, a shim or the kubelet, a mount, a network namespace,
// a network interface (veth or bridge), a k8s.io cgroup, an iptables rule or chain, a sysctl or
// one of the machine-wide dirs.
func (s *HostSnapshot) Leftovers() ([]string, error) {
	now, err := SnapshotHost()
	if err != nil {
		return nil, err
	}
	var left []string
	for k, v := range s.sysctls {
		if now.sysctls[k] != v {
			left = append(left, fmt.Sprintf("sysctl %s is %s, was %s", strings.ReplaceAll(k, "/", "."), now.sysctls[k], v))
		}
	}
	for d, existed := range s.dirs {
		if now.dirs[d] && !existed {
			left = append(left, "directory "+d)
		}
	}
	for _, n := range now.netns {
		if !slices.Contains(s.netns, n) {
			left = append(left, "network namespace /run/netns/"+n)
		}
	}
	for _, l := range now.links {
		if !slices.Contains(s.links, l) {
			left = append(left, "network interface "+l)
		}
	}
	for c, existed := range s.cgroups {
		if now.cgroups[c] && !existed {
			left = append(left, "cgroup "+filepath.Join(c, cgroupParent))
		}
	}
	if now.iptables != s.iptables {
		left = append(left, "iptables rules changed:\n"+now.iptables)
	}
	for _, m := range now.mounts {
		if !slices.Contains(s.mounts, m) {
			left = append(left, "mount "+m)
		}
	}
	left = append(left, nodeProcesses()...)
	slices.Sort(left)
	return left, nil
}

// iptablesRules returns the rules and chains of every table, IPv4 and IPv6, without counters.
func iptablesRules() (string, error) {
	var b strings.Builder
	for _, cmd := range []string{"/usr/sbin/iptables-save", "/usr/sbin/ip6tables-save"} {
		if _, err := os.Stat(cmd); err != nil {
			continue // no iptables on the machine: nothing can have changed
		}
		out, err := exec.Command(cmd).Output()
		if err != nil {
			return "", fmt.Errorf("%s: %w", cmd, err)
		}
		for line := range bytes.Lines(out) {
			if l := string(line); !strings.HasPrefix(l, "#") {
				if i := strings.Index(l, " ["); strings.HasPrefix(l, ":") && i > 0 {
					l = l[:i] + "\n" // chain counters
				}
				b.WriteString(l)
			}
		}
	}
	return b.String(), nil
}

// nodeMounts lists the mount points below the machine-wide dirs a node uses.
func nodeMounts() ([]string, error) {
	var all []string
	for _, d := range nodeHostDirs {
		m, err := mountsBelow(d)
		if err != nil {
			return nil, err
		}
		all = append(all, m...)
	}
	return all, nil
}

// nodeProcesses lists the running containerd, shim and kubelet processes of any environment.
func nodeProcesses() []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil {
			continue
		}
		switch filepath.Base(exe) {
		case "containerd", "containerd-shim-runc-v2", "kubelet":
			found = append(found, fmt.Sprintf("process %d (%s)", pid, exe))
		}
	}
	return found
}
