package buildxstore

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bkctl/bkctl/internal/spec"
)

func TestEndpoint(t *testing.T) {
	// What buildx create --driver kubernetes records (builder/builder.go).
	cases := map[string]struct{ kubeconfig, want string }{
		"no KUBECONFIG": {"", "kubernetes:///kube?deployment=kube0&kubeconfig="},
		"KUBECONFIG":    {"/home/u/.kube/config", "kubernetes:///kube?deployment=kube0&kubeconfig=%2Fhome%2Fu%2F.kube%2Fconfig"},
	}
	for name, tc := range cases {
		if got := Endpoint("kube", "kube0", tc.kubeconfig); got != tc.want {
			t.Errorf("%s: Endpoint = %q, want %q", name, got, tc.want)
		}
	}
}

func TestTolerationsSyntax(t *testing.T) {
	ts := []spec.Toleration{
		{Key: "arch", Operator: "Equal", Value: "arm64", Effect: "NoSchedule"},
		{Operator: "Exists"},
		{Key: "gone", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: new(int64(30))},
		{Key: "empty-value", Value: ""},
	}
	s, err := formatTolerations(ts)
	if err != nil {
		t.Fatal(err)
	}
	want := "key=arch,operator=Equal,value=arm64,effect=NoSchedule;operator=Exists;key=gone,operator=Exists,effect=NoExecute,tolerationSeconds=30;key=empty-value"
	if s != want {
		t.Errorf("formatTolerations = %q, want %q", s, want)
	}
	back, err := parseTolerations(s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ts, back); diff != "" {
		t.Errorf("parse(format) (-want +got):\n%s", diff)
	}
	// buildx accepts an empty value written out.
	got, err := parseTolerations("key=a,value=,operator=Equal")
	if err != nil || len(got) != 1 || got[0].Key != "a" || got[0].Value != "" || got[0].Operator != "Equal" {
		t.Errorf("empty value: %+v, %v", got, err)
	}
}

// TestExportErrors checks that a value buildx's driver-opt syntax would split is refused
// instead of written wrong.
func TestExportErrors(t *testing.T) {
	base := spec.Node{Name: "kube0", Replicas: 1, Image: spec.DefaultImage}
	cases := map[string]struct {
		builder string
		edit    func(n *spec.Node)
		want    string
	}{
		"annotation with comma":        {"kube", func(n *spec.Node) { n.Annotations = map[string]string{"note": "a,b"} }, `driver-opt annotations cannot hold "note": "a,b"`},
		"annotation with equals":       {"kube", func(n *spec.Node) { n.Annotations = map[string]string{"q": "x=y"} }, `driver-opt annotations cannot hold "q": "x=y"`},
		"annotation ending in a quote": {"kube", func(n *spec.Node) { n.Annotations = map[string]string{"q": `say "hi"`} }, `buildx trims '"' from its ends`},
		"toleration value with semicolon": {"kube", func(n *spec.Node) {
			n.Tolerations = []spec.Toleration{{Key: "k", Operator: "Equal", Value: "a;b"}}
		}, `cannot hold toleration 0's value "a;b"`},
		"unknown resource":                   {"kube", func(n *spec.Node) { n.Resources.Limits = map[string]string{"nvidia.com/gpu": "1"} }, `resources limits.nvidia.com/gpu has no buildx driver-opt`},
		"node name starting with a digit":    {"kube", func(n *spec.Node) { n.Name = "0node" }, `invalid buildx name "0node"`},
		"builder name starting with a digit": {"1kube", func(*spec.Node) {}, `builder "1kube": invalid buildx name "1kube"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			n := base
			tc.edit(&n)
			_, _, err := NodeGroupFor(spec.Builder{Name: tc.builder, Namespace: "buildkit", Nodes: []spec.Node{n}}, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestExportNotes(t *testing.T) {
	n := spec.Node{
		Name: "kube0", Replicas: 1, Image: spec.DefaultImage,
		Resources:   spec.Resources{Requests: map[string]string{"ephemeral-storage": "1Gi"}},
		Storage:     spec.Storage{PersistentVolume: &spec.PersistentVolume{Size: "1Gi", StorageClassName: "fast"}},
		PodTemplate: []map[string]any{{"spec": map[string]any{"hostNetwork": true}}},
		Env: []spec.EnvVar{{Name: "A", Value: "1"},
			{Name: "TOKEN", ValueFrom: &spec.EnvVarSource{SecretKeyRef: &spec.KeyRef{Name: "registry", Key: "token"}}}},
	}
	ng, notes, err := NodeGroupFor(spec.Builder{Name: "kube", Namespace: "buildkit", Nodes: []spec.Node{n}}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`builder "kube" node "kube0": buildx would make requests.ephemeral-storage a limit`,
		`builder "kube" node "kube0": buildx has no driver-opt for storageClassName; its claims would use the default StorageClass`,
		`builder "kube" node "kube0": buildx has no driver-opt for env from a Secret or ConfigMap; TOKEN is left out of its options`,
		`builder "kube" node "kube0": buildx has no driver-opt for podTemplate; objects it created would lack the patch`,
	}
	if diff := cmp.Diff(want, notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	opts := ng.Nodes[0].DriverOpts
	if _, ok := opts["env.TOKEN"]; ok || opts["env.A"] != "1" {
		t.Errorf("driver-opts %v: want env.A=1 and no env.TOKEN", opts)
	}
}

func TestFormatDuration(t *testing.T) {
	for in, want := range map[string]string{"90s": "1m30s", "2m": "2m", "1h": "1h", "1h30m": "1h30m", "1500ms": "1.5s", "45s": "45s"} {
		d, err := time.ParseDuration(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%s) = %q, want %q", in, got, want)
		}
	}
}
