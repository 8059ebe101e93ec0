package testenv

import (
	"fmt"
	"io"
	"os"
	"testing"
	"time"
)

// MainNode is the TestMain of a real-node test package: it starts an environment of its own with
// Options.RealNode (one real node per machine, never a shared one), runs the tests, stops the
// environment and then fails the run if the machine is not as it was before (HostSnapshot).
// cleanup, when not nil, runs at the end, also when the run is interrupted.
func MainNode(m *testing.M, envp **Env, cleanup func()) {
	os.Exit(runMain(m, envp, mainMode{own: true, realNode: true}, cleanup))
}

// checkHost reports whether the machine is as before was taken, printing what was left behind;
// log gets the all-clear with how long the stop took.
func checkHost(before *HostSnapshot, log io.Writer, took time.Duration) bool {
	left, err := before.Leftovers()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: testenv: check the machine after stop: %v\n", err)
		return false
	}
	for _, l := range left {
		fmt.Fprintf(os.Stderr, "FAIL: testenv: the real node left behind: %s\n", l)
	}
	if len(left) > 0 {
		return false
	}
	fmt.Fprintf(log, "testenv: stopped in %.2fs; no process, mount, netns, veth, bridge, cgroup, iptables rule, sysctl or dir left behind\n", took.Seconds())
	return true
}
