package diff

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bkctl/bkctl/internal/keys"
)

// NodeSummary is the plan of one builder node in the words of builders.yaml.
type NodeSummary struct {
	Builder   string        `json:"builder"`
	Node      string        `json:"node"`
	Namespace string        `json:"namespace"`
	Action    Action        `json:"action"`
	Fields    []FieldChange `json:"fields,omitempty"`
	// Conflicts names the managers whose fields the node's objects would take.
	Conflicts []string `json:"conflicts,omitempty"`
	// Rollout is true when an update changes the pod template, so that the workload replaces
	// its pods (a new buildkitd.config does so through the template's config hash).
	Rollout bool `json:"rollout,omitempty"`
	// Immutable are the fields that make a Replace: the workload is deleted and created again.
	Immutable []string `json:"immutable,omitempty"`
}

// FieldChange is one builders.yaml field of a node, before and after. An unchanged field that
// the summary always reports has From == To.
type FieldChange struct {
	Field string `json:"field"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
}

// String returns e.g. "kube/builder-amd64: replicas 2 → 4, image unchanged".
func (s NodeSummary) String() string {
	var parts []string
	for _, f := range s.Fields {
		switch {
		case f.From == f.To:
			parts = append(parts, f.Field+" unchanged")
		case f.From == "":
			parts = append(parts, fmt.Sprintf("%s %s", f.Field, f.To))
		case f.To == "":
			parts = append(parts, fmt.Sprintf("%s %s", f.Field, f.From))
		default:
			parts = append(parts, fmt.Sprintf("%s %s → %s", f.Field, f.From, f.To))
		}
	}
	head := s.Builder + "/" + s.Node + ": "
	switch s.Action {
	case Create:
		head += "new node"
	case Prune:
		head += "removed"
	case Unchanged:
		return head + "in sync"
	case Conflict:
		head += "conflict with " + quoteAll(s.Conflicts)
	case Replace:
		head += "replace"
		if fs := slices.DeleteFunc(slices.Clone(s.Immutable), func(f string) bool { return f == "kind" }); len(fs) > 0 {
			head += " (immutable " + strings.Join(fs, ", ") + ")"
		}
		head += ": "
		if len(parts) == 0 {
			return strings.TrimSuffix(head, ": ")
		}
		return head + strings.Join(parts, ", ")
	}
	if len(parts) == 0 {
		return strings.TrimSuffix(head, ": ")
	}
	if s.Action == Update {
		if s.Rollout {
			head += "rolls its pods: "
		}
		return head + strings.Join(parts, ", ")
	}
	return head + " (" + strings.Join(parts, ", ") + ")"
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

type nodeKey struct{ namespace, node string }

// nodeChanges are the changes of one node's objects.
type nodeChanges struct {
	builder  string
	workload []Change // one, or two when a node switches between Deployment and StatefulSet
	config   *Change
}

// Summary returns one entry per builder node the plan touches or keeps, sorted by builder, then
// node.
func (p *Plan) Summary() []NodeSummary {
	nodes := map[nodeKey]*nodeChanges{}
	get := func(k nodeKey) *nodeChanges {
		if nodes[k] == nil {
			nodes[k] = &nodeChanges{}
		}
		return nodes[k]
	}
	for i := range p.Changes {
		c := &p.Changes[i]
		obj := c.Desired
		if obj == nil {
			obj = c.Live
		}
		builder := obj.GetLabels()[keys.LabelBuilder]
		if builder == "" {
			continue
		}
		switch c.Ref.Kind {
		case "Deployment", "StatefulSet":
			n := get(nodeKey{c.Ref.Namespace, c.Ref.Name})
			n.builder = builder
			n.workload = append(n.workload, *c)
		case "ConfigMap":
			if name, ok := strings.CutSuffix(c.Ref.Name, "-config"); ok {
				n := get(nodeKey{c.Ref.Namespace, name})
				if n.builder == "" {
					n.builder = builder
				}
				n.config = c
			}
		}
	}
	out := make([]NodeSummary, 0, len(nodes))
	for k, n := range nodes {
		out = append(out, summarize(k, n))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Builder != out[j].Builder {
			return out[i].Builder < out[j].Builder
		}
		if out[i].Node != out[j].Node {
			return out[i].Node < out[j].Node
		}
		return out[i].Namespace < out[j].Namespace
	})
	return out
}

func summarize(k nodeKey, n *nodeChanges) NodeSummary {
	s := NodeSummary{Builder: n.builder, Node: k.node, Namespace: k.namespace, Action: Unchanged}
	var before, after *unstructured.Unstructured
	var cur *Change
	for i := range n.workload {
		c := &n.workload[i]
		if c.Action == Prune {
			before = c.Live
			continue
		}
		cur = c
		before, after = c.Live, c.Merged
		if before == nil {
			// a node switching kind: the other workload is pruned
			for _, o := range n.workload {
				if o.Action == Prune {
					before = o.Live
				}
			}
		}
		s.Conflicts = c.ConflictManagers()
	}
	switch {
	case after == nil && before == nil && n.config == nil:
		return s
	case after == nil && before != nil:
		s.Action = Prune
	case before == nil && after != nil:
		s.Action = Create
	case len(s.Conflicts) > 0:
		s.Action = Conflict
	case cur != nil && cur.Action == Replace:
		s.Action = Replace
		s.Immutable = cur.Immutable
	case (cur != nil && cur.Pending()) || (n.config != nil && n.config.Pending()) || len(n.workload) > 1:
		s.Action = Update
		s.Rollout = cur != nil && cur.Pending() && slices.ContainsFunc(cur.Fields, isTemplate)
	}
	if s.Action == Unchanged {
		return s
	}
	if before != nil && after != nil && before.GetKind() != after.GetKind() {
		s.Fields = append(s.Fields, FieldChange{Field: "kind", From: before.GetKind(), To: after.GetKind()})
	}
	s.Fields = append(s.Fields,
		field("replicas", before, after, replicas),
		field("image", before, after, image),
	)
	if f := field("mode", before, after, mode); f.From != f.To {
		s.Fields = append(s.Fields, f)
	}
	if f := field("platforms", before, after, platforms); f.From != f.To {
		s.Fields = append(s.Fields, f)
	}
	other := 0
	if c := n.config; c != nil && c.Pending() {
		named := true // the config's line explains the template's new config hash
		switch {
		case c.Action == Create:
			s.Fields = append(s.Fields, FieldChange{Field: "buildkitd.config", To: "added"})
		case c.Action == Prune:
			s.Fields = append(s.Fields, FieldChange{Field: "buildkitd.config", From: "removed"})
		case slices.ContainsFunc(c.Fields, isConfigData):
			s.Fields = append(s.Fields, FieldChange{Field: "buildkitd.config", To: "changed"})
		default:
			named = false
		}
		if named && cur != nil && slices.Contains(cur.Fields, configHashPath) {
			other--
		}
		if c.Action != Create && c.Action != Prune {
			// e.g. the labels bkctl adds to a ConfigMap it adopts from buildx: the
			// buildkitd.toml is the same, so the config is not said to change.
			other += len(c.Fields) - countFunc(c.Fields, isConfigData)
		}
	}
	if s.Action == Update || s.Action == Replace {
		if cur != nil {
			other += otherFields(slices.DeleteFunc(slices.Clone(cur.Fields), func(f string) bool { return slices.Contains(cur.Immutable, f) }))
		}
		if other > 0 {
			s.Fields = append(s.Fields, FieldChange{Field: "other fields", To: fmt.Sprint(other)})
		}
	}
	if s.Action == Create || s.Action == Prune {
		var kept []FieldChange
		for _, f := range s.Fields {
			if f.From != "" || f.To != "" {
				kept = append(kept, FieldChange{Field: f.Field, From: "", To: f.From + f.To})
			}
		}
		s.Fields = kept
	}
	return s
}

// isTemplate reports whether a changed path of a workload is in its pod template.
func isTemplate(path string) bool { return strings.HasPrefix(path, "spec.template.") }

// configHashPath is the changed path of a workload whose buildkitd.config changed; when the
// summary names the config's change, it does not count this path again.
const configHashPath = "spec.template.metadata.annotations[" + keys.AnnotationConfigHash + "]"

// isConfigData reports whether a changed path of a node's ConfigMap is in its data, the
// buildkitd.toml, rather than in its metadata.
func isConfigData(path string) bool {
	for _, f := range []string{"data", "binaryData"} {
		if path == f || strings.HasPrefix(path, f+".") || strings.HasPrefix(path, f+"[") {
			return true
		}
	}
	return false
}

func countFunc(ss []string, f func(string) bool) int {
	n := 0
	for _, s := range ss {
		if f(s) {
			n++
		}
	}
	return n
}

// otherFields counts the changed paths the summary does not already name.
func otherFields(paths []string) int {
	n := 0
	for _, p := range paths {
		switch {
		case p == "spec.replicas",
			strings.HasSuffix(p, "containers[name=buildkitd].image"),
			strings.HasSuffix(p, "containers[name=buildkitd].securityContext.privileged"):
			continue
		}
		n++
	}
	return n
}

func field(name string, before, after *unstructured.Unstructured, get func(*unstructured.Unstructured) string) FieldChange {
	f := FieldChange{Field: name}
	if before != nil {
		f.From = get(before)
	}
	if after != nil {
		f.To = get(after)
	}
	return f
}

func replicas(o *unstructured.Unstructured) string {
	n, ok, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "replicas")
	if !ok {
		return ""
	}
	return fmt.Sprint(n)
}

func buildkitd(o *unstructured.Unstructured) map[string]any {
	cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	for _, c := range cs {
		if m, ok := c.(map[string]any); ok && m["name"] == "buildkitd" {
			return m
		}
	}
	return nil
}

func image(o *unstructured.Unstructured) string {
	s, _ := buildkitd(o)["image"].(string)
	return s
}

func mode(o *unstructured.Unstructured) string {
	c := buildkitd(o)
	if c == nil {
		return ""
	}
	if p, _, _ := unstructured.NestedBool(c, "securityContext", "privileged"); p {
		return "privileged"
	}
	return "rootless"
}

func platforms(o *unstructured.Unstructured) string {
	return o.GetAnnotations()[keys.AnnotationPlatform]
}
