package main

import (
	"errors"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bkctl/bkctl/internal/render"
	"github.com/bkctl/bkctl/internal/spec"
)

type renderCmd struct {
	Files  []string `short:"f" name:"filename" required:"" help:"Builders file (repeatable; - reads stdin)."`
	Output string   `short:"o" enum:"yaml,json" default:"yaml" help:"Output format: yaml (multi-document) or json (a v1 List)."`
}

func (c *renderCmd) Help() string {
	return `Validates the files, then prints the objects bkctl would apply: per node a Deployment
(a StatefulSet when storage.persistentVolume is set) and a <node>-config ConfigMap when a
buildkitd.toml is given; a Namespace when createNamespace is set. The output is
deterministic: the same file gives the same bytes. Nothing is sent to a cluster.

Examples:
  bkctl render -f builders.yaml
  bkctl render -f builders.yaml -o json | jq '.items[].metadata.name'
  bkctl render -f builders.yaml | kubectl apply --server-side --dry-run=server -f -`
}

func (c *renderCmd) Run(s streams) error {
	var objs []*unstructured.Unstructured
	for _, path := range c.Files {
		f, err := loadFile(path, s)
		if err != nil {
			return err
		}
		o, err := render.Render(f)
		if err != nil {
			return &exitCode{code: 1, err: err}
		}
		objs = append(objs, o...)
	}
	if c.Output == "json" {
		return render.WriteJSON(s.Out, objs)
	}
	return render.WriteYAML(s.Out, objs)
}

// loadFile loads and validates one builders file for a command that acts on it: warnings go
// to stderr, and an invalid file prints its diagnostics and ends the command with exit 1.
func loadFile(path string, s streams) (*spec.File, error) {
	res, err := spec.Load(path, s.In)
	var se *spec.Error
	if errors.As(err, &se) {
		for _, d := range se.Diagnostics {
			s.printf("%s\n", d)
		}
	}
	for _, w := range res.Warnings {
		s.printf("%s\n", w)
	}
	if se != nil {
		return nil, errReported
	}
	if err != nil {
		return nil, &exitCode{code: 1, err: err}
	}
	return res.File, nil
}
