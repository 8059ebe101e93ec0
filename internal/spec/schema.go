package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/bkctl/bkctl/schema"
)

// compiled is the schema, compiled on first use so commands that never validate pay nothing.
var compiled = sync.OnceValues(func() (*compiledSchema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema.JSON))
	if err != nil {
		return nil, fmt.Errorf("parse embedded schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schema.URL, doc); err != nil {
		return nil, fmt.Errorf("load embedded schema: %w", err)
	}
	s, err := c.Compile(schema.URL)
	if err != nil {
		return nil, fmt.Errorf("compile embedded schema: %w", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(schema.JSON, &raw); err != nil {
		return nil, fmt.Errorf("parse embedded schema: %w", err)
	}
	return &compiledSchema{schema: s, raw: raw}, nil
})

type compiledSchema struct {
	schema *jsonschema.Schema
	raw    map[string]any
}

var printer = message.NewPrinter(language.English)

// validateSchema checks the document against the JSON Schema and reports each violation at the
// value (or key) it is about.
func validateSchema(t *tree, ds *diagnostics) error {
	cs, err := compiled()
	if err != nil {
		return err
	}
	err = cs.schema.Validate(t.root)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return fmt.Errorf("validate against schema: %w", err)
	}
	for _, leaf := range leaves(ve) {
		cs.report(t, leaf, ds)
	}
	return nil
}

// leaves returns the innermost errors: the ones that say what is wrong.
func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

func (cs *compiledSchema) report(t *tree, e *jsonschema.ValidationError, ds *diagnostics) {
	path := e.InstanceLocation
	pos := t.valuePos[pathKey(path)]
	if pos.Line == 0 {
		pos = Pos{File: t.file, Line: 1, Col: 1}
	}
	field := fieldPath(path)
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			cs.unknownField(t, append(path[:len(path):len(path)], p), e.SchemaURL, ds)
		}
	case *kind.FalseSchema:
		// "name": false in defaults: a field that is valid elsewhere but not here.
		if len(path) > 0 {
			ds.errorf(t.keyAt(path...), fieldPath(path[:len(path)-1]), "field %q is not allowed here", path[len(path)-1])
			return
		}
		ds.errorf(pos, field, "not allowed")
	case *kind.Required:
		for _, m := range k.Missing {
			ds.errorf(pos, field, "missing required field %q", m)
		}
	case *kind.Type:
		ds.errorf(pos, field, "must be %s, not %s", strings.Join(k.Want, " or "), k.Got)
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = display(w)
		}
		ds.errorf(pos, field, "must be one of %s (got %s)", strings.Join(want, ", "), display(k.Got))
	case *kind.Const:
		ds.errorf(pos, field, "must be %s (got %s)", display(k.Want), display(k.Got))
	case *kind.MinLength:
		ds.errorf(pos, field, "must not be empty")
	default:
		ds.errorf(pos, field, "%s", e.ErrorKind.LocalizedString(printer))
	}
}

func display(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return shorten(fmt.Sprint(v))
	}
	return shorten(string(b))
}

// unknownField reports the key at path as unknown, suggesting the nearest allowed name.
func (cs *compiledSchema) unknownField(t *tree, path []string, schemaLoc string, ds *diagnostics) {
	name := path[len(path)-1]
	pos := t.keyPos[pathKey(path)]
	if pos.Line == 0 {
		pos = Pos{File: t.file, Line: 1, Col: 1}
	}
	msg := fmt.Sprintf("unknown field %q", name)
	if s := suggest(name, cs.propertiesAt(schemaLoc)); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	ds.errorf(pos, fieldPath(path[:len(path)-1]), "%s", msg)
}

// propertiesAt lists the property names the schema at loc (a URL with a JSON pointer fragment)
// accepts, following $ref and allOf.
func (cs *compiledSchema) propertiesAt(loc string) []string {
	_, frag, _ := strings.Cut(loc, "#")
	node := resolvePointer(cs.raw, frag)
	seen := map[string]bool{}
	var names []string
	var walk func(n map[string]any, depth int)
	walk = func(n map[string]any, depth int) {
		if n == nil || depth > 8 {
			return
		}
		if props, ok := n["properties"].(map[string]any); ok {
			for p := range props {
				if !seen[p] {
					seen[p] = true
					names = append(names, p)
				}
			}
		}
		if ref, ok := n["$ref"].(string); ok && strings.HasPrefix(ref, "#") {
			walk(resolvePointer(cs.raw, ref[1:]), depth+1)
		}
		if all, ok := n["allOf"].([]any); ok {
			for _, a := range all {
				m, _ := a.(map[string]any)
				walk(m, depth+1)
			}
		}
	}
	walk(node, 0)
	slices.Sort(names)
	return names
}

func resolvePointer(root map[string]any, ptr string) map[string]any {
	var cur any = root
	for _, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if seg == "" {
			continue
		}
		seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
		switch c := cur.(type) {
		case map[string]any:
			cur = c[seg]
		case []any:
			i := 0
			if _, err := fmt.Sscan(seg, &i); err != nil || i < 0 || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	m, _ := cur.(map[string]any)
	return m
}

// suggest returns the candidate closest to name: equal ignoring case, or at most two edits away
// (and fewer edits than name has letters); "" when none is that close.
func suggest(name string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if strings.EqualFold(c, name) {
			return c
		}
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d < bestDist && d < len(name) {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
