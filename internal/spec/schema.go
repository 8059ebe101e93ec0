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
	c.DefaultDraft(jsonschema.Draft7)
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

// schemaFinding is one schema violation, held until the semantic checks have run: for some
// (a pattern, a length, a duplicate) those say better what is wrong.
type schemaFinding struct {
	diag Diagnostic
	key  string // pathKey of the value
	// deferred findings give way to any other error at the value or below it.
	deferred bool
}

// schemaResult is what the schema layer found.
type schemaResult struct {
	findings []schemaFinding
	// wrongValue holds the values whose type, enum or const is wrong: the semantic checks skip
	// them and everything below them, which would only repeat the error in other words.
	wrongValue map[string]bool
	// unknownIn holds the objects with an unknown field: the semantic checks skip errors about
	// the object itself (not its fields).
	unknownIn map[string]bool
}

// validateSchema checks the document against the JSON Schema and locates each violation at the
// value (or key) it is about.
func validateSchema(t *tree) (*schemaResult, error) {
	cs, err := compiled()
	if err != nil {
		return nil, err
	}
	r := &schemaResult{}
	err = cs.schema.Validate(t.root)
	if err == nil {
		return r, nil
	}
	r.wrongValue, r.unknownIn = map[string]bool{}, map[string]bool{}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return nil, fmt.Errorf("validate against schema: %w", err)
	}
	for _, leaf := range leaves(ve) {
		cs.report(t, leaf, r)
	}
	return r, nil
}

// add records the findings that no other error covers into ds: a deferred finding is dropped
// when another schema finding at its value, or a semantic error at or below it, says more.
func (r *schemaResult) add(ds *diagnostics, semantic map[string]bool) {
	covered := map[string]bool{}
	for _, f := range r.findings {
		if !f.deferred {
			covered[f.key] = true
		}
	}
	for k := range semantic {
		// k and every path above it.
		for {
			covered[k] = true
			i := strings.LastIndexByte(k, 0)
			if i < 0 {
				break
			}
			k = k[:i]
		}
		covered[""] = true
	}
	for _, f := range r.findings {
		if f.deferred && covered[f.key] {
			continue
		}
		ds.list = append(ds.list, f.diag)
	}
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

func (cs *compiledSchema) report(t *tree, e *jsonschema.ValidationError, r *schemaResult) {
	path := e.InstanceLocation
	key := pathKey(path)
	pos := t.valuePos[key]
	if pos.Line == 0 {
		pos = Pos{File: t.file, Line: 1, Col: 1}
	}
	field := fieldPath(path)
	add := func(pos Pos, field string, deferred bool, format string, args ...any) {
		var ds diagnostics
		ds.errorf(pos, field, format, args...)
		r.findings = append(r.findings, schemaFinding{diag: ds.list[0], key: key, deferred: deferred})
	}
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		// A rule about the object itself ("set value or valueFrom") would mostly be the
		// unknown field's consequence: a misspelt name.
		r.unknownIn[key] = true
		for _, p := range k.Properties {
			d := cs.unknownField(t, append(path[:len(path):len(path)], p), e.SchemaURL)
			r.findings = append(r.findings, schemaFinding{diag: d, key: key})
		}
	case *kind.FalseSchema:
		// "name": false in defaults: a field that is valid elsewhere but not here.
		if len(path) > 0 {
			add(t.keyAt(path...), fieldPath(path[:len(path)-1]), false, "field %q is not allowed here", path[len(path)-1])
			return
		}
		add(pos, field, false, "not allowed")
	case *kind.Required:
		for _, m := range k.Missing {
			r.wrongValue[pathKey(append(path[:len(path):len(path)], m))] = true
			add(pos, field, false, "missing required field %q", m)
		}
	case *kind.Type:
		r.wrongValue[key] = true
		add(pos, field, false, "must be %s, not %s%s", strings.Join(k.Want, " or "), k.Got, cs.listHint(t, path, k, e.SchemaURL))
	case *kind.Enum:
		r.wrongValue[key] = true
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = display(w)
		}
		add(pos, field, false, "must be one of %s (got %s)", strings.Join(want, ", "), display(k.Got))
	case *kind.Const:
		r.wrongValue[key] = true
		add(pos, field, false, "must be %s (got %s)", display(k.Want), display(k.Got))
	case *kind.MinLength:
		add(pos, field, false, "must not be empty")
	case *kind.Pattern:
		add(pos, field, true, "invalid value %q (want %s)", k.Got, cs.describe(e.SchemaURL, k.Want))
	case *kind.MaxLength:
		add(pos, field, true, "must be no more than %d characters", k.Want)
	case *kind.UniqueItems:
		add(pos, field, true, "items %d and %d are equal", k.Duplicates[0], k.Duplicates[1])
	default:
		add(pos, field, false, "%s", e.ErrorKind.LocalizedString(printer))
	}
}

// listHint shows how to write a string as the list of strings the schema at loc wants, e.g.
// for "platforms: linux/amd64,linux/arm64".
func (cs *compiledSchema) listHint(t *tree, path []string, k *kind.Type, loc string) string {
	if k.Got != "string" || !slices.Contains(k.Want, "array") {
		return ""
	}
	_, frag, _ := strings.Cut(loc, "#")
	item, _ := resolvePointer(cs.raw, frag)["items"].(map[string]any)
	if ref, ok := item["$ref"].(string); ok {
		item = resolvePointer(cs.raw, strings.TrimPrefix(ref, "#"))
	}
	if item["type"] != "string" {
		return ""
	}
	s, _ := t.value(path).(string)
	sep := ","
	if !strings.Contains(s, sep) {
		sep = " "
	}
	var items []string
	for _, it := range strings.Split(s, sep) {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		return ""
	}
	return fmt.Sprintf(" (hint: write a list, one item per value: [%s])", shorten(strings.Join(items, ", ")))
}

// describe returns the description of the schema at loc, as a phrase, else what.
func (cs *compiledSchema) describe(loc, what string) string {
	_, frag, _ := strings.Cut(loc, "#")
	d, _ := resolvePointer(cs.raw, frag)["description"].(string)
	if d == "" {
		return "a match for " + what
	}
	d = strings.TrimSuffix(d, ".")
	return strings.ToLower(d[:1]) + d[1:]
}

func display(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return shorten(fmt.Sprint(v))
	}
	return shorten(string(b))
}

// unknownField reports the key at path as unknown, suggesting the nearest allowed name, or
// where a node field belongs when it is written on a builder.
func (cs *compiledSchema) unknownField(t *tree, path []string, schemaLoc string) Diagnostic {
	name := path[len(path)-1]
	pos := t.keyPos[pathKey(path)]
	if pos.Line == 0 {
		pos = Pos{File: t.file, Line: 1, Col: 1}
	}
	msg := fmt.Sprintf("unknown field %q", name)
	if s := suggest(name, cs.propertiesAt(schemaLoc)); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else if strings.HasSuffix(schemaLoc, "#/definitions/builder") && slices.Contains(cs.propertiesAt("#/definitions/nodeFields"), name) {
		msg += fmt.Sprintf(" (hint: %s is a node field: set it on each node under nodes, or once for all nodes under defaults)", name)
	}
	var ds diagnostics
	ds.errorf(pos, fieldPath(path[:len(path)-1]), "%s", msg)
	return ds.list[0]
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
