package spec

import (
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
)

// header is prepended to the builders of each case; cases count lines from its end (line 5).
const header = "apiVersion: bkctl/v1alpha1\nkind: Builders\nmetadata: {name: ci, namespace: buildkit}\nbuilders:\n"

// diagStrings formats diagnostics without the file name, for compact expectations.
func diagStrings(ds []Diagnostic) []string {
	if len(ds) == 0 {
		return nil
	}
	out := make([]string, len(ds))
	for i, d := range ds {
		s := d.String()
		out[i] = s[strings.Index(s, ":")+1:]
	}
	return out
}

func parseErrors(t *testing.T, src string) (errs, warns []string) {
	t.Helper()
	res, err := Parse("b.yaml", []byte(src))
	var se *Error
	if err != nil && !errors.As(err, &se) {
		t.Fatalf("Parse: unexpected error type %T: %v", err, err)
	}
	if se != nil {
		errs = diagStrings(se.Diagnostics)
	}
	return errs, diagStrings(res.Warnings)
}

func TestValidationRules(t *testing.T) {
	tests := []struct {
		name  string
		src   string // builders, appended to header; line 5 is the first
		want  []string
		warns []string
		raw   bool // src is the whole file
	}{
		{name: "valid minimal", src: "  - name: kube\n    nodes: [{}]\n"},
		{name: "empty file", raw: true, src: "", want: []string{"1:1: file is empty (want a Builders document)"}},
		{name: "only comments", raw: true, src: "# nothing\n", want: []string{"1:1: file is empty (want a Builders document)"}},
		{name: "binary", raw: true, src: "\x00\x01\x02", want: []string{"1:1: file contains a NUL byte: it is binary, not UTF-8 text"}},
		{name: "yaml syntax", raw: true, src: "apiVersion: bkctl/v1alpha1\nkind: [Builders\n", want: []string{"2:7: invalid YAML: did not find expected ',' or ']' (the '[' here is never closed, or an item lacks its ',')"}},
		{name: "two documents", raw: true, src: header + "  - {name: a, nodes: [{}]}\n---\nkind: x\n", want: []string{"6:1: more than one YAML document (a builders file holds exactly one)"}},
		{name: "not a mapping", raw: true, src: "- a\n- b\n", want: []string{"1:1: must be a mapping with apiVersion, kind, metadata and builders"}},
		{name: "wrong apiVersion", raw: true, src: strings.Replace(header, "bkctl/v1alpha1", "bkctl/v1", 1) + "  - {name: a, nodes: [{}]}\n",
			want: []string{`1:13: apiVersion: must be "bkctl/v1alpha1" (got "bkctl/v1")`}},
		{name: "missing metadata name", raw: true, src: "apiVersion: bkctl/v1alpha1\nkind: Builders\nmetadata: {namespace: x}\nbuilders: []\n",
			want: []string{`3:11: metadata: missing required field "name"`}},
		{name: "unknown field with hint", src: "  - name: kube\n    nodes:\n      - nodeselector: {a: b}\n",
			want: []string{`7:9: builders[0].nodes[0]: unknown field "nodeselector" (did you mean "nodeSelector"?)`}},
		{name: "unknown field in defaults with hint", src: "  - name: kube\n    defaults: {replica: 2}\n    nodes: [{}]\n",
			want: []string{`6:16: builders[0].defaults: unknown field "replica" (did you mean "replicas"?)`}},
		{name: "unknown field no hint", src: "  - name: kube\n    colour: blue\n    nodes: [{}]\n",
			want: []string{`6:5: builders[0]: unknown field "colour"`}},
		{name: "name in defaults", src: "  - name: kube\n    defaults: {name: x}\n    nodes: [{}]\n",
			want: []string{`6:16: builders[0].defaults: field "name" is not allowed here`}},
		{name: "wrong type", src: "  - name: kube\n    nodes: [{replicas: \"3\"}]\n",
			want: []string{`6:24: builders[0].nodes[0].replicas: must be integer, not string`}},
		{name: "enum", src: "  - name: kube\n    nodes: [{loadbalance: roundrobin}]\n",
			want: []string{`6:27: builders[0].nodes[0].loadbalance: must be one of "sticky", "random" (got "roundrobin")`}},
		{name: "no nodes", src: "  - name: kube\n    nodes: []\n",
			want: []string{`6:12: builders[0].nodes: minItems: got 0, want 1`}},
		{name: "duplicate key", src: "  - name: kube\n    name: other\n    nodes: [{}]\n",
			want: []string{`6:5: builders[0].name: duplicate key "name"`}},
		{name: "duplicate builder", src: "  - {name: kube, nodes: [{name: a}]}\n  - {name: kube, nodes: [{name: b}]}\n",
			want: []string{`6:12: builders[1].name: duplicate builder name "kube" (also at line 5)`}},
		{name: "duplicate node after defaulting", src: "  - name: kube\n    nodes: [{}, {name: kube0}]\n",
			want: []string{`6:24: builders[0].nodes[1].name: duplicate node name "kube0" in namespace "buildkit" (also builder "kube" at line 6)`}},
		{name: "same node name in two builders of a namespace", src: "  - {name: a, nodes: [{name: n}]}\n  - {name: b, nodes: [{name: n}]}\n",
			want: []string{`6:30: builders[1].nodes[0].name: duplicate node name "n" in namespace "buildkit" (also builder "a" at line 5)`}},
		{name: "same node name in other namespaces is fine", src: "  - {name: a, nodes: [{name: n}]}\n  - {name: b, namespace: other, nodes: [{name: n}]}\n"},
		{name: "platform claimed twice", src: "  - name: kube\n    nodes:\n      - {name: a, platforms: [linux/amd64]}\n      - {name: b, platforms: [linux/arm64, linux/amd64]}\n",
			want: []string{`8:30: builders[0].nodes[1].platforms: platform linux/amd64 is claimed by nodes "a" and "b" of builder "kube"; each platform has one native node`}},
		{name: "platform alias claimed twice", src: "  - name: kube\n    nodes:\n      - {name: a, platforms: [linux/arm64]}\n      - {name: b, platforms: [linux/arm64/v8]}\n",
			want: []string{`8:30: builders[0].nodes[1].platforms: platform linux/arm64/v8 is claimed by nodes "a" and "b" of builder "kube"; each platform has one native node`}},
		{name: "platform syntax", src: "  - name: kube\n    nodes: [{platforms: [amd64]}]\n",
			want: []string{`6:26: builders[0].nodes[0].platforms[0]: invalid platform "amd64" (want os/arch[/variant], e.g. linux/arm64 or linux/arm/v7)`}},
		{name: "platform unknown arch", src: "  - name: kube\n    nodes: [{platforms: [linux/amd65]}]\n",
			want: []string{`6:26: builders[0].nodes[0].platforms[0]: unknown architecture "amd65" in platform "linux/amd65" (did you mean "amd64"?)`}},
		{name: "quantity", src: "  - name: kube\n    nodes: [{resources: {requests: {cpu: 2cores}}}]\n",
			want: []string{`6:42: builders[0].nodes[0].resources.requests.cpu: invalid quantity "2cores" (want e.g. 500m, 2, 1Gi, 512Mi)`}},
		{name: "negative quantity", src: "  - name: kube\n    nodes: [{storage: {memory: -1Gi}}]\n",
			want: []string{`6:32: builders[0].nodes[0].storage.memory: quantity "-1Gi" must not be negative`}},
		{name: "numeric quantity is fine", src: "  - name: kube\n    nodes: [{resources: {limits: {cpu: 2}}}]\n"},
		{name: "request above limit", src: "  - name: kube\n    defaults: {resources: {limits: {memory: 1Gi}}}\n    nodes: [{resources: {requests: {memory: 2Gi}}}]\n",
			want: []string{`7:45: builders[0].nodes[0].resources.requests.memory: request 2Gi is above the limit 1Gi`}},
		{name: "dns name", src: "  - name: Kube_1\n    nodes: [{name: ok}]\n",
			want: []string{`5:11: builders[0].name: invalid name "Kube_1": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`}},
		{name: "node name too long", src: "  - name: kube\n    nodes: [{name: " + strings.Repeat("a", 64) + "}]\n",
			want: []string{`6:20: builders[0].nodes[0].name: invalid name "` + strings.Repeat("a", 64) + `": must be no more than 63 characters`}},
		{name: "label key syntax", src: "  - name: kube\n    nodes: [{labels: {\"bad key\": x}}]\n",
			want: []string{`6:23: builders[0].nodes[0].labels["bad key"]: invalid label key "bad key": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`}},
		{name: "label value syntax", src: "  - name: kube\n    nodes: [{labels: {team: \"a b\"}}]\n",
			want: []string{`6:29: builders[0].nodes[0].labels.team: invalid label value "a b": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`}},
		{name: "reserved label", src: "  - name: kube\n    defaults: {labels: {app: x}}\n    nodes: [{}]\n",
			want: []string{`6:25: builders[0].defaults.labels.app: label "app" is reserved: bkctl and buildx select a node's pods by app=<node>`}},
		{name: "reserved annotation", src: "  - name: kube\n    nodes: [{annotations: {buildx.docker.com/platform: linux/amd64}}]\n",
			want: []string{`6:28: builders[0].nodes[0].annotations["buildx.docker.com/platform"]: annotation "buildx.docker.com/platform" is reserved: it is set from platforms (hint: set platforms instead)`}},
		{name: "annotation key syntax", src: "  - name: kube\n    nodes: [{annotations: {\"-x\": y}}]\n",
			want: []string{`6:28: builders[0].nodes[0].annotations["-x"]: invalid annotation key "-x": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`}},
		{name: "toleration exists with value", src: "  - name: kube\n    nodes: [{tolerations: [{key: a, operator: Exists, value: b}]}]\n",
			want: []string{`6:62: builders[0].nodes[0].tolerations[0].value: must be empty when operator is Exists`}},
		{name: "toleration without key", src: "  - name: kube\n    nodes: [{tolerations: [{operator: Equal, value: b}]}]\n",
			want: []string{`6:28: builders[0].nodes[0].tolerations[0]: key is required unless operator is Exists`}},
		{name: "toleration seconds", src: "  - name: kube\n    nodes: [{tolerations: [{key: a, effect: NoSchedule, tolerationSeconds: 5}]}]\n",
			want: []string{`6:76: builders[0].nodes[0].tolerations[0].tolerationSeconds: only allowed with effect NoExecute`}},
		{name: "toleration operator enum", src: "  - name: kube\n    nodes: [{tolerations: [{key: a, operator: In}]}]\n",
			want: []string{`6:47: builders[0].nodes[0].tolerations[0].operator: must be one of "Exists", "Equal" (got "In")`}},
		{name: "duration", src: "  - name: kube\n    nodes: [{timeout: 2 minutes}]\n",
			want: []string{`6:23: builders[0].nodes[0].timeout: invalid duration "2 minutes" (want e.g. 90s, 2m, 1m30s)`}},
		{name: "duration negative", src: "  - name: kube\n    nodes: [{timeout: -5s}]\n",
			want: []string{`6:23: builders[0].nodes[0].timeout: duration "-5s" must be positive`}},
		{name: "storage both", src: "  - name: kube\n    nodes: [{storage: {memory: 1Gi, persistentVolume: {size: 10Gi}}}]\n",
			want: []string{`6:23: builders[0].nodes[0].storage: set either persistentVolume or memory, not both (both would mount at /var/lib/buildkit)`}},
		{name: "missing configFile", src: "  - name: kube\n    nodes: [{buildkitd: {configFile: nope.toml}}]\n",
			want: []string{`6:38: builders[0].nodes[0].buildkitd.configFile: buildkitd config nope.toml does not exist (paths are relative to the builders file)`}},
		{name: "config and configFile", src: "  - name: kube\n    nodes: [{buildkitd: {config: \"\", configFile: x.toml}}]\n",
			want: []string{`6:50: builders[0].nodes[0].buildkitd.configFile: set either config or configFile, not both`}},
		{name: "invalid inline toml", src: "  - name: kube\n    nodes:\n      - buildkitd:\n          config: |\n            [worker.oci]\n              gc = \n",
			want: []string{`10:20: builders[0].nodes[0].buildkitd.config: invalid buildkitd.toml: unexpected character U+000A at start of value`}},
		{name: "invalid toml in defaults is reported once", src: "  - name: kube\n    defaults: {buildkitd: {config: \"[x\"}}\n    nodes: [{}, {}]\n",
			want: []string{`6:36: builders[0].defaults.buildkitd.config: invalid buildkitd.toml: expected ']' to close table name`}},
		{name: "rootless qemu warns", src: "  - name: kube\n    nodes: [{rootless: true, qemu: {install: true}}]\n",
			warns: []string{`6:46: warning: builders[0].nodes[0].qemu.install: the qemu init container runs privileged even though the node is rootless`}},
		{name: "env name", src: "  - name: kube\n    nodes: [{env: [{name: \"1X\", value: a}]}]\n",
			want: []string{`6:27: builders[0].nodes[0].env[0].name: invalid environment variable name "1X": a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')`}},
		{name: "env valueFrom secret and configMap, empty value", src: "  - name: kube\n    defaults:\n      env:\n        - {name: TOKEN, valueFrom: {secretKeyRef: {name: registry.creds, key: .token, optional: true}}}\n    nodes:\n      - env:\n          - {name: PROXY, valueFrom: {configMapKeyRef: {name: proxy, key: https_proxy}}}\n          - {name: EMPTY, value: \"\"}\n"},
		{name: "env value and valueFrom", src: "  - name: kube\n    nodes:\n      - env:\n          - name: A\n            value: x\n            valueFrom: {secretKeyRef: {name: s, key: k}}\n",
			want: []string{`10:24: builders[0].nodes[0].env[0].valueFrom: set either value or valueFrom, not both`}},
		{name: "env without value", src: "  - name: kube\n    defaults: {env: [{name: A}]}\n    nodes: [{}]\n",
			want: []string{`6:22: builders[0].defaults.env[0]: set value or valueFrom (hint: value: "" for an empty variable)`}},
		{name: "env valueFrom empty", src: "  - name: kube\n    nodes: [{env: [{name: A, valueFrom: {}}]}]\n",
			want: []string{`6:41: builders[0].nodes[0].env[0].valueFrom: set secretKeyRef or configMapKeyRef`}},
		{name: "env valueFrom secret and configMap", src: "  - name: kube\n    nodes:\n      - env:\n          - name: A\n            valueFrom:\n              secretKeyRef: {name: s, key: k}\n              configMapKeyRef: {name: c, key: k}\n",
			want: []string{`11:32: builders[0].nodes[0].env[0].valueFrom.configMapKeyRef: set either secretKeyRef or configMapKeyRef, not both`}},
		{name: "env secretKeyRef name and key", src: "  - name: kube\n    nodes:\n      - env:\n          - name: A\n            valueFrom:\n              secretKeyRef: {name: Reg_Creds, key: \"a/b\"}\n",
			want: []string{
				`10:36: builders[0].nodes[0].env[0].valueFrom.secretKeyRef.name: invalid name "Reg_Creds": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
				`10:52: builders[0].nodes[0].env[0].valueFrom.secretKeyRef.key: invalid key "a/b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
			}},
		{name: "env secretKeyRef without key", src: "  - name: kube\n    nodes: [{env: [{name: A, valueFrom: {secretKeyRef: {name: s}}}]}]\n",
			want: []string{`6:56: builders[0].nodes[0].env[0].valueFrom.secretKeyRef: missing required field "key"`}},
		{name: "env fieldRef is not supported", src: "  - name: kube\n    nodes: [{env: [{name: A, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]}]\n",
			want: []string{`6:42: builders[0].nodes[0].env[0].valueFrom: unknown field "fieldRef"`}},
		{name: "image reference", src: "  - name: kube\n    nodes: [{image: \"UPPER/Case\"}]\n",
			want: []string{`6:21: builders[0].nodes[0].image: invalid image reference "UPPER/Case": invalid reference format: repository name (Case) must be lowercase`}},
		{name: "alias bomb", raw: true, src: aliasBomb(),
			want: []string{`6:8: alias *e expands the document to more than 200000 values (each use of an alias counts its anchor's values again)`}},
		{name: "deep nesting", raw: true, src: header + "  - name: kube\n    nodes: [{podTemplate: " + strings.Repeat("{a: ", 100) + "1" + strings.Repeat("}", 100) + "}]\n",
			want: []string{`6:267: document is nested more than 64 levels deep`}},
		{name: "string for a list", src: "  - name: kube\n    nodes: [{platforms: \"linux/amd64,linux/arm64\"}]\n",
			want: []string{`6:25: builders[0].nodes[0].platforms: must be array, not string (hint: write a list, one item per value: [linux/amd64, linux/arm64])`}},
		{name: "string for a list, space separated", src: "  - name: kube\n    nodes: [{buildkitd: {flags: --debug --oci-worker-gc}}]\n",
			want: []string{`6:33: builders[0].nodes[0].buildkitd.flags: must be array, not string (hint: write a list, one item per value: [--debug, --oci-worker-gc])`}},
		{name: "node field on the builder", src: "  - name: kube\n    replicas: 2\n    nodes: [{}]\n",
			want: []string{`6:5: builders[0]: unknown field "replicas" (hint: replicas is a node field: set it on each node under nodes, or once for all nodes under defaults)`}},
		{name: "uppercase platform", src: "  - name: kube\n    nodes: [{platforms: [Linux/AMD64]}]\n",
			want: []string{`6:26: builders[0].nodes[0].platforms[0]: invalid platform "Linux/AMD64" (hint: platforms are lowercase: linux/amd64)`}},
		{name: "duplicate platform", src: "  - name: kube\n    nodes: [{platforms: [linux/amd64, linux/amd64]}]\n",
			want: []string{`6:39: builders[0].nodes[0].platforms[1]: duplicate platform linux/amd64 (also item 0, line 6)`}},
		{name: "duplicate platform in defaults", src: "  - name: kube\n    defaults: {platforms: [linux/arm64, linux/arm64/v8]}\n    nodes: [{}]\n",
			want: []string{`6:41: builders[0].defaults.platforms[1]: platform linux/arm64/v8 is linux/arm64 again (item 0, line 6); list each platform once`}},
		{name: "quantity with a space", src: "  - name: kube\n    nodes: [{resources: {requests: {cpu: 100 m}}}]\n",
			want: []string{`6:42: builders[0].nodes[0].resources.requests.cpu: invalid quantity "100 m" (want e.g. 500m, 2, 1Gi, 512Mi) (hint: no spaces: 100m)`}},
		{name: "quantity in bytes", src: "  - name: kube\n    nodes: [{storage: {memory: 256MB}}]\n",
			want: []string{`6:32: builders[0].nodes[0].storage.memory: invalid quantity "256MB" (want e.g. 500m, 2, 1Gi, 512Mi) (hint: 256Mi for powers of 1024, 256M for powers of 1000)`}},
		{name: "quantity in binary bytes", src: "  - name: kube\n    nodes: [{storage: {memory: 1GiB}}]\n",
			want: []string{`6:32: builders[0].nodes[0].storage.memory: invalid quantity "1GiB" (want e.g. 500m, 2, 1Gi, 512Mi) (hint: 1Gi; Kubernetes writes no B)`}},
		{name: "missing key is not also an invalid key", src: "  - name: kube\n    nodes: [{env: [{name: A, valueFrom: {secretKeyRef: {name: s}}}]}]\n",
			want: []string{`6:56: builders[0].nodes[0].env[0].valueFrom.secretKeyRef: missing required field "key"`}},
		{name: "wrong type is not also a rule error", src: "  - name: kube\n    nodes: [{timeout: 5}]\n",
			want: []string{`6:23: builders[0].nodes[0].timeout: must be string, not number`}},
		{name: "rules run beside a duplicate key", src: "  - name: kube\n    nodes: [{platforms: [linux/amd46]}]\n    name: kube\n",
			want: []string{
				`6:26: builders[0].nodes[0].platforms[0]: unknown architecture "amd46" in platform "linux/amd46" (did you mean "amd64"?)`,
				`7:5: builders[0].name: duplicate key "name"`,
			}},
		{name: "no list hint for a list of objects", src: "  - name: kube\n    nodes: x\n",
			want: []string{`6:12: builders[0].nodes: must be array, not string`}},
		{name: "inline config of the wrong type is not parsed as TOML", src: "  - name: kube\n    nodes: [{buildkitd: {config: 5}}]\n",
			want: []string{`6:34: builders[0].nodes[0].buildkitd.config: must be string, not number`}},
		{name: "merge keys work", src: "  - name: kube\n    nodes:\n      - &base {replicas: 2, name: a}\n      - {<<: *base, name: b}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if !tt.raw {
				src = header + src
			}
			errs, warns := parseErrors(t, src)
			if diff := gocmp.Diff(tt.want, errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if diff := gocmp.Diff(tt.warns, warns); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEveryLayerInOnePass: a file with errors in every layer reports all of them at once (the
// schema's and the rules'), each at its line and column.
func TestEveryLayerInOnePass(t *testing.T) {
	src := `apiVersion: bkctl/v1
kind: Builders
metadata: {name: ci, namespace: buildkit}
builders:
  - name: kube
    nodes:
      - replicas: two
        platforms: [linux/amd46]
        resources:
          requests: {cpu: 100 m, memory: 256MB}
`
	errs, _ := parseErrors(t, src)
	want := []string{
		`1:13: apiVersion: must be "bkctl/v1alpha1" (got "bkctl/v1")`,
		`7:19: builders[0].nodes[0].replicas: must be integer, not string`,
		`8:21: builders[0].nodes[0].platforms[0]: unknown architecture "amd46" in platform "linux/amd46" (did you mean "amd64"?)`,
		`10:27: builders[0].nodes[0].resources.requests.cpu: invalid quantity "100 m" (want e.g. 500m, 2, 1Gi, 512Mi) (hint: no spaces: 100m)`,
		`10:42: builders[0].nodes[0].resources.requests.memory: invalid quantity "256MB" (want e.g. 500m, 2, 1Gi, 512Mi) (hint: 256Mi for powers of 1024, 256M for powers of 1000)`,
	}
	if diff := gocmp.Diff(want, errs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func aliasBomb() string {
	var b strings.Builder
	b.WriteString("a: &a [x, x, x, x, x, x, x, x, x, x]\n")
	prev := "a"
	for i := range 9 {
		name := string(rune('b' + i))
		b.WriteString(name + ": &" + name + " [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*" + prev)
		}
		b.WriteString("]\n")
		prev = name
	}
	return b.String()
}

func TestTooManyErrors(t *testing.T) {
	errs, _ := parseErrors(t, header+"  - name: kube\n    nodes: [{}]\n"+strings.Repeat("x: 1\n", 500))
	if len(errs) != 101 || errs[100] != "107:1: too many errors: 400 more not shown" {
		t.Errorf("got %d errors, last %q", len(errs), errs[len(errs)-1])
	}
}

func TestHugeFile(t *testing.T) {
	data := []byte(header + strings.Repeat("# padding padding padding padding padding padding\n", 50<<20/50))
	_, err := Parse("big.yaml", data)
	want := "big.yaml:1:1: file is larger than 4 MiB; a builders file is a few KiB"
	if err == nil || err.Error() != want {
		t.Fatalf("Parse(50 MB) = %v, want %q", err, want)
	}
}

func TestDefaults(t *testing.T) {
	src := header + `  - name: kube
    defaults:
      replicas: 3
      labels: {team: a, tier: ci}
      resources: {requests: {cpu: 500m}}
      buildkitd: {flags: [--debug]}
      podTemplate: {spec: {hostNetwork: true}}
    nodes:
      - platforms: [linux/amd64]
        labels: {tier: cd}
        resources: {limits: {cpu: "2"}}
        podTemplate: {spec: {priorityClassName: high}}
      - name: arm
        rootless: true
        replicas: 0
        timeout: 30s
        buildkitd: {flags: []}
`
	res, err := Parse("b.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b := res.File.Builders[0]
	if b.Namespace != "buildkit" {
		t.Errorf("namespace = %q, want buildkit (from metadata)", b.Namespace)
	}
	got := b.Nodes
	for i := range got {
		got[i].Pos = Pos{}
	}
	want := []Node{{
		Name: "kube0", Platforms: []string{"linux/amd64"}, Replicas: 3, Image: DefaultImage, Loadbalance: "sticky",
		Labels:            map[string]string{"team": "a", "tier": "cd"},
		Resources:         Resources{Requests: map[string]string{"cpu": "500m"}, Limits: map[string]string{"cpu": "2"}},
		Qemu:              Qemu{Image: DefaultQemuImage},
		Buildkitd:         Buildkitd{Flags: []string{"--debug"}},
		Timeout:           DefaultTimeout,
		PodTemplate:       []map[string]any{{"spec": map[string]any{"hostNetwork": true}}, {"spec": map[string]any{"priorityClassName": "high"}}},
		PodTemplateFields: []string{"builders[0].defaults.podTemplate", "builders[0].nodes[0].podTemplate"},
	}, {
		Name: "arm", Replicas: 0, Image: DefaultRootlessImage, Loadbalance: "sticky", Rootless: true,
		Labels:            map[string]string{"team": "a", "tier": "ci"},
		Resources:         Resources{Requests: map[string]string{"cpu": "500m"}},
		Qemu:              Qemu{Image: DefaultQemuImage},
		Buildkitd:         Buildkitd{Flags: []string{}},
		Timeout:           30 * time.Second,
		PodTemplate:       []map[string]any{{"spec": map[string]any{"hostNetwork": true}}},
		PodTemplateFields: []string{"builders[0].defaults.podTemplate"},
	}}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
}

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "buildkitd.toml"), []byte("debug = true\n[worker.oci]\n  gc = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.toml"), []byte("debug = true\n[worker.oci\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "builders.yaml")
	res, err := Parse(path, []byte(header+"  - name: kube\n    nodes: [{buildkitd: {configFile: buildkitd.toml}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	bk := res.File.Builders[0].Nodes[0].Buildkitd
	if bk.ConfigFile != filepath.Join(dir, "buildkitd.toml") || !strings.Contains(bk.Config, "gc = true") {
		t.Errorf("buildkitd = %+v, want the file resolved next to builders.yaml and its content", bk)
	}
	_, err = Parse(path, []byte(header+"  - name: kube\n    nodes: [{buildkitd: {configFile: bad.toml}}]\n"))
	want := filepath.Join(dir, "bad.toml") + ":2:12: invalid buildkitd.toml: expected ']' to close table name (used by builders[0].nodes[0].buildkitd.configFile at " + path + ":6:38)"
	if err == nil || err.Error() != want {
		t.Errorf("bad config file: got %v\nwant %s", err, want)
	}
}

// TestLoadRestrictions: with LoadRestrictionsRootOnly (the default) buildkitd.configFile is read
// only from inside the builders file's directory tree, symlinks resolved; a parent path, an
// absolute path and a symlink that points out are refused with the field, the position and the
// path. LoadRestrictionsNone reads them all.
func TestLoadRestrictions(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "repo")
	for _, d := range []string{"nested", "other"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"repo/in.toml", "repo/nested/deep.toml", "outside.toml"} {
		if err := os.WriteFile(filepath.Join(top, f), []byte("debug = true\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"repo/link-out.toml": "../outside.toml", "repo/link-in.toml": "nested/deep.toml", "repo/other/dir-out": "../.."} {
		if err := os.Symlink(target, filepath.Join(top, link)); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(top, "outside.toml")
	file := filepath.Join(dir, "builders.yaml")
	const pos = ":6:38: builders[0].nodes[0].buildkitd.configFile: buildkitd config "
	refused := func(name, why string) string {
		return file + pos + name + " is not loaded: " + why + " (load restrictor LoadRestrictionsRootOnly; LoadRestrictionsNone allows any file)"
	}
	tests := []struct {
		name, configFile string
		file             string // the builders file's name, default file
		want             string // the error with LoadRestrictionsRootOnly, "" when it loads
	}{
		{name: "inside", configFile: "in.toml"},
		{name: "below", configFile: "nested/deep.toml"},
		{name: "down and up again", configFile: "nested/../in.toml"},
		{name: "symlink inside", configFile: "link-in.toml"},
		{name: "parent", configFile: "../outside.toml", want: refused("../outside.toml", "it leads outside the builders file's directory "+dir)},
		{name: "absolute", configFile: outside, want: refused(outside, "an absolute path is outside the builders file's directory "+dir)},
		{name: "symlink out", configFile: "link-out.toml", want: refused("link-out.toml", "through a symlink it leads to ../outside.toml, outside the builders file's directory "+dir)},
		{name: "through a directory symlink", configFile: "other/dir-out/outside.toml", want: refused("other/dir-out/outside.toml", "through a symlink it leads to ../outside.toml, outside the builders file's directory "+dir)},
		{name: "stdin", configFile: "in.toml", file: "-",
			want: "-" + pos + "in.toml is not loaded: the builders file comes from stdin, which has no directory to hold it (hint: pass the builders file by name, or inline the TOML as buildkitd.config) (load restrictor LoadRestrictionsRootOnly; LoadRestrictionsNone allows any file)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := cmp.Or(tt.file, file)
			if name == "-" {
				t.Chdir(dir) // LoadRestrictionsNone resolves stdin's paths against the working directory
			}
			src := []byte(header + "  - name: kube\n    nodes: [{buildkitd: {configFile: \"" + tt.configFile + "\"}}]\n")
			_, err := Parse(name, src)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("LoadRestrictionsRootOnly:\n got %s\nwant %s", got, tt.want)
			}
			res, err := ParseWith(name, src, Options{LoadRestrictions: LoadRestrictionsNone})
			if err != nil {
				t.Fatalf("LoadRestrictionsNone: %v", err)
			}
			if c := res.File.Builders[0].Nodes[0].Buildkitd.Config; c != "debug = true\n" {
				t.Errorf("LoadRestrictionsNone read %q", c)
			}
		})
	}
}

func TestLoadRestrictionsFlagValues(t *testing.T) {
	for in, want := range map[string]LoadRestrictions{
		"LoadRestrictionsRootOnly": LoadRestrictionsRootOnly, "LoadRestrictionsNone": LoadRestrictionsNone,
		"rootOnly": LoadRestrictionsRootOnly, "none": LoadRestrictionsNone,
	} {
		var got LoadRestrictions
		if err := got.UnmarshalText([]byte(in)); err != nil || got != want {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	var r LoadRestrictions
	if err := r.UnmarshalText([]byte("everything")); err == nil {
		t.Error(`UnmarshalText("everything") accepted`)
	}
	if DefaultOptions().LoadRestrictions != LoadRestrictionsRootOnly {
		t.Errorf("default %v, want LoadRestrictionsRootOnly", DefaultOptions().LoadRestrictions)
	}
}
