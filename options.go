package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bkctl/bkctl/internal/apply"
	"github.com/bkctl/bkctl/internal/spec"
)

// This file is the one home of the flag groups that commands share, as ko keeps them in
// pkg/commands/options and kubectl in genericclioptions: the builders files (fileFlags), the
// cluster (kubeFlags, global like kubectl's) and the output format (outputFlag).

// DefaultBuildersFile is what every command reads when no file is given.
const DefaultBuildersFile = "builders.yaml"

// fileFlags are the builders files a command acts on. Like kubectl's -f, each may be a file, a
// directory (its *.yaml, *.yml and *.json files, not recursive) or - for stdin; files may also
// be given as arguments. Together they form one fleet: the files that share a metadata.name
// make one inventory.
type fileFlags struct {
	Filenames      []string              `short:"f" name:"filename" placeholder:"FILE" help:"Builders file, directory of them, or - for stdin (repeatable; default ./builders.yaml)."`
	Args           []string              `arg:"" optional:"" name:"file" help:"More builders files or directories."`
	LoadRestrictor spec.LoadRestrictions `name:"load-restrictor" default:"LoadRestrictionsRootOnly" predictor:"load-restrictor" placeholder:"LoadRestrictionsRootOnly|LoadRestrictionsNone" help:"Files a builders file may read (buildkitd.configFile): only inside its own directory tree (LoadRestrictionsRootOnly), or anywhere (LoadRestrictionsNone), as kustomize."`
}

// options are the load options the flags choose.
func (f fileFlags) options() spec.Options {
	o := spec.DefaultOptions()
	if f.LoadRestrictor != "" {
		o.LoadRestrictions = f.LoadRestrictor
	}
	return o
}

// paths returns the files named by the flags and arguments, directories expanded in name
// order, each file once, or the default file when none is named.
func (f fileFlags) paths() ([]string, error) {
	named := slices.Concat(f.Filenames, f.Args)
	if len(named) == 0 {
		return []string{DefaultBuildersFile}, nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[filepath.Clean(p)] { // a file named twice is still one file of the fleet
			seen[filepath.Clean(p)] = true
			out = append(out, p)
		}
	}
	for _, p := range named {
		if p == "-" {
			add(p)
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("read builders file: %w", err)
		}
		if !fi.IsDir() {
			add(p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("read builders directory: %w", err)
		}
		n := len(out)
		for _, e := range entries {
			switch filepath.Ext(e.Name()) {
			case ".yaml", ".yml", ".json":
				if e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0 {
					add(filepath.Join(p, e.Name()))
				}
			}
		}
		if len(out) == n {
			return nil, fmt.Errorf("read builders directory %s: no *.yaml, *.yml or *.json file in it", p)
		}
	}
	return out, nil
}

// load loads and validates every file, prints every problem of every file (not only the
// first file's), and gathers them into a fleet: one spec.File per inventory.
func (f fileFlags) load(s streams) ([]*spec.File, error) {
	paths, err := f.paths()
	if err != nil {
		return nil, usageErr(err)
	}
	var files []*spec.File
	failed := false
	for _, p := range paths {
		file, err := loadFile(p, f.options(), s)
		switch {
		case errors.Is(err, errReported):
			failed = true
		case err != nil && len(paths) == 1 && len(f.Filenames)+len(f.Args) == 0 && errors.Is(err, fs.ErrNotExist):
			return nil, &exitCode{code: 1, err: fmt.Errorf("%w (hint: name the builders file with -f FILE)", err)}
		case err != nil:
			return nil, err
		default:
			files = append(files, file)
		}
	}
	if failed {
		return nil, errReported
	}
	fleet, diags := spec.Fleet(files)
	if len(diags) > 0 {
		for _, d := range diags {
			s.printf("%s\n", d)
		}
		return nil, errReported
	}
	return fleet, nil
}

// loadOne is load for the commands that act on one inventory (run, ls, status).
func (f fileFlags) loadOne(s streams) (*spec.File, error) {
	fleet, err := f.load(s)
	if err != nil {
		return nil, err
	}
	if len(fleet) > 1 {
		names := make([]string, 0, len(fleet))
		for _, x := range fleet {
			names = append(names, x.Metadata.Name)
		}
		return nil, usageErr(fmt.Errorf("the files hold %d inventories (%s); this command takes the builders of one", len(fleet), strings.Join(names, ", ")))
	}
	return fleet[0], nil
}

// loadFile loads and validates one builders file: warnings go to stderr, and an invalid file
// prints its diagnostics and returns errReported.
func loadFile(path string, opts spec.Options, s streams) (*spec.File, error) {
	res, err := spec.LoadWith(path, s.In, opts)
	var se *spec.Error
	if errors.As(err, &se) {
		for _, d := range se.Diagnostics {
			s.printf("%s\n", d)
		}
	}
	for _, w := range res.Warnings {
		s.printf("%s\n", w)
	}
	if se != nil {
		return nil, errReported
	}
	if err != nil {
		return nil, &exitCode{code: 1, err: err}
	}
	return res.File, nil
}

// kubeFlags select the cluster as kubectl does: they are global, so they may stand before or
// after the command, and they go through cli-runtime's ConfigFlags, so their loading rules,
// precedence and value syntax are kubectl's.
type kubeFlags struct {
	Kubeconfig     string   `name:"kubeconfig" placeholder:"FILE" help:"Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)."`
	Context        string   `name:"context" placeholder:"NAME" predictor:"context" help:"The kubeconfig context to use."`
	Namespace      string   `short:"n" name:"namespace" placeholder:"NS" predictor:"namespace" help:"Namespace: the default of files that set no metadata.namespace, and where ls and status look (default: the context's namespace)."`
	As             string   `name:"as" placeholder:"USER" help:"Username to impersonate for the operation."`
	AsGroup        []string `name:"as-group" placeholder:"GROUP" help:"Group to impersonate for the operation (repeatable)."`
	RequestTimeout string   `name:"request-timeout" default:"30s" placeholder:"DURATION" help:"How long to wait for one API request before giving up (kubectl's syntax: 30s, 2m, or seconds; 0 means no limit). Waits for rollouts use watches, not this."`
}

// configFlags returns the flags as cli-runtime's ConfigFlags.
func (k *kubeFlags) configFlags() *genericclioptions.ConfigFlags {
	cf := genericclioptions.NewConfigFlags(false)
	*cf.KubeConfig, *cf.Context, *cf.Namespace, *cf.Impersonate = k.Kubeconfig, k.Context, k.Namespace, k.As
	groups := slices.Clone(k.AsGroup)
	cf.ImpersonateGroup = &groups
	*cf.Timeout = k.RequestTimeout
	return cf
}

// Client-side rate limits: kubectl's defaults (5 QPS) would throttle a plan of a hundred
// dry-runs to seconds; the API server's own priority and fairness protects it.
const (
	defaultQPS   = 200
	defaultBurst = 400
)

// restConfig is the one place that builds the client configuration of every command.
func (k *kubeFlags) restConfig() (*rest.Config, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	cfg, err := k.configFlags().ToRESTConfig()
	if err != nil {
		return nil, &exitCode{code: 1, err: k.configErr(err)}
	}
	cfg.QPS, cfg.Burst = defaultQPS, defaultBurst
	if testWrapTransport != nil {
		cfg.Wrap(testWrapTransport)
	}
	return cfg, nil
}

// namespace returns -n, else the context's namespace ("default" when it names none), and
// whether -n was given.
func (k *kubeFlags) namespace() (string, bool, error) {
	if k.Namespace != "" {
		return k.Namespace, true, nil
	}
	ns, _, err := k.configFlags().ToRawKubeConfigLoader().Namespace()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return "default", false, nil
		}
		return "", false, &exitCode{code: 1, err: k.configErr(err)}
	}
	return ns, false, nil
}

