package diff

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TextOptions configure WriteText.
type TextOptions struct {
	// Color adds ANSI colours; the caller decides (a terminal, and no NO_COLOR).
	Color bool
	// Context is the number of unchanged lines around each change in the YAML diffs.
	Context int
}

// DefaultTextOptions returns the options of `bkctl plan`: no colour, three lines of context.
func DefaultTextOptions() TextOptions { return TextOptions{Context: 3} }

const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiYel   = "\x1b[33m"
	ansiCyan  = "\x1b[36m"
)

// WriteText writes the plan in its one text form: the node summary in the file's words, the
// object list, a count line, then unified diffs of the YAML.
func WriteText(w io.Writer, p *Plan, opts TextOptions) error {
	// written as it goes: the diffs of thousands of objects are megabytes
	b := bufio.NewWriter(w)
	paint := func(color, s string) string {
		if !opts.Color || s == "" {
			return s
		}
		return color + s + ansiReset
	}
	actionColor := map[Action]string{Create: ansiGreen, Update: ansiYel, Replace: ansiRed, Prune: ansiRed, Conflict: ansiRed + ansiBold}

	if !p.Pending() {
		fmt.Fprintf(b, "%s: in sync (%d objects unchanged)\n", p.Name, len(p.Changes))
		return b.Flush()
	}
	if sum := p.Summary(); len(sum) > 0 {
		b.WriteString(paint(ansiBold, "Builders:") + "\n")
		for _, s := range sum {
			fmt.Fprintf(b, "  %s\n", paint(actionColor[s.Action], s.String()))
		}
		b.WriteString("\n")
	}
	b.WriteString(paint(ansiBold, "Objects:") + "\n")
	for _, c := range p.Changes {
		fmt.Fprintf(b, "  %s\n", paint(actionColor[c.Action], objectLine(c)))
	}
	inv := p.Inventory
	fmt.Fprintf(b, "  %s\n", paint(actionColor[inv.Action], fmt.Sprintf("%s %-9s %s (inventory)", inv.Action.symbol(), inv.Action, inv.Ref)))
	n := p.Count()
	replace := ""
	if n[Replace] > 0 {
		replace = fmt.Sprintf("%d to replace, ", n[Replace])
	}
	fmt.Fprintf(b, "\nPlan: %d to create, %d to update, %s%d to prune, %d unchanged, %s.\n",
		n[Create], n[Update], replace, n[Prune], n[Unchanged], plural(n[Conflict], "conflict"))
	for _, c := range p.Changes {
		hunks := Hunks(c, opts.Context)
		if len(hunks) == 0 {
			continue
		}
		before, after := "(live)", "(planned)"
		if c.Live == nil {
			before = "(absent)"
		}
		if c.Action == Replace {
			after = "(recreated)"
		}
		if c.Action == Prune {
			after = "(pruned)"
		}
		fmt.Fprintf(b, "\n%s\n%s\n", paint(ansiBold, "--- "+c.Ref.String()+" "+before), paint(ansiBold, "+++ "+c.Ref.String()+" "+after))
		for _, h := range hunks {
			switch {
			case strings.HasPrefix(h, "@@"):
				h = paint(ansiCyan, h)
			case strings.HasPrefix(h, "-"):
				h = paint(ansiRed, h)
			case strings.HasPrefix(h, "+"):
				h = paint(ansiGreen, h)
			}
			b.WriteString(h + "\n")
		}
	}
	return b.Flush()
}

func objectLine(c Change) string {
	s := fmt.Sprintf("%s %-9s %s", c.Action.symbol(), c.Action, c.Ref)
	switch c.Action {
	case Update:
		if len(c.Fields) > 0 {
			s += ": " + strings.Join(c.Fields, ", ")
		}
	case Replace:
		s += ": " + replaceReason(c.Immutable) + " (hint: --force-replace deletes and recreates it"
		if c.Ref.Kind == "StatefulSet" {
			s += ", keeping its volume claims unless --prune-pvcs"
		}
		s += ")"
	case Conflict:
		var parts []string
		hint := "moves it to this file's inventory"
		for _, o := range c.Conflicts {
			parts = append(parts, o.Describe())
			if !slices.Equal(o.Fields, []string{PartOfField}) {
				hint = "takes them over"
			}
		}
		s += ": " + strings.Join(parts, "; ") + " (hint: --force-conflicts " + hint + ")"
	}
	for _, o := range c.Drift {
		s += fmt.Sprintf(" [drift: %s set by %q]", strings.Join(o.Fields, ", "), o.Manager)
	}
	return s
}

// replaceReason says why an object must be replaced.
func replaceReason(immutable []string) string {
	if slices.Equal(immutable, []string{"kind"}) {
		return "the node changes kind, and the workload of the old kind is deleted"
	}
	if len(immutable) == 1 {
		return immutable[0] + " is immutable"
	}
	return strings.Join(immutable, ", ") + " are immutable"
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// Hunks returns the unified diff hunks (lines starting with "@@", " ", "-", "+") of one change:
// the rendered object for a create, the live one for a prune, live against the dry-run for an
// update. Status, server metadata and unchanged server defaults are left out; Secret values are
// masked. A compacted change (Compact) has its diff already.
func Hunks(c Change, context int) []string {
	if c.diffed {
		return hunks(unpack(c.lines), context)
	}
	before, after, ok := sides(c)
	if !ok {
		return nil
	}
	return unified(toYAML(before), toYAML(after), context)
}

// sides returns the two objects the diff of c compares, normalized and masked; ok is false
// when c has no diff.
func sides(c Change) (before, after *unstructured.Unstructured, ok bool) {
	switch c.Action {
	case Unchanged:
		return nil, nil, false
	case Create:
		after = Normalize(c.Desired)
	case Replace:
		before, after = Normalize(c.Live), Normalize(c.Merged)
		if c.Merged == nil {
			after = Normalize(c.Desired)
		}
	case Prune:
		before = Normalize(c.Live)
	default:
		before, after = Normalize(c.Live), Normalize(c.Merged)
	}
	before, after = maskSecrets(before, after)
	return before, after, true
}

// toYAML prints o as sigs.k8s.io/yaml does, without its round trip through JSON (which parses
// the JSON again as YAML: most of what a plan of thousands of changes allocates). The values of
// an unstructured object are already JSON's (maps with string keys, lists, strings, int64,
// float64, bools, nulls), which go-yaml prints as the round trip would, keys sorted alike.
func toYAML(o *unstructured.Unstructured) string {
	if o == nil {
		return ""
	}
	b, err := yaml.Marshal(o.Object)
	if err != nil {
		return fmt.Sprintf("# cannot print %s: %v\n", RefOf(o), err)
	}
	return string(b)
}
