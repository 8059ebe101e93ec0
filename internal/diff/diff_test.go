package diff

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func obj(t *testing.T, s string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal([]byte(s), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUnified(t *testing.T) {
	tests := map[string]struct {
		a, b string
		want []string
	}{
		"equal":  {"x\ny\n", "x\ny\n", nil},
		"create": {"", "a\nb\n", []string{"@@ -0,0 +1,2 @@", "+a", "+b"}},
		"change in the middle": {
			"1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n",
			[]string{"@@ -2,7 +2,7 @@", " 2", " 3", " 4", "-5", "+FIVE", " 6", " 7", " 8"},
		},
		"two hunks": {
			"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "X\n2\n3\n4\n5\n6\n7\n8\n9\nY\n",
			[]string{"@@ -1,4 +1,4 @@", "-1", "+X", " 2", " 3", " 4", "@@ -7,4 +7,4 @@", " 7", " 8", " 9", "-10", "+Y"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, unified(tt.a, tt.b, 3)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestChangedFields(t *testing.T) {
	live := obj(t, `{"metadata":{"name":"a","resourceVersion":"1","generation":1,"managedFields":[]},
	  "spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"buildkitd","image":"a"},{"name":"side","image":"s"}]}}},
	  "status":{"replicas":2}}`)
	merged := obj(t, `{"metadata":{"name":"a","resourceVersion":"1","generation":2,"labels":{"x":"y"}},
	  "spec":{"replicas":4,"template":{"spec":{"containers":[{"name":"buildkitd","image":"b"},{"name":"side","image":"s"}]}}}}`)
	want := []string{"metadata.labels", "spec.replicas", "spec.template.spec.containers[name=buildkitd].image"}
	if d := cmp.Diff(want, ChangedFields(live, merged)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestComputeConflictAndDrift(t *testing.T) {
	mf := func(entries string) string { return `"managedFields":[` + entries + `]` }
	bk := `{"manager":"bkctl","operation":"Apply","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:template":{}}}}`
	helm := `{"manager":"helm","operation":"Apply","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:paused":{}}}}`
	edit := `{"manager":"kubectl-edit","operation":"Update","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}}}`
	desired := obj(t, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a","namespace":"ns"},"spec":{"replicas":1,"paused":false}}`)
	live := obj(t, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a","namespace":"ns",`+mf(bk+","+helm+","+edit)+`},"spec":{"replicas":3,"paused":true}}`)
	merged := obj(t, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a","namespace":"ns",`+mf(bk)+`},"spec":{"replicas":1,"paused":false}}`)
	c, err := Compute(desired, live, merged, "bkctl")
	if err != nil {
		t.Fatal(err)
	}
	if c.Action != Conflict {
		t.Errorf("action = %s, want conflict", c.Action)
	}
	want := []Ownership{{Manager: "helm", Operation: "Apply", Fields: []string{".spec.paused"}}}
	if d := cmp.Diff(want, c.Conflicts); d != "" {
		t.Errorf("conflicts (-want +got):\n%s", d)
	}
	wantDrift := []Ownership{{Manager: "kubectl-edit", Operation: "Update", Fields: []string{".spec.replicas"}}}
	if d := cmp.Diff(wantDrift, c.Drift); d != "" {
		t.Errorf("drift (-want +got):\n%s", d)
	}
}

func TestSecretsAreMasked(t *testing.T) {
	live := obj(t, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"ns"},"data":{"token":"c2VjcmV0","same":"eA=="}}`)
	merged := obj(t, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"ns"},"data":{"token":"bmV3","same":"eA=="}}`)
	c := Change{Ref: RefOf(merged), Action: Update, Desired: merged, Live: live, Merged: merged, Fields: []string{"data.token"}}
	var b bytes.Buffer
	if err := WriteText(&b, &Plan{Name: "f", Changes: []Change{c}, Inventory: InventoryChange{Action: Unchanged}}, DefaultTextOptions()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, secret := range []string{"c2VjcmV0", "bmV3", "eA=="} {
		if strings.Contains(out, secret) {
			t.Errorf("plan shows secret value %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "-  token: '*** (before)'") || !strings.Contains(out, "+  token: '*** (after)'") {
		t.Errorf("plan does not show that the token changes:\n%s", out)
	}
}

func TestJSONIsStable(t *testing.T) {
	desired := obj(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"ns"},"data":{"k":"v"}}`)
	p := &Plan{Name: "f", Namespace: "ns", Changes: []Change{{Ref: RefOf(desired), Action: Create, Desired: desired, Merged: desired}}, Inventory: InventoryChange{Action: Create}}
	var a, b bytes.Buffer
	if err := WriteJSON(&a, p); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&b, p); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Error("two renderings of one plan differ")
	}
	var got struct {
		Pending bool
		Objects []struct{ ID, Action, Diff string }
	}
	if err := json.Unmarshal(a.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if !got.Pending || len(got.Objects) != 1 || got.Objects[0].ID != "ConfigMap/ns/c" || got.Objects[0].Action != "create" || !strings.Contains(got.Objects[0].Diff, "+  k: v") {
		t.Errorf("json = %s", a.String())
	}
}
