package spec_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bkctl/bkctl/internal/render"
	"github.com/bkctl/bkctl/internal/spec"
)

// TestBadCorpus loads every file of the bad-input corpus (testdata/bad) without a cluster, as
// `make test-unit` runs it: each is refused (by the loader, or by render for a podTemplate
// patch), and the first diagnostic is the first line of the case's golden, which package
// main's TestBadInputValidate checks in full through the CLI.
func TestBadCorpus(t *testing.T) {
	t.Chdir("../..") // so that names, and the buildkitd.toml paths resolved from them, are as in the goldens
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) < 60 {
		t.Fatalf("want at least 60 bad inputs under testdata/bad, found %d (%v)", len(files), err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			golden, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".want")
			if err != nil {
				t.Fatal(err)
			}
			want, _, _ := strings.Cut(string(golden), "\n")
			res, err := spec.Load(f, nil)
			var got string
			var se *spec.Error
			switch {
			case errors.As(err, &se):
				got = se.Diagnostics[0].String()
			case err != nil:
				t.Fatalf("Load: %v, want a *spec.Error", err)
			default:
				_, rerr := render.Render(res.File)
				if rerr == nil {
					t.Fatalf("%s loads and renders; a bad input must be refused", f)
				}
				got, _, _ = strings.Cut(rerr.Error(), "\n")
			}
			if got != want {
				t.Errorf("first diagnostic:\n  %s\nwant (first line of the golden):\n  %s", got, want)
			}
		})
	}
}
