package buildxstore

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bkctl/bkctl/internal/spec"
)

// Document is a builders.yaml as import writes it: every field is a node's own, none defaulted,
// in the field order of the documented contract.
type Document struct {
	APIVersion string       `json:"apiVersion" yaml:"apiVersion"`
	Kind       string       `json:"kind" yaml:"kind"`
	Metadata   DocMetadata  `json:"metadata" yaml:"metadata"`
	Builders   []DocBuilder `json:"builders" yaml:"builders"`
}

// DocMetadata is a Document's metadata.
type DocMetadata struct {
	Name      string `json:"name" yaml:"name"`
	Namespace string `json:"namespace,omitempty" yaml:"namespace,omitempty"`
}

// DocBuilder is one builder of a Document.
type DocBuilder struct {
	Name      string    `json:"name" yaml:"name"`
	Namespace string    `json:"namespace,omitempty" yaml:"namespace,omitempty"`
	Nodes     []DocNode `json:"nodes" yaml:"nodes"`
}

// DocNode is one node of a Document; zero values are left out, so bkctl's defaults (which are
// buildx's) apply.
type DocNode struct {
	Name               string            `json:"name" yaml:"name"`
	Platforms          []string          `json:"platforms,omitempty" yaml:"platforms,omitempty,flow"`
	Replicas           *int32            `json:"replicas,omitempty" yaml:"replicas,omitempty"`
	Image              string            `json:"image,omitempty" yaml:"image,omitempty"`
	Loadbalance        string            `json:"loadbalance,omitempty" yaml:"loadbalance,omitempty"`
	NodeSelector       map[string]string `json:"nodeSelector,omitempty" yaml:"nodeSelector,omitempty"`
	Resources          *spec.Resources   `json:"resources,omitempty" yaml:"resources,omitempty"`
	Rootless           bool              `json:"rootless,omitempty" yaml:"rootless,omitempty"`
	Qemu               *DocQemu          `json:"qemu,omitempty" yaml:"qemu,omitempty"`
	Tolerations        []spec.Toleration `json:"tolerations,omitempty" yaml:"tolerations,omitempty"`
	Storage            *spec.Storage     `json:"storage,omitempty" yaml:"storage,omitempty"`
	ServiceAccountName string            `json:"serviceAccountName,omitempty" yaml:"serviceAccountName,omitempty"`
	SchedulerName      string            `json:"schedulerName,omitempty" yaml:"schedulerName,omitempty"`
	Annotations        map[string]string `json:"annotations,omitempty" yaml:"annotations,omitempty"`
	Labels             map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
	Env                []spec.EnvVar     `json:"env,omitempty" yaml:"env,omitempty"`
	Buildkitd          *DocBuildkitd     `json:"buildkitd,omitempty" yaml:"buildkitd,omitempty"`
	Timeout            string            `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	DefaultLoad        bool              `json:"defaultLoad,omitempty" yaml:"defaultLoad,omitempty"`
}

// DocQemu is a node's qemu field.
type DocQemu struct {
	Install bool   `json:"install,omitempty" yaml:"install,omitempty"`
	Image   string `json:"image,omitempty" yaml:"image,omitempty"`
}

// DocBuildkitd is a node's buildkitd field; the config is inline.
type DocBuildkitd struct {
	Flags  []string `json:"flags,omitempty" yaml:"flags,omitempty"`
	Config string   `json:"config,omitempty" yaml:"config,omitempty"`
}

// YAML encodes d as a builders.yaml.
func (d *Document) YAML() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# Imported from docker buildx builder instances by bkctl import.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("encode builders.yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode builders.yaml: %w", err)
	}
	return buf.Bytes(), nil
}

// formatDuration writes d as time.Duration does, without the zero units it appends
// ("2m" rather than "2m0s").
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
