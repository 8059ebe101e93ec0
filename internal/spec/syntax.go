package spec

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// decodeErr parses data the way parseTree does (a document, then whether a second one follows)
// and returns the first YAML error.
func decodeErr(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for range 2 {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
	return nil
}

var (
	unknownAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
	maxDepthRE      = regexp.MustCompile(`^exceeded max depth of (\d+)$`)
)

// Where syntax errors are. yaml.v3 reports a syntax error at the line where the enclosing
// construct starts (the block mapping, the quoted string), without a column, and sometimes
// without a line; a mis-indented key twenty lines into a mapping is reported at the mapping's
// first line. The helpers here find the line that breaks the file and a column on it. They run
// only once a file has failed, so a valid file pays nothing for them.

// syntaxError turns a yaml.v3 error about data into a diagnostic at the line that breaks the
// file: the first line such that the file up to it fails with the same error.
func syntaxError(file string, data []byte, err error) Diagnostic {
	d := yamlError(file, err)
	msg := strings.TrimPrefix(d.Message, "invalid YAML: ")
	ls := splitLines(data)
	if m := unknownAnchorRE.FindStringSubmatch(msg); m != nil {
		d.Message = fmt.Sprintf("invalid YAML: alias *%s has no anchor &%s before it", m[1], m[1])
		if off := aliasOffset(data, m[1]); off >= 0 {
			d.Pos = ls.pos(file, data, off)
		}
		return d
	}
	if msg == "control characters are not allowed" {
		if off, r := controlChar(data); off >= 0 {
			d.Pos = ls.pos(file, data, off)
			d.Message = fmt.Sprintf("invalid YAML: control character %U is not allowed (hint: write it as an escape in a double-quoted string)", r)
		}
		return d
	}
	// A key without its colon is best shown where yaml.v3 puts it, at the key; the line that
	// makes the file fail is the next one.
	if msg != "could not find expected ':'" {
		want := err.Error()
		k := 1 + sort.Search(len(ls), func(i int) bool {
			e := decodeErr(data[:ls.end(data, i+1)])
			return e != nil && e.Error() == want
		})
		if k <= len(ls) {
			d.Pos.Line = k
		}
	}
	if m := maxDepthRE.FindStringSubmatch(msg); m != nil {
		d.Message = fmt.Sprintf("invalid YAML: document is nested more than %s levels deep", m[1])
		n, _ := strconv.Atoi(m[1])
		line := ls.text(data, d.Pos.Line)
		d.Pos.Col = utf8.RuneCount(line[:max(0, flowDepthAt(line, n+1))]) + 1
		return d
	}
	col, hint := column(msg, ls.text(data, d.Pos.Line))
	d.Pos.Col = col
	d.Message += hint
	return d
}

// column finds where on line the error msg is, and a hint to add to it.
func column(msg string, line []byte) (int, string) {
	idx, hint := -1, ""
	switch msg {
	case "found a tab character that violates indentation", "found a tab character where an indentation space is expected",
		"found character that cannot start any token":
		if idx = bytes.IndexByte(line, '\t'); idx >= 0 {
			hint = " (hint: indent with spaces; YAML does not allow tabs there)"
		} else {
			idx = bytes.IndexAny(line, "@`")
		}
	case "found unexpected end of stream":
		if idx = unclosedQuote(line); idx >= 0 {
			hint = " (the quoted string that starts here is never closed)"
		}
	case "found unexpected document indicator":
		idx, hint = 0, " (a quoted string above is still open here)"
	case "did not find expected ',' or ']'":
		if idx = unclosed(line, '[', ']'); idx >= 0 {
			hint = " (the '[' here is never closed, or an item lacks its ',')"
		}
	case "did not find expected ',' or '}'":
		if idx = unclosed(line, '{', '}'); idx >= 0 {
			hint = " (the '{' here is never closed, or an item lacks its ',')"
		}
	case "found unknown escape character":
		idx = badEscape(line)
	case "mapping values are not allowed in this context":
		// The colon is the problem: one after a plain value ("name: a: b"), or one that makes
		// a key of what is still the value above (a key indented too deep).
		quoteScan(line, func(i int) {
			if line[i] == ':' && (i+1 == len(line) || line[i+1] == ' ' || line[i+1] == '\t') {
				idx = i
			}
		})
		hint = " (hint: quote a value that holds ': ', or check the indentation of this line)"
		if idx > 1024 {
			hint = " (a key on one line is at most 1024 characters)"
		}
	case "did not find expected key", "did not find expected '-' indicator", "block sequence entries are not allowed in this context":
		hint = " (hint: check the indentation of this line)"
	}
	if idx < 0 {
		idx = len(line) - len(bytes.TrimLeft(line, " \t"))
	}
	return utf8.RuneCount(line[:idx]) + 1, hint
}

// quoteScan walks line outside comments, calling f for each byte that is not inside a quoted
// string; it returns the offset of a quote that is still open at the end of the line, or -1.
func quoteScan(line []byte, f func(i int)) int {
	open, quote := -1, byte(0)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == '"' && c == '\\':
			i++
		case quote != 0 && c == quote:
			quote, open = 0, -1
		case quote != 0:
		case (c == '"' || c == '\'') && (i == 0 || bytes.IndexByte([]byte(" \t[{,"), line[i-1]) >= 0):
			quote, open = c, i
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return -1
		default:
			f(i)
		}
	}
	return open
}

// unclosedQuote returns the offset of a quoted string that line opens and does not close, or -1.
func unclosedQuote(line []byte) int { return quoteScan(line, func(int) {}) }

// unclosed returns the offset of the last open bracket on line that the line does not close, or -1.
func unclosed(line []byte, open, close byte) int {
	var stack []int
	quoteScan(line, func(i int) {
		switch line[i] {
		case open:
			stack = append(stack, i)
		case close:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	})
	if len(stack) == 0 {
		return -1
	}
	return stack[len(stack)-1]
}

// badEscape returns the offset of the first backslash on line that starts no YAML escape, or -1.
func badEscape(line []byte) int {
	for i := 0; i+1 < len(line); i++ {
		if line[i] != '\\' {
			continue
		}
		if bytes.IndexByte([]byte("0abt\tnvfre \"/\\N_LPxuU"), line[i+1]) < 0 {
			return i
		}
		i++
	}
	return -1
}

// flowDepthAt returns the offset of the bracket that opens the depth-th nested flow collection
// on line, or -1.
func flowDepthAt(line []byte, depth int) int {
	found, level := -1, 0
	quoteScan(line, func(i int) {
		switch line[i] {
		case '[', '{':
			if level++; level == depth && found < 0 {
				found = i
			}
		case ']', '}':
			level--
		}
	})
	return found
}

// aliasOffset returns the offset of the first alias *name in data, or -1.
func aliasOffset(data []byte, name string) int {
	tok := []byte("*" + name)
	for off := 0; ; {
		i := bytes.Index(data[off:], tok)
		if i < 0 {
			return -1
		}
		end := off + i + len(tok)
		if end == len(data) || !isAnchorChar(data[end]) {
			return off + i
		}
		off = end
	}
}

func isAnchorChar(c byte) bool {
	return c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

var typeErrorLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// typeErrorPos returns the line a yaml.v3 decoding error names, or 1.
func typeErrorPos(msg string) (int, string) {
	if m := typeErrorLineRE.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
			return n, m[2]
		}
	}
	return 1, msg
}
