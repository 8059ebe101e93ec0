package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path"
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

// The packages of bkctl's programs: bkctl, and bkctl-bake, which bkctl bake runs.
const (
	BkctlPackage = "github.com/bkctl/bkctl"
	BakePackage  = "github.com/bkctl/bkctl/cmd/bkctl-bake"
)

// BuildBinary starts `go build` of the bkctl command, with bkctl-bake next to it as an install
// puts it, into a new temporary directory named after pattern (as os.MkdirTemp) and returns at
// once; Path waits for it.
func BuildBinary(pattern string) (*Binary, error) {
	return BuildPrograms(pattern, BkctlPackage, BakePackage)
}

// BuildPrograms starts `go build` of main packages into a new temporary directory; Path is the
// first one's program.
func BuildPrograms(pattern string, pkgs ...string) (*Binary, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return nil, err
	}
	b := &Binary{dir: dir, path: filepath.Join(dir, path.Base(pkgs[0])), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		args := append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build %v: %v\n%s", pkgs, err, out)
		}
	}()
	return b, nil
}

// Dir waits for the build and returns the directory of the programs; a failed build fails t.
func (b *Binary) Dir(t testing.TB) string {
	t.Helper()
	b.Path(t)
	return b.dir
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
