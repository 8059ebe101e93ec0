package diff

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSummaryConfig(t *testing.T) {
	const (
		deploy = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"kube0","namespace":"ns","labels":{"bkctl.dev/builder":"kube"}},
		  "spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"buildkitd","image":"moby/buildkit:buildx-stable-1"}]}}}}`
		config = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"kube0-config","namespace":"ns","labels":{"bkctl.dev/builder":"kube"}}}`
	)
	tests := map[string]struct {
		workload, config []string // changed fields; nil: unchanged
		want             string
	}{
		"adopted from buildx: only labels": {
			workload: []string{"metadata.labels[bkctl.dev/builder]", "spec.template.metadata.labels[bkctl.dev/builder]"},
			config:   []string{"metadata.labels"},
			want:     "kube/kube0: rolls its pods: replicas unchanged, image unchanged, other fields 3",
		},
		"buildkitd.toml changed, rendered before the config hash": {
			config: []string{"data[buildkitd.toml]"},
			want:   "kube/kube0: replicas unchanged, image unchanged, buildkitd.config changed",
		},
		"buildkitd.toml changed: the template's config hash rolls the pods": {
			workload: []string{"spec.template.metadata.annotations[bkctl.dev/config-hash]"},
			config:   []string{"data[buildkitd.toml]"},
			want:     "kube/kube0: rolls its pods: replicas unchanged, image unchanged, buildkitd.config changed",
		},
		"workload labels changed: no rollout": {
			workload: []string{"metadata.labels[team]"},
			want:     "kube/kube0: replicas unchanged, image unchanged, other fields 1",
		},
		"buildkitd.toml and labels changed": {
			workload: []string{"metadata.labels[team]"},
			config:   []string{"data[buildkitd.toml]", "metadata.labels[team]"},
			want:     "kube/kube0: replicas unchanged, image unchanged, buildkitd.config changed, other fields 2",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			change := func(s string, fields []string) Change {
				o := obj(t, s)
				c := Change{Ref: RefOf(o), Action: Unchanged, Desired: o, Live: o, Merged: o, Fields: fields}
				if fields != nil {
					c.Action = Update
				}
				return c
			}
			p := &Plan{Changes: []Change{change(config, tt.config), change(deploy, tt.workload)}}
			var got []string
			for _, s := range p.Summary() {
				got = append(got, s.String())
			}
			if d := cmp.Diff([]string{tt.want}, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
