package render

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bkctl/bkctl/internal/golden"
	"github.com/bkctl/bkctl/internal/spec"
)

// goldenDir holds the goldens at the repository root, where testdata/render/README.md maps them
// to buildx driver-opts.
const goldenDir = "../../testdata/render"

// testFile is one builder "kube" with one node "kube0" holding the defaults the spec loader
// applies, in namespace "buildkit" of inventory "ci".
func testFile(edit func(f *spec.File, n *spec.Node)) *spec.File {
	f := &spec.File{
		Path:       "builders.yaml",
		APIVersion: spec.APIVersion,
		Kind:       spec.Kind,
		Metadata:   spec.Metadata{Name: "ci", Namespace: "buildkit"},
		Builders: []spec.Builder{{
			Name:      "kube",
			Namespace: "buildkit",
			Pos:       spec.Pos{File: "builders.yaml", Line: 6, Col: 5},
			Nodes: []spec.Node{{
				Name:        "kube0",
				Replicas:    spec.DefaultReplicas,
				Image:       spec.DefaultImage,
				Loadbalance: spec.LoadbalanceSticky,
				Qemu:        spec.Qemu{Image: spec.DefaultQemuImage},
				Timeout:     spec.DefaultTimeout,
				Pos:         spec.Pos{File: "builders.yaml", Line: 9, Col: 9},
			}},
		}},
	}
	if edit != nil {
		edit(f, &f.Builders[0].Nodes[0])
	}
	return f
}