// check refuses flag values that would only fail later, less clearly.
func (k *kubeFlags) check() error {
	if _, err := parseRequestTimeout(k.RequestTimeout); err != nil {
		return usageErr(err)
	}
	if k.Kubeconfig != "" {
		if _, err := os.Stat(k.Kubeconfig); err != nil {
			return &exitCode{code: 1, err: fmt.Errorf("load kubeconfig: %w", err)}
		}
	}
	return nil
}

// configErr words the kubeconfig errors a user meets most, with what to do about them.
func (k *kubeFlags) configErr(err error) error {
	switch {
	case k.Context != "" && (clientcmd.IsContextNotFound(err) || strings.Contains(err.Error(), fmt.Sprintf("context %q", k.Context))):
		return fmt.Errorf("load kubeconfig: context %q not found (hint: kubectl config get-contexts)", k.Context)
	case clientcmd.IsEmptyConfig(err):
		return errors.New("load kubeconfig: no cluster configured (hint: set KUBECONFIG or pass --kubeconfig)")
	}
	return fmt.Errorf("load kubeconfig: %w", err)
}

// parseRequestTimeout reads kubectl's --request-timeout syntax: a duration, or an integer of
// seconds; 0 means no limit.
func parseRequestTimeout(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		var secs int64
		if _, serr := fmt.Sscanf(v, "%d", &secs); serr != nil || fmt.Sprint(secs) != v {
			return 0, fmt.Errorf("--request-timeout %q: want a duration such as 30s or 2m, or whole seconds; 0 means no limit", v)
		}
		d = time.Duration(secs) * time.Second
	}
	if d < 0 {
		return 0, fmt.Errorf("--request-timeout %q: must not be negative", v)
	}
	return d, nil
}

// testWrapTransport lets tests of package main count the requests a command sends.
var testWrapTransport func(http.RoundTripper) http.RoundTripper

// outputFlag is -o of the commands that print a result: text for people, json and yaml for
// machines (each document carries apiVersion and kind; see output.go).
type outputFlag struct {
	Output string `short:"o" enum:"text,json,yaml" default:"text" help:"Output format: text, json or yaml."`
}

// usageErr is an error in how the command was called: exit 1, as every error (2 means changes
// pending).
func usageErr(err error) error { return &exitCode{code: 1, err: err} }

// clusterErr words an error of a request to the cluster at host as every command does (see
// apply.Explain).
func clusterErr(err error, host string) error { return apply.Explain(err, host, false) }
