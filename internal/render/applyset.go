package render

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/bkctl/bkctl/internal/keys"
	"github.com/bkctl/bkctl/internal/spec"
)

// ApplySetRef identifies the ApplySet parent object of a builders file and the ID its members carry.
type ApplySetRef struct {
	ParentName      string
	ParentNamespace string
	// ParentKind and ParentGroup are the parent's kind and API group ("" for the core group).
	ParentKind  string
	ParentGroup string
	// ID is the value of the parent's applyset.kubernetes.io/id label and of every member's
	// applyset.kubernetes.io/part-of label.
	ID string
}

// ApplySet returns the ApplySet of f: a ConfigMap named "bkctl-applyset-<metadata.name>" in
// metadata.namespace, with kubectl's ID format.
func ApplySet(f *spec.File) ApplySetRef {
	ref := ApplySetRef{
		ParentName:      keys.ApplySetParentPrefix + f.Metadata.Name,
		ParentNamespace: f.Metadata.Namespace,
		ParentKind:      "ConfigMap",
		ParentGroup:     "",
	}
	ref.ID = applySetID(ref)
	return ref
}

// applySetID computes the KEP-3659 v1 ID, as kubectl does:
// "applyset-" + base64url-unpadded(sha256("<name>.<namespace>.<kind>.<group>")) + "-v1".
func applySetID(ref ApplySetRef) string {
	gknn := strings.Join([]string{ref.ParentName, ref.ParentNamespace, ref.ParentKind, ref.ParentGroup}, ".")
	sum := sha256.Sum256([]byte(gknn))
	return "applyset-" + base64.RawURLEncoding.EncodeToString(sum[:]) + "-v1"
}
