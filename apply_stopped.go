package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bkctl/bkctl/internal/apply"
	"github.com/bkctl/bkctl/internal/diff"
)

// stoppedErr is the error an apply or delete that stopped early reports: when a signal ended ctx
// it says "interrupted" and in which step, not the "context canceled" of the request in flight.
func stoppedErr(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	step := apply.StepApply
	if se := (*apply.StepError)(nil); errors.As(err, &se) {
		step = se.Step
	}
	return &interruptedError{cause: context.Cause(ctx), step: step, err: err}
}

// interruptedError is an apply that a signal stopped; it wraps the apply's own error.
type interruptedError struct {
	cause error
	step  apply.Step
	err   error
}

func (e *interruptedError) Error() string {
	return fmt.Sprintf("interrupted (%v) while %s", e.cause, e.step)
}

func (e *interruptedError) Unwrap() error { return e.err }

// stopped reports an apply or delete (verb) that ended with err: what it had done, on stderr,
// and exit code 1.
func stopped(s streams, verb string, r *apply.Result, err error) error {
	if line := stoppedLine(verb, r, err); line != "" {
		s.printf("%s\n", line)
	}
	return &exitCode{code: 1, err: err}
}

// stoppedFleet ends an apply or delete (verb) of a fleet that stopped with err in one
// inventory: the results so far as ApplyResult or DeleteResult documents for -o json|yaml, what
// it had done on stderr, and exit code 1.
func stoppedFleet(s streams, output, verb string, results []resultJSON, r *apply.Result, err error) error {
	if output != "text" {
		kind := map[string]string{"apply": "ApplyResult", "delete": "DeleteResult"}[verb]
		if jerr := writeDocs(s, output, kind, results); jerr != nil {
			return jerr
		}
	}
	return stopped(s, verb, r, err)
}

// stoppedLine says what an apply (verb "apply") or delete that stopped early had done, so that
// a user knows the state of the cluster and that running it again finishes the job. It is ""
// when the apply did not start (a conflict, a file or kubeconfig error).
func stoppedLine(verb string, r *apply.Result, err error) string {
	se := (*apply.StepError)(nil)
	if r == nil || r.Plan == nil || !errors.As(err, &se) {
		return ""
	}
	changes, prunes := 0, 0
	for _, c := range r.Plan.Changes {
		switch {
		case c.Action == diff.Prune:
			prunes++
		case c.Desired != nil && c.Pending():
			changes++
		}
	}
	var done []string
	if changes > 0 {
		if len(r.Applied) == changes {
			done = append(done, plural(changes, "change")+" applied")
		} else {
			done = append(done, fmt.Sprintf("%d of %d changes applied", len(r.Applied), changes))
		}
	}
	switch {
	case prunes == 0:
	case len(r.Pruned) == 0:
		done = append(done, "nothing pruned")
	case se.Step == apply.StepPrune:
		done = append(done, fmt.Sprintf("%d of %d prunes done; the inventory still lists the others", len(r.Pruned), prunes))
	default:
		done = append(done, fmt.Sprintf("%d pruned", len(r.Pruned)))
	}
	what := strings.Join(done, ", ")
	if what == "" {
		what = "nothing changed"
	}
	next := verb + " again to finish"
	if se.Step == apply.StepWait {
		next = "what was applied stays; " + verb + " again to wait for the rollouts"
	}
	return fmt.Sprintf("%s stopped while %s: %s (%s).", strings.ToUpper(verb[:1])+verb[1:], se.Step, what, next)
}
