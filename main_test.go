package main

import (
	"testing"

	"github.com/bkctl/bkctl/internal/testenv"
)

// The environment starts on the first test that needs it, so the tests of the CLI that need no
// cluster (help, validate, render, the bad-input corpus) run without one: go test -short.
var (
	lazy testenv.Lazy
	env  *testenv.Env
)

func TestMain(m *testing.M) { testenv.MainLazy(m, &lazy, &env) }
