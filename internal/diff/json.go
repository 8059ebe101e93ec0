package diff

import (
	"encoding/json"
	"io"
	"strings"
)

// jsonPlan is the stable machine form of a plan (`bkctl plan -o json`).
type jsonPlan struct {
	Name      string          `json:"name"`
	Namespace string          `json:"namespace"`
	Pending   bool            `json:"pending"`
	Counts    jsonCounts      `json:"counts"`
	Nodes     []NodeSummary   `json:"nodes"`
	Objects   []jsonChange    `json:"objects"`
	Inventory InventoryChange `json:"inventory"`
}

type jsonCounts struct {
	Create    int `json:"create"`
	Update    int `json:"update"`
	Replace   int `json:"replace"`
	Prune     int `json:"prune"`
	Unchanged int `json:"unchanged"`
	Conflict  int `json:"conflict"`
}

type jsonChange struct {
	Action    Action      `json:"action"`
	Object    Ref         `json:"object"`
	ID        string      `json:"id"`
	Fields    []string    `json:"fields,omitempty"`
	Conflicts []Ownership `json:"conflicts,omitempty"`
	Drift     []Ownership `json:"drift,omitempty"`
	Immutable []string    `json:"immutable,omitempty"`
	Diff      string      `json:"diff,omitempty"`
}

// WriteJSON writes the plan as one indented JSON document; the same plan gives the same bytes.
func WriteJSON(w io.Writer, p *Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(Document(p))
}

// Document returns the stable machine form of a plan, the body of `bkctl plan -o json`: its
// counts, a summary per builder node and every object's change with its diff.
func Document(p *Plan) any {
	n := p.Count()
	out := jsonPlan{
		Name: p.Name, Namespace: p.Namespace, Pending: p.Pending(),
		Counts:    jsonCounts{n[Create], n[Update], n[Replace], n[Prune], n[Unchanged], n[Conflict]},
		Nodes:     p.Summary(),
		Objects:   make([]jsonChange, 0, len(p.Changes)),
		Inventory: p.Inventory,
	}
	for _, c := range p.Changes {
		jc := jsonChange{Action: c.Action, Object: c.Ref, ID: c.Ref.String(), Fields: c.Fields, Conflicts: c.Conflicts, Drift: c.Drift, Immutable: c.Immutable}
		if h := Hunks(c, 3); len(h) > 0 {
			jc.Diff = strings.Join(h, "\n") + "\n"
		}
		out.Objects = append(out.Objects, jc)
	}
	return out
}
