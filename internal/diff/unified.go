package diff

import (
	"fmt"
	"strings"

	"github.com/sergi/go-diff/diffmatchpatch"
)

// line is one line of a line diff: ' ' kept, '-' removed, '+' added.
type line struct {
	op   byte
	text string
}

// lineDiff diffs a and b line by line.
func lineDiff(a, b string) []line {
	dmp := diffmatchpatch.New()
	ca, cb, lines := dmp.DiffLinesToChars(a, b)
	diffs := dmp.DiffCharsToLines(dmp.DiffMain(ca, cb, false), lines)
	var out []line
	for _, d := range diffs {
		op := byte(' ')
		switch d.Type {
		case diffmatchpatch.DiffDelete:
			op = '-'
		case diffmatchpatch.DiffInsert:
			op = '+'
		}
		for _, l := range strings.SplitAfter(d.Text, "\n") {
			if l != "" {
				out = append(out, line{op, strings.TrimSuffix(l, "\n")})
			}
		}
	}
	return out
}

// unified returns the hunks of a unified diff of a and b with ctx lines of context, without
// the ---/+++ header; "" when they are equal.
func unified(a, b string, ctx int) []string {
	return hunks(lineDiff(a, b), ctx)
}

// hunks returns the hunks of the line diff ls with ctx lines of context.
func hunks(ls []line, ctx int) []string {
	var out []string
	for i := 0; i < len(ls); {
		if ls[i].op == ' ' {
			i++
			continue
		}
		start := max(0, i-ctx)
		end := i
		for end < len(ls) {
			if ls[end].op != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ls) && ls[run].op == ' ' {
				run++
			}
			if run == len(ls) || run-end > 2*ctx {
				end = min(end+ctx, len(ls))
				break
			}
			end = run
		}
		aStart, bStart := 1, 1
		for _, l := range ls[:start] {
			if l.op != '+' {
				aStart++
			}
			if l.op != '-' {
				bStart++
			}
		}
		aN, bN := 0, 0
		body := make([]string, 0, end-start)
		for _, l := range ls[start:end] {
			if l.op != '+' {
				aN++
			}
			if l.op != '-' {
				bN++
			}
			body = append(body, string(l.op)+l.text)
		}
		if aN == 0 {
			aStart--
		}
		if bN == 0 {
			bStart--
		}
		out = append(out, fmt.Sprintf("@@ -%d,%d +%d,%d @@", aStart, aN, bStart, bN))
		out = append(out, body...)
		i = end
	}
	return out
}
