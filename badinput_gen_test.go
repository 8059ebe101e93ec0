package main

import (
	"fmt"
	"strings"
)

// badHeader starts the generated files that are a builders file up to their bad part.
const badHeader = "apiVersion: bkctl/v1alpha1\nkind: Builders\nmetadata: {name: ci, namespace: buildkit}\nbuilders:\n"

// generatedCases are bad inputs too large to commit (up to 50 MB); the tests write them into
// a temporary directory. Their goldens are testdata/bad/<name>.want, with the directory
// written as $TMP.
var generatedCases = []struct {
	name  string
	field string
	gen   func() []byte
}{
	{name: "limit-file-50mb", gen: func() []byte {
		return []byte(badHeader + "  - name: kube\n    nodes: [{}]\n" + strings.Repeat("# padding padding padding padding padding padding\n", 50<<20/50))
	}},
	{name: "limit-file-4mib-and-1-byte", gen: func() []byte {
		b := []byte(badHeader + "  - name: kube\n    nodes: [{}]\n#")
		return append(b, strings.Repeat("x", 4<<20+1-len(b))...)
	}},
	{name: "limit-10k-nodes-last-invalid", field: "builders[0].nodes[9999].replicas", gen: func() []byte {
		return nodes(10_000, func(i int) string {
			if i == 9_999 {
				return fmt.Sprintf("{name: n%d, replicas: many}", i)
			}
			return fmt.Sprintf("{name: n%d}", i)
		})
	}},
	{name: "limit-10k-nodes-all-invalid", field: "builders[0].nodes[0].name", gen: func() []byte {
		return nodes(10_000, func(i int) string { return fmt.Sprintf("{name: N_%d}", i) })
	}},
	{name: "limit-100k-lines-then-bad-indent", gen: func() []byte {
		b := nodes(100_000, func(i int) string { return fmt.Sprintf("{name: n%d}", i) })
		return append(b, "     - {name: misplaced}\n"...)
	}},
	{name: "limit-100k-deep-flow-sequence", gen: func() []byte {
		return []byte(strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "\n")
	}},
	{name: "limit-100k-deep-flow-mapping", gen: func() []byte {
		return []byte(strings.Repeat("{a: ", 100_000) + "1" + strings.Repeat("}", 100_000) + "\n")
	}},
	{name: "limit-100k-deep-block-sequence", gen: func() []byte {
		return []byte(strings.Repeat("- ", 100_000) + "x\n")
	}},
	{name: "limit-100k-deep-podtemplate", gen: func() []byte {
		return []byte(badHeader + "  - name: kube\n    nodes: [{podTemplate: " + strings.Repeat("{a: ", 100_000) + "1" + strings.Repeat("}", 100_000) + "}]\n")
	}},
	{name: "limit-wide-alias-bomb", gen: func() []byte {
		// One anchor of 1,000 values, used 1,000 times: a million values without nesting.
		return []byte("a: &a [" + strings.Repeat("x,", 999) + "x]\nb: [" + strings.Repeat("*a,", 999) + "*a]\n")
	}},
	{name: "limit-3mb-label-value", field: "builders[0].nodes[0].labels.team", gen: func() []byte {
		return []byte(badHeader + "  - name: kube\n    nodes: [{labels: {team: \"" + strings.Repeat("a b", 1<<20) + "\"}}]\n")
	}},
	{name: "limit-3mb-unclosed-quote", gen: func() []byte {
		return []byte(badHeader + "  - name: kube\n    nodes: [{image: \"" + strings.Repeat("a", 3<<20) + "}]\n")
	}},
	{name: "limit-1mb-key", gen: func() []byte {
		return []byte(badHeader + "  - name: kube\n    nodes:\n      - " + strings.Repeat("k", 1<<20) + ": 1\n")
	}},
}

// nodes is a builders file with one builder of n nodes, written by node.
func nodes(n int, node func(i int) string) []byte {
	var b strings.Builder
	b.WriteString(badHeader + "  - name: kube\n    nodes:\n")
	for i := range n {
		b.WriteString("      - " + node(i) + "\n")
	}
	return []byte(b.String())
}
