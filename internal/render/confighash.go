package render

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"

	"github.com/bkctl/bkctl/internal/keys"
)

// configHashLen is how many hex digits of the SHA-256 the annotation keeps: 64 bits tell two
// configs of one node apart, and a short value keeps plans readable.
const configHashLen = 16

// configHash returns the value of keys.AnnotationConfigHash for a buildkitd.toml: a hash of
// the exact bytes the pod mounts at /etc/buildkit/buildkitd.toml.
func configHash(config string) string {
	sum := sha256.Sum256([]byte(config))
	return hex.EncodeToString(sum[:])[:configHashLen]
}

// templateAnnotations returns the pod template's annotations: the node's, plus the hash of
// its buildkitd.toml when it has one. buildkitd reads that file only at start, and a changed
// ConfigMap alone leaves the template as it was, so without the hash the Deployment or
// StatefulSet would not roll and the pods would keep the old config.
func (c nodeContext) templateAnnotations(annotations map[string]string) map[string]string {
	if c.node.Buildkitd.Config == "" {
		return annotations
	}
	out := maps.Clone(annotations)
	if out == nil {
		out = map[string]string{}
	}
	out[keys.AnnotationConfigHash] = configHash(c.node.Buildkitd.Config)
	return out
}
