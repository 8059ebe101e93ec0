package main

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/bkctl/bkctl/internal/buildxstore"
	"github.com/bkctl/bkctl/internal/spec"
)

type buildxCmd struct {
	Write buildxWriteCmd `cmd:"" help:"Write builders as docker buildx builder instances, so buildx uses bkctl's builders."`
}

// buildxConfigFlag is the buildx config dir, resolved as buildx resolves it when not given.
type buildxConfigFlag struct {
	BuildxConfig string `name:"buildx-config" placeholder:"DIR" help:"buildx config dir (default: $BUILDX_CONFIG, else $DOCKER_CONFIG/buildx, else ~/.docker/buildx)."`
}

func (f buildxConfigFlag) dir() (string, error) {
	if f.BuildxConfig != "" {
		return f.BuildxConfig, nil
	}
	return buildxstore.Dir(os.Getenv)
}

type buildxWriteCmd struct {
	fileFlags
	Builder string `predictor:"builder" help:"Write only this builder."`
	buildxConfigFlag
	outputFlag
}

func (c *buildxWriteCmd) Help() string {
	return `Writes one buildx builder instance per builder of the file into buildx's config dir,
holding buildx's store lock, the way 'docker buildx create --driver kubernetes' would record
it: the kubernetes driver, a node per bkctl node (same name, so buildx uses the Deployment or
StatefulSet bkctl renders), its platforms, driver-opts (namespace, image, replicas, resources,
storage, tolerations, ...), buildkitd flags and buildkitd.toml. Nothing is sent to a cluster;
'docker buildx ls', 'docker buildx build --builder NAME' then use the builder bkctl applies.
Writing the same file again changes nothing. Each node's endpoint records --kubeconfig, else
$KUBECONFIG, as buildx create records $KUBECONFIG (neither: buildx's default rules when it runs).

Do not remove such a builder with 'docker buildx rm NAME': buildx's kubernetes driver then
deletes the Deployments, StatefulSets and ConfigMaps bkctl manages. Use
'docker buildx rm --keep-daemon NAME', which removes only the instance.

Examples:
  bkctl buildx write -f builders.yaml
  bkctl buildx write -f builders.yaml --builder kube -o json
  BUILDX_CONFIG=/tmp/bx bkctl buildx write -f builders.yaml && BUILDX_CONFIG=/tmp/bx docker buildx ls`
}

func (c *buildxWriteCmd) Run(ctx context.Context, s streams, kube *kubeFlags) error {
	invs, err := loadInventories(c.fileFlags, kube, s)
	if err != nil {
		return err
	}
	dir, err := c.dir()
	if err != nil {
		return &exitCode{code: 1, err: err}
	}
	kubeconfig := kube.Kubeconfig
	if kubeconfig == "" {
		kubeconfig = os.Getenv("KUBECONFIG")
	}
	var written []buildxstore.Written
	for _, inv := range invs {
		if len(invs) > 1 && c.Builder != "" && !slices.ContainsFunc(inv.file.Builders, func(b spec.Builder) bool { return b.Name == c.Builder }) {
			continue
		}
		w, err := writeBuildx(ctx, s, inv.file, dir, c.Builder, kubeconfig)
		if err != nil {
			return err
		}
		written = append(written, w...)
	}
	if c.Builder != "" && len(written) == 0 {
		return usageErr(fmt.Errorf("builder %q is in none of the files", c.Builder))
	}
	if c.Output != "text" {
		return writeDoc(s, c.Output, "BuildxWriteResult", struct {
			Dir      string                `json:"dir"`
			Builders []buildxstore.Written `json:"builders"`
		}{dir, written})
	}
	for _, w := range written {
		if _, err := fmt.Fprintln(s.Out, writtenLine(w)); err != nil {
			return err
		}
	}
	return nil
}

func writtenLine(w buildxstore.Written) string {
	return fmt.Sprintf("%s: %s %s (%s)", w.Builder, w.Action, w.Path, plural(len(w.Nodes), "node"))
}

// writeBuildx writes the file's builders (or only the named one) as buildx instances into dir,
// printing the notes on what buildx cannot express to stderr.
func writeBuildx(ctx context.Context, s streams, f *spec.File, dir, builder, kubeconfig string) ([]buildxstore.Written, error) {
	opts := buildxstore.DefaultWriteOptions()
	opts.Builder = builder
	opts.Kubeconfig = kubeconfig
	written, err := buildxstore.WriteBuilders(ctx, dir, f, opts)
	for _, w := range written {
		for _, n := range w.Notes {
			s.printf("note: %s\n", n)
		}
	}
	if err != nil {
		return written, &exitCode{code: 1, err: err}
	}
	return written, nil
}
