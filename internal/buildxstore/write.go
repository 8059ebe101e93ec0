package buildxstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bkctl/bkctl/internal/spec"
)

// Action says what WriteBuilders did with one builder's instance.
type Action string

// The actions of WriteBuilders.
const (
	ActionCreated   Action = "created"
	ActionUpdated   Action = "updated"
	ActionUnchanged Action = "unchanged"
)

// WriteOptions are the inputs of WriteBuilders besides the file.
type WriteOptions struct {
	// Builder limits the write to the builder of this name; empty writes every builder.
	Builder string
	// Kubeconfig is recorded in each node's endpoint, as buildx create records $KUBECONFIG;
	// empty makes buildx use its default loading rules when it runs.
	Kubeconfig string
	// Now is the clock for the builders' last activity.
	Now func() time.Time
}

// DefaultWriteOptions returns options that write every builder with the real clock.
func DefaultWriteOptions() WriteOptions {
	return WriteOptions{Now: time.Now}
}

// Written is the outcome for one builder.
type Written struct {
	Builder string   `json:"builder"`
	Path    string   `json:"path"`
	Action  Action   `json:"action"`
	Nodes   []string `json:"nodes"`
	// Notes say what buildx would create differently if it had to create the objects itself.
	Notes []string `json:"notes,omitempty"`
}

// WriteBuilders writes the buildx instance of each builder of f (or of opts.Builder) into the
// buildx config dir dir, holding buildx's store lock. An instance that already holds the same
// bytes is left alone. It refuses to replace an instance of another driver.
func WriteBuilders(ctx context.Context, dir string, f *spec.File, opts WriteOptions) ([]Written, error) {
	var groups []*NodeGroup
	var notes [][]string
	var errs []error
	for _, b := range f.Builders {
		if opts.Builder != "" && b.Name != opts.Builder {
			continue
		}
		ng, n, err := NodeGroupFor(b, opts.Kubeconfig)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		groups = append(groups, ng)
		notes = append(notes, n)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(groups) == 0 {
		return nil, fmt.Errorf("%s has no builder %q", f.Path, opts.Builder)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}

	s, err := Open(dir)
	if err != nil {
		return nil, err
	}
	release, err := s.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer release()

	out := make([]Written, 0, len(groups))
	for i, ng := range groups {
		w := Written{Builder: ng.Name, Path: s.InstancePath(ng.Name), Action: ActionCreated, Notes: notes[i]}
		for _, n := range ng.Nodes {
			w.Nodes = append(w.Nodes, n.Name)
		}
		old, err := s.Get(ng.Name)
		switch {
		case err == nil && old.Driver != DriverKubernetes:
			return out, fmt.Errorf("buildx builder %q exists with the %s driver; bkctl writes only %s builders (hint: docker buildx rm %s, or rename the builder)", ng.Name, old.Driver, DriverKubernetes, ng.Name)
		case err == nil:
			w.Action = ActionUpdated
		case !errors.Is(err, ErrNotFound):
			return out, err
		}
		changed, err := s.Save(ng, opts.Now())
		if err != nil {
			return out, err
		}
		if !changed {
			w.Action = ActionUnchanged
		}
		out = append(out, w)
	}
	return out, nil
}
