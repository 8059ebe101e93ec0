package main

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bkctl/bkctl/internal/render"
)

type renderCmd struct {
	fileFlags
	Output string `short:"o" enum:"yaml,json" default:"yaml" help:"Output format: yaml (multi-document) or json (a v1 List)."`
}

func (c *renderCmd) Help() string {
	return `Validates the files, then prints the objects bkctl would apply: per node a Deployment
(a StatefulSet when storage.persistentVolume is set) and a <node>-config ConfigMap when a
buildkitd.toml is given; a Namespace when createNamespace is set. Every object carries the
label of its inventory. The output is deterministic: the same files give the same bytes.
Nothing is sent to a cluster; a file that names no namespace takes -n, else the kubeconfig
context's namespace.

Examples:
  bkctl render
  bkctl render -f builders.yaml -o json | jq '.items[].metadata.name'
  bkctl render -f builders.yaml | kubectl apply --server-side --dry-run=server -f -`
}

func (c *renderCmd) Run(s streams, kube *kubeFlags) error {
	invs, err := loadInventories(c.fileFlags, kube, s)
	if err != nil {
		return err
	}
	var objs []*unstructured.Unstructured
	for _, inv := range invs {
		objs = append(objs, inv.objs...)
	}
	if c.Output == "json" {
		return render.WriteJSON(s.Out, objs)
	}
	return render.WriteYAML(s.Out, objs)
}
