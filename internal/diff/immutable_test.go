package diff

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestImmutableFields(t *testing.T) {
	const sts = `{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"n"},"spec":{
	  "selector":{"matchLabels":{"app":"n"}},"serviceName":"buildkitd","podManagementPolicy":"Parallel",
	  "volumeClaimTemplates":[{"metadata":{"name":"buildkitd"},"spec":{"accessModes":["ReadWriteOnce"],%s"resources":{"requests":{"storage":"%s"}}}}]}}`
	// live objects carry what the server adds: a claim template's volumeMode and status
	const liveSts = `{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"n"},"spec":{
	  "selector":{"matchLabels":{"app":"n"}},"serviceName":"buildkitd","podManagementPolicy":"Parallel","replicas":1,
	  "volumeClaimTemplates":[{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"buildkitd"},
	    "spec":{"accessModes":["ReadWriteOnce"],"volumeMode":"Filesystem",%s"resources":{"requests":{"storage":"%s"}}},"status":{"phase":"Pending"}}]}}`
	const deploy = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"n"},"spec":{"selector":{"matchLabels":%s}}}`
	fill := func(f string, vals ...string) string {
		for _, v := range vals {
			f = strings.Replace(f, "%s", v, 1)
		}
		return f
	}
	tests := map[string]struct {
		desired, live string
		want          []string
	}{
		"same claim, server defaults live": {
			desired: fill(sts, "", "1Gi"), live: fill(liveSts, "", "1024Mi"),
		},
		"claim size": {
			desired: fill(sts, "", "2Gi"), live: fill(liveSts, "", "1Gi"),
			want: []string{"spec.volumeClaimTemplates[name=buildkitd].spec.resources.requests.storage"},
		},
		"storage class set": {
			desired: fill(sts, `"storageClassName":"fast",`, "1Gi"), live: fill(liveSts, "", "1Gi"),
			want: []string{"spec.volumeClaimTemplates[name=buildkitd].spec.storageClassName"},
		},
		"storage class removed": {
			desired: fill(sts, "", "1Gi"), live: fill(liveSts, `"storageClassName":"fast",`, "1Gi"),
			want: []string{"spec.volumeClaimTemplates[name=buildkitd].spec.storageClassName"},
		},
		"deployment selector": {
			desired: fill(deploy, `{"app":"n"}`), live: fill(deploy, `{"app":"n","team":"x"}`),
			want: []string{"spec.selector"},
		},
		"deployment selector unchanged": {
			desired: fill(deploy, `{"app":"n"}`), live: fill(deploy, `{"app":"n"}`),
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := ImmutableFields(obj(t, tt.desired), obj(t, tt.live))
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestMarkKindSwitches(t *testing.T) {
	sts := obj(t, `{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"n","namespace":"ns","labels":{"bkctl.dev/builder":"kube"}},"spec":{"replicas":1}}`)
	dep := obj(t, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"n","namespace":"ns","labels":{"bkctl.dev/builder":"kube"}},"spec":{"replicas":1}}`)
	other := obj(t, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"m","namespace":"ns","labels":{"bkctl.dev/builder":"kube"}},"spec":{"replicas":1}}`)
	changes := []Change{
		{Ref: RefOf(sts), Action: Create, Desired: sts, Merged: sts},
		{Ref: RefOf(other), Action: Create, Desired: other, Merged: other},
		Pruned(dep),
	}
	MarkKindSwitches(changes)
	var got []Action
	for _, c := range changes {
		got = append(got, c.Action)
	}
	if d := cmp.Diff([]Action{Replace, Create, Prune}, got); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"kind"}, changes[0].Immutable); d != "" {
		t.Errorf("immutable (-want +got):\n%s", d)
	}

	p := &Plan{Name: "f", Changes: changes, Inventory: InventoryChange{Action: Unchanged}}
	var sum []string
	for _, s := range p.Summary() {
		sum = append(sum, s.String())
	}
	want := []string{
		"kube/m: new node (replicas 1)",
		"kube/n: replace: kind Deployment → StatefulSet, replicas unchanged, image unchanged",
	}
	if d := cmp.Diff(want, sum); d != "" {
		t.Errorf("summary (-want +got):\n%s", d)
	}
	var b bytes.Buffer
	if err := WriteText(&b, p, DefaultTextOptions()); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"± replace   StatefulSet/ns/n: the node changes kind, and the workload of the old kind is deleted (hint: --force-replace deletes and recreates it, keeping its volume claims unless --prune-pvcs)",
		"Plan: 1 to create, 0 to update, 1 to replace, 1 to prune, 0 unchanged, 0 conflicts.",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("plan text lacks %q:\n%s", line, b.String())
		}
	}
}

// TestReplaceJSON checks that -o json carries the action and the fields of a replace.
func TestReplaceJSON(t *testing.T) {
	live := obj(t, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"n","namespace":"ns","labels":{"bkctl.dev/builder":"kube"}},"spec":{"selector":{"matchLabels":{"app":"n","team":"x"}}}}`)
	desired := obj(t, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"n","namespace":"ns","labels":{"bkctl.dev/builder":"kube"}},"spec":{"selector":{"matchLabels":{"app":"n"}}}}`)
	p := &Plan{Name: "f", Inventory: InventoryChange{Action: Unchanged}, Changes: []Change{
		{Ref: RefOf(desired), Action: Replace, Desired: desired, Live: live, Merged: desired, Fields: []string{"spec.selector"}, Immutable: []string{"spec.selector"}},
	}}
	var b bytes.Buffer
	if err := WriteJSON(&b, p); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Counts  map[string]int `json:"counts"`
		Nodes   []NodeSummary  `json:"nodes"`
		Objects []struct {
			Action    Action   `json:"action"`
			Immutable []string `json:"immutable"`
		} `json:"objects"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Counts["replace"] != 1 || len(got.Objects) != 1 || got.Objects[0].Action != Replace {
		t.Errorf("counts %v, objects %+v: want one replace", got.Counts, got.Objects)
	}
	if d := cmp.Diff([]string{"spec.selector"}, got.Objects[0].Immutable); d != "" {
		t.Errorf("objects[0].immutable (-want +got):\n%s", d)
	}
	if len(got.Nodes) != 1 || got.Nodes[0].Action != Replace || !cmp.Equal(got.Nodes[0].Immutable, []string{"spec.selector"}) {
		t.Errorf("nodes = %+v, want node n replaced for spec.selector", got.Nodes)
	}
	b.Reset()
	if err := WriteText(&b, p, DefaultTextOptions()); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"kube/n: replace (immutable spec.selector): replicas unchanged, image unchanged",
		"± replace   Deployment/ns/n: spec.selector is immutable (hint: --force-replace deletes and recreates it)",
		"+++ Deployment/ns/n (recreated)",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("plan text lacks %q:\n%s", line, b.String())
		}
	}
}
