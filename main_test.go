package main

import (
	"sync"
	"testing"

	"github.com/bkctl/bkctl/internal/testenv"
)

// The environment starts on the first test that needs it, so the tests of the CLI that need no
// cluster (help, validate, render, the bad-input corpus) run without one: go test -short.
var (
	lazy    testenv.Lazy
	env     *testenv.Env
	envOnce sync.Once
)

func TestMain(m *testing.M) { testenv.MainLazy(m, &lazy) }

// needCluster starts the test environment, or attaches to it, before a test that uses env.
func needCluster(t testing.TB) {
	t.Helper()
	e := lazy.Require(t)
	envOnce.Do(func() { env = e })
}
