package main

import (
	"context"
	"encoding/json"

	"github.com/bkctl/bkctl/internal/buildxstore"
)

type importCmd struct {
	Builder string `help:"Import only this buildx builder (default: every builder of the kubernetes driver)."`
	Name    string `default:"builders" help:"metadata.name of the file: the inventory it will own."`
	buildxConfigFlag
	Output string `short:"o" enum:"yaml,json" default:"yaml" help:"Output format: yaml or json."`
}

func (c *importCmd) Help() string {
	return `Reads docker buildx builder instances of the kubernetes driver from buildx's config dir
and prints the builders.yaml that renders the same objects (within bkctl's documented
differences). Every node's driver-opts, buildkitd flags and buildkitd.toml are mapped; one that
has no builders.yaml field is an error naming it. The output passes 'bkctl validate'.
metadata.namespace is -n, else the kubeconfig context's namespace; nodes without a namespace
driver-opt take it too. Nothing is sent to a cluster; the instances are only read.

Examples:
  bkctl import > builders.yaml
  bkctl import --builder kube --name ci-builders -n buildkit
  bkctl import -o json | jq '.builders[].nodes[].name'`
}

func (c *importCmd) Run(ctx context.Context, s streams, kube *kubeFlags) error {
	ns, _, err := kube.namespace()
	if err != nil {
		return err
	}
	dir, err := c.dir()
	if err != nil {
		return &exitCode{code: 1, err: err}
	}
	groups, err := buildxstore.Read(ctx, dir, c.Builder)
	if err != nil {
		return &exitCode{code: 1, err: err}
	}
	opts := buildxstore.ImportOptions{Builder: c.Builder, Name: c.Name, Namespace: ns}
	doc, warnings, err := buildxstore.Import(groups, opts)
	for _, w := range warnings {
		s.printf("warning: %s\n", w)
	}
	if err != nil {
		return &exitCode{code: 1, err: err}
	}
	if c.Output == "json" {
		enc := json.NewEncoder(s.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	data, err := doc.YAML()
	if err != nil {
		return err
	}
	_, err = s.Out.Write(data)
	return err
}
