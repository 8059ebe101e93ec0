package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

const binfmtDir = "/proc/sys/fs/binfmt_misc"

// enableQEMU makes the kernel run arm64 binaries through Debian's qemu-aarch64-static, so that a
// buildkitd standing in for an arm64 node can RUN. binfmt_misc is machine-wide state: it is left
// enabled, as binfmt-support would on boot.
func enableQEMU() error {
	if _, err := os.Stat(binfmtDir + "/register"); err != nil {
		if err := syscall.Mount("binfmt_misc", binfmtDir, "binfmt_misc", 0, ""); err != nil {
			return fmt.Errorf("mount binfmt_misc: %w", err)
		}
	}
	if b, err := os.ReadFile(binfmtDir + "/qemu-aarch64"); err == nil && strings.HasPrefix(string(b), "enabled") {
		return nil
	}
	if out, err := exec.Command("/usr/sbin/update-binfmts", "--enable", "qemu-aarch64").CombinedOutput(); err != nil {
		return fmt.Errorf("update-binfmts --enable qemu-aarch64: %w: %s", err, out)
	}
	return nil
}
