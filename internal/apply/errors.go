package apply

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/bkctl/bkctl/internal/diff"
)

// ErrUnreachable is wrapped by every error that comes from not reaching the API server.
var ErrUnreachable = errors.New("cannot reach the cluster")

// ObjectError is a failed request about one object.
type ObjectError struct {
	Ref diff.Ref
	// Op is what was tried: "dry-run apply", "apply", "get", "delete".
	Op  string
	Err error
}

func (e *ObjectError) Error() string { return fmt.Sprintf("%s: %s: %v", e.Ref, e.Op, e.Err) }

func (e *ObjectError) Unwrap() error { return e.Err }

// ConflictError stops an apply before anything is written: fields bkctl would set are owned by
// other appliers, and --force-conflicts was not given.
type ConflictError struct {
	Changes []diff.Change
}

func (e *ConflictError) Error() string {
	var parts []string
	for _, c := range e.Changes {
		for _, o := range c.Conflicts {
			parts = append(parts, fmt.Sprintf("%s: %s owned by %q", c.Ref, strings.Join(o.Fields, ", "), o.Manager))
		}
	}
	return fmt.Sprintf("conflicts with other field managers, nothing was applied: %s (hint: --force-conflicts takes the fields over)", strings.Join(parts, "; "))
}

// WaitFailure is one workload that did not become ready in time.
type WaitFailure struct {
	Ref diff.Ref
	// Status is the kstatus status, e.g. InProgress or Failed.
	Status string
	// Message says why, e.g. "Available: 0/2" and the reason a pod is not running.
	Message string
	Timeout time.Duration
}

// WaitError lists the workloads that did not become ready.
type WaitError struct {
	Failures []WaitFailure
}

func (e *WaitError) Error() string {
	parts := make([]string, 0, len(e.Failures))
	for _, f := range e.Failures {
		parts = append(parts, fmt.Sprintf("%s: %s after %s: %s", f.Ref, f.Status, f.Timeout, f.Message))
	}
	return "wait for rollout: " + strings.Join(parts, "; ")
}

// clusterErr makes a request error say what a user can act on: an unreachable server names the
// host; a forbidden one keeps the server's message, which names the user, verb and resource, and
// adds need, what bkctl needs that right for.
func (m *Manager) clusterErr(err error, need string) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) {
		return fmt.Errorf("%w at %s: %v (hint: check --context, --kubeconfig and KUBECONFIG)", ErrUnreachable, m.host, err)
	}
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w (hint: %s; examples/rbac.yaml grants what each bkctl command needs)", err, need)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%w (hint: the kubeconfig's credentials were refused)", err)
	case isImmutableSelector(err):
		return fmt.Errorf("%w (hint: bkctl selects a node's pods by app=<node> only; buildx also selects by its labels driver-opt, and a selector cannot change: delete the workload, then apply to recreate it)", err)
	}
	return err
}

// isImmutableSelector reports whether err refuses a change of a workload's spec.selector.
func isImmutableSelector(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, c := range status.Status().Details.Causes {
		if c.Field == "spec.selector" && strings.Contains(c.Message, "field is immutable") {
			return true
		}
	}
	return false
}
