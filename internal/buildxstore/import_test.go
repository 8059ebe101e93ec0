package buildxstore

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bkctl/bkctl/internal/render"
	"github.com/bkctl/bkctl/internal/spec"
)

// importOne imports one node "kube0" of builder "kube" with the given driver-opts (namespace
// buildkit unless set), flags and files.
func importOne(opts map[string]string, flags []string, files map[string][]byte) (DocNode, error) {
	if opts == nil {
		opts = map[string]string{}
	}
	if _, ok := opts[optNamespace]; !ok {
		opts[optNamespace] = "buildkit"
	}
	if flags == nil {
		flags = []string{render.DefaultEntitlementArg}
	}
	ng := &NodeGroup{Name: "kube", Driver: DriverKubernetes, Nodes: []Node{{
		Name: "kube0", Endpoint: Endpoint("kube", "kube0", ""), DriverOpts: opts, BuildkitdFlags: flags, Files: files,
	}}}
	doc, _, err := Import([]*NodeGroup{ng}, ImportOptions{Name: "ci", Namespace: "buildkit"})
	if err != nil {
		return DocNode{}, err
	}
	return doc.Builders[0].Nodes[0], nil
}

// TestImportDriverOpts parses every driver-opt of buildx's kubernetes driver alone.
func TestImportDriverOpts(t *testing.T) {
	base := DocNode{Name: "kube0"}
	with := func(edit func(d *DocNode)) DocNode { d := base; edit(&d); return d }
	cases := map[string]struct {
		opts map[string]string
		want DocNode
	}{
		"none":             {map[string]string{}, base},
		"image":            {map[string]string{"image": "moby/buildkit:v0.34.2"}, with(func(d *DocNode) { d.Image = "moby/buildkit:v0.34.2" })},
		"image default":    {map[string]string{"image": spec.DefaultImage}, base},
		"image empty":      {map[string]string{"image": ""}, base},
		"replicas":         {map[string]string{"replicas": "3"}, with(func(d *DocNode) { d.Replicas = new(int32(3)) })},
		"replicas default": {map[string]string{"replicas": "1"}, base},
		"requests": {map[string]string{"requests.cpu": "500m", "requests.memory": "1Gi", "requests.ephemeral-storage": "10Gi"}, with(func(d *DocNode) {
			d.Resources = &spec.Resources{Requests: map[string]string{"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "10Gi"}}
		})},
		"limits": {map[string]string{"limits.cpu": "2", "limits.memory": "4Gi", "limits.ephemeral-storage": "20Gi"}, with(func(d *DocNode) {
			d.Resources = &spec.Resources{Limits: map[string]string{"cpu": "2", "memory": "4Gi", "ephemeral-storage": "20Gi"}}
		})},
		"empty quantity is skipped, as buildx does": {map[string]string{"requests.cpu": ""}, base},
		"persistent-volume-claim.requests.storage": {map[string]string{"persistent-volume-claim.requests.storage": "50Gi"}, with(func(d *DocNode) {
			d.Storage = &spec.Storage{PersistentVolume: &spec.PersistentVolume{Size: "50Gi"}}
		})},
		"buildkit-root-volume-memory": {map[string]string{"buildkit-root-volume-memory": "2Gi"}, with(func(d *DocNode) {
			d.Storage = &spec.Storage{Memory: "2Gi"}
		})},
		"rootless":                     {map[string]string{"rootless": "true"}, with(func(d *DocNode) { d.Rootless = true })},
		"rootless false":               {map[string]string{"rootless": "false"}, base},
		"rootless with explicit image": {map[string]string{"rootless": "1", "image": "moby/buildkit:v0.34.2-rootless"}, with(func(d *DocNode) { d.Rootless, d.Image = true, "moby/buildkit:v0.34.2-rootless" })},
		// buildx keeps its default, non-rootless image when image is set but empty.
		"rootless with empty image": {map[string]string{"rootless": "true", "image": ""}, with(func(d *DocNode) { d.Rootless, d.Image = true, spec.DefaultImage })},
		"schedulername":             {map[string]string{"schedulername": "bin-packing"}, with(func(d *DocNode) { d.SchedulerName = "bin-packing" })},
		"serviceaccount":            {map[string]string{"serviceaccount": "buildkit"}, with(func(d *DocNode) { d.ServiceAccountName = "buildkit" })},
		"nodeselector": {map[string]string{"nodeselector": "kubernetes.io/arch=arm64,disk=ssd"}, with(func(d *DocNode) {
			d.NodeSelector = map[string]string{"kubernetes.io/arch": "arm64", "disk": "ssd"}
		})},
		"nodeselector quoted": {map[string]string{"nodeselector": `"a=b,c=d"`}, with(func(d *DocNode) {
			d.NodeSelector = map[string]string{"a": "b", "c": "d"}
		})},
		"annotations": {map[string]string{"annotations": "team=platform"}, with(func(d *DocNode) { d.Annotations = map[string]string{"team": "platform"} })},
		"labels":      {map[string]string{"labels": "cost-center=ci"}, with(func(d *DocNode) { d.Labels = map[string]string{"cost-center": "ci"} })},
		"tolerations": {map[string]string{"tolerations": "key=arch,operator=Equal,value=arm64,effect=NoSchedule;key=spot,operator=Exists,effect=NoExecute,tolerationSeconds=300"}, with(func(d *DocNode) {
			d.Tolerations = []spec.Toleration{
				{Key: "arch", Operator: "Equal", Value: "arm64", Effect: "NoSchedule"},
				{Key: "spot", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: new(int64(300))},
			}
		})},
		// buildx skips a field without exactly one "=".
		"tolerations malformed field skipped": {map[string]string{"tolerations": "key=a,operator=Exists,junk"}, with(func(d *DocNode) {
			d.Tolerations = []spec.Toleration{{Key: "a", Operator: "Exists"}}
		})},
		"loadbalance random": {map[string]string{"loadbalance": "random"}, with(func(d *DocNode) { d.Loadbalance = "random" })},
		"loadbalance sticky": {map[string]string{"loadbalance": "sticky"}, base},
		"qemu.install":       {map[string]string{"qemu.install": "true"}, with(func(d *DocNode) { d.Qemu = &DocQemu{Install: true} })},
		"qemu.image": {map[string]string{"qemu.install": "true", "qemu.image": "tonistiigi/binfmt:qemu-v9"}, with(func(d *DocNode) {
			d.Qemu = &DocQemu{Install: true, Image: "tonistiigi/binfmt:qemu-v9"}
		})},
		"qemu.image default": {map[string]string{"qemu.image": spec.DefaultQemuImage}, base},
		"default-load":       {map[string]string{"default-load": "true"}, with(func(d *DocNode) { d.DefaultLoad = true })},
		"timeout":            {map[string]string{"timeout": "90s"}, with(func(d *DocNode) { d.Timeout = "1m30s" })},
		"timeout minutes":    {map[string]string{"timeout": "5m"}, with(func(d *DocNode) { d.Timeout = "5m" })},
		"timeout default":    {map[string]string{"timeout": "120s"}, base},
		"env": {map[string]string{"env.B": "2", "env.A": "x=y,z"}, with(func(d *DocNode) {
			d.Env = []spec.EnvVar{{Name: "A", Value: "x=y,z"}, {Name: "B", Value: "2"}}
		})},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := importOne(tc.opts, nil, nil)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestImportFlagsAndFiles(t *testing.T) {
	cases := map[string]struct {
		flags []string
		files map[string][]byte
		want  *DocBuildkitd
	}{
		"default entitlement only": {[]string{render.DefaultEntitlementArg}, nil, nil},
		"user flag and default":    {[]string{"--debug", render.DefaultEntitlementArg}, nil, &DocBuildkitd{Flags: []string{"--debug"}}},
		"own entitlement":          {[]string{"--allow-insecure-entitlement=security.insecure"}, nil, &DocBuildkitd{Flags: []string{"--allow-insecure-entitlement=security.insecure"}}},
		// buildx's pflag parse stops at --debug and misses the later entitlement, so it adds
		// network.host; bkctl keeps all three, which it renders unchanged.
		"pflag quirk": {
			[]string{"--debug", "--allow-insecure-entitlement=security.insecure", render.DefaultEntitlementArg}, nil,
			&DocBuildkitd{Flags: []string{"--debug", "--allow-insecure-entitlement=security.insecure", render.DefaultEntitlementArg}},
		},
		"config": {[]string{render.DefaultEntitlementArg}, map[string][]byte{"buildkitd.toml": []byte("debug = true\n")}, &DocBuildkitd{Config: "debug = true\n"}},
		"config grants network.host": {
			[]string{}, map[string][]byte{"buildkitd.toml": []byte("insecure-entitlements = [\"network.host\"]\n")},
			&DocBuildkitd{Config: "insecure-entitlements = [\"network.host\"]\n"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := importOne(map[string]string{}, tc.flags, tc.files)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if diff := cmp.Diff(tc.want, got.Buildkitd); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestImportErrors checks that everything without a builders.yaml form is an error naming it.
func TestImportErrors(t *testing.T) {
	cases := map[string]struct {
		opts  map[string]string
		flags []string
		files map[string][]byte
		want  string
	}{
		"unknown driver-opt":    {opts: map[string]string{"foo": "bar"}, want: `builder "kube" node "kube0": driver-opt "foo" has no builders.yaml field`},
		"unknown resource":      {opts: map[string]string{"requests.nvidia.com/gpu": "1"}, want: `driver-opt "requests.nvidia.com/gpu" has no builders.yaml field`},
		"replicas":              {opts: map[string]string{"replicas": "two"}, want: `driver-opt "replicas": invalid integer "two"`},
		"rootless":              {opts: map[string]string{"rootless": "yes"}, want: `driver-opt "rootless": invalid boolean "yes"`},
		"qemu.install":          {opts: map[string]string{"qemu.install": "maybe"}, want: `driver-opt "qemu.install": invalid boolean "maybe"`},
		"default-load":          {opts: map[string]string{"default-load": "x"}, want: `driver-opt "default-load": invalid boolean "x"`},
		"loadbalance":           {opts: map[string]string{"loadbalance": "round-robin"}, want: `driver-opt "loadbalance": invalid value "round-robin" (want sticky or random)`},
		"timeout":               {opts: map[string]string{"timeout": "soon"}, want: `driver-opt "timeout": invalid duration "soon"`},
		"timeout zero":          {opts: map[string]string{"timeout": "0s"}, want: `driver-opt "timeout": duration "0s" must be positive`},
		"env without name":      {opts: map[string]string{"env.": "x"}, want: `driver-opt "env." has no variable name`},
		"nodeselector pair":     {opts: map[string]string{"nodeselector": "a=b,c"}, want: `driver-opt "nodeselector": invalid key-value pair "c"`},
		"annotations empty":     {opts: map[string]string{"annotations": ""}, want: `driver-opt "annotations": invalid key-value pair ""`},
		"toleration field":      {opts: map[string]string{"tolerations": "key=a,color=red"}, want: `driver-opt "tolerations": toleration 0: unknown field "color"`},
		"toleration seconds":    {opts: map[string]string{"tolerations": "key=a,effect=NoExecute,tolerationSeconds=1.5"}, want: `toleration 0: invalid tolerationSeconds "1.5"`},
		"toleration empty":      {opts: map[string]string{"tolerations": "key=a;"}, want: `driver-opt "tolerations": toleration 1 is empty`},
		"pvc and memory":        {opts: map[string]string{"persistent-volume-claim.requests.storage": "1Gi", "buildkit-root-volume-memory": "1Gi"}, want: `builders.yaml allows one`},
		"cert file":             {files: map[string][]byte{"certs/reg/ca.pem": []byte("x")}, want: `file "certs/reg/ca.pem" has no builders.yaml field`},
		"no entitlement at all": {flags: []string{"--debug"}, want: `bkctl would run buildkitd with ["--debug" "--allow-insecure-entitlement=network.host"]`},
		"bad toml":              {files: map[string][]byte{"buildkitd.toml": []byte("[[[")}, want: `file "buildkitd.toml": parse buildkitd config`},
		// The rest pass buildx's parsing but not bkctl's validation, which Import runs.
		"invalid quantity": {opts: map[string]string{"requests.cpu": "lots"}, want: `invalid quantity "lots"`},
		"invalid label":    {opts: map[string]string{"labels": "app=x"}, want: `label "app" is reserved`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := importOne(tc.opts, tc.flags, tc.files)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestImportBuilders(t *testing.T) {
	node := func(name, ns string) Node {
		return Node{Name: name, DriverOpts: map[string]string{optNamespace: ns}, BuildkitdFlags: []string{render.DefaultEntitlementArg}}
	}
	kube := &NodeGroup{Name: "kube", Driver: DriverKubernetes, Nodes: []Node{node("kube0", "buildkit")}}
	docker := &NodeGroup{Name: "local", Driver: "docker-container", Nodes: []Node{{Name: "local0"}}}
	split := &NodeGroup{Name: "split", Driver: DriverKubernetes, Nodes: []Node{node("a", "one"), node("b", "two")}}
	underscore := &NodeGroup{Name: "u", Driver: DriverKubernetes, Nodes: []Node{node("my_node", "buildkit")}}
	dotted := &NodeGroup{Name: "d", Driver: DriverKubernetes, Nodes: []Node{node("my.node", "buildkit")}}
	noNS := &NodeGroup{Name: "nons", Driver: DriverKubernetes, Nodes: []Node{{Name: "n0", BuildkitdFlags: []string{render.DefaultEntitlementArg}}}}
	opts := ImportOptions{Name: "ci", Namespace: "buildkit"}

	doc, _, err := Import([]*NodeGroup{docker, kube}, opts)
	if err != nil || len(doc.Builders) != 1 || doc.Builders[0].Name != "kube" || doc.Builders[0].Namespace != "" {
		t.Errorf("all builders: got %+v, %v; want only kube, in the file's namespace", doc, err)
	}
	if _, _, err := Import([]*NodeGroup{docker}, opts); err == nil || !strings.Contains(err.Error(), "no builder uses the kubernetes driver") {
		t.Errorf("no kubernetes builder: got %v", err)
	}
	if _, _, err := Import([]*NodeGroup{docker, kube}, ImportOptions{Builder: "local", Name: "ci"}); err == nil || !strings.Contains(err.Error(), `"local" uses the docker-container driver`) {
		t.Errorf("named docker builder: got %v", err)
	}
	if _, _, err := Import([]*NodeGroup{kube}, ImportOptions{Builder: "nope", Name: "ci"}); err == nil || !strings.Contains(err.Error(), `buildx builder not found: "nope"`) {
		t.Errorf("missing builder: got %v", err)
	}
	if _, _, err := Import([]*NodeGroup{split}, opts); err == nil || !strings.Contains(err.Error(), `nodes are in namespaces "one" (node "a"), "two" (node "b")`) {
		t.Errorf("split namespaces: got %v", err)
	}
	doc, _, err = Import([]*NodeGroup{underscore}, opts)
	if err != nil || doc.Builders[0].Nodes[0].Name != "my-node" {
		t.Errorf("underscore: got %+v, %v; want node my-node (buildx's workload name)", doc, err)
	}
	if _, _, err := Import([]*NodeGroup{dotted}, opts); err == nil || !strings.Contains(err.Error(), `workload name "my.node" is not a valid bkctl node name`) {
		t.Errorf("dotted: got %v", err)
	}
	doc, warnings, err := Import([]*NodeGroup{noNS}, ImportOptions{Name: "ci", Namespace: "dev"})
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], `has no namespace driver-opt`) || doc.Metadata.Namespace != "dev" {
		t.Errorf("no namespace: got %+v, %q, %v", doc, warnings, err)
	}
	other := &NodeGroup{Name: "other", Driver: DriverKubernetes, Nodes: []Node{node("o0", "builders")}}
	doc, _, err = Import([]*NodeGroup{other}, opts)
	if err != nil || doc.Builders[0].Namespace != "builders" {
		t.Errorf("other namespace: got %+v, %v", doc, err)
	}
}
