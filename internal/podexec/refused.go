package podexec

import (
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/streaming/pkg/httpstream"
)

// RefusedError is a request that the API server refused for the caller's rights or credentials:
// no other pod and no retry can help, so a build fails at once.
type RefusedError struct {
	Err error
	// Need says what bkctl needs the refused right for.
	Need string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%v (hint: %s; deploy/rbac.yaml grants what each bkctl command needs)", e.Err, e.Need)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// refused reports whether err is the API server's refusal of the caller's rights or credentials.
func refused(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)
}

// execRefused reports whether an exec session was refused for the caller's rights. The websocket
// executor keeps the server's Status as the cause of its upgrade failure; the SPDY one keeps only
// its message, which for a refusal is the authorizer's "… is forbidden: User … cannot create …".
func execRefused(err error) bool {
	var uf *httpstream.UpgradeFailureError
	if errors.As(err, &uf) && refused(uf.Cause) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "unable to upgrade connection: ") && (strings.Contains(msg, " is forbidden: User ") || strings.Contains(msg, ": Unauthorized"))
}

// joinErrors joins errs on one line, as "a; b".
func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return fmt.Errorf("%w; %w", errs[0], joinErrors(errs[1:]))
}
