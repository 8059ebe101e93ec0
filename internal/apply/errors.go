package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
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
			parts = append(parts, fmt.Sprintf("%s: %s", c.Ref, o.Describe()))
		}
	}
	return fmt.Sprintf("conflicts with other field managers, nothing was applied: %s (hint: --force-conflicts takes the fields over)", strings.Join(parts, "; "))
}

// Step is one step of Apply; they run in this order.
type Step string

// The steps of Apply, named as a user reads them ("stopped while pruning").
const (
	StepApply     Step = "applying"
	StepPrune     Step = "pruning"
	StepInventory Step = "recording the inventory"
	StepWait      Step = "waiting for rollouts"
)

// StepError is an Apply that stopped in Step, on an error or the end of its context. Nothing of a
// later step was done: a failure while applying pruned nothing, and the inventory is narrowed
// only after every prune succeeded, so it never lists less than exists. The Result returned with
// it says what was done. Its message is Err's.
type StepError struct {
	Step Step
	Err  error
}

func (e *StepError) Error() string { return e.Err.Error() }

func (e *StepError) Unwrap() error { return e.Err }

// WaitFailure is one workload that did not become ready in time.
type WaitFailure struct {
	Ref diff.Ref
	// Status is the kstatus status, e.g. InProgress or Failed.
	Status string
	// Message says why, e.g. "Available: 0/2" and the reason a pod is not running.
	Message string
	Timeout time.Duration
}

// String is the one line that reports the failure: object, timeout, status and why.
func (f WaitFailure) String() string {
	return fmt.Sprintf("%s: not ready after %s (%s): %s", f.Ref, f.Timeout, f.Status, f.Message)
}

// WaitError lists the workloads that did not become ready.
type WaitError struct {
	Failures []WaitFailure
	// Waited is how many workloads were waited for.
	Waited int
}

// Error has one line for each workload, so that a long list stays readable.
func (e *WaitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wait for rollout: %d of %d builder nodes not ready:", len(e.Failures), e.Waited)
	for _, f := range e.Failures {
		b.WriteString("\n  " + f.String())
	}
	return b.String()
}

// clusterErr makes a request error say what a user can act on: an unreachable server names the
// host, and whether it answered earlier in this run (then it is restarting or overloaded, not
// misconfigured); a forbidden one keeps the server's message, which names the user, verb and
// resource, and adds need, what bkctl needs that right for. The end of ctx is returned as it is:
// the caller reports an interrupt itself.
func (m *Manager) clusterErr(err error, need string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	if e := Explain(err, m.host, m.reached.Load()); e != err {
		return e
	}
	switch {
	case apierrors.IsForbidden(err) && rbacDenied.MatchString(err.Error()):
		return fmt.Errorf("%w (hint: %s; deploy/rbac.yaml grants what each bkctl command needs)", err, need)
	case isImmutableSelector(err):
		return fmt.Errorf("%w (hint: bkctl selects a node's pods by app=<node> only; buildx also selects by its labels driver-opt, and a selector cannot change: bkctl apply --force-replace deletes and recreates the workload)", err)
	}
	return err
}

// Explain words the errors every command meets talking to a cluster the same way: an
// unreachable server or one that did not answer in --request-timeout names the host, and
// whether it answered earlier in this run (reached: then it is restarting or overloaded, not
// misconfigured); refused credentials say so. Any other error is returned as it is.
func Explain(err error, host string, reached bool) error {
	var ue *url.Error
	var ne net.Error
	switch {
	case err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreachable):
		return err
	case errors.As(err, &ue) || errors.As(err, &ne):
		why, step := err, ""
		if ue != nil {
			why = ue.Err // the object and verb are named by the caller: the URL would only repeat them
			// What the caller wrapped around the request ("list Pods in ns: ") stays in front.
			if msg := err.Error(); strings.HasSuffix(msg, ue.Error()) {
				step = strings.TrimSuffix(msg, ue.Error())
			}
		}
		hint := "check --context, --kubeconfig and KUBECONFIG"
		switch {
		case reached:
			hint = "it answered earlier in this run, so it may be restarting or overloaded: try again once it answers"
		case ue != nil && ue.Timeout() || ne != nil && ne.Timeout():
			hint = "it accepted the connection but did not answer in --request-timeout; check that it is healthy, or raise --request-timeout"
		}
		return fmt.Errorf("%s%w at %s: %v (hint: %s)", step, ErrUnreachable, host, why, hint)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		// client-go's own wrapping when the connection is cut while it reads an answer (a server
		// killed mid-request): the server was reached, so it is restarting or overloaded.
		return fmt.Errorf("%w at %s: the connection closed before the answer was read (hint: it answered earlier in this run, so it may be restarting or overloaded: try again once it answers)", ErrUnreachable, host)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%w (hint: the kubeconfig's credentials were refused)", err)
	}
	return err
}

// rbacDenied matches the authorizer's refusal (`User "x" cannot patch resource "deployments"`),
// which a missing permission explains; an admission webhook or policy refuses with 403 too, for
// reasons of its own that its message gives.
var rbacDenied = regexp.MustCompile(`cannot [a-z]+ resource "`)

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
