package spec

import (
	"bytes"
	"fmt"
	"sort"
	"unicode/utf8"
)

// Lines and characters of the source as bytes: where a line starts by YAML's rules, and
// whether the bytes are text that YAML and an editor will number the same way.

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
