// Package schema embeds the JSON Schema of builders.yaml, the public contract of the file format.
package schema

import _ "embed"

// JSON is the JSON Schema (draft-07, which editors support fully) of builders.yaml.
//
//go:embed builders.schema.json
var JSON []byte

// URL is the schema's $id, under which it is compiled.
const URL = "https://bkctl.dev/schema/v1alpha1/builders.schema.json"
