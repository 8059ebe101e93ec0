package buildxstore

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bkctl/bkctl/internal/render"
	"github.com/bkctl/bkctl/internal/spec"
)

// ImportOptions selects the instances Import converts and names the file it writes.
type ImportOptions struct {
	// Builder limits the import to the instance of this name; empty imports every instance of
	// the kubernetes driver.
	Builder string
	// Name is metadata.name, the inventory the file will own.
	Name string
	// Namespace is metadata.namespace, and the namespace of a node that has no namespace
	// driver-opt (buildx would use the kubeconfig context's).
	Namespace string
}

// DefaultImportOptions returns the options of bkctl import without flags.
func DefaultImportOptions() ImportOptions {
	return ImportOptions{Name: "builders", Namespace: "default"}
}

// Import converts buildx instances of the kubernetes driver to a builders.yaml that renders
// the objects buildx creates for them (within bkctl's documented differences). Every driver-opt,
// flag and file must have a builders.yaml field; each one that has none is an error naming it.
// The result passes spec.Parse. Warnings say what was assumed.
func Import(groups []*NodeGroup, opts ImportOptions) (doc *Document, warnings []string, err error) {
	selected, err := selectGroups(groups, opts.Builder)
	if err != nil {
		return nil, nil, err
	}
	doc = &Document{
		APIVersion: spec.APIVersion,
		Kind:       spec.Kind,
		Metadata:   DocMetadata{Name: opts.Name, Namespace: opts.Namespace},
	}
	var errs []error
	for _, ng := range selected {
		b, warns, err := importBuilder(ng, opts.Namespace)
		warnings = append(warnings, warns...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		doc.Builders = append(doc.Builders, b)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, warnings, err
	}
	if err := validateDocument(doc); err != nil {
		return nil, warnings, err
	}
	return doc, warnings, nil
}

func selectGroups(groups []*NodeGroup, name string) ([]*NodeGroup, error) {
	if name != "" {
		for _, ng := range groups {
			if strings.EqualFold(ng.Name, name) {
				if ng.Driver != DriverKubernetes {
					return nil, fmt.Errorf("buildx builder %q uses the %s driver; bkctl imports only %s builders", ng.Name, ng.Driver, DriverKubernetes)
				}
				return []*NodeGroup{ng}, nil
			}
		}
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	var out []*NodeGroup
	for _, ng := range groups {
		if ng.Driver == DriverKubernetes {
			out = append(out, ng)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no builder uses the %s driver", ErrNotFound, DriverKubernetes)
	}
	return out, nil
}

// validateDocument parses the document as bkctl will, so that import never prints a file that
// validate would refuse.
func validateDocument(doc *Document) error {
	data, err := doc.YAML()
	if err != nil {
		return err
	}
	if _, err := spec.Parse("imported builders.yaml", data); err != nil {
		return fmt.Errorf("the imported builders.yaml would be invalid:\n%w", err)
	}
	return nil
}

func importBuilder(ng *NodeGroup, defaultNamespace string) (DocBuilder, []string, error) {
	b := DocBuilder{Name: ng.Name}
	if ng.Dynamic {
		return b, nil, fmt.Errorf("builder %q: dynamic node groups have no builders.yaml form", ng.Name)
	}
	var (
		errs     []error
		warnings []string
		nsOwner  = map[string]string{} // namespace → first node in it
	)
	for _, n := range ng.Nodes {
		dn, ns, nodeErrs := importNode(n)
		for _, err := range nodeErrs {
			errs = append(errs, fmt.Errorf("builder %q node %q: %w", ng.Name, n.Name, err))
		}
		if len(nodeErrs) > 0 {
			continue
		}
		if ns == "" {
			ns = defaultNamespace
			warnings = append(warnings, fmt.Sprintf("builder %q node %q has no namespace driver-opt (buildx uses the kubeconfig context's namespace); assuming %q", ng.Name, n.Name, ns))
		}
		if _, ok := nsOwner[ns]; !ok {
			nsOwner[ns] = n.Name
		}
		b.Nodes = append(b.Nodes, dn)
	}
	if len(nsOwner) > 1 {
		var where []string
		for _, ns := range slices.Sorted(maps.Keys(nsOwner)) {
			where = append(where, fmt.Sprintf("%q (node %q)", ns, nsOwner[ns]))
		}
		errs = append(errs, fmt.Errorf("builder %q: nodes are in namespaces %s; a bkctl builder has one namespace (hint: split it into one builder per namespace)", ng.Name, strings.Join(where, ", ")))
	}
	for ns := range nsOwner {
		if ns != defaultNamespace {
			b.Namespace = ns
		}
	}
	return b, warnings, errors.Join(errs...)
}

// importNode maps one buildx node and returns the namespace its driver-opts name ("" if none),
// and every problem it found.
func importNode(n Node) (DocNode, string, []error) {
	// buildx names the workload after the node, with "_" replaced by "-".
	name := strings.ReplaceAll(n.Name, "_", "-")
	d := DocNode{Name: name}
	var errs []error
	if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("workload name %q is not a valid bkctl node name: %s", name, msgs[0]))
	}
	for _, p := range n.Platforms {
		s, err := formatPlatform(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.Platforms = append(d.Platforms, s)
	}
	ns, optErrs := applyDriverOpts(&d, n.DriverOpts)
	errs = append(errs, optErrs...)
	errs = append(errs, applyFilesAndFlags(&d, n)...)
	return d, ns, errs
}

func formatPlatform(p Platform) (string, error) {
	if p.OSVersion != "" || len(p.OSFeatures) > 0 {
		return "", fmt.Errorf("platform %s/%s has an OS version or features, which builders.yaml platforms cannot express", p.OS, p.Architecture)
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s, nil
}

// applyDriverOpts sets d's fields from buildx driver-opts, read as buildx's kubernetes factory
// reads them, and returns the namespace opt. Errors name the driver-opt.
func applyDriverOpts(d *DocNode, opts map[string]string) (namespace string, errs []error) {
	fail := func(k, format string, args ...any) {
		errs = append(errs, fmt.Errorf("driver-opt %q: "+format, append([]any{k}, args...)...))
	}
	noField := func(k string) {
		errs = append(errs, fmt.Errorf("driver-opt %q has no builders.yaml field", k))
	}
	parseBool := func(k, v string) bool {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fail(k, "invalid boolean %q", v)
		}
		return b
	}
	res := spec.Resources{}
	var storage spec.Storage
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		v := opts[k]
		switch {
		case k == optImage, k == optRootless:
			// resolved below: the image default depends on both
		case k == optNamespace:
			namespace = v
		case k == optReplicas:
			r, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				fail(k, "invalid integer %q", v)
				continue
			}
			if r != spec.DefaultReplicas {
				d.Replicas = new(int32(r))
			}
		case strings.HasPrefix(k, optRequestsPrefix) || strings.HasPrefix(k, optLimitsPrefix):
			kind, name, _ := strings.Cut(k, ".")
			if !slices.Contains(resourceNames, name) {
				noField(k)
				continue
			}
			if v == "" { // buildx skips an empty quantity
				continue
			}
			if kind == "requests" {
				res.Requests = setKey(res.Requests, name, v)
			} else {
				res.Limits = setKey(res.Limits, name, v)
			}
		case k == optPVCStorage:
			if v != "" {
				storage.PersistentVolume = &spec.PersistentVolume{Size: v}
			}
		case k == optRootMemory:
			storage.Memory = v
		case k == optSchedulerName:
			d.SchedulerName = v
		case k == optServiceAccount:
			d.ServiceAccountName = v
		case k == optNodeSelector || k == optAnnotations || k == optLabels:
			m, err := parseMap(v)
			if err != nil {
				fail(k, "%v", err)
				continue
			}
			switch k {
			case optNodeSelector:
				d.NodeSelector = m
			case optAnnotations:
				d.Annotations = m
			default:
				d.Labels = m
			}
		case k == optTolerations:
			ts, err := parseTolerations(v)
			if err != nil {
				fail(k, "%v", err)
				continue
			}
			d.Tolerations = ts
		case k == optLoadbalance:
			switch v {
			case spec.LoadbalanceSticky:
			case spec.LoadbalanceRandom:
				d.Loadbalance = v
			default:
				fail(k, "invalid value %q (want sticky or random)", v)
			}
		case k == optQemuInstall:
			if parseBool(k, v) {
				d.Qemu = qemu(d.Qemu)
				d.Qemu.Install = true
			}
		case k == optQemuImage:
			if v != "" && v != spec.DefaultQemuImage {
				d.Qemu = qemu(d.Qemu)
				d.Qemu.Image = v
			}
		case k == optDefaultLoad:
			d.DefaultLoad = parseBool(k, v)
		case k == optTimeout:
			t, err := time.ParseDuration(v)
			switch {
			case err != nil:
				fail(k, "invalid duration %q", v)
			case t <= 0:
				fail(k, "duration %q must be positive", v)
			case t != spec.DefaultTimeout:
				d.Timeout = formatDuration(t)
			}
		case strings.HasPrefix(k, optEnvPrefix):
			name := strings.TrimPrefix(k, optEnvPrefix)
			if name == "" {
				errs = append(errs, fmt.Errorf("driver-opt %q has no variable name (want env.NAME=value)", k))
				continue
			}
			d.Env = append(d.Env, spec.EnvVar{Name: name, Value: v})
		default:
			noField(k)
		}
	}
	if err := applyImage(d, opts); err != nil {
		errs = append(errs, err)
	}
	if len(res.Requests) > 0 || len(res.Limits) > 0 {
		d.Resources = &res
	}
	if storage.PersistentVolume != nil && storage.Memory != "" {
		errs = append(errs, fmt.Errorf("driver-opts %q and %q: builders.yaml allows one (both would mount at /var/lib/buildkit)", optPVCStorage, optRootMemory))
	}
	if storage != (spec.Storage{}) {
		d.Storage = &storage
	}
	return namespace, errs
}

