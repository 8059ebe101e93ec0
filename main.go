// Command bkctl manages BuildKit builder fleets on Kubernetes from a declarative builders.yaml.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/go-logr/logr"
	"github.com/sirupsen/logrus"
	"k8s.io/klog/v2"
)

// cli is the command tree; each command lives in its own cmd_<verb>.go. The kube flags are
// global, as kubectl's: they may stand before or after the command.
type cli struct {
	kubeFlags
	ShowVersion kong.VersionFlag `name:"version" help:"Print the bkctl version and exit."`

	Validate   validateCmd   `cmd:"" help:"Check builders files against the schema and the rules buildx and Kubernetes enforce."`
	Render     renderCmd     `cmd:"" help:"Print the Kubernetes objects a builders file describes."`
	Plan       planCmd       `cmd:"" help:"Show what apply would change in the cluster (server-side dry-run)."`
	Apply      applyCmd      `cmd:"" help:"Apply a builders file: create, update, prune, wait until ready."`
	Delete     deleteCmd     `cmd:"" help:"Delete everything a builders file's inventory holds."`
	Run        runCmd        `cmd:"" aliases:"build" help:"Build on a builder's pods, like docker buildx build (alias: build)."`
	Bake       bakeCmd       `cmd:"" help:"Build the targets of a bake file, like docker buildx bake, spread over a builder's pods."`
	Ls         lsCmd         `cmd:"" help:"List builders, their nodes and pods, with the platforms and versions their daemons report."`
	Status     statusCmd     `cmd:"" help:"Show a builder's pods: readiness, restarts, age, cache size and last build."`
	Import     importCmd     `cmd:"" help:"Print the builders.yaml of existing docker buildx kubernetes builders."`
	Buildx     buildxCmd     `cmd:"" help:"Interoperate with docker buildx: write builders as buildx instances."`
	Schema     schemaCmd     `cmd:"" help:"Print the JSON Schema of builders.yaml, for editors."`
	Version    versionCmd    `cmd:"" help:"Print the bkctl version."`
	Completion completionCmd `cmd:"" help:"Print a shell completion script."`
	Help       helpCmd       `cmd:"" help:"Show help for bkctl or one of its commands."`
}

// streams are the process's standard streams, bound into every command's Run.
type streams struct {
	In       io.Reader
	Out, Err io.Writer
}

func main() {
	// client-go logs through klog (e.g. when an exec stream is cancelled) and BuildKit's client
	// through logrus; bkctl reports errors itself, so library logs would only be noise on stderr.
	klog.SetLogger(logr.Discard())
	logrus.SetOutput(io.Discard)
	// The first SIGINT or SIGTERM cancels ctx: the command stops at its next request and says
	// what it had done. A second one ends the process at once, as if bkctl did not handle it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}

// exitCode ends a command with a given code; a nil err means the command already reported why.
type exitCode struct {
	code int
	err  error
}

func (e *exitCode) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitCode) Unwrap() error { return e.err }

// errReported exits 1 after a command has printed its own diagnostics.
var errReported = &exitCode{code: 1}

// run parses args, runs the command and returns the process exit code: 0 success, 1 error,
// 2 changes pending (plan --exit-code). Usage errors exit 1.
func run(ctx context.Context, args []string, s streams) (code int) {
	exited := false
	var c cli
	parser, err := kong.New(&c,
		kong.Name("bkctl"),
		kong.Description("Manage BuildKit builder fleets on Kubernetes from a declarative builders.yaml."),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: true}),
		kong.Writers(s.Out, s.Err),
		kong.Exit(func(c int) { exited, code = true, c; panic(exitPanic{}) }),
		kong.Bind(s, &c.kubeFlags),
		kong.Vars{"version": "bkctl " + versionInfo().Version},
		kong.BindTo(ctx, (*context.Context)(nil)),
	)
	if err != nil {
		fmt.Fprintf(s.Err, "Error: %v\n", err)
		return 1
	}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(exitPanic); !ok || !exited {
				panic(r)
			}
		}
	}()
	answerCompletion(parser)
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(s.Err, "Error: %v\n", err)
		cmd := "bkctl"
		if pe := (*kong.ParseError)(nil); errors.As(err, &pe) && pe.Context != nil && pe.Context.Selected() != nil {
			cmd = pe.Context.Selected().FullPath()
		}
		fmt.Fprintf(s.Err, "Run '%s --help' for usage.\n", cmd)
		return 1
	}
	if err := kctx.Run(); err != nil {
		var ec *exitCode
		if errors.As(err, &ec) {
			if ec.err != nil {
				fmt.Fprintf(s.Err, "Error: %v\n", ec.err)
			}
			return ec.code
		}
		fmt.Fprintf(s.Err, "Error: %v\n", err)
		return 1
	}
	return 0
}

// exitPanic unwinds out of kong when it asks to exit (after --help), without calling os.Exit.
type exitPanic struct{}

// printf writes progress or diagnostics to stderr; a failed write there has nowhere to go.
func (s streams) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(s.Err, format, args...)
}
