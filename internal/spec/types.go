// Package spec loads and validates builders.yaml into a defaulted, position-annotated File.
package spec

import "time"

// APIVersion and Kind identify a builders.yaml document.
const (
	APIVersion = "bkctl/v1alpha1"
	Kind       = "Builders"
)

// Defaults applied to a node when neither the node nor its builder's defaults set the field.
// They are the values docker buildx create --driver kubernetes uses.
const (
	DefaultImage         = "moby/buildkit:buildx-stable-1"
	DefaultRootlessImage = DefaultImage + "-rootless"
	DefaultQemuImage     = "tonistiigi/binfmt:latest"
	DefaultReplicas      = 1
	DefaultTimeout       = 120 * time.Second
	LoadbalanceSticky    = "sticky"
	LoadbalanceRandom    = "random"
)

// File is a loaded builders.yaml with defaults applied to every node.
type File struct {
	// Path is the file as it was named on the command line ("-" for stdin).
	Path       string
	APIVersion string
	Kind       string
	Metadata   Metadata
	Builders   []Builder
}

// Metadata names the inventory a file owns and the default namespace of its builders.
type Metadata struct {
	Name      string
	Namespace string
	// DefaultNamespace is set when the file names no namespace: Namespace is then "default", or
	// what File.SetNamespace gives (the -n flag or the kubeconfig context's namespace).
	DefaultNamespace bool
}

// Builder is one buildx builder: a name and its nodes, all in one namespace.
type Builder struct {
	Name      string
	Namespace string
	// CreateNamespace makes render emit the Namespace object, labelled for Pod Security "privileged".
	CreateNamespace bool
	Nodes           []Node
	// Pos is where the builder is defined in the file.
	Pos Pos
	// DefaultNamespace is set when the builder took metadata.namespace as its own.
	DefaultNamespace bool
}

// Node is one buildx node of a builder: one Deployment (or StatefulSet) of buildkitd pods.
// Every field holds its effective value: the node's own, else the builder's defaults, else the
// buildx default.
type Node struct {
	Name               string
	Platforms          []string
	Replicas           int32
	Image              string
	Loadbalance        string
	NodeSelector       map[string]string
	Resources          Resources
	Rootless           bool
	Qemu               Qemu
	Tolerations        []Toleration
	Storage            Storage
	ServiceAccountName string
	SchedulerName      string
	Annotations        map[string]string
	Labels             map[string]string
	Env                []EnvVar
	Buildkitd          Buildkitd
	Timeout            time.Duration
	DefaultLoad        bool
	// PodTemplate holds strategic-merge patches onto the pod template, in the order they apply:
	// the builder defaults' patch first, then the node's own.
	PodTemplate []map[string]any
	// PodTemplateFields says where each patch of PodTemplate is written, in the same order
	// (e.g. builders[0].defaults.podTemplate), for messages about it.
	PodTemplateFields []string
	// Pos is where the node is defined in the file.
	Pos Pos
}

// Resources are the buildkitd container's requests and limits as Kubernetes quantity strings,
// keyed by resource name (cpu, memory, ephemeral-storage).
type Resources struct {
	Requests map[string]string `json:"requests,omitempty" yaml:"requests,omitempty"`
	Limits   map[string]string `json:"limits,omitempty" yaml:"limits,omitempty"`
}

// Qemu configures the binfmt init container that registers QEMU emulators on the host.
type Qemu struct {
	Install bool
	Image   string
}

// Toleration mirrors the fields of a Kubernetes toleration that buildx accepts.
type Toleration struct {
	Key               string `json:"key,omitempty" yaml:"key,omitempty"`
	Operator          string `json:"operator,omitempty" yaml:"operator,omitempty"`
	Value             string `json:"value,omitempty" yaml:"value,omitempty"`
	Effect            string `json:"effect,omitempty" yaml:"effect,omitempty"`
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty" yaml:"tolerationSeconds,omitempty"`
}

// Storage selects where buildkitd keeps its state; at most one of the two is set.
type Storage struct {
	// PersistentVolume makes the node a StatefulSet with one PVC per replica.
	PersistentVolume *PersistentVolume `json:"persistentVolume,omitempty" yaml:"persistentVolume,omitempty"`
	// Memory puts the buildkit root on an emptyDir of medium Memory with this size limit.
	Memory string `json:"memory,omitempty" yaml:"memory,omitempty"`
}

// PersistentVolume is the volume claim template of a StatefulSet node.
type PersistentVolume struct {
	Size             string `json:"size" yaml:"size"`
	StorageClassName string `json:"storageClassName,omitempty" yaml:"storageClassName,omitempty"`
}

// EnvVar is an environment variable of the buildkitd container: a literal Value, or ValueFrom a
// key of a Secret or ConfigMap in the builder's namespace, which the kubelet reads when it starts
// the container, so that the value never passes through bkctl. A valid file sets exactly one of
// the two. (Value is always marshalled: value "" is how an empty variable is written.)
type EnvVar struct {
	Name      string        `json:"name" yaml:"name"`
	Value     string        `json:"value" yaml:"value"`
	ValueFrom *EnvVarSource `json:"valueFrom,omitempty" yaml:"valueFrom,omitempty"`
}

// EnvVarSource names where an environment variable's value comes from; exactly one is set.
type EnvVarSource struct {
	SecretKeyRef    *KeyRef `json:"secretKeyRef,omitempty" yaml:"secretKeyRef,omitempty"`
	ConfigMapKeyRef *KeyRef `json:"configMapKeyRef,omitempty" yaml:"configMapKeyRef,omitempty"`
}

// KeyRef selects a key of a Secret or ConfigMap in the builder's namespace. Unless Optional,
// the pod does not start while the object or the key is missing.
type KeyRef struct {
	Name     string `json:"name" yaml:"name"`
	Key      string `json:"key" yaml:"key"`
	Optional *bool  `json:"optional,omitempty" yaml:"optional,omitempty"`
}

// Buildkitd holds the daemon's flags and its buildkitd.toml.
type Buildkitd struct {
	// Flags are the daemon's arguments as written. Like buildx, render adds
	// --allow-insecure-entitlement=network.host when they grant no entitlement and the config's
	// insecure-entitlements has no network.host.
	Flags []string
	// Config is the buildkitd.toml content, inline or read from ConfigFile.
	Config string
	// ConfigFile is the path of the config as resolved against the builders file's directory.
	ConfigFile string
}

// Pos is a position in a builders file. Line and Col start at 1; zero means unknown.
type Pos struct {
	File string
	Line int
	Col  int
}
