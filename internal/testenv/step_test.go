package testenv

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A wait of Start ends on its own timeout even when the caller's context has no deadline, and
// says what it waited for.
func TestStepBoundsAWaitWithoutDeadline(t *testing.T) {
	e := &Env{}
	start := time.Now()
	err := e.step(context.Background(), "exec into Pod/default/x", 50*time.Millisecond, func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("step took %v", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "exec into Pod/default/x (timeout 50ms)") {
		t.Fatalf("err = %v, want a deadline naming the wait", err)
	}
}
