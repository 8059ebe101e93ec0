package diff

import (
	"strings"
	"testing"
)

func TestSettled(t *testing.T) {
	const (
		bk       = `{"manager":"bkctl","operation":"Apply","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"b\"}":{".":{},"f:image":{},"f:name":{}}}}}}}}`
		bkOther  = `{"manager":"bkctl","operation":"Apply","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}}}`
		status   = `{"manager":"kube-controller-manager","operation":"Update","subresource":"status","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:replicas":{},"f:conditions":{".":{},"k:{\"type\":\"Available\"}":{".":{},"f:status":{}}}}}}`
		revision = `{"manager":"kube-controller-manager","operation":"Update","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:deployment.kubernetes.io/revision":{}}}}}`
		scale    = `{"manager":"kubectl","operation":"Update","subresource":"scale","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}}}`
		label    = `{"manager":"kubectl-label","operation":"Update","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{"f:team":{}}}}}`
		desired  = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a","namespace":"ns","labels":{"app":"a"}},
		  "spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"b","image":"i"}]}}}}`
	)
	// live returns the object as the server keeps it: defaults filled in, status, metadata
	live := func(managers, spec string) string {
		return `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a","namespace":"ns","uid":"u","resourceVersion":"7",
		  "labels":{"app":"a","team":"ci"},"annotations":{"deployment.kubernetes.io/revision":"1"},"managedFields":[` + managers + `]},` +
			spec + `,"status":{"replicas":1}}`
	}
	const spec = `"spec":{"replicas":1,"progressDeadlineSeconds":600,"template":{"spec":{"containers":[{"name":"b","image":"i","imagePullPolicy":"IfNotPresent"}]}}}`
	settledLive := live(bk+","+status+","+revision, spec)
	nullReplicas := strings.Replace(desired, `"replicas":1`, `"replicas":null`, 1)
	tests := map[string]struct {
		desired, live string
		// recorded is the rendering the record is of ("" for no record); its field set is
		// always settledLive's
		recorded string
		want     bool
	}{
		"applied, controllers wrote status and revision": {desired, settledLive, desired, true},
		"no record":                     {desired, settledLive, "", false},
		"rendering changed since":       {strings.Replace(desired, `"image":"i"`, `"image":"j"`, 1), settledLive, desired, false},
		"field set changed since":       {desired, live(bkOther+","+status, spec), desired, false},
		"value changed, same field set": {desired, live(bk+","+status, strings.Replace(spec, `"image":"i"`, `"image":"j"`, 1)), desired, false},
		"list longer than rendered": {desired, live(bk, strings.Replace(spec, `"imagePullPolicy":"IfNotPresent"}`, `"imagePullPolicy":"IfNotPresent"},{"name":"c"}`, 1)),
			desired, false},
		"replicas scaled by another manager": {desired, live(bk+","+scale, spec), desired, false},
		"label set by another manager":       {desired, live(bk+","+label, spec), desired, false},
		"null in the rendering":              {nullReplicas, settledLive, nullReplicas, false},
		"being deleted": {desired, strings.Replace(settledLive, `"uid":"u"`, `"uid":"u","deletionTimestamp":"2026-01-01T00:00:00Z"`, 1),
			desired, false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var rec Applied
			if tt.recorded != "" {
				rec = Applied{Config: ConfigHash(obj(t, tt.recorded)), Fields: FieldsHash(obj(t, settledLive), "bkctl")}
			}
			c, ok := Settled(obj(t, tt.desired), obj(t, tt.live), "bkctl", rec)
			if ok != tt.want {
				t.Fatalf("settled = %v, want %v", ok, tt.want)
			}
			if ok && (c.Action != Unchanged || c.Merged == nil || c.Applied != rec) {
				t.Errorf("change = %+v, want unchanged with live as merged and the record", c)
			}
		})
	}
}

func TestFieldsHash(t *testing.T) {
	one := `{"manager":"bkctl","operation":"Apply","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:k":{}}}}`
	update := `{"manager":"bkctl","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:j":{}}}}`
	cm := func(entries string) string {
		return `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","managedFields":[` + entries + `]}}`
	}
	if h := FieldsHash(obj(t, cm(one)), "bkctl"); h == "" || h != FieldsHash(obj(t, cm(update+","+one)), "bkctl") {
		t.Errorf("the hash of the apply entry depends on other entries")
	}
	if h := FieldsHash(obj(t, cm(update)), "bkctl"); h != "" {
		t.Errorf("hash without an apply entry = %q, want none", h)
	}
	if h := FieldsHash(obj(t, cm(one)), "helm"); h != "" {
		t.Errorf("hash of another manager = %q, want none", h)
	}
}
