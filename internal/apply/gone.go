package apply

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bkctl/bkctl/internal/diff"
	"github.com/bkctl/bkctl/internal/render"
)

// gonePollInterval is how often WaitGone lists what is left.
const gonePollInterval = 250 * time.Millisecond

// WaitGone waits until none of refs, members of set that a delete removed, exists any more:
// with one list per group-kind and namespace a round (the members still carry their part-of
// label while they are deleted), not a request per object. It reports each object gone as
// EventGone, and what is left as EventWaiting whenever that changes, through progress (nil
// drops them). It ends with ctx, naming what was left.
func (m *Manager) WaitGone(ctx context.Context, set render.ApplySetRef, refs []diff.Ref, progress func(Event)) error {
	if progress == nil {
		progress = func(Event) {}
	}
	in := inventory{namespaces: []string{set.ParentNamespace}}
	left := map[memberKey]diff.Ref{}
	for _, r := range refs {
		in.groupKinds = append(in.groupKinds, groupKindString(r.GroupKind()))
		if r.Namespace != "" {
			in.namespaces = append(in.namespaces, r.Namespace)
		}
		left[memberKey{r.GroupKind(), r.Namespace, r.Name}] = r
	}
	in = in.union(inventory{})
	start := time.Now()
	t := time.NewTicker(gonePollInterval)
	defer t.Stop()
	reported := -1
	for {
		live, err := m.listMembers(ctx, set, in)
		if err != nil {
			return err
		}
		for k, r := range left {
			if !live.has(k) {
				delete(left, k)
				progress(Event{Type: EventGone, Ref: r, Elapsed: time.Since(start)})
			}
		}
		if len(left) == 0 {
			return nil
		}
		if len(left) != reported {
			reported = len(left)
			first := sortedRefs(left)[0]
			progress(Event{Type: EventWaiting, Ref: first, Message: fmt.Sprintf("being deleted, %d objects left", len(left)), Elapsed: time.Since(start)})
		}
		select {
		case <-ctx.Done():
			return &GoneError{Left: sortedRefs(left), Err: ctx.Err()}
		case <-t.C:
		}
	}
}

// GoneError is a WaitGone that ended before every object was gone.
type GoneError struct {
	Left []diff.Ref
	Err  error
}

func (e *GoneError) Error() string {
	return fmt.Sprintf("wait for deletion: %d objects still exist, e.g. %s: %v", len(e.Left), e.Left[0], e.Err)
}

func (e *GoneError) Unwrap() error { return e.Err }

func sortedRefs(m map[memberKey]diff.Ref) []diff.Ref {
	out := make([]diff.Ref, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b diff.Ref) int { return strings.Compare(a.String(), b.String()) })
	return out
}
