package render

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/bkctl/bkctl/internal/spec"
)

// Label and annotation keys that render puts on the objects it creates.
const (
	// LabelApp is buildx's label: its value is the node name, and it is the workload's only selector.
	LabelApp = "app"
	// LabelManagedBy marks every rendered object as bkctl's.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy.
	ManagedByValue = "bkctl"
	// LabelBuilder names the buildx builder an object or pod belongs to, so that pods of one
	// builder can be listed across its nodes.
	LabelBuilder = "bkctl.dev/builder"
	// LabelApplySetPartOf holds the ApplySet ID of the inventory an object is a member of (KEP-3659).
	LabelApplySetPartOf = "applyset.kubernetes.io/part-of"
	// AnnotationPlatform is buildx's annotation listing a node's platforms, comma-separated.
	AnnotationPlatform = "buildx.docker.com/platform"
)

// ApplySetParentPrefix starts the name of the ConfigMap that is the ApplySet parent of a file.
const ApplySetParentPrefix = "bkctl-applyset-"

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
		ParentName:      ApplySetParentPrefix + f.Metadata.Name,
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
