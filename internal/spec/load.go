package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Result is what loading a builders file found: the file (nil when invalid) and its warnings.
type Result struct {
	File     *File
	Warnings []Diagnostic
}

// Load reads and validates the builders file at path ("-" reads stdin from r) with the
// DefaultOptions. An invalid file returns an *Error holding every problem found, sorted by
// position.
func Load(path string, stdin io.Reader) (Result, error) {
	return LoadWith(path, stdin, DefaultOptions())
}

// LoadWith is Load with opts.
func LoadWith(path string, stdin io.Reader, opts Options) (Result, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, MaxFileSize+1))
	} else {
		data, err = readLimited(path)
	}
	if err != nil {
		return Result{}, err
	}
	return ParseWith(path, data, opts)
}

// readLimited reads at most MaxFileSize+1 bytes, so a huge file costs no more memory than that.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxFileSize+1))
}

// maxErrors is how many errors a file reports at most; the rest are counted.
const maxErrors = 100

// Parse validates data as the builders file named name (used in positions and to resolve
// configFile paths; "-" is stdin) with the DefaultOptions, and returns it with defaults applied.
func Parse(name string, data []byte) (Result, error) {
	return ParseWith(name, data, DefaultOptions())
}

// ParseWith is Parse with opts.
func ParseWith(name string, data []byte, opts Options) (Result, error) {
	ds := &diagnostics{}
	file := parse(name, data, opts, ds)
	errs, warns := ds.split()
	if len(errs) > maxErrors {
		more := len(errs) - maxErrors
		errs = append(errs[:maxErrors], Diagnostic{Pos: errs[maxErrors].Pos, Severity: SeverityError, Message: fmt.Sprintf("too many errors: %d more not shown", more)})
	}
	if len(errs) > 0 {
		return Result{Warnings: warns}, &Error{Diagnostics: errs}
	}
	return Result{File: file, Warnings: warns}, nil
}

func parse(name string, data []byte, opts Options, ds *diagnostics) *File {
	start := Pos{File: name, Line: 1, Col: 1}
	switch {
	case len(data) > MaxFileSize:
		ds.errorf(start, "", "file is larger than %d MiB; a builders file is a few KiB", MaxFileSize>>20)
		return nil
	case len(bytes.TrimSpace(data)) == 0:
		ds.errorf(start, "", "file is empty (want a Builders document)")
		return nil
	}
	if d, bad := encodingError(name, data); bad {
		ds.list = append(ds.list, d)
		return nil
	}
	t, doc := parseTree(name, data, ds)
	if t == nil {
		return nil
	}
	if _, ok := t.root.(map[string]any); !ok {
		ds.errorf(t.valuePos[""], "", "must be a mapping with apiVersion, kind, metadata and builders")
		return nil
	}
	sr, err := validateSchema(t)
	if err != nil {
		ds.errorf(start, "", "%v", err)
		return nil
	}
	// Every layer runs: the rules check whatever decoded, so one run reports every problem. A
	// value of the wrong type decodes to its zero value, and the schema has said why.
	var raw rawFile
	if err := doc.Decode(&raw); err != nil {
		// The tree and the schema have reported what yaml.v3 refuses (a merge key that
		// references a scalar, a duplicate key), unless the file reached an unusual corner.
		if len(sr.findings) == 0 && !ds.hasErrors() {
			ds.list = append(ds.list, yamlError(name, err))
		}
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			sr.add(ds, nil)
			return nil
		}
	}
	c := &checker{t: t, ds: ds, dir: baseDir(name), stdin: name == "-", restrict: opts.LoadRestrictions != LoadRestrictionsNone, doc: doc, src: data, skip: sr.wrongValue, skipObject: sr.unknownIn}
	f := c.file(&raw)
	sr.add(ds, c.reported)
	return f
}

func baseDir(name string) string {
	if name == "-" {
		return "."
	}
	return filepath.Dir(name)
}

// at returns the position of the value at path, falling back to its nearest ancestor.
func (t *tree) at(path ...string) Pos {
	for i := len(path); i >= 0; i-- {
		if p, ok := t.valuePos[pathKey(path[:i])]; ok {
			return p
		}
	}
	return Pos{File: t.file, Line: 1, Col: 1}
}

// keyAt returns the position of the key at the end of path, else of its value.
func (t *tree) keyAt(path ...string) Pos {
	if p, ok := t.keyPos[pathKey(path)]; ok {
		return p
	}
	return t.at(path...)
}

// lookup finds the YAML node at path below the document node.
func lookup(doc *yaml.Node, path []string) *yaml.Node {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, seg := range path {
		for n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		switch n.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					next = n.Content[i+1]
				}
			}
			if next == nil {
				return nil
			}
			n = next
		case yaml.SequenceNode:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(n.Content) {
				return nil
			}
			n = n.Content[i]
		default:
			return nil
		}
	}
	return n
}

// value returns the value at path, or nil.
func (t *tree) value(path []string) any {
	v := t.root
	for _, seg := range path {
		switch c := v.(type) {
		case map[string]any:
			v = c[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// skipped tells whether the schema found the value at path, or one above it, of the wrong type,
// enum or const: a rule about it would only say the same again.
func (c *checker) skipped(path []string) bool {
	if c.skipObject[pathKey(path)] {
		return true
	}
	for i := len(path); i >= 0; i-- {
		if c.skip[pathKey(path[:i])] {
			return true
		}
	}
	return false
}

// report records that a rule found an error in the value at path.
func (c *checker) report(path []string) {
	if c.reported == nil {
		c.reported = map[string]bool{}
	}
	c.reported[pathKey(path)] = true
}

func (c *checker) errorf(path []string, format string, args ...any) {
	if c.skipped(path) {
		return
	}
	c.report(path)
	c.ds.errorf(c.t.at(path...), fieldPath(path), format, args...)
}

func (c *checker) warnf(path []string, format string, args ...any) {
	if c.skipped(path) {
		return
	}
	c.ds.warnf(c.t.at(path...), fieldPath(path), format, args...)
}

func (c *checker) keyErrorf(path []string, format string, args ...any) {
	if c.skipped(path) {
		return
	}
	c.report(path)
	c.ds.errorf(c.t.keyAt(path...), fieldPath(path), format, args...)
}
