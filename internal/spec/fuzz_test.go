package spec_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bkctl/bkctl/internal/render"
	"github.com/bkctl/bkctl/internal/spec"
)

// FuzzParse feeds arbitrary bytes to the loader: it must return a File or an *Error, never
// panic, and every error must carry a position. A file that loads is rendered too: render must
// not panic on anything the loader accepts, and its errors must carry a position as well.
// The seeds are the examples and the bad-input corpus (testdata/bad).
func FuzzParse(f *testing.F) {
	for _, glob := range []string{"../../examples/*.yaml", "../../testdata/bad/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, e := range files {
			if data, err := os.ReadFile(e); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte(spec.Header + "  - name: kube\n    nodes: [{platforms: [linux/amd64], replicas: 2}]\n"))
	f.Add([]byte(spec.Header + "  - name: kube\n    nodes: [{podTemplate: {spec: {hostNetwork: true}}}]\n"))
	f.Add([]byte(spec.AliasBomb()))
	f.Add([]byte("a: &a {b: *a}\n"))
	f.Add([]byte("{[: ]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := spec.Parse("fuzz.yaml", data)
		if err == nil {
			if res.File == nil {
				t.Fatal("nil File without error")
			}
			checkRender(t, res.File)
			return
		}
		var se *spec.Error
		if !errors.As(err, &se) || len(se.Diagnostics) == 0 {
			t.Fatalf("error without diagnostics: %v", err)
		}
		for _, d := range se.Diagnostics {
			if d.Pos.Line < 1 || d.Pos.Col < 1 || d.Pos.File == "" {
				t.Fatalf("diagnostic without position: %+v", d)
			}
		}
	})
}

func checkRender(t *testing.T, f *spec.File) {
	_, err := render.Render(f)
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var re *render.Error
		if !errors.As(e, &re) || re.Pos.Line < 1 {
			t.Fatalf("render error without position: %v", e)
		}
	}
}
