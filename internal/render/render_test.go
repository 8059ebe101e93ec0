package render

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bkctl/bkctl/internal/keys"
	"github.com/bkctl/bkctl/internal/spec"
)

// richFile sets every map- and list-valued field on several builders and nodes, so that map
// iteration order would show if it leaked into the output.
func richFile() *spec.File {
	f := testFile(func(f *spec.File, n *spec.Node) {
		for _, name := range slices.Sorted(maps.Keys(optCases)) {
			edit := optCases[name]
			if !strings.HasPrefix(name, "persistent") && name != "storageClassName" && name != "podTemplate" &&
				!strings.HasPrefix(name, "buildkit-root-volume-memory") {
				edit(f, n)
			}
		}
	})
	f.Builders[0].Nodes[0].Resources = spec.Resources{
		Requests: map[string]string{"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "10Gi"},
		Limits:   map[string]string{"cpu": "2", "memory": "4Gi", "ephemeral-storage": "20Gi"},
	}
	second := testFile(func(f *spec.File, n *spec.Node) {
		f.Builders[0].Name = "cache"
		f.Builders[0].CreateNamespace = true
		n.Name = "cache-arm64"
		n.Labels = map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}
		n.Storage.PersistentVolume = &spec.PersistentVolume{Size: "50Gi", StorageClassName: "fast"}
	}).Builders[0]
	second.Nodes = append(second.Nodes, spec.Node{Name: "cache-amd64", Replicas: 2, Buildkitd: spec.Buildkitd{Config: "debug = true\n"}})
	f.Builders = append(f.Builders, second)
	return f
}

func TestDeterministic(t *testing.T) {
	var first []byte
	for i := range 20 {
		objs, err := Render(richFile())
		if err != nil {
			t.Fatalf("Render: %v", err)
		}
		var buf bytes.Buffer
		if err := WriteYAML(&buf, objs); err != nil {
			t.Fatal(err)
		}
		if err := WriteJSON(&buf, objs); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = buf.Bytes()
			continue
		}
		if diff := cmp.Diff(string(first), buf.String()); diff != "" {
			t.Fatalf("render %d differs from the first (-first +now):\n%s", i, diff)
		}
	}
}

func TestOrder(t *testing.T) {
	objs, err := Render(richFile())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, objectRef(o))
	}
	want := []string{
		"Namespace/builders",
		"Namespace/buildkit",
		"ConfigMap/builders/kube0-config",
		"ConfigMap/buildkit/cache-amd64-config",
		"Deployment/builders/kube0",
		"Deployment/buildkit/cache-amd64",
		"StatefulSet/buildkit/cache-arm64",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestSharedNamespaceRenderedOnce(t *testing.T) {
	f := testFile(func(f *spec.File, _ *spec.Node) { f.Builders[0].CreateNamespace = true })
	other := f.Builders[0]
	other.Name, other.Nodes = "other", []spec.Node{{Name: "other0", Replicas: 1}}
	f.Builders = append(f.Builders, other)
	objs, err := Render(f)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	var namespaces int
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			namespaces++
		}
	}
	if namespaces != 1 {
		t.Errorf("got %d Namespace objects, want 1", namespaces)
	}
}

