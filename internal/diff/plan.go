package diff

import "slices"

// Plan is everything applying one builders file would change, in apply order.
type Plan struct {
	// Name and Namespace are the file's metadata: the inventory it owns.
	Name      string
	Namespace string
	// Inventory is the change to the ApplySet parent that records the file's members.
	Inventory InventoryChange
	// Changes are the objects the file renders, in apply order, followed by the prunes.
	Changes []Change
}

// InventoryChange is the change to the ApplySet parent object of a file.
type InventoryChange struct {
	Ref    Ref    `json:"object"`
	Action Action `json:"action"`
	// ID is the ApplySet ID that members carry in their part-of label.
	ID string `json:"id"`
	// GroupKinds and Namespaces are what the parent records after the apply.
	GroupKinds []string `json:"groupKinds"`
	Namespaces []string `json:"namespaces"`
	// Recorded are the group-kinds and namespaces the live parent records (none when it is absent).
	RecordedGroupKinds []string `json:"recordedGroupKinds"`
	RecordedNamespaces []string `json:"recordedNamespaces"`
}

// Pending reports whether applying p would change the cluster.
func (p *Plan) Pending() bool {
	if p.Inventory.Action != Unchanged {
		return true
	}
	return slices.ContainsFunc(p.Changes, Change.Pending)
}

// Count returns how many objects each action applies to (the inventory parent not included).
func (p *Plan) Count() map[Action]int {
	n := map[Action]int{}
	for _, c := range p.Changes {
		n[c.Action]++
	}
	return n
}

// Conflicts returns the changes that would take fields from another applier.
func (p *Plan) Conflicts() []Change { return p.withAction(Conflict) }

// Replaces returns the changes that delete an object and create it again.
func (p *Plan) Replaces() []Change { return p.withAction(Replace) }

func (p *Plan) withAction(a Action) []Change {
	var out []Change
	for _, c := range p.Changes {
		if c.Action == a {
			out = append(out, c)
		}
	}
	return out
}

// PrunedNamespaces returns the names of the namespaces the plan deletes, with everything in
// them: namespaces that the file created (createNamespace) and no longer renders.
func (p *Plan) PrunedNamespaces() []string {
	var out []string
	for _, c := range p.Changes {
		if c.Action == Prune && c.Ref.Kind == "Namespace" && c.Ref.Group == "" {
			out = append(out, c.Ref.Name)
		}
	}
	return out
}
