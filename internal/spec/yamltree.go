package spec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits that keep any input, hostile or not, from exhausting memory or the stack.
const (
	// MaxFileSize is the largest builders file accepted; real ones are a few KiB.
	MaxFileSize = 4 << 20
	// maxValues bounds the values a document may expand to, aliases included.
	maxValues = 200_000
	// maxDepth bounds the nesting of collections.
	maxDepth = 64
)

// tree is a YAML document converted to JSON-like values, with the position of every value and key.
type tree struct {
	file     string
	root     any
	valuePos map[string]Pos
	keyPos   map[string]Pos
	values   int
}

// limitError is a document that exceeds a limit, at the node where it did, or at the alias
// it did through: an anchor is harmless on its own, it is the alias that repeats it.
type limitError struct {
	pos   Pos
	depth bool   // nesting, else the number of values
	alias string // the outermost alias the limit was exceeded through
}

func (e *limitError) message() string {
	switch {
	case e.depth && e.alias != "":
		return fmt.Sprintf("alias *%s nests the document more than %d levels deep (an anchor that contains an alias to itself nests forever)", e.alias, maxDepth)
	case e.depth:
		return fmt.Sprintf("document is nested more than %d levels deep", maxDepth)
	case e.alias != "":
		return fmt.Sprintf("alias *%s expands the document to more than %d values (each use of an alias counts its anchor's values again)", e.alias, maxValues)
	}
	return fmt.Sprintf("document has more than %d values", maxValues)
}

// parserErrors are the yaml.v3 messages that come from its parser rather than its scanner.
var parserErrors = map[string]bool{
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseTree parses data as exactly one YAML document. Syntax errors are reported as diagnostics
// and return a nil tree; a tree is returned whenever the document parsed.
func parseTree(file string, data []byte, ds *diagnostics) (*tree, *yaml.Node) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			ds.errorf(Pos{File: file, Line: 1, Col: 1}, "", "file is empty (want a Builders document)")
		} else {
			ds.list = append(ds.list, syntaxError(file, data, err))
		}
		return nil, nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		ds.errorf(Pos{File: file, Line: extra.Line, Col: extra.Column}, "", "more than one YAML document (a builders file holds exactly one)")
		return nil, nil
	} else if err.Error() != "EOF" {
		ds.list = append(ds.list, syntaxError(file, data, err))
		return nil, nil
	}
	t := &tree{file: file, valuePos: map[string]Pos{}, keyPos: map[string]Pos{}}
	root, err := t.convert(&doc, nil, 0, ds)
	if err != nil {
		ds.errorf(err.pos, "", "%s", err.message())
		return nil, nil
	}
	// A duplicate or non-string key is reported, and the tree keeps the first value: the schema
	// and the rules still check the rest, so that one run shows every problem.
	t.root = root
	return t, &doc
}

func yamlError(file string, err error) Diagnostic {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if parserErrors[m[2]] {
			// yaml.v3 counts lines from 0 for parser (not scanner) errors.
			line++
		}
		return Diagnostic{Pos: Pos{File: file, Line: line, Col: 1}, Severity: SeverityError, Message: "invalid YAML: " + m[2]}
	}
	line := 1
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		line, msg = typeErrorPos(te.Errors[0])
	}
	return Diagnostic{Pos: Pos{File: file, Line: line, Col: 1}, Severity: SeverityError, Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

func pathKey(path []string) string { return strings.Join(path, "\x00") }

func (t *tree) pos(n *yaml.Node) Pos { return Pos{File: t.file, Line: n.Line, Col: n.Column} }

// convert turns n into map[string]any, []any or a scalar, recording positions under path.
func (t *tree) convert(n *yaml.Node, path []string, depth int, ds *diagnostics) (any, *limitError) {
	if depth > maxDepth {
		return nil, &limitError{pos: t.pos(n), depth: true}
	}
	t.values++
	if t.values > maxValues {
		return nil, &limitError{pos: t.pos(n)}
	}
	if n.Kind != yaml.DocumentNode && n.Kind != yaml.AliasNode {
		t.valuePos[pathKey(path)] = t.pos(n)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return t.convert(n.Content[0], path, depth, ds)
	case yaml.AliasNode:
		v, err := t.convert(n.Alias, path, depth+1, ds)
		if err != nil {
			err.pos, err.alias = t.pos(n), n.Value
			return nil, err
		}
		return v, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			v, err := t.convert(c, append(path, strconv.Itoa(i)), depth+1, ds)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		if err := t.mapping(n, path, depth, out, ds); err != nil {
			return nil, err
		}
		return out, nil
	default:
		return scalar(n), nil
	}
}

// mapping converts the pairs of n into out; merge keys (<<) add the pairs they reference.
func (t *tree) mapping(n *yaml.Node, path []string, depth int, out map[string]any, ds *diagnostics) *limitError {
	var merges []*yaml.Node
	var drop []int // pairs that are reported and left out, as the tree leaves them out
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			ds.errorf(t.pos(k), fieldPath(path), "mapping keys must be strings")
			drop = append(drop, i)
			continue
		}
		kp := append(path[:len(path):len(path)], k.Value)
		if _, dup := out[k.Value]; dup {
			ds.errorf(t.pos(k), fieldPath(kp), "duplicate key %q", k.Value)
			drop = append(drop, i)
			continue
		}
		t.keyPos[pathKey(kp)] = t.pos(k)
		val, err := t.convert(v, kp, depth+1, ds)
		if err != nil {
			return err
		}
		out[k.Value] = val
	}
	// yaml.v3 refuses to decode a mapping with a duplicate key at all; without the pair, the
	// rules check the rest of the mapping as the schema does.
	for j := len(drop) - 1; j >= 0; j-- {
		n.Content = slices.Delete(n.Content, drop[j], drop[j]+2)
	}
	for _, m := range merges {
		if m.Kind == yaml.AliasNode {
			m = m.Alias
		}
		srcs := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			srcs = m.Content
		}
		for _, src := range srcs {
			if src.Kind == yaml.AliasNode {
				src = src.Alias
			}
			if src.Kind != yaml.MappingNode {
				ds.errorf(t.pos(src), fieldPath(path), "merge key << must reference a mapping")
				continue
			}
			merged := map[string]any{}
			if err := t.mapping(src, path, depth+1, merged, ds); err != nil {
				return err
			}
			for k, v := range merged {
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
		}
	}
	return nil
}

// scalar resolves a scalar the way YAML 1.2's core schema does, into JSON types.
func scalar(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			return b
		}
	case "!!int":
		var i int64
		if n.Decode(&i) == nil {
			return i
		}
		var f float64
		if n.Decode(&f) == nil {
			return f
		}
	case "!!float":
		var f float64
		if n.Decode(&f) == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f
		}
	}
	return n.Value
}

// fieldPath renders a value's path for people: builders[0].nodes[1].nodeSelector["kubernetes.io/arch"].
func fieldPath(path []string) string {
	var b strings.Builder
	for _, seg := range path {
		seg = shorten(seg)
		switch {
		case isIndex(seg):
			b.WriteString("[" + seg + "]")
		case seg == "" || strings.ContainsAny(seg, "./[] \"") || !isIdentStart(seg[0]):
			b.WriteString("[" + strconv.Quote(seg) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(seg)
		}
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
