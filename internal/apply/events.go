package apply

import (
	"time"

	"github.com/bkctl/bkctl/internal/diff"
)

// EventType says what happened to an object during an apply.
type EventType string

// The events of an apply, in the order they can happen to one object.
const (
	EventApplied EventType = "applied"
	// EventReplaced is an object deleted so that the apply creates it again (--force-replace).
	EventReplaced EventType = "replaced"
	EventPruned   EventType = "pruned"
	EventKept     EventType = "kept"
	EventWaiting  EventType = "waiting"
	EventReady    EventType = "ready"
	EventFailed   EventType = "failed"
	// EventGone is an object that a delete removed and that no longer exists (WaitGone).
	EventGone EventType = "gone"
)

// Event is one step of an apply, for a progress display.
type Event struct {
	Type EventType
	Ref  diff.Ref
	// Action is the plan's action of an applied object.
	Action diff.Action
	// Message is the status of a workload being waited for, or why an object was kept.
	Message string
	// Status is the kstatus status of a workload that failed to become ready.
	Status string
	// Elapsed is the time since the wait for this object began.
	Elapsed time.Duration
}
