package buildrun

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/distribution/reference"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/credentials"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/entitlements"
	"github.com/tonistiigi/fsutil"
)

// solveBase is what every node's solve of one build shares.
type solveBase struct {
	attrs     map[string]string
	mounts    map[string]fsutil.FS
	dirs      map[string]string // each mount's directory
	stores    map[string]content.Store
	exports   []client.ExportEntry
	cacheFrom []client.CacheOptionsEntry
	cacheTo   []client.CacheOptionsEntry
	session   []session.Attachable
	// pushNames are the image names to push the merged index to, for a build on several nodes.
	pushNames []string
	insecure  bool
	files     []io.Closer
	temps     []string // directories of a Dockerfile or an empty context from stdin
	allow     []string // entitlements
}

// newSolveBase turns opts into the dockerfile frontend's solve options, the way buildx does.
// With multi (several nodes), a pushed image is pushed by digest and merged afterwards.
func newSolveBase(opts Options, multi bool) (*solveBase, error) {
	b := &solveBase{
		attrs:     map[string]string{},
		mounts:    map[string]fsutil.FS{},
		dirs:      map[string]string{},
		cacheFrom: opts.CacheFrom,
		cacheTo:   opts.CacheTo,
	}
	if err := b.inputs(opts); err != nil {
		b.release()
		return nil, err
	}
	if opts.Target != "" {
		b.attrs["target"] = opts.Target
	}
	if len(opts.NoCacheFilter) > 0 {
		b.attrs["no-cache"] = strings.Join(opts.NoCacheFilter, ",")
	}
	if opts.NoCache {
		b.attrs["no-cache"] = ""
	}
	maps.Copy(b.attrs, opts.Attests)
	b.allow = slices.Clone(opts.Allow)
	if opts.Pull {
		b.attrs["image-resolve-mode"] = pb.AttrImageResolveModeForcePull
	}
	if opts.CgroupParent != "" {
		b.attrs["cgroup-parent"] = opts.CgroupParent
	}
	switch opts.NetworkMode {
	case "host":
		b.attrs["force-network-mode"] = "host"
		b.allow = appendUnique(b.allow, string(entitlements.EntitlementNetworkHost))
	case "none":
		b.attrs["force-network-mode"] = "none"
	}
	if opts.ExtraHosts != "" {
		b.attrs["add-hosts"] = opts.ExtraHosts
	}
	if opts.ShmSize > 0 {
		b.attrs["shm-size"] = strconv.FormatInt(opts.ShmSize, 10)
	}
	if opts.Ulimits != "" {
		b.attrs["ulimit"] = opts.Ulimits
	}
	maps.Copy(b.attrs, opts.Resources.Attrs())
	for k, v := range opts.BuildArgs {
		b.attrs["build-arg:"+k] = v
	}
	for k, v := range opts.Labels {
		b.attrs["label:"+k] = v
	}
	if multi {
		b.attrs["multi-platform"] = "true" // every node returns an index, merged afterwards
	}
	if err := b.namedContexts(opts.NamedContexts); err != nil {
		return nil, err
	}
	if err := b.outputs(opts, multi); err != nil {
		b.release()
		return nil, err
	}
	auth, err := dockerAuth(opts.DockerConfigDir)
	if err != nil {
		b.release()
		return nil, err
	}
	b.session = append(append([]session.Attachable{auth}, b.session...), opts.Session...)
	return b, nil
}

// dockerAuth serves registry credentials from the docker config in dir ("" is the docker CLI's
// default) to the daemons. They answer a daemon's request for one registry host over the
// session, when the registry asks the daemon for them; nothing here writes them anywhere.
func dockerAuth(dir string) (session.Attachable, error) {
	cf, err := config.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("read the docker config for registry credentials: %w", err)
	}
	if !cf.ContainsAuth() {
		cf.CredentialsStore = credentials.DetectDefaultStore(cf.CredentialsStore)
	}
	return authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(cf),
	}), nil
}

// namedContexts adds --build-context values: OCI layouts as content stores, directories as
// local mounts, anything else (docker-image://, URLs) as is.
func (b *solveBase) namedContexts(contexts map[string]string) error {
	if len(contexts) > 0 {
		// as buildx: a frontend that the Dockerfile's syntax line names gets the contexts too
		b.attrs["frontend.caps"] = "moby.buildkit.frontend.contexts+forward"
	}
	for name, v := range contexts {
		switch {
		case strings.HasPrefix(v, "oci-layout://"):
			path, dgst, ok := strings.Cut(strings.TrimPrefix(v, "oci-layout://"), "@")
			if !ok || dgst == "" {
				return fmt.Errorf("build context %s=%s: the OCI layout needs a digest (hint: oci-layout://PATH@sha256:… from its index.json)", name, v)
			}
			tag := ""
			if dir, base := filepath.Split(path); strings.Contains(base, ":") {
				base, tag, _ = strings.Cut(base, ":")
				path = filepath.Join(dir, base)
			}
			store, err := local.NewStore(path)
			if err != nil {
				return fmt.Errorf("build context %s: open OCI layout %s: %w", name, path, err)
			}
			if b.stores == nil {
				b.stores = map[string]content.Store{}
			}
			storeName := "ctx-" + name
			b.stores[storeName] = store
			ref := "oci-layout://" + storeName
			if tag != "" {
				ref += ":" + tag
			}
			b.attrs["context:"+name] = ref + "@" + dgst
		case strings.Contains(v, "://") || strings.HasPrefix(v, "git@"):
			b.attrs["context:"+name] = v
		default:
			st, err := os.Stat(v)
			if err != nil || !st.IsDir() {
				return fmt.Errorf("build context %s=%s: not a directory", name, v)
			}
			local := name
			if name == "context" || name == "dockerfile" {
				local = "_" + name
			}
			if err := b.mount(local, v); err != nil {
				return fmt.Errorf("build context %s: %w", name, err)
			}
			b.attrs["context:"+name] = "local:" + local
		}
	}
	return nil
}

