package main

import "github.com/bkctl/bkctl/schema"

type schemaCmd struct{}

func (c *schemaCmd) Help() string {
	return `Prints the JSON Schema (draft-07) of builders.yaml that bkctl validates against, for
editors: VS Code's YAML extension and other yaml-language-server clients, and JetBrains IDEs.

Examples:
  bkctl schema > builders.schema.json
  # then, as the first line of builders.yaml:
  # yaml-language-server: $schema=builders.schema.json`
}

func (c *schemaCmd) Run(s streams) error {
	_, err := s.Out.Write(schema.JSON)
	return err
}
