package spec

// The raw types mirror builders.yaml as written; pointers tell "unset" from a zero value, so
// defaults can fill exactly what a node leaves out.

type rawFile struct {
	APIVersion string       `yaml:"apiVersion"`
	Kind       string       `yaml:"kind"`
	Metadata   rawMetadata  `yaml:"metadata"`
	Builders   []rawBuilder `yaml:"builders"`
}

type rawMetadata struct {
	Name      string `yaml:"name"`
	Namespace string `yaml:"namespace"`
}

type rawBuilder struct {
	Name            string    `yaml:"name"`
	Namespace       string    `yaml:"namespace"`
	CreateNamespace bool      `yaml:"createNamespace"`
	Defaults        rawNode   `yaml:"defaults"`
	Nodes           []rawNode `yaml:"nodes"`
}

type rawNode struct {
	Name               string            `yaml:"name"`
	Platforms          []string          `yaml:"platforms"`
	Replicas           *int32            `yaml:"replicas"`
	Image              string            `yaml:"image"`
	Loadbalance        string            `yaml:"loadbalance"`
	NodeSelector       map[string]string `yaml:"nodeSelector"`
	Resources          *Resources        `yaml:"resources"`
	Rootless           *bool             `yaml:"rootless"`
	Qemu               *rawQemu          `yaml:"qemu"`
	Tolerations        []Toleration      `yaml:"tolerations"`
	Storage            *Storage          `yaml:"storage"`
	ServiceAccountName string            `yaml:"serviceAccountName"`
	SchedulerName      string            `yaml:"schedulerName"`
	Annotations        map[string]string `yaml:"annotations"`
	Labels             map[string]string `yaml:"labels"`
	Env                []EnvVar          `yaml:"env"`
	Buildkitd          *rawBuildkitd     `yaml:"buildkitd"`
	Timeout            string            `yaml:"timeout"`
	DefaultLoad        *bool             `yaml:"defaultLoad"`
	PodTemplate        map[string]any    `yaml:"podTemplate"`
}

type rawQemu struct {
	Install *bool  `yaml:"install"`
	Image   string `yaml:"image"`
}

type rawBuildkitd struct {
	Flags      []string `yaml:"flags"`
	Config     *string  `yaml:"config"`
	ConfigFile string   `yaml:"configFile"`
}
