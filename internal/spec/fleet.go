package spec

import "fmt"

// SetNamespace makes ns the namespace of a file that names none: its metadata.namespace (where
// the inventory lives) and that of every builder without a namespace of its own. A file that
// names its namespace keeps it.
func (f *File) SetNamespace(ns string) {
	if !f.Metadata.DefaultNamespace || ns == "" {
		return
	}
	f.Metadata.Namespace = ns
	for i := range f.Builders {
		if f.Builders[i].DefaultNamespace {
			f.Builders[i].Namespace = ns
		}
	}
}

// Fleet gathers loaded files into one File per inventory: files with the same metadata.name
// are one inventory and must agree on its namespace; their builders are kept in file order.
// A builder name or a node (namespace/name) defined twice across the files is an error at
// each of its positions, as is one inventory split over two namespaces.
func Fleet(files []*File) ([]*File, []Diagnostic) {
	var (
		out     []*File
		byName  = map[string]*File{}
		diags   []Diagnostic
		builder = map[string]Pos{} // inventory/builder -> first definition
		node    = map[string]Pos{} // namespace/node -> first definition
	)
	dup := func(at, first Pos, what string) {
		diags = append(diags,
			Diagnostic{Pos: at, Severity: SeverityError, Message: fmt.Sprintf("%s is also defined at %s", what, first)},
			Diagnostic{Pos: first, Severity: SeverityError, Message: fmt.Sprintf("%s is also defined at %s", what, at)})
	}
	for _, f := range files {
		inv, seen := byName[f.Metadata.Name]
		if !seen {
			cp := *f
			cp.Builders = append([]Builder(nil), f.Builders...)
			byName[f.Metadata.Name] = &cp
			out = append(out, &cp)
		} else {
			if inv.Metadata.Namespace != f.Metadata.Namespace {
				diags = append(diags, Diagnostic{Pos: Pos{File: f.Path, Line: 1}, Severity: SeverityError, Field: "metadata.namespace",
					Message: fmt.Sprintf("inventory %q is in namespace %q in %s: the files that share a metadata.name must name one namespace", f.Metadata.Name, inv.Metadata.Namespace, inv.Path)})
			}
			inv.Path += ", " + f.Path
			inv.Builders = append(inv.Builders, f.Builders...)
		}
		for _, b := range f.Builders {
			key := f.Metadata.Name + "/" + b.Name
			if first, ok := builder[key]; ok && first.File != b.Pos.File {
				dup(b.Pos, first, fmt.Sprintf("builder %q of inventory %q", b.Name, f.Metadata.Name))
			} else if !ok {
				builder[key] = b.Pos
			}
			for _, n := range b.Nodes {
				key := b.Namespace + "/" + n.Name
				if first, ok := node[key]; ok && first.File != n.Pos.File {
					dup(n.Pos, first, fmt.Sprintf("node %q in namespace %q", n.Name, b.Namespace))
				} else if !ok {
					node[key] = n.Pos
				}
			}
		}
	}
	sortDiagnostics(diags)
	return out, diags
}
