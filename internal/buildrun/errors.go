package buildrun

import (
	"errors"
	"fmt"
)

// ErrNoDaemon reports that a node has no daemon ready to take a build.
var ErrNoDaemon = errors.New("no ready builder pod")

// ConnectionLostError reports that the connection to a daemon broke during a build while its
// pod stayed: the daemon crashed or restarted, or the exec session or the network between
// broke.
type ConnectionLostError struct {
	// Daemon names the daemon, e.g. Pod/namespace/name.
	Daemon string
	Err    error
}

func (e *ConnectionLostError) Error() string {
	return fmt.Sprintf("lost the connection to buildkitd (%v)", e.Err)
}

func (e *ConnectionLostError) Unwrap() error { return e.Err }
