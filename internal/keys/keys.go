// Package keys holds every label, annotation and ApplySet key that bkctl writes or reads on
// cluster objects, so that spec, render, apply, diff and inspect agree on one spelling.
package keys

// Labels on rendered objects and their pods.
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
)

// Annotations on rendered objects and their pods.
const (
	// AnnotationPlatform is buildx's annotation listing a node's platforms, comma-separated.
	AnnotationPlatform = "buildx.docker.com/platform"
	// AnnotationConfigHash sits on a node's pod template and holds a hash of everything the pod
	// reads at start from objects bkctl renders beside it (the buildkitd.toml ConfigMap), so
	// that a change there rolls the pods.
	AnnotationConfigHash = "bkctl.dev/config-hash"
	// AnnotationDeploymentRevision is the revision the Deployment controller writes on a
	// Deployment; bkctl never sets it.
	AnnotationDeploymentRevision = "deployment.kubernetes.io/revision"
)

// ApplySet keys of KEP-3659, as kubectl writes and reads them.
const (
	// LabelApplySetPartOf holds, on every member, the ID of the ApplySet it belongs to.
	LabelApplySetPartOf = "applyset.kubernetes.io/part-of"
	// LabelApplySetID holds, on the parent, the ID of its ApplySet.
	LabelApplySetID = "applyset.kubernetes.io/id"
	// AnnotationApplySetTooling names, on the parent, the tool and version that manages the set.
	AnnotationApplySetTooling = "applyset.kubernetes.io/tooling"
	// AnnotationApplySetGroupKinds lists, on the parent, the group-kinds of the members.
	AnnotationApplySetGroupKinds = "applyset.kubernetes.io/contains-group-kinds"
	// AnnotationApplySetAdditionalNamespaces lists, on the parent, the namespaces other than its
	// own that hold members.
	AnnotationApplySetAdditionalNamespaces = "applyset.kubernetes.io/additional-namespaces"
)

// bkctl's own keys on the ApplySet parent, a ConfigMap.
const (
	// ApplySetParentPrefix starts the name of the ConfigMap that is the ApplySet parent of a file.
	ApplySetParentPrefix = "bkctl-applyset-"
	// DataApplied is the parent's data key that holds, per member, the record of its last apply,
	// one "<Kind.group>/<namespace>/<name> <config> <fields>" a line.
	DataApplied = "bkctl-applied"
)
