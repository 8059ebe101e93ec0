package spec

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Severity tells whether a diagnostic makes a file invalid.
type Severity string

// Severities of a Diagnostic.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Diagnostic is one finding about a builders file, located at the value it is about.
type Diagnostic struct {
	Pos      Pos      `json:"-"`
	Severity Severity `json:"severity"`
	// Field is the path of the value, e.g. builders[0].nodes[1].replicas; empty for the whole file.
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// String formats the diagnostic as file:line:col: message, the way compilers do.
func (d Diagnostic) String() string {
	prefix := ""
	if d.Severity == SeverityWarning {
		prefix = "warning: "
	}
	field := ""
	if d.Field != "" {
		field = d.Field + ": "
	}
	return fmt.Sprintf("%s: %s%s%s", d.Pos, prefix, field, d.Message)
}

// String formats the position as file:line:col, or file:line, or file when unknown.
func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is returned when a builders file is invalid; it carries every error diagnostic, sorted.
type Error struct {
	Diagnostics []Diagnostic
}

// Error joins all diagnostics, one per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Diagnostics))
	for i, d := range e.Diagnostics {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// diagnostics collects findings while a file is loaded.
type diagnostics struct {
	list []Diagnostic
}

func (ds *diagnostics) errorf(pos Pos, field, format string, args ...any) {
	ds.list = append(ds.list, Diagnostic{Pos: pos, Severity: SeverityError, Field: field, Message: fmt.Sprintf(format, shortArgs(format, args)...)})
}

func (ds *diagnostics) warnf(pos Pos, field, format string, args ...any) {
	ds.list = append(ds.list, Diagnostic{Pos: pos, Severity: SeverityWarning, Field: field, Message: fmt.Sprintf(format, shortArgs(format, args)...)})
}

// maxShown is how many bytes of a value a message quotes; the position shows the rest.
const maxShown = 100

// shortArgs shortens the long strings that format quotes with %q (the values a message
// shows), so that a message about a megabyte value stays one readable line.
func shortArgs(format string, args []any) []any {
	n := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		j := i + 1
		for j < len(format) && strings.IndexByte("+-# 0123456789.", format[j]) >= 0 {
			j++
		}
		if j == len(format) || format[j] == '%' {
			i = j
			continue
		}
		if format[j] == 'q' && n < len(args) {
			if s, ok := args[n].(string); ok {
				args[n] = shorten(s)
			}
		}
		n++
		i = j
	}
	return args
}

// shorten cuts s after about maxShown bytes, at a character boundary, and marks the cut.
func shorten(s string) string {
	if len(s) <= maxShown {
		return s
	}
	cut := maxShown - 20
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func (ds *diagnostics) hasErrors() bool {
	return slices.ContainsFunc(ds.list, func(d Diagnostic) bool { return d.Severity == SeverityError })
}

// split returns the sorted errors and warnings, without exact duplicates.
func (ds *diagnostics) split() (errs, warns []Diagnostic) {
	sortDiagnostics(ds.list)
	ds.list = slices.Compact(ds.list)
	for _, d := range ds.list {
		if d.Severity == SeverityError {
			errs = append(errs, d)
		} else {
			warns = append(warns, d)
		}
	}
	return errs, warns
}

func sortDiagnostics(list []Diagnostic) {
	slices.SortStableFunc(list, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
			cmp.Compare(a.Field, b.Field),
			cmp.Compare(a.Message, b.Message),
		)
	})
}
