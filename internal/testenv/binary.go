package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Binary is the bkctl binary, built in the background while an environment starts, for tests
// that run it as a user would (a signal must reach a real process; a real node runs it as a
// separate client).
type Binary struct {
	dir, path string
	err       error
	done      chan struct{}
}

// BuildBinary starts `go build` of the bkctl command into a new temporary directory named after
// pattern (as os.MkdirTemp) and returns at once; Path waits for it.
func BuildBinary(pattern string) (*Binary, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return nil, err
	}
	b := &Binary{dir: dir, path: filepath.Join(dir, "bkctl"), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		out, err := exec.Command("go", "build", "-o", b.path, "github.com/bkctl/bkctl").CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build github.com/bkctl/bkctl: %v\n%s", err, out)
		}
	}()
	return b, nil
}

// Path waits for the build and returns the binary; a failed build fails t.
func (b *Binary) Path(t testing.TB) string {
	t.Helper()
	<-b.done
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Remove waits for the build and removes the binary's directory.
func (b *Binary) Remove() {
	<-b.done
	os.RemoveAll(b.dir)
}