// TestClientSideOptions checks that the driver-opts buildx keeps on the client (loadbalance,
// default-load, timeout) do not change the objects.
func TestClientSideOptions(t *testing.T) {
	want := renderYAML(t, testFile(nil))
	got := renderYAML(t, testFile(func(_ *spec.File, n *spec.Node) {
		n.Loadbalance = spec.LoadbalanceRandom
		n.DefaultLoad = true
		n.Timeout = 5 * time.Minute
	}))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestDefaultImages checks the images render falls back to when the spec leaves them empty.
func TestDefaultImages(t *testing.T) {
	for name, tc := range map[string]struct {
		edit       func(*spec.File, *spec.Node)
		image      string
		qemuImage  string
		isRootless bool
	}{
		"rootful":  {edit: func(_ *spec.File, n *spec.Node) { n.Image = "" }, image: spec.DefaultImage},
		"rootless": {edit: func(_ *spec.File, n *spec.Node) { n.Image, n.Rootless = "", true }, image: spec.DefaultRootlessImage},
		"qemu": {
			edit:      func(_ *spec.File, n *spec.Node) { n.Qemu = spec.Qemu{Install: true} },
			image:     spec.DefaultImage,
			qemuImage: spec.DefaultQemuImage,
		},
	} {
		t.Run(name, func(t *testing.T) {
			objs, err := Render(testFile(tc.edit))
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			pod := objs[0].Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			if got := pod["containers"].([]any)[0].(map[string]any)["image"]; got != tc.image {
				t.Errorf("image = %v, want %s", got, tc.image)
			}
			if tc.qemuImage != "" {
				if got := pod["initContainers"].([]any)[0].(map[string]any)["image"]; got != tc.qemuImage {
					t.Errorf("qemu image = %v, want %s", got, tc.qemuImage)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*spec.File, *spec.Node)
		want string
	}{
		"bad quantity": {
			edit: func(_ *spec.File, n *spec.Node) { n.Resources.Limits = map[string]string{"cpu": "two"} },
			want: `builders.yaml:9:9: node "kube0": resources.limits.cpu "two": quantities must match the regular expression`,
		},
		"bad volume size": {
			edit: func(_ *spec.File, n *spec.Node) { n.Storage.PersistentVolume = &spec.PersistentVolume{Size: "lots"} },
			want: `builders.yaml:9:9: node "kube0": storage.persistentVolume.size "lots"`,
		},
		"bad memory": {
			edit: func(_ *spec.File, n *spec.Node) { n.Storage.Memory = "1 GB" },
			want: `builders.yaml:9:9: node "kube0": storage.memory "1 GB"`,
		},
		"reserved label": {
			edit: func(_ *spec.File, n *spec.Node) { n.Labels = map[string]string{"app": "x"} },
			want: `builders.yaml:9:9: node "kube0": label "app" is reserved and cannot be customized`,
		},
		"reserved inventory label": {
			edit: func(_ *spec.File, n *spec.Node) { n.Labels = map[string]string{keys.LabelApplySetPartOf: "x"} },
			want: `label "applyset.kubernetes.io/part-of" is reserved`,
		},
		"reserved annotation": {
			edit: func(_ *spec.File, n *spec.Node) {
				n.Annotations = map[string]string{keys.AnnotationPlatform: "linux/amd64"}
			},
			want: `builders.yaml:9:9: node "kube0": annotation "buildx.docker.com/platform" is reserved and cannot be customized (hint: set platforms)`,
		},
		"bad platform": {
			edit: func(_ *spec.File, n *spec.Node) { n.Platforms = []string{"linux/amd64/v2/extra"} },
			want: `builders.yaml:9:9: node "kube0": parse platform "linux/amd64/v2/extra"`,
		},
		"bad toml": {
			edit: func(_ *spec.File, n *spec.Node) { n.Buildkitd.Config = "[worker.oci\n" },
			want: `builders.yaml:9:9: node "kube0": parse buildkitd config:`,
		},
		"patch of wrong type": {
			edit: func(_ *spec.File, n *spec.Node) {
				n.PodTemplate = []map[string]any{{"spec": map[string]any{"containers": "buildkitd"}}}
			},
			want: `builders.yaml:9:9: node "kube0": apply podTemplate patch 1:`,
		},
		"patch with unknown field": {
			edit: func(_ *spec.File, n *spec.Node) {
				n.PodTemplate = []map[string]any{{"spec": map[string]any{"hostnetwork": true}}}
			},
			want: `builders.yaml:9:9: node "kube0": apply podTemplate patch 1: unknown field "spec.hostnetwork"`,
		},
		"patch dropping the selector label": {
			edit: func(_ *spec.File, n *spec.Node) {
				n.PodTemplate = []map[string]any{{"metadata": map[string]any{"labels": map[string]any{"app": nil}}}}
			},
			want: `builders.yaml:9:9: node "kube0": podTemplate must keep label app=kube0, the workload's selector`,
		},
		"duplicate node": {
			edit: func(f *spec.File, n *spec.Node) {
				dup := *n
				dup.Pos = spec.Pos{File: "builders.yaml", Line: 12, Col: 9}
				f.Builders[0].Nodes = append(f.Builders[0].Nodes, dup)
			},
			want: `builders.yaml:12:9: node "kube0" in namespace "buildkit" is already defined by builder "kube"`,
		},
		"no namespace": {
			edit: func(f *spec.File, _ *spec.Node) { f.Metadata.Namespace, f.Builders[0].Namespace = "", "" },
			want: `builders.yaml:6:5: builder "kube" has no namespace (hint: set metadata.namespace)`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Render(testFile(tc.edit))
			if err == nil {
				t.Fatalf("Render succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n  %v\nwant it to contain:\n  %s", err, tc.want)
			}
		})
	}
}

func TestErrorsAllReported(t *testing.T) {
	f := testFile(func(f *spec.File, n *spec.Node) {
		n.Labels = map[string]string{"app": "x"}
		second := *n
		second.Name, second.Pos = "kube1", spec.Pos{File: "builders.yaml", Line: 20, Col: 9}
		f.Builders[0].Nodes = append(f.Builders[0].Nodes, second)
	})
	_, err := Render(f)
	if err == nil {
		t.Fatal("Render succeeded, want two errors")
	}
	got := strings.Split(err.Error(), "\n")
	want := []string{
		`builders.yaml:9:9: node "kube0": label "app" is reserved and cannot be customized`,
		`builders.yaml:20:9: node "kube1": label "app" is reserved and cannot be customized`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestHasEntitlementFlag(t *testing.T) {
	for name, tc := range map[string]struct {
		flags []string
		want  bool
	}{
		"none":                    {flags: nil, want: false},
		"other flags":             {flags: []string{"--debug", "--oci-worker-gc=false"}, want: false},
		"equals form":             {flags: []string{"--allow-insecure-entitlement=security.insecure"}, want: true},
		"space form":              {flags: []string{"--allow-insecure-entitlement", "network.host"}, want: true},
		"after an unknown flag":   {flags: []string{"--debug", "--allow-insecure-entitlement=device"}, want: true},
		"after the terminator":    {flags: []string{"--", "--allow-insecure-entitlement=device"}, want: false},
		"similar but not the one": {flags: []string{"--allow-insecure-entitlements=device"}, want: false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := hasEntitlementFlag(tc.flags); got != tc.want {
				t.Errorf("hasEntitlementFlag(%q) = %v, want %v", tc.flags, got, tc.want)
			}
		})
	}
}

// TestApplySet checks the ID against one computed outside Go from kubectl's documented format
// (k8s.io/kubectl/pkg/cmd/apply ApplySet.ID):
//
//	printf '%s' bkctl-applyset-ci.buildkit.ConfigMap. | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d =
func TestApplySet(t *testing.T) {
	want := ApplySetRef{
		ParentName:      "bkctl-applyset-ci",
		ParentNamespace: "buildkit",
		ParentKind:      "ConfigMap",
		ID:              "applyset-cDHbH_OtF_3Qtbd2U7TKzBjxoGiSBzQxgBAfWYcH7vE-v1",
	}
	if diff := cmp.Diff(want, ApplySet(testFile(nil))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	objs, err := Render(richFile())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	for _, o := range objs {
		if got := o.GetLabels()[keys.LabelApplySetPartOf]; got != want.ID {
			t.Errorf("%s: %s=%q, want %q", objectRef(o), keys.LabelApplySetPartOf, got, want.ID)
		}
		if got := o.GetLabels()[keys.LabelManagedBy]; got != keys.ManagedByValue {
			t.Errorf("%s: %s=%q, want %q", objectRef(o), keys.LabelManagedBy, got, keys.ManagedByValue)
		}
	}
}

// TestWriteJSON checks that the JSON form is a v1 List holding the same objects as the YAML.
func TestWriteJSON(t *testing.T) {
	objs, err := Render(richFile())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, objs); err != nil {
		t.Fatal(err)
	}
	var list unstructured.UnstructuredList
	if err := list.UnmarshalJSON(buf.Bytes()); err != nil {
		t.Fatalf("decode List: %v", err)
	}
	if list.GetKind() != "List" || list.GetAPIVersion() != "v1" {
		t.Errorf("got %s %s, want v1 List", list.GetAPIVersion(), list.GetKind())
	}
	if len(list.Items) != len(objs) {
		t.Fatalf("got %d items, want %d", len(list.Items), len(objs))
	}
	for i := range objs {
		want, _ := json.Marshal(objs[i].Object)
		got, _ := json.Marshal(list.Items[i].Object)
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("item %d (-want +got):\n%s", i, diff)
		}
	}
}

func renderYAML(t *testing.T, f *spec.File) string {
	t.Helper()
	objs, err := Render(f)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	var buf bytes.Buffer
	if err := WriteYAML(&buf, objs); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
