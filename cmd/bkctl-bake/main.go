// Command bkctl-bake reads bake files (docker-bake.hcl, docker-bake.json, compose files) with
// buildx's own bake package and writes the resolved targets for `bkctl bake`, which builds them
// on a builder's pods. It is a program of its own so that the bake package's init code stays out
// of bkctl itself; `bkctl bake` finds it next to bkctl or on PATH.
//
// Usage:
//
//	bkctl-bake [-f FILE]… [--var NAME=VALUE]… [--set TARGET.KEY=VALUE]… [--print] [--] [TARGET…]
//
// It writes a bkctl/v1alpha1 BakeDefinition (JSON) to stdout, or with --print the definition in
// the shape of `docker buildx bake --print`. Errors go to stderr with exit status 1.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bkctl-bake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files, set, vars listFlag
	fs.Var(&files, "f", "bake file (repeatable; - reads stdin; default: buildx's file names)")
	fs.Var(&files, "file", "same as -f")
	fs.Var(&set, "set", "override a target value: TARGET.KEY=VALUE (repeatable)")
	fs.Var(&vars, "var", "set a variable: NAME=VALUE (repeatable)")
	printDef := fs.Bool("print", false, "write the definition as `docker buildx bake --print` does")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	vm, err := variables(vars)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	def, err := read(ctx, files, fs.Args(), set, vm, stdin)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	var out any = def.definition()
	if *printDef {
		out = def.printed()
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
		return 1
	}
	return 0
}

// variables parses --var NAME=VALUE values.
func variables(in []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range in {
		name, val, ok := strings.Cut(v, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--var %q: want NAME=VALUE", v)
		}
		out[name] = val
	}
	return out, nil
}
