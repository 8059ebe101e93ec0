package spec

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the loader: it must return a File or an *Error, never
// panic, and every error must carry a position.
func FuzzParse(f *testing.F) {
	examples, _ := filepath.Glob("../../examples/*.yaml")
	for _, e := range examples {
		if data, err := os.ReadFile(e); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(header + "  - name: kube\n    nodes: [{platforms: [linux/amd64], replicas: 2}]\n"))
	f.Add([]byte(aliasBomb()))
	f.Add([]byte("a: &a {b: *a}\n"))
	f.Add([]byte("{[: ]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Parse("fuzz.yaml", data)
		if err == nil {
			if res.File == nil {
				t.Fatal("nil File without error")
			}
			return
		}
		var se *Error
		if !errors.As(err, &se) || len(se.Diagnostics) == 0 {
			t.Fatalf("error without diagnostics: %v", err)
		}
		for _, d := range se.Diagnostics {
			if d.Pos.Line < 1 || d.Pos.File == "" {
				t.Fatalf("diagnostic without position: %+v", d)
			}
		}
	})
}
