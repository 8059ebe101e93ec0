package main

import (
	"context"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/posener/complete"
	"github.com/willabides/kongplete"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/bkctl/bkctl/internal/spec"
)

// The predictors below complete the values of bkctl's flags and arguments when a shell asks
// (the completion scripts set COMP_LINE; answerCompletion answers and exits before any
// command is parsed). A shell waits for the answer and shows whatever it prints, so each predictor
// reads only local files, asks the cluster for at most clusterTimeout, prints nothing itself,
// and gives up with no candidates on any error, panic or after predictTimeout.

const (
	// clusterTimeout bounds the one request completion sends (the namespace list).
	clusterTimeout = time.Second
	// predictTimeout bounds a predictor as a whole, whatever it waits for.
	predictTimeout = 1500 * time.Millisecond
)

// answerCompletion answers a shell that asks for completions (COMP_LINE is set) with one
// candidate a line on parser's stdout, and exits through parser. Otherwise it returns at once,
// so a command's start-up does not pay for the completion tree.
//
// It is kongplete.Complete plus the command aliases (build for run), which kongplete leaves out.
func answerCompletion(parser *kong.Kong) {
	if os.Getenv("COMP_LINE") == "" {
		return
	}
	c := completer{parser: parser}
	cmd, err := kongplete.Command(parser,
		kongplete.WithPredictor("builder", guard(c.builders)),
		kongplete.WithPredictor("context", guard(c.contexts)),
		kongplete.WithPredictor("namespace", guard(c.namespaces)),
		kongplete.WithPredictor("platform", guard(c.platforms)),
		kongplete.WithPredictor("load-restrictor", complete.PredictSet(spec.LoadRestrictorValues...)),
	)
	if err != nil {
		parser.Exit(1) // a predictor tag without a predictor; TestCompletionCandidates finds it
		return
	}
	addAliases(parser.Model.Node, cmd)
	answer := complete.New(parser.Model.Name, cmd)
	answer.Out = parser.Stdout
	answer.Complete()
	parser.Exit(0)
}

// addAliases makes each alias of a command complete as the command does.
func addAliases(node *kong.Node, cmd complete.Command) {
	for _, child := range node.Children {
		sub, ok := cmd.Sub[child.Name]
		if !ok {
			continue
		}
		addAliases(child, sub)
		for _, alias := range child.Aliases {
			if _, taken := cmd.Sub[alias]; !taken {
				cmd.Sub[alias] = sub
			}
		}
	}
}

// guard runs a predictor so that it can neither hang the shell nor print into it: a panic or
// a predictor slower than predictTimeout gives no candidates.
func guard(predict func(current string) []string) complete.Predictor {
	return complete.PredictFunc(func(a complete.Args) []string {
		ch := make(chan []string, 1)
		go func() {
			defer func() {
				if recover() != nil {
					ch <- nil
				}
			}()
			ch <- predict(a.Last)
		}()
		select {
		case out := <-ch:
			return out
		case <-time.After(predictTimeout):
			return nil
		}
	})
}

// completer reads what the command line typed so far says: which files, which builder, which
// kubeconfig and context.
type completer struct {
	parser *kong.Kong
}

// typed is what the completed words of the command line set.
type typed struct {
	files      []string // builders files: -f/--filename, positional files, run's --builders-file
	restrictor string   // --load-restrictor
	builder    string   // --builder
	kube       kubeFlags
}

// line traces the words typed before the one being completed through bkctl's own grammar, so
// flags are read exactly as a run would read them (before or after the command, -fX, --f=X,
// aliases). The trace stops at the first word it cannot parse; what came before still counts.
func (c completer) line() typed {
	var t typed
	kctx, err := kong.Trace(c.parser, completedWords(os.Getenv("COMP_LINE"), os.Getenv("COMP_POINT")))
	if err != nil || kctx == nil {
		return t
	}
	values := map[string]reflect.Value{} // by flag name; a repeated flag holds all its values
	for _, p := range kctx.Path {
		switch {
		case p.Flag != nil:
			values[p.Flag.Name] = kctx.Value(p)
		case p.Positional != nil && p.Positional.Name == "file":
			values["arg:file"] = kctx.Value(p) // run's --file is the Dockerfile
		}
	}
	str := func(name string) string {
		if v, ok := values[name]; ok && v.Kind() == reflect.String {
			return v.String()
		}
		return ""
	}
	strs := func(name string) []string {
		if v, ok := values[name]; ok && v.Kind() == reflect.Slice {
			if s, ok := v.Interface().([]string); ok {
				return s
			}
		}
		return nil
	}
	t.files = slices.Concat(strs("filename"), strs("arg:file"), strs("builders-file"))
	t.restrictor = str("load-restrictor")
	t.builder = str("builder")
	t.kube = kubeFlags{Kubeconfig: str("kubeconfig"), Context: str("context"), Namespace: str("namespace"), As: str("as"), AsGroup: strs("as-group")}
	return t
}

