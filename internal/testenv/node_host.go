package testenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hostFile is the record, in the run directory, of what a real node changed on the machine, so
// that Stop, or the reaping of a crashed run, can undo exactly that.
const hostFile = "node-host.json"

// nodeSysctls are the kernel settings the kubelet requires (it refuses to start with
// protectKernelDefaults when they differ). The environment sets them and restores them.
var nodeSysctls = map[string]string{
	"vm/overcommit_memory": "1",
	"kernel/panic":         "10",
	"kernel/panic_on_oops": "1",
}

// nodeHostDirs are the machine-wide directories containerd, the CNI plugins and the kubelet use
// whatever their configuration says: the CNI result cache, the kubelet's device-plugin socket
// dir, the container log links, the shim sockets and the network namespaces.
var nodeHostDirs = []string{"/var/lib/cni", "/var/lib/kubelet", "/var/log/containers", "/run/containerd", "/run/netns"}

// hostChanges is what one real node changed outside its run directory.
type hostChanges struct {
	// Sysctls maps a /proc/sys path to the value it had before.
	Sysctls map[string]string `json:"sysctls"`
	// Dirs were created by the node (they did not exist before it started).
	Dirs []string `json:"dirs"`
	// Netns lists the network namespaces present before the node started; the rest are its own.
	Netns []string `json:"netns"`
	// Bridge is the node's CNI bridge.
	Bridge string `json:"bridge"`
	// Cgroups lists the k8s.io cgroup directories that did not exist before.
	Cgroups []string `json:"cgroups"`
}

// cgroupParent is where containerd puts the pods' cgroups when the kubelet runs without QoS
// cgroups: /k8s.io in every hierarchy.
const cgroupParent = "k8s.io"

// recordHost notes the machine's state before a node starts and writes it to the run directory.
func recordHost(runDir, bridge string) (*hostChanges, error) {
	h := &hostChanges{Sysctls: map[string]string{}, Bridge: bridge}
	for _, d := range nodeHostDirs {
		if _, err := os.Lstat(d); errors.Is(err, os.ErrNotExist) {
			h.Dirs = append(h.Dirs, d)
		}
	}
	h.Netns = listDir("/run/netns")
	for _, c := range cgroupHierarchies() {
		d := filepath.Join(c, cgroupParent)
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			h.Cgroups = append(h.Cgroups, d)
		}
	}
	for k := range nodeSysctls {
		b, err := os.ReadFile(filepath.Join("/proc/sys", k))
		if err != nil {
			return nil, fmt.Errorf("read sysctl %s: %w", k, err)
		}
		h.Sysctls[k] = strings.TrimSpace(string(b))
	}
	return h, h.save(runDir)
}

func (h *hostChanges) save(runDir string) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(runDir, hostFile), b, 0o644)
}

// setSysctls sets what the kubelet requires.
func (h *hostChanges) setSysctls() error {
	for k, v := range nodeSysctls {
		if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
			return fmt.Errorf("set sysctl %s=%s: %w", k, v, err)
		}
	}
	return nil
}

// undo reverts every change h records. It runs after the node's processes are gone and its
// mounts below the run directory are unmounted.
func (h *hostChanges) undo() error {
	var errs []error
	before := map[string]bool{}
	for _, n := range h.Netns {
		before[n] = true
	}
	for _, n := range listDir("/run/netns") {
		if before[n] {
			continue
		}
		p := filepath.Join("/run/netns", n)
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
			errs = append(errs, fmt.Errorf("unmount netns %s: %w", p, err))
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	killCgroups(h.Cgroups)
	for _, c := range h.Cgroups {
		if err := removeCgroup(c); err != nil {
			errs = append(errs, err)
		}
	}
	if h.Bridge != "" {
		if _, err := os.Stat(filepath.Join("/sys/class/net", h.Bridge)); err == nil {
			if out, err := exec.Command("ip", "link", "delete", h.Bridge).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("delete bridge %s: %w: %s", h.Bridge, err, out))
			}
		}
	}
	for k, v := range h.Sysctls {
		if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore sysctl %s=%s: %w", k, v, err))
		}
	}
	for _, d := range h.Dirs {
		if err := unmountBelow(d); err != nil {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// undoHost reverts the machine-wide changes recorded in runDir, if a node ran there.
func undoHost(runDir string) error {
	b, err := os.ReadFile(filepath.Join(runDir, hostFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var h hostChanges
	if err := json.Unmarshal(b, &h); err != nil {
		return fmt.Errorf("read %s: %w", hostFile, err)
	}
	return h.undo()
}

// cgroupHierarchies lists the mounted cgroup hierarchies (v1 controllers, and the v2 root).
func cgroupHierarchies() []string {
	var dirs []string
	for _, e := range listDir("/sys/fs/cgroup") {
		d := filepath.Join("/sys/fs/cgroup", e)
		var st syscall.Statfs_t
		if syscall.Statfs(d, &st) == nil && (st.Type == 0x27e0eb || st.Type == 0x63677270) { // cgroup, cgroup2
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		dirs = append(dirs, "/sys/fs/cgroup")
	}
	return dirs
}

// killCgroups kills every process in the cgroup dirs (and below) and waits until they are
// empty. Container processes live in mount namespaces of their own, so their root and working
// directory do not tell where they came from; their cgroup does.
func killCgroups(dirs []string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		alive := 0
		for _, dir := range dirs {
			_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err != nil || !d.IsDir() {
					return nil
				}
				b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
						alive++
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
				return nil
			})
		}
		if alive == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// removeCgroup removes a cgroup directory and every child, deepest first (a cgroup is removed
// with rmdir once it has no processes and no children).
func removeCgroup(dir string) error {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		if err := syscall.Rmdir(d); err != nil && err != syscall.ENOENT {
			return fmt.Errorf("remove cgroup %s: %w", d, err)
		}
	}
	return nil
}

func listDir(dir string) []string {
	entries, _ := os.ReadDir(dir)
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
