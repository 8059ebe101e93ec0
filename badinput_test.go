package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/bkctl/bkctl/internal/golden"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// badDir holds the bad-input corpus: each <name>.yaml next to <name>.want, the exact stderr of
// `bkctl validate testdata/bad/<name>.yaml`. The class is the name up to its first dash.
const badDir = "testdata/bad"

// fieldClasses are the classes whose errors are about one field: each of their files names it
// in a "# field: <path>" line, and the first error must name it too.
var fieldClasses = map[string]bool{"schema": true, "type": true, "unknown": true, "dup": true, "rule": true}

// badCase is one bad input: a committed file, or one generated into a temporary directory
// because it is too large to commit.
type badCase struct {
	name, path, class string
	field             string // the field the first error must name ("" for file-level errors)
	errFile           string // the file the first error is in, when not path (a buildkitd.toml)
	generated         bool
}

var (
	fieldRE   = regexp.MustCompile(`(?m)^# field: (.+?)\r?$`)
	errFileRE = regexp.MustCompile(`(?m)^# error-file: (.+?)\r?$`)
)

// badCases lists the committed corpus and writes the generated cases into dir.
func badCases(t *testing.T, dir string) []badCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(badDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad inputs under %s: %v", badDir, err)
	}
	var cases []badCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		c := badCase{name: name, path: f, class: strings.SplitN(name, "-", 2)[0], errFile: f}
		head := data[:min(len(data), 1024)]
		if m := fieldRE.FindSubmatch(head); m != nil {
			c.field = string(m[1])
		}
		if m := errFileRE.FindSubmatch(head); m != nil {
			c.errFile = filepath.Join(badDir, string(m[1]))
		}
		cases = append(cases, c)
	}
	for _, g := range generatedCases {
		path := filepath.Join(dir, g.name+".yaml")
		if err := os.WriteFile(path, g.gen(), 0o644); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, badCase{name: g.name, path: path, class: strings.SplitN(g.name, "-", 2)[0], field: g.field, errFile: path, generated: true})
	}
	return cases
}

// runBounded runs bkctl in-process with a deadline, so that a hang fails the case instead of
// the whole test binary, and turns a panic into a failure that names the case.
func runBounded(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	type result struct {
		code     int
		out, err string
		panicked any
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	go func() {
		var r result
		defer func() {
			r.panicked = recover()
			done <- r
		}()
		var out, errw bytes.Buffer
		r.code = run(ctx, args, streams{In: strings.NewReader(""), Out: &out, Err: &errw})
		r.out, r.err = out.String(), errw.String()
	}()
	select {
	case r := <-done:
		if r.panicked != nil {
			t.Fatalf("bkctl %s panicked: %v", strings.Join(args, " "), r.panicked)
		}
		return r.code, r.out, r.err
	case <-time.After(3 * time.Minute):
		t.Fatalf("bkctl %s did not return within 3 minutes", strings.Join(args, " "))
		return 0, "", ""
	}
}

// goInternals are pieces of Go or library error text that a user should never see.
var goInternals = regexp.MustCompile(`panic|goroutine |runtime error|yaml: |json: |cannot unmarshal|%!|<nil>`)

// checkDiagnostics asserts what every bad input's stderr must show: a first line at
// file:line:col, naming the field for the classes about one field, and no Go internals.
func checkDiagnostics(t *testing.T, c badCase, stderr string) {
	t.Helper()
	first, _, _ := strings.Cut(stderr, "\n")
	first = strings.TrimPrefix(first, "Error: ")
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(c.errFile) + `:\d+:\d+: `).MatchString(first) {
		t.Errorf("first error line %q does not start with %s:line:col:", first, c.errFile)
	}
	if fieldClasses[c.class] && c.field == "" {
		t.Errorf("%s is in class %q but has no \"# field:\" line naming the field its first error is about", c.path, c.class)
	}
	// The field as a whole path: "builders[0].nodes[0]" is not named by "builders[0].nodes[0].name".
	if c.field != "" && !regexp.MustCompile(`(^|[\s"(])`+regexp.QuoteMeta(c.field)+`($|[^\w.\[])`).MatchString(first) {
		t.Errorf("first error line %q does not name the field %s", first, c.field)
	}
	if m := goInternals.FindString(stderr); m != "" {
		t.Errorf("stderr shows Go internals (%q):\n%s", m, stderr)
	}
}

// TestBadInputValidate runs `bkctl validate` on every bad input: each exits 1, prints nothing
// on stdout and prints exactly its golden on stderr, at file:line:col, naming the field.
func TestBadInputValidate(t *testing.T) {
	tmp := t.TempDir()
	cases := badCases(t, tmp)
	classes := map[string]int{}
	for _, c := range cases {
		classes[c.class]++
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runBounded(t, "validate", c.path)
			if code != 1 || stdout != "" {
				t.Errorf("validate %s: exit %d, stdout %q; want exit 1 and no stdout", c.path, code, stdout)
			}
			checkDiagnostics(t, c, stderr)
			got := strings.ReplaceAll(stderr, tmp+string(filepath.Separator), "$TMP/")
			golden.Check(t, filepath.Join(badDir, c.name+".want"), []byte(got))
		})
	}
	t.Logf("%d bad inputs tried (%d generated), in %d classes: %s", len(cases), len(generatedCases), len(classes), classCounts(classes))
	checkNoOrphanGoldens(t, cases)
}

func classCounts(classes map[string]int) string {
	var parts []string
	for c, n := range classes {
		parts = append(parts, fmt.Sprintf("%s %d", c, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// checkNoOrphanGoldens fails on a .want whose case is gone, so that the corpus cannot shrink
// unnoticed.
func checkNoOrphanGoldens(t *testing.T, cases []badCase) {
	t.Helper()
	known := map[string]bool{}
	for _, c := range cases {
		known[c.name] = true
	}
	wants, _ := filepath.Glob(filepath.Join(badDir, "*.want"))
	for _, w := range wants {
		if name := strings.TrimSuffix(filepath.Base(w), ".want"); !known[name] {
			t.Errorf("%s has no case (remove it, or add %s.yaml)", w, name)
		}
	}
	if len(wants) != len(cases) && !golden.Update() {
		t.Errorf("%d goldens for %d cases", len(wants), len(cases))
	}
}
