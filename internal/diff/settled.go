package diff

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/bkctl/bkctl/internal/keys"
)

// Applied records bkctl's last apply of one object: a hash of the rendered object and a hash of
// the field set that apply gave bkctl's field manager. The field set of an apply depends only on
// the applied object, so a record proves what applying the same rendering again would own.
type Applied struct {
	Config string
	Fields string
}

// IsZero reports whether a is no record at all.
func (a Applied) IsZero() bool { return a.Config == "" || a.Fields == "" }

// ConfigHash returns a hash of a rendered object (its JSON form, whose map keys are sorted).
func ConfigHash(obj *unstructured.Unstructured) string {
	b, err := json.Marshal(obj.Object)
	if err != nil {
		return ""
	}
	return hash(b)
}

// FieldsHash returns a hash of the field set that manager holds by server-side apply in obj,
// with its API version, or "" when obj has not exactly one such managed fields entry.
func FieldsHash(obj *unstructured.Unstructured, manager string) string {
	var found *metav1.ManagedFieldsEntry
	mf := obj.GetManagedFields()
	for i := range mf {
		if isApplyEntry(mf[i], manager) {
			if found != nil || mf[i].FieldsV1 == nil {
				return ""
			}
			found = &mf[i]
		}
	}
	if found == nil {
		return ""
	}
	return hash(append([]byte(found.APIVersion+"\n"), found.FieldsV1.Raw...))
}

func isApplyEntry(e metav1.ManagedFieldsEntry, manager string) bool {
	return e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == ""
}

func hash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// Settled returns the Unchanged change of desired when a forced server-side apply of it by
// manager provably changes nothing in live, so that no dry-run is needed; ok is false at the
// least doubt. It holds when rec records an apply of this very rendering and:
//   - manager still holds exactly the field set that apply gave it: no one took or removed a
//     field from it (an update that changes or removes a field takes it from its owners), and it
//     owns nothing the rendering dropped;
//   - every value the rendering sets is in live as rendered (a list as long, element by
//     element), so the apply sets nothing new and takes no field from anyone;
//   - every other manager owns only fields bkctl never sets (benignField), so neither drift nor
//     a conflict can hide there;
//   - live is not being deleted.
func Settled(desired, live *unstructured.Unstructured, manager string, rec Applied) (Change, bool) {
	if live == nil || rec.IsZero() || live.GetDeletionTimestamp() != nil {
		return Change{}, false
	}
	if rec.Config != ConfigHash(desired) || rec.Fields != FieldsHash(live, manager) {
		return Change{}, false
	}
	for _, e := range live.GetManagedFields() {
		if isApplyEntry(e, manager) {
			continue
		}
		if !ownsOnlyBenign(e) {
			return Change{}, false
		}
	}
	if !contains(live.Object, desired.Object) {
		return Change{}, false
	}
	return Change{Ref: RefOf(desired), Action: Unchanged, Desired: desired, Live: live, Merged: live, Applied: rec}, true
}

func ownsOnlyBenign(e metav1.ManagedFieldsEntry) bool {
	if e.FieldsV1 == nil {
		return true
	}
	s := &fieldpath.Set{}
	if err := s.FromJSON(bytes.NewReader(e.FieldsV1.Raw)); err != nil {
		return false
	}
	ok := true
	s.Iterate(func(p fieldpath.Path) {
		if ok && !benignField(p) {
			ok = false
		}
	})
	return ok
}

// benignAnnotations are the annotations that controllers set on the objects bkctl renders and
// that bkctl never sets.
var benignAnnotations = map[string]bool{
	keys.AnnotationDeploymentRevision: true,
}

// benignField reports whether p is a field that only controllers write and bkctl never renders:
// the status, and the annotations above (with the annotations map they sit in).
func benignField(p fieldpath.Path) bool {
	name := func(i int) string {
		if i >= len(p) || p[i].FieldName == nil {
			return ""
		}
		return *p[i].FieldName
	}
	switch {
	case name(0) == "status":
		return true
	case name(0) == "metadata" && len(p) == 1:
		return true
	case name(0) == "metadata" && name(1) == "annotations":
		return len(p) == 2 || (len(p) == 3 && benignAnnotations[name(2)])
	}
	return false
}

// contains reports whether every value of want is in have: maps key by key, lists of the same
// length element by element, scalars equal. A null in want (which asks to remove a field) is
// never contained.
func contains(have, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			hv, ok := h[k]
			if !ok || !contains(hv, wv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !contains(h[i], w[i]) {
				return false
			}
		}
		return true
	case nil:
		return false
	}
	return reflect.DeepEqual(have, want)
}
