// Package bakedef is the bake definition that the bkctl-bake program hands to bkctl: the
// targets that buildx's bake package resolved, each value written in the syntax of the matching
// flag of `bkctl run` (and `docker buildx build`), so that bkctl parses a target as it parses
// its own command line.
//
// The bake package stays in bkctl-bake because it links about 200 packages with init code
// (compose-go, HCL, Open Policy Agent, sigstore), which every bkctl command, `bkctl validate` in
// a pre-commit hook first of all, would otherwise pay on start.
package bakedef

// APIVersion and Kind name the document bkctl-bake writes.
const (
	APIVersion = "bkctl/v1alpha1"
	Kind       = "BakeDefinition"
)

// Definition is the document: the resolved targets in name order.
type Definition struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Targets    []Target `json:"targets"`
}

// Target is one resolved target. Empty fields are unset; the lists of outputs, caches,
// attestations, secrets and SSH hold one flag value each (type=registry,ref=…).
type Target struct {
	Name             string            `json:"name"`
	Context          string            `json:"context,omitempty"`
	Contexts         map[string]string `json:"contexts,omitempty"`
	Dockerfile       string            `json:"dockerfile,omitempty"`
	DockerfileInline *string           `json:"dockerfileInline,omitempty"`
	Args             map[string]string `json:"args,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	Tags             []string          `json:"tags,omitempty"`
	Platforms        []string          `json:"platforms,omitempty"`
	Target           string            `json:"target,omitempty"`
	Outputs          []string          `json:"outputs,omitempty"`
	CacheFrom        []string          `json:"cacheFrom,omitempty"`
	CacheTo          []string          `json:"cacheTo,omitempty"`
	Attest           []string          `json:"attest,omitempty"`
	Secrets          []string          `json:"secrets,omitempty"`
	SSH              []string          `json:"ssh,omitempty"`
	Annotations      []string          `json:"annotations,omitempty"`
	Entitlements     []string          `json:"entitlements,omitempty"`
	ExtraHosts       []string          `json:"extraHosts,omitempty"`
	NoCache          bool              `json:"noCache,omitempty"`
	Pull             bool              `json:"pull,omitempty"`
	NoCacheFilter    []string          `json:"noCacheFilter,omitempty"`
	Network          string            `json:"network,omitempty"`
	ShmSize          string            `json:"shmSize,omitempty"`
	Ulimits          []string          `json:"ulimits,omitempty"`
	Resources        []string          `json:"resources,omitempty"` // --resource KEY=VALUE
	Call             string            `json:"call,omitempty"`
}
