// Package deps pins the project's chosen dependencies in go.mod until the packages that use them land; it has no code.
package deps

import (
	_ "github.com/alecthomas/kong"
	_ "github.com/fluxcd/pkg/ssa"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/moby/buildkit/client"
	_ "github.com/moby/buildkit/util/progress/progressui"
	_ "github.com/pelletier/go-toml/v2"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/sergi/go-diff/diffmatchpatch"
	_ "github.com/willabides/kongplete"
	_ "gopkg.in/yaml.v3"
	_ "k8s.io/client-go/kubernetes"
	_ "sigs.k8s.io/yaml"
)
