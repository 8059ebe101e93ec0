package spec_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bkctl/bkctl/internal/render"
	"github.com/bkctl/bkctl/internal/spec"
)

// TestLineEndingsAndBOM: a valid file stays valid, and means exactly the same, when an editor
// saves it with CRLF (Windows) or CR line endings or a UTF-8 byte order mark: every example
// renders to the same bytes in each form, and its nodes keep their lines.
func TestLineEndingsAndBOM(t *testing.T) {
	examples, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	variants := map[string]func([]byte) []byte{
		"crlf": func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) },
		"cr":   func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r")) },
		"bom":  func(b []byte) []byte { return append([]byte("\uFEFF"), b...) },
		"bom+crlf": func(b []byte) []byte {
			return append([]byte("\uFEFF"), bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))...)
		},
	}
	for _, ex := range examples {
		data, err := os.ReadFile(ex)
		if err != nil {
			t.Fatal(err)
		}
		want, wantLines := renderYAML(t, ex, data)
		for name, v := range variants {
			t.Run(filepath.Base(ex)+"/"+name, func(t *testing.T) {
				got, gotLines := renderYAML(t, ex, v(data))
				if got != want {
					t.Errorf("renders differently from the LF file:\n%s\nwant:\n%s", got, want)
				}
				if gotLines != wantLines {
					t.Errorf("node positions %s, want %s", gotLines, wantLines)
				}
			})
		}
	}
}

// renderYAML loads data as the file name and returns its rendered objects and its nodes'
// positions.
func renderYAML(t *testing.T, name string, data []byte) (string, string) {
	t.Helper()
	res, err := spec.Parse(name, data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	objs, err := render.Render(res.File)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	var out, lines strings.Builder
	if err := render.WriteYAML(&out, objs); err != nil {
		t.Fatal(err)
	}
	for _, b := range res.File.Builders {
		for _, n := range b.Nodes {
			lines.WriteString(n.Pos.String() + " ")
		}
	}
	return out.String(), lines.String()
}
