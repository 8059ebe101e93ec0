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

// Where syntax and encoding errors are. yaml.v3 reports a syntax error at the line where the
// enclosing construct starts (the block mapping, the quoted string), without a column, and
// sometimes without a line; a mis-indented key twenty lines into a mapping is reported at the
// mapping's first line. The helpers here find the line that breaks the file and a column on it.
// They run only once a file has failed, so a valid file pays nothing for them.

var bom = []byte("\uFEFF")

// lineStarts holds the byte offset where each line starts, split at YAML's line breaks
// (\n, \r\n and a lone \r), so that line numbers agree with yaml.v3's.
type lineStarts []int

func splitLines(data []byte) lineStarts {
	ls := lineStarts{0}
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '\n':
			ls = append(ls, i+1)
		case '\r':
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			ls = append(ls, i+1)
		}
	}
	return ls
}

// end returns the offset just after line n (1-based), its line break included.
func (ls lineStarts) end(data []byte, n int) int {
	if n < len(ls) {
		return ls[n]
	}
	return len(data)
}

// text returns line n (1-based) without its line break, and without the BOM on line 1.
func (ls lineStarts) text(data []byte, n int) []byte {
	if n < 1 || n > len(ls) {
		return nil
	}
	line := bytes.TrimRight(data[ls[n-1]:ls.end(data, n)], "\r\n")
	if n == 1 {
		line = bytes.TrimPrefix(line, bom)
	}
	return line
}

// pos returns the position of the byte at off, its column counted in characters as yaml.v3
// counts them (a BOM does not count).
func (ls lineStarts) pos(file string, data []byte, off int) Pos {
	n := sort.Search(len(ls), func(i int) bool { return ls[i] > off })
	seg := data[ls[n-1]:off]
	if n == 1 {
		seg = bytes.TrimPrefix(seg, bom)
	}
	return Pos{File: file, Line: n, Col: utf8.RuneCount(seg) + 1}
}

// lineSeparators are characters that YAML 1.1 parsers (yaml.v3 among them) read as line
// breaks and editors do not: after one, every line number would disagree with the editor's.
var lineSeparators = []struct{ char, name string }{
	{"\u0085", "U+0085 NEXT LINE"},
	{"\u2028", "U+2028 LINE SEPARATOR"},
	{"\u2029", "U+2029 PARAGRAPH SEPARATOR"},
}

// encodingError reports data that is not UTF-8 text, or holds a character that would shift
// line numbers, at the first offending byte.
func encodingError(file string, data []byte) (Diagnostic, bool) {
	diag := func(off int, format string, args ...any) (Diagnostic, bool) {
		p := Pos{File: file, Line: 1, Col: 1}
		if off > 0 {
			p = splitLines(data).pos(file, data, off)
		}
		return Diagnostic{Pos: p, Severity: SeverityError, Message: fmt.Sprintf(format, args...)}, true
	}
	if utf8.Valid(data) && bytes.IndexByte(data, 0) < 0 {
		first, name := -1, ""
		for _, s := range lineSeparators {
			if i := bytes.Index(data, []byte(s.char)); i >= 0 && (first < 0 || i < first) {
				first, name = i, s.name
			}
		}
		if first < 0 {
			return Diagnostic{}, false
		}
		return diag(first, "file contains %s, which YAML 1.1 parsers read as a line break and editors do not (hint: remove it, or write it as an escape in a double-quoted string)", name)
	}
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		return diag(0, "file is UTF-16 text, not UTF-8 (hint: save it as UTF-8)")
	}
	off := 0
	for off < len(data) {
		r, size := utf8.DecodeRune(data[off:])
		switch {
		case r == 0:
			return diag(off, "file contains a NUL byte: it is binary, not UTF-8 text")
		case r == utf8.RuneError && size <= 1:
			return diag(off, "file is not UTF-8 text: byte 0x%02X is not valid UTF-8 here (hint: save it as UTF-8)", data[off])
		}
		off += size
	}
	return diag(0, "file is not UTF-8 text")
}

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

// controlChar returns the offset and value of the first character YAML does not allow in a
// stream, or -1.
func controlChar(data []byte) (int, rune) {
	for off, r := range string(data) {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		case r >= 0x20 && r <= 0x7E, r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		default:
			return off, r
		}
	}
	return -1, 0
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
