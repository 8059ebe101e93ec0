package testenv_test

import (
	"testing"

	"github.com/bkctl/bkctl/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }
