package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"
)

// OutputAPIVersion is the apiVersion of every JSON and YAML result bkctl prints. Each result
// names its kind (Plan, ApplyResult, DeleteResult, ValidationResult, BuilderList, BuilderStatus,
// BuildxWriteResult, Version), and docs/output.md gives the shape of each.
const OutputAPIVersion = "bkctl/v1alpha1"

// writeDoc prints v as one document of kind in format ("json" or "yaml"): apiVersion and kind
// first, then v's own fields.
func writeDoc(s streams, format, kind string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("write %s: %w", kind, err)
	}
	data = envelope(kind, data)
	if format == "yaml" {
		y, err := yaml.JSONToYAML(data)
		if err != nil {
			return fmt.Errorf("write %s: %w", kind, err)
		}
		_, err = s.Out.Write(y)
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		return fmt.Errorf("write %s: %w", kind, err)
	}
	buf.WriteByte('\n')
	_, err = s.Out.Write(buf.Bytes())
	return err
}

// envelope puts apiVersion and kind before the fields of the JSON object obj.
func envelope(kind string, obj []byte) []byte {
	head := fmt.Appendf(nil, `{"apiVersion":%q,"kind":%q`, OutputAPIVersion, kind)
	body := bytes.TrimSpace(obj)
	if len(body) < 2 || body[0] != '{' {
		panic("envelope: " + kind + " is not a JSON object") // a programming error: every result is a struct
	}
	if rest := bytes.TrimSpace(body[1:]); len(rest) > 0 && rest[0] != '}' {
		head = append(head, ',')
	}
	return append(head, body[1:]...)
}

// listOf is the document of several results of one kind, as kubectl prints a List.
type listOf struct {
	Items []json.RawMessage `json:"items"`
}

// writeDocs prints one result as kind, several as a kind+"List" whose items each carry
// apiVersion and kind.
func writeDocs[T any](s streams, format, kind string, items []T) error {
	if len(items) == 1 {
		return writeDoc(s, format, kind, items[0])
	}
	l := listOf{Items: make([]json.RawMessage, 0, len(items))}
	for _, it := range items {
		data, err := json.Marshal(it)
		if err != nil {
			return fmt.Errorf("write %s: %w", kind, err)
		}
		l.Items = append(l.Items, envelope(kind, data))
	}
	return writeDoc(s, format, kind+"List", l)
}
