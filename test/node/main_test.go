package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/bkctl/bkctl/internal/testenv"
)

var env *testenv.Env

// bin is the bkctl binary the tests run as a user would, built while the environment starts.
var bin *testenv.Binary

func TestMain(m *testing.M) {
	var err error
	if bin, err = testenv.BuildBinary("bkctl-node-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testenv.MainNode(m, &env, bin.Remove)
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// bkctl runs the binary against the environment (KUBECONFIG) and returns what it printed.
func bkctl(t testing.TB, timeout time.Duration, args ...string) result {
	t.Helper()
	path := bin.Path(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Kubeconfig, "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	if err != nil {
		r.code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
	}
	return r
}

// mustBkctl is bkctl that fails the test unless the command exits 0.
func mustBkctl(t testing.TB, timeout time.Duration, args ...string) result {
	t.Helper()
	r := bkctl(t, timeout, args...)
	if r.code != 0 {
		t.Fatalf("bkctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// kubectl runs the test kubectl against the environment.
func kubectl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(env.BinDir, "kubectl"), append([]string{"--kubeconfig", env.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func clientset(t testing.TB) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// repoFile returns the path of a file of the repository (the package runs in test/node).
func repoFile(elem ...string) string {
	return filepath.Join(append([]string{"..", ".."}, elem...)...)
}
