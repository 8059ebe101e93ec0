package main

import (
	"fmt"

	"github.com/alecthomas/kong"
)

// dryRunFlag is kubectl's --dry-run: none (the default: do it), client (print the objects that
// would be sent, without a cluster) or server (ask the cluster what would change: a plan). A
// bare --dry-run means server, as bkctl's --dry-run always did.
type dryRunFlag string

// Dry-run strategies, kubectl's names.
const (
	dryRunNone   dryRunFlag = "none"
	dryRunClient dryRunFlag = "client"
	dryRunServer dryRunFlag = "server"
)

// Decode takes the value after = when there is one, else server.
func (d *dryRunFlag) Decode(ctx *kong.DecodeContext) error {
	v := string(dryRunServer)
	if t := ctx.Scan.Peek(); t.Type == kong.FlagValueToken {
		ctx.Scan.Pop()
		v = t.String()
	}
	switch dryRunFlag(v) {
	case dryRunNone, dryRunClient, dryRunServer:
		*d = dryRunFlag(v)
		return nil
	case "true":
		*d = dryRunServer
		return nil
	case "false":
		*d = dryRunNone
		return nil
	}
	return fmt.Errorf("--dry-run=%s: want none, client or server", v)
}

// IsBool lets --dry-run stand without a value.
func (d *dryRunFlag) IsBool() bool { return true }
