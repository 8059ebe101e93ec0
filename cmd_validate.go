package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/bkctl/bkctl/internal/render"
	"github.com/bkctl/bkctl/internal/spec"
)

type validateCmd struct {
	fileFlags
	outputFlag
}

func (c *validateCmd) Help() string {
	return `Checks each file in three layers — YAML syntax, the JSON Schema (unknown fields,
types), and the rules that Kubernetes and buildx would enforce later (names, platforms,
quantities, tolerations, buildkitd.toml, podTemplate patches) — and reports every problem as
file:line:col: message. The files are also checked as one fleet: a builder or node defined in
two files is reported at both places. Nothing is sent to a cluster.

Exit status: 0 when every file is valid, 1 when any is invalid or unreadable.

Examples:
  bkctl validate
  bkctl validate ci/*.builders.yaml
  bkctl validate -f ci/
  bkctl validate -o json -f builders.yaml | jq '.files[].errors'
  cat builders.yaml | bkctl validate -f -`
}

// fileReport is the outcome for one file, in the JSON form of validate.
type fileReport struct {
	File     string       `json:"file"`
	Valid    bool         `json:"valid"`
	Builders int          `json:"builders"`
	Nodes    int          `json:"nodes"`
	Errors   []diagnostic `json:"errors"`
	Warnings []diagnostic `json:"warnings"`
	file     *spec.File
}

type diagnostic struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	text    string
}

func toDiagnostics(ds []spec.Diagnostic) []diagnostic {
	out := make([]diagnostic, 0, len(ds))
	for _, d := range ds {
		out = append(out, diagnostic{File: d.Pos.File, Line: d.Pos.Line, Column: d.Pos.Col, Field: d.Field, Message: d.Message, text: d.String()})
	}
	return out
}

func (c *validateCmd) Run(s streams) error {
	files, err := c.paths()
	if err != nil {
		return usageErr(err)
	}
	reports := validateFiles(files, c.options(), s.In)
	checkFleet(reports)
	invalid := 0
	for _, r := range reports {
		if !r.Valid {
			invalid++
		}
	}
	if c.Output != "text" {
		if err := writeDoc(s, c.Output, "ValidationResult", struct {
			Valid bool         `json:"valid"`
			Files []fileReport `json:"files"`
		}{invalid == 0, reports}); err != nil {
			return err
		}
	} else {
		printReports(s.Out, s.Err, reports, invalid)
	}
	if invalid > 0 {
		return errReported
	}
	return nil
}

// validateFiles loads every file, in parallel, and returns the reports in the order given.
func validateFiles(files []string, opts spec.Options, stdin io.Reader) []fileReport {
	reports := make([]fileReport, len(files))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Go(func() {
			for i := range work {
				reports[i] = validateFile(files[i], opts, stdin)
			}
		})
	}
	for i := range files {
		work <- i
	}
	close(work)
	wg.Wait()
	return reports
}

func validateFile(path string, opts spec.Options, stdin io.Reader) fileReport {
	r := fileReport{File: path, Errors: []diagnostic{}}
	res, err := spec.LoadWith(path, stdin, opts)
	r.Warnings = toDiagnostics(res.Warnings)
	var se *spec.Error
	switch {
	case errors.As(err, &se):
		r.Errors = toDiagnostics(se.Diagnostics)
	case err != nil:
		r.Errors = []diagnostic{{File: path, Message: err.Error(), text: fmt.Sprintf("%s: %v", path, err)}}
	default:
		// A podTemplate patch with a field a pod does not have is only found by rendering, which
		// costs more than all the checks above (~20 ms): only files with a patch pay for it.
		if hasPodTemplate(res.File) {
			if _, err := render.Render(res.File); err != nil {
				r.Errors = renderDiagnostics(path, err)
				return r
			}
		}
		r.Valid, r.file = true, res.File
		r.Builders = len(res.File.Builders)
		for _, b := range res.File.Builders {
			r.Nodes += len(b.Nodes)
		}
	}
	return r
}

// checkFleet checks the valid files as one fleet (spec.Fleet): what two files both define is
// an error in each of them.
func checkFleet(reports []fileReport) {
	var files []*spec.File
	byPath := map[string]*fileReport{}
	for i := range reports {
		if r := &reports[i]; r.Valid {
			files = append(files, r.file)
			byPath[r.file.Path] = r
		}
	}
	if len(files) < 2 {
		return
	}
	_, diags := spec.Fleet(files)
	for _, d := range toDiagnostics(diags) {
		if r := byPath[d.File]; r != nil {
			r.Errors = append(r.Errors, d)
			r.Valid = false
		}
	}
}

func hasPodTemplate(f *spec.File) bool {
	for _, b := range f.Builders {
		for _, n := range b.Nodes {
			if len(n.PodTemplate) > 0 {
				return true
			}
		}
	}
	return false
}

// renderDiagnostics lists the errors that render joined, each at its builder or node.
func renderDiagnostics(path string, err error) []diagnostic {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]diagnostic, 0, len(errs))
	for _, e := range errs {
		var re *render.Error
		if errors.As(e, &re) {
			out = append(out, diagnostic{File: re.Pos.File, Line: re.Pos.Line, Column: re.Pos.Col, Message: re.Message, text: re.Error()})
		} else {
			out = append(out, diagnostic{File: path, Message: e.Error(), text: fmt.Sprintf("%s: %v", path, e)})
		}
	}
	return out
}

func printReports(out, errw io.Writer, reports []fileReport, invalid int) {
	for _, r := range reports {
		for _, d := range r.Errors {
			fmt.Fprintln(errw, d.text)
		}
		for _, d := range r.Warnings {
			fmt.Fprintln(errw, d.text)
		}
		if r.Valid {
			fmt.Fprintf(out, "%s: valid (%s, %s)\n", r.File, plural(r.Builders, "builder"), plural(r.Nodes, "node"))
		}
	}
	if invalid > 0 {
		errs := 0
		for _, r := range reports {
			errs += len(r.Errors)
		}
		fmt.Fprintf(errw, "%s in %s\n", plural(errs, "error"), plural(invalid, "invalid file"))
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