// outputs turns the outputs into exports; files are opened here and closed by release.
func (b *solveBase) outputs(opts Options, multi bool) error {
	var tags []string
	for _, t := range opts.Tags {
		ref, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return fmt.Errorf("parse tag %q: %w", t, err)
		}
		tags = append(tags, reference.TagNameOnly(ref).String())
	}
	if opts.CallFunc != nil {
		return nil // a subrequest exports nothing
	}
	for _, o := range opts.Outputs {
		if o.Type == TypeCacheOnly {
			continue // buildx's stand-in for "no output, and no warning about it"
		}
		e := client.ExportEntry{Type: o.Type, Attrs: maps.Clone(o.Attrs)}
		for k, v := range opts.Annotations {
			e.Attrs[k.String()] = v
		}
		dest := e.Attrs["dest"]
		delete(e.Attrs, "dest")
		switch o.Type {
		case client.ExporterImage, client.ExporterOCI:
			if e.Attrs["name"] == "" && len(tags) > 0 {
				e.Attrs["name"] = strings.Join(tags, ",")
			}
		}
		push := o.Type == client.ExporterImage && boolAttr(e.Attrs, "push")
		if push && e.Attrs["name"] == "" {
			return fmt.Errorf("push: the image needs a name (hint: add -t NAME)")
		}
		if multi {
			switch o.Type {
			case client.ExporterOCI, client.ExporterTar, client.ExporterLocal:
				return fmt.Errorf("output type=%s: not supported when the platforms build on several nodes (hint: push with --push, or build one node's platforms per run)", o.Type)
			}
			if push && b.pushNames == nil {
				b.pushNames = strings.Split(e.Attrs["name"], ",")
				b.insecure = boolAttr(e.Attrs, "registry.insecure")
				repos, err := repoOnly(b.pushNames)
				if err != nil {
					return err
				}
				e.Attrs["name"] = repos
				e.Attrs["push-by-digest"] = "true"
			}
		}
		switch {
		case o.Type == client.ExporterLocal:
			e.OutputDir = dest
		case o.Type == client.ExporterTar || (o.Type == client.ExporterOCI && e.Attrs["tar"] != "false"):
			w, err := b.outputFile(dest, opts.Stdout)
			if err != nil {
				return err
			}
			e.Output = func(map[string]string) (io.WriteCloser, error) { return w, nil }
		case o.Type == client.ExporterOCI:
			if dest == "" {
				return fmt.Errorf("output type=oci,tar=false needs dest=DIR")
			}
			e.OutputDir = dest
		}
		b.exports = append(b.exports, e)
	}
	return nil
}

func (b *solveBase) outputFile(dest string, stdout io.Writer) (io.WriteCloser, error) {
	if dest == "" || dest == "-" {
		return nopCloser{stdout}, nil
	}
	f, err := os.Create(dest)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	b.files = append(b.files, f)
	return nopCloser{f}, nil // closed by release, not by the first attempt
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func repoOnly(names []string) (string, error) {
	var repos []string
	for _, n := range names {
		ref, err := reference.ParseNormalizedNamed(n)
		if err != nil {
			return "", fmt.Errorf("parse image name %q: %w", n, err)
		}
		repos = append(repos, ref.Name())
	}
	return strings.Join(repos, ","), nil
}

// solveOpt returns the solve options of one node's attempt.
func (b *solveBase) solveOpt(platforms []string, ref string) (client.SolveOpt, error) {
	so := client.SolveOpt{
		Ref:                 ref,
		Frontend:            "dockerfile.v0",
		FrontendAttrs:       maps.Clone(b.attrs),
		LocalMounts:         b.mounts,
		OCIStores:           b.stores,
		CacheImports:        b.cacheFrom,
		CacheExports:        b.cacheTo,
		Session:             b.session,
		AllowedEntitlements: slices.Clone(b.allow),
	}
	for _, e := range b.exports {
		e.Attrs = maps.Clone(e.Attrs)
		so.Exports = append(so.Exports, e)
	}
	if len(platforms) > 0 {
		so.FrontendAttrs["platform"] = strings.Join(platforms, ",")
	}
	return so, nil
}

func (b *solveBase) release() {
	for _, f := range b.files {
		_ = f.Close()
	}
	b.files = nil
	for _, d := range b.temps {
		_ = os.RemoveAll(d)
	}
	b.temps = nil
}