// optCases sets each buildx driver-opt (and each bkctl-only field) alone, named after the opt.
var optCases = map[string]func(f *spec.File, n *spec.Node){
	"default": func(*spec.File, *spec.Node) {},
	"image":   func(_ *spec.File, n *spec.Node) { n.Image = "moby/buildkit:v0.34.2" },
	"namespace": func(f *spec.File, _ *spec.Node) {
		f.Builders[0].Namespace = "builders"
	},
	"replicas":        func(_ *spec.File, n *spec.Node) { n.Replicas = 3 },
	"requests.cpu":    func(_ *spec.File, n *spec.Node) { n.Resources.Requests = map[string]string{"cpu": "500m"} },
	"requests.memory": func(_ *spec.File, n *spec.Node) { n.Resources.Requests = map[string]string{"memory": "1Gi"} },
	"requests.ephemeral-storage": func(_ *spec.File, n *spec.Node) {
		n.Resources.Requests = map[string]string{"ephemeral-storage": "10Gi"}
	},
	"limits.cpu":               func(_ *spec.File, n *spec.Node) { n.Resources.Limits = map[string]string{"cpu": "2"} },
	"limits.memory":            func(_ *spec.File, n *spec.Node) { n.Resources.Limits = map[string]string{"memory": "4Gi"} },
	"limits.ephemeral-storage": func(_ *spec.File, n *spec.Node) { n.Resources.Limits = map[string]string{"ephemeral-storage": "20Gi"} },
	"persistent-volume-claim.requests.storage": func(_ *spec.File, n *spec.Node) {
		n.Storage.PersistentVolume = &spec.PersistentVolume{Size: "50Gi"}
	},
	"persistent-volume-claim.requests.storage-rootless": func(_ *spec.File, n *spec.Node) {
		n.Storage.PersistentVolume = &spec.PersistentVolume{Size: "50Gi"}
		n.Rootless, n.Image = true, spec.DefaultRootlessImage
	},
	"storageClassName": func(_ *spec.File, n *spec.Node) {
		n.Storage.PersistentVolume = &spec.PersistentVolume{Size: "50Gi", StorageClassName: "fast"}
	},
	"buildkit-root-volume-memory": func(_ *spec.File, n *spec.Node) { n.Storage.Memory = "2Gi" },
	"buildkit-root-volume-memory-rootless": func(_ *spec.File, n *spec.Node) {
		n.Storage.Memory = "2Gi"
		n.Rootless, n.Image = true, spec.DefaultRootlessImage
	},
	"rootless":      func(_ *spec.File, n *spec.Node) { n.Rootless, n.Image = true, spec.DefaultRootlessImage },
	"schedulername": func(_ *spec.File, n *spec.Node) { n.SchedulerName = "bin-packing" },
	"serviceaccount": func(_ *spec.File, n *spec.Node) {
		n.ServiceAccountName = "buildkit"
	},
	"nodeselector": func(_ *spec.File, n *spec.Node) {
		n.NodeSelector = map[string]string{"kubernetes.io/arch": "arm64", "node-role": "builder"}
	},
	"annotations": func(_ *spec.File, n *spec.Node) {
		n.Annotations = map[string]string{"team": "platform", "example.com/owner": "ci"}
	},
	"labels": func(_ *spec.File, n *spec.Node) {
		n.Labels = map[string]string{"cost-center": "ci", "tier": "build"}
	},
	"tolerations": func(_ *spec.File, n *spec.Node) {
		n.Tolerations = []spec.Toleration{
			{Key: "arch", Operator: "Equal", Value: "arm64", Effect: "NoSchedule"},
			{Key: "node.kubernetes.io/unreachable", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: new(int64(30))},
		}
	},
	"qemu.install": func(_ *spec.File, n *spec.Node) { n.Qemu.Install = true },
	// qemu.image alone changes nothing in buildx either; shown together with qemu.install.
	"qemu.image": func(_ *spec.File, n *spec.Node) {
		n.Qemu = spec.Qemu{Install: true, Image: "tonistiigi/binfmt:qemu-v9.2.2"}
	},
	"env": func(_ *spec.File, n *spec.Node) {
		n.Env = []spec.EnvVar{{Name: "BUILDKIT_STEP_LOG_MAX_SIZE", Value: "10485760"}, {Name: "HTTPS_PROXY", Value: "http://proxy:3128"}}
	},
	"env-valueFrom": func(_ *spec.File, n *spec.Node) {
		n.Env = []spec.EnvVar{
			{Name: "REGISTRY_TOKEN", ValueFrom: &spec.EnvVarSource{SecretKeyRef: &spec.KeyRef{Name: "registry", Key: "token"}}},
			{Name: "NPM_TOKEN", ValueFrom: &spec.EnvVarSource{SecretKeyRef: &spec.KeyRef{Name: "npm", Key: "token", Optional: new(true)}}},
			{Name: "HTTPS_PROXY", ValueFrom: &spec.EnvVarSource{ConfigMapKeyRef: &spec.KeyRef{Name: "proxy", Key: "https"}}},
			{Name: "BUILDKIT_STEP_LOG_MAX_SIZE", Value: "10485760"},
		}
	},
	"buildkitd-flags": func(_ *spec.File, n *spec.Node) { n.Buildkitd.Flags = []string{"--debug"} },
	"buildkitd-flags-entitlement": func(_ *spec.File, n *spec.Node) {
		n.Buildkitd.Flags = []string{"--debug", "--allow-insecure-entitlement=security.insecure"}
	},
	"buildkitd-config": func(_ *spec.File, n *spec.Node) {
		n.Buildkitd.Config = "debug = true\n\n[worker.oci]\n  gc = true\n  max-parallelism = 4\n"
	},
	"buildkitd-config-entitlement": func(_ *spec.File, n *spec.Node) {
		n.Buildkitd.Config = "insecure-entitlements = [\"network.host\", \"security.insecure\"]\n"
	},
	"platforms": func(_ *spec.File, n *spec.Node) {
		n.Platforms = []string{"linux/amd64", "linux/arm64/v8", "linux/arm"}
	},
	"createNamespace": func(f *spec.File, _ *spec.Node) { f.Builders[0].CreateNamespace = true },
	"podTemplate": func(_ *spec.File, n *spec.Node) {
		n.PodTemplate = []map[string]any{
			{"spec": map[string]any{
				"priorityClassName": "builders",
				"containers": []any{map[string]any{
					"name": "buildkitd",
					"env":  []any{map[string]any{"name": "GOMAXPROCS", "value": "2"}},
				}},
			}},
			{"spec": map[string]any{
				"hostNetwork":       true,
				"priorityClassName": nil,
				"affinity": map[string]any{"podAntiAffinity": map[string]any{
					"preferredDuringSchedulingIgnoredDuringExecution": []any{map[string]any{
						"weight": 100,
						"podAffinityTerm": map[string]any{
							"topologyKey":   "kubernetes.io/hostname",
							"labelSelector": map[string]any{"matchLabels": map[string]any{"app": "kube0"}},
						},
					}},
				}},
			}},
		}
	},
}

func TestOptGolden(t *testing.T) {
	for name, edit := range optCases {
		t.Run(name, func(t *testing.T) {
			objs, err := Render(testFile(edit))
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			var got bytes.Buffer
			if err := WriteYAML(&got, objs); err != nil {
				t.Fatalf("WriteYAML: %v", err)
			}
			checkGolden(t, filepath.Join(goldenDir, "opt-"+name+".yaml"), got.Bytes())
		})
	}
}

// TestNoOrphanGoldens fails on an opt-*.yaml golden that no case writes any more.
func TestNoOrphanGoldens(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(goldenDir, "opt-*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no goldens in %s", goldenDir)
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "opt-"), ".yaml")
		if _, ok := optCases[name]; !ok {
			t.Errorf("%s has no case in optCases (remove it or add the case)", f)
		}
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	golden.Check(t, path, got)
}