// applyImage resolves rootless and image as buildx does: rootless switches the default image
// to the rootless one only when the image driver-opt is absent; an empty image keeps the
// default (non-rootless) image. The image is written only when bkctl's default would differ.
func applyImage(d *DocNode, opts map[string]string) error {
	if v, ok := opts[optRootless]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("driver-opt %q: invalid boolean %q", optRootless, v)
		}
		d.Rootless = b
	}
	image, set := opts[optImage]
	switch {
	case set && image == "":
		image = spec.DefaultImage
	case !set && d.Rootless:
		image = spec.DefaultRootlessImage
	case !set:
		image = spec.DefaultImage
	}
	bkctlDefault := spec.DefaultImage
	if d.Rootless {
		bkctlDefault = spec.DefaultRootlessImage
	}
	if image != bkctlDefault {
		d.Image = image
	}
	return nil
}

// applyFilesAndFlags maps the buildkitd.toml and the stored flags. buildx stores the flags it
// computed, including the network.host entitlement it adds; bkctl adds it by the same rule, so
// import leaves it out when bkctl would add it back.
func applyFilesAndFlags(d *DocNode, n Node) []error {
	var errs []error
	var cfg string
	for _, name := range slices.Sorted(maps.Keys(n.Files)) {
		if name != ConfigFileName {
			errs = append(errs, fmt.Errorf("file %q has no builders.yaml field (only %s is; hint: mount it with podTemplate from a Secret or ConfigMap, and point buildkitd.config at that path)", name, ConfigFileName))
			continue
		}
		cfg = string(n.Files[name])
	}
	flags := slices.Clone(n.BuildkitdFlags)
	if k := len(flags); k > 0 && flags[k-1] == render.DefaultEntitlementArg {
		if want, err := render.BuildkitdFlags(spec.Buildkitd{Flags: flags[:k-1], Config: cfg}); err == nil && slices.Equal(want, n.BuildkitdFlags) {
			flags = flags[: k-1 : k-1]
		}
	}
	got, err := render.BuildkitdFlags(spec.Buildkitd{Flags: flags, Config: cfg})
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("file %q: %w", ConfigFileName, err))
	case !slices.Equal(got, n.BuildkitdFlags) && !(len(got) == 0 && len(n.BuildkitdFlags) == 0):
		errs = append(errs, fmt.Errorf("flags %q: bkctl would run buildkitd with %q, it adds %s when no entitlement is granted (hint: grant one in the flags or in the buildkitd.toml)", n.BuildkitdFlags, got, render.DefaultEntitlementArg))
	}
	if len(flags) == 0 {
		flags = nil
	}
	if flags != nil || cfg != "" {
		d.Buildkitd = &DocBuildkitd{Flags: flags, Config: cfg}
	}
	return errs
}

func setKey(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

func qemu(q *DocQemu) *DocQemu {
	if q == nil {
		return &DocQemu{}
	}
	return q
}