// completedWords returns the arguments before the word being completed: the words of line up
// to point (bytes; the whole line when point is missing, as the completion protocol has it),
// without the command name and without the last word unless a space ends it.
func completedWords(line, point string) []string {
	if p, err := strconv.Atoi(point); err == nil && p >= 0 && p < len(line) {
		line = line[:p]
	}
	words := strings.Fields(line)
	if len(words) > 0 && !strings.HasSuffix(line, " ") && !strings.HasSuffix(line, "\t") {
		words = words[:len(words)-1]
	}
	if len(words) < 2 {
		return nil
	}
	return words[1:]
}

// specFiles loads the builders files the line names, else ./builders.yaml. A file that does not
// load is left out; stdin (-) is never read.
func (t typed) specFiles() []*spec.File {
	names := t.files
	if len(names) == 0 {
		names = []string{DefaultBuildersFile}
	}
	var out []*spec.File
	for _, name := range names {
		if name == "-" {
			continue
		}
		ff := fileFlags{Filenames: []string{name}, LoadRestrictor: spec.LoadRestrictions(t.restrictor)}
		paths, err := ff.paths()
		if err != nil {
			continue
		}
		for _, p := range paths {
			if res, err := spec.LoadWith(p, nil, ff.options()); err == nil && res.File != nil {
				out = append(out, res.File)
			}
		}
	}
	return out
}

// builders completes builder names from the builders files.
func (c completer) builders(string) []string {
	var names []string
	for _, f := range c.line().specFiles() {
		for _, b := range f.Builders {
			names = append(names, b.Name)
		}
	}
	return sortedSet(names)
}

// platforms completes --platform from the platforms the nodes of the chosen builder declare
// (of every builder in the files when none is chosen). The flag takes a comma-separated list:
// the part before the last comma is kept, and a platform already in it is not offered again.
func (c completer) platforms(current string) []string {
	t := c.line()
	var all []string
	for _, f := range t.specFiles() {
		for _, b := range f.Builders {
			if t.builder != "" && b.Name != t.builder {
				continue
			}
			for _, n := range b.Nodes {
				all = append(all, n.Platforms...)
			}
		}
	}
	head := ""
	if i := strings.LastIndex(current, ","); i >= 0 {
		head = current[:i+1]
	}
	chosen := strings.Split(strings.TrimSuffix(head, ","), ",")
	var out []string
	for _, p := range sortedSet(all) {
		if !slices.Contains(chosen, p) {
			out = append(out, head+p)
		}
	}
	return out
}

// contexts completes --context from the kubeconfig that --kubeconfig on the line, else
// $KUBECONFIG, else ~/.kube/config names (kubectl's loading rules).
func (c completer) contexts(string) []string {
	t := c.line()
	t.kube.Context = "" // the context being completed selects nothing yet
	raw, err := t.kube.configFlags().ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(raw.Contexts))
	for name := range raw.Contexts {
		names = append(names, name)
	}
	return sortedSet(names)
}

// namespaces completes -n from the cluster of the line's kubeconfig and context; when it does
// not answer within clusterTimeout, from the namespaces the builders files and the kubeconfig
// contexts name.
func (c completer) namespaces(string) []string {
	t := c.line()
	t.kube.Namespace = ""
	if names, err := clusterNamespaces(t.kube); err == nil {
		return names
	}
	var names []string
	for _, f := range t.specFiles() {
		if !f.Metadata.DefaultNamespace {
			names = append(names, f.Metadata.Namespace)
		}
		for _, b := range f.Builders {
			if !b.DefaultNamespace {
				names = append(names, b.Namespace)
			}
		}
	}
	if raw, err := t.kube.configFlags().ToRawKubeConfigLoader().RawConfig(); err == nil {
		for _, ctx := range raw.Contexts {
			if ctx != nil && ctx.Namespace != "" {
				names = append(names, ctx.Namespace)
			}
		}
	}
	return sortedSet(names)
}

// clusterNamespaces lists the cluster's namespaces in at most clusterTimeout. A kubeconfig
// credential plugin may not prompt: the shell owns the terminal (the scripts send stderr to
// /dev/null, so what a plugin prints is not seen).
func clusterNamespaces(k kubeFlags) ([]string, error) {
	k.RequestTimeout = clusterTimeout.String()
	cfg, err := k.configFlags().ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg.Timeout = clusterTimeout
	if cfg.ExecProvider != nil {
		cfg.ExecProvider.InteractiveMode = clientcmdapi.NeverExecInteractiveMode
		cfg.ExecProvider.StdinUnavailable = true
	}
	client, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	list, err := client.Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list.Items))
	for _, ns := range list.Items {
		names = append(names, ns.Name)
	}
	return sortedSet(names), nil
}

// sortedSet returns the non-empty names sorted, each once.
func sortedSet(names []string) []string {
	names = slices.DeleteFunc(slices.Clone(names), func(s string) bool { return s == "" })
	slices.Sort(names)
	return slices.Compact(names)
}
