package buildrun

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/subrequests/lint"
)

// PrintCall writes the result of a CallFunc to w as buildx does (the lint report of --check
// with BuildKit's own printer; result.txt, or result.json with format=json, for the others) and
// returns the exit code the result asks for: the frontend's result.statuscode unless
// IgnoreStatus. A lint error (a rule set to fail the check) is returned as the error.
func PrintCall(w io.Writer, f *CallFunc, res map[string]string) (int, error) {
	if f.Name == "lint" && f.Format != "json" {
		var lr lint.LintResults
		if dt, ok := res["result.json"]; ok {
			if err := json.Unmarshal([]byte(dt), &lr); err != nil {
				return 0, fmt.Errorf("read lint result: %w", err)
			}
		}
		switch n := len(lr.Warnings); {
		case n == 1:
			fmt.Fprintln(w, "Check complete, 1 warning has been found!")
		case n > 1:
			fmt.Fprintf(w, "Check complete, %d warnings have been found!\n", n)
		}
		if err := lr.PrintTo(w, nil); err != nil {
			return 0, err
		}
		if lr.Error != nil {
			var b strings.Builder
			lr.PrintErrorTo(&b, nil)
			return 0, errors.New(b.String())
		}
		if len(lr.Warnings) == 0 {
			fmt.Fprintln(w, "Check complete, no warnings found.")
		}
	} else if dt, ok := res["result.json"]; ok && f.Format == "json" {
		fmt.Fprintln(w, dt)
	} else if dt, ok := res["result.txt"]; ok {
		fmt.Fprint(w, dt)
	} else {
		fmt.Fprintf(w, "%s %v\n", f.Name, res)
	}
	if v, ok := res["result.statuscode"]; ok && !f.IgnoreStatus {
		if n, err := strconv.Atoi(v); err == nil && n != 0 {
			return n, nil
		}
	}
	return 0, nil
}
