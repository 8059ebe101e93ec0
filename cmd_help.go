package main

import (
	"github.com/alecthomas/kong"
)

type helpCmd struct {
	Command []string `arg:"" optional:"" help:"The command to show help for, e.g. plan or buildx write."`
}

func (c *helpCmd) Help() string {
	return `Prints the same help as --help.

Examples:
  bkctl help
  bkctl help apply
  bkctl help buildx write`
}

// Run parses "<command> --help", so that kong prints the help and exits as --help does.
func (c *helpCmd) Run(kctx *kong.Context) error {
	_, err := kctx.Kong.Parse(append(append([]string(nil), c.Command...), "--help"))
	return err
}
