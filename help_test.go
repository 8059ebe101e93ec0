package main

import (
	"strings"
	"testing"
)

// TestEveryCommandHasHelpWithExamples walks the command tree: each leaf command's --help exits
// 0 and shows examples, as kubectl's and buildx's do.
func TestEveryCommandHasHelpWithExamples(t *testing.T) {
	commands := [][]string{
		{"validate"}, {"render"}, {"plan"}, {"apply"}, {"delete"}, {"run"}, {"ls"}, {"status"},
		{"import"}, {"buildx", "write"}, {"schema"}, {"version"}, {"completion"}, {"help"},
	}
	_, top, _ := runCLI(t, "", "--help")
	for _, c := range commands {
		if !strings.Contains(top, "\n  "+c[0]+" ") {
			t.Errorf("bkctl --help does not list %q:\n%s", c[0], top)
		}
		code, out, errs := runCLI(t, "", append(c, "--help")...)
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "bkctl "+strings.Join(c, " ")) {
			t.Errorf("bkctl %s --help: exit %d, no examples\nstdout:\n%s\nstderr:\n%s", strings.Join(c, " "), code, out, errs)
		}
	}
}
