package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const modulePath = "github.com/bkctl/bkctl"

// binaries are the files hack/testbin.sh builds into the test binary directory.
var binaries = []string{
	"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl",
	"kwok", "kwok-stages.yaml", "kwok-crd-execs.yaml", "buildkitd", "buildctl",
}

// hostTools are the Debian tools hack/testdeps.sh installs.
var hostTools = []string{
	"/usr/sbin/runc", "/usr/bin/docker-registry", "/bin/busybox",
	"/usr/sbin/update-binfmts", "/usr/bin/qemu-aarch64-static",
}

// ErrMissing reports that a binary or tool of the environment is not installed.
var ErrMissing = errors.New("test environment incomplete")

// repoRoot finds the directory of the bkctl main module, walking up from the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isMainModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find module %s above the working directory: not found", modulePath)
		}
		dir = parent
	}
}

func isMainModule(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); strings.HasPrefix(line, "module ") {
			return strings.TrimSpace(strings.TrimPrefix(line, "module ")) == modulePath
		}
	}
	return false
}

// LocalDir returns the repository's .testenv directory (ignored by git): the link to the test
// binaries and the description of the environment that `go run ./hack/testenv up` started.
func LocalDir() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".testenv"), nil
}

// BinDir returns the directory of the test binaries: $BKCTL_TESTBIN, else .testenv/bin in the
// repository (a symlink that hack/testbin.sh makes into its cache).
func BinDir() (string, error) {
	if d := os.Getenv("BKCTL_TESTBIN"); d != "" {
		return filepath.Abs(d)
	}
	local, err := LocalDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(local, "bin"), nil
}

// CacheDir returns the per-user cache shared by hack/testbin.sh, hack/testdeps.sh and the base
// image: $BKCTL_CACHE, else $XDG_CACHE_HOME/bkctl, else ~/.cache/bkctl.
func CacheDir() (string, error) {
	if d := os.Getenv("BKCTL_CACHE"); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "bkctl"), nil
}

// checkInstalled reports every missing piece at once, with the command that installs it.
func checkInstalled(binDir, cacheDir string) error {
	var problems []string
	var missingBins []string
	for _, b := range binaries {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			missingBins = append(missingBins, b)
		}
	}
	if len(missingBins) > 0 {
		problems = append(problems, fmt.Sprintf("%s in %s (hint: run `make testbin`)",
			strings.Join(missingBins, ", "), binDir))
	}
	var missingTools []string
	for _, t := range hostTools {
		if _, err := exec.LookPath(t); err != nil {
			missingTools = append(missingTools, t)
		}
	}
	if _, err := os.Stat(filepath.Join(cacheDir, "testdeps", "busybox.arm64")); err != nil {
		missingTools = append(missingTools, filepath.Join(cacheDir, "testdeps", "busybox.arm64"))
	}
	if len(missingTools) > 0 {
		problems = append(problems, fmt.Sprintf("%s (hint: run `make testdeps` as root)",
			strings.Join(missingTools, ", ")))
	}
	if os.Geteuid() != 0 {
		problems = append(problems, "buildkitd needs root (run the tests as root)")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: missing %s", ErrMissing, strings.Join(problems, "; "))
	}
	return nil
}
