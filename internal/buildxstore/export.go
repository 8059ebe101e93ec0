package buildxstore

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/platforms"

	"github.com/bkctl/bkctl/internal/render"
	"github.com/bkctl/bkctl/internal/spec"
)

// ConfigFileName is the Files key of a node's buildkitd.toml; buildx mounts it from the
// <node>-config ConfigMap at /etc/buildkit/buildkitd.toml, as bkctl renders it.
const ConfigFileName = "buildkitd.toml"

// Endpoint is the endpoint buildx create --driver kubernetes records for a node:
// kubernetes:///<builder>?deployment=<node>&kubeconfig=<$KUBECONFIG>. buildx's driver loads its
// kubeconfig from the kubeconfig parameter (empty: the default loading rules, i.e. $KUBECONFIG
// or ~/.kube/config, at the time buildx runs); deployment only keeps endpoints unique.
func Endpoint(builder, node, kubeconfig string) string {
	return (&url.URL{
		Scheme:   DriverKubernetes,
		Path:     "/" + builder,
		RawQuery: url.Values{"deployment": {node}, "kubeconfig": {kubeconfig}}.Encode(),
	}).String()
}

// NodeGroupFor returns the buildx instance of b: one kubernetes node per bkctl node, named after
// it (buildx's workload name), with every driver-opt that makes buildx look for the objects
// bkctl renders. kubeconfig is recorded in each endpoint, as buildx create records $KUBECONFIG.
// Notes name what buildx would create differently if it had to create the objects itself.
func NodeGroupFor(b spec.Builder, kubeconfig string) (ng *NodeGroup, notes []string, err error) {
	if _, err := validateName(b.Name); err != nil {
		return nil, nil, fmt.Errorf("builder %q: %w", b.Name, err)
	}
	ng = &NodeGroup{Name: b.Name, Driver: DriverKubernetes}
	var errs []error
	for _, n := range b.Nodes {
		node, nodeNotes, err := nodeFor(b, n, kubeconfig)
		if err != nil {
			errs = append(errs, fmt.Errorf("builder %q node %q: %w", b.Name, n.Name, err))
			continue
		}
		for _, note := range nodeNotes {
			notes = append(notes, fmt.Sprintf("builder %q node %q: %s", b.Name, n.Name, note))
		}
		ng.Nodes = append(ng.Nodes, node)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return ng, notes, nil
}

func nodeFor(b spec.Builder, n spec.Node, kubeconfig string) (Node, []string, error) {
	if _, err := validateName(n.Name); err != nil {
		return Node{}, nil, err
	}
	plats, err := toPlatforms(n.Platforms)
	if err != nil {
		return Node{}, nil, err
	}
	opts, notes, err := driverOpts(b.Namespace, n)
	if err != nil {
		return Node{}, nil, err
	}
	flags, err := render.BuildkitdFlags(n.Buildkitd)
	if err != nil {
		return Node{}, nil, err
	}
	node := Node{
		Name:           n.Name,
		Endpoint:       Endpoint(b.Name, n.Name, kubeconfig),
		Platforms:      plats,
		DriverOpts:     opts,
		BuildkitdFlags: flags,
	}
	if n.Buildkitd.Config != "" {
		node.Files = map[string][]byte{ConfigFileName: []byte(n.Buildkitd.Config)}
	}
	return node, notes, nil
}

// driverOpts maps a node to buildx driver-opts. namespace, image and replicas are always
// written: they locate the objects and must not depend on the kubeconfig context or on a
// future buildx's defaults; the rest only when they differ from buildx's defaults.
func driverOpts(namespace string, n spec.Node) (map[string]string, []string, error) {
	var notes []string
	o := map[string]string{
		optNamespace: namespace,
		optImage:     n.Image,
		optReplicas:  strconv.Itoa(int(n.Replicas)),
	}
	for _, kind := range []struct {
		prefix string
		m      map[string]string
	}{{optRequestsPrefix, n.Resources.Requests}, {optLimitsPrefix, n.Resources.Limits}} {
		for name, q := range kind.m {
			if !slices.Contains(resourceNames, name) {
				return nil, nil, fmt.Errorf("resources %s%s has no buildx driver-opt", kind.prefix, name)
			}
			o[kind.prefix+name] = q
		}
	}
	if n.Resources.Requests["ephemeral-storage"] != "" {
		notes = append(notes, "buildx would make requests.ephemeral-storage a limit")
	}
	if pv := n.Storage.PersistentVolume; pv != nil {
		o[optPVCStorage] = pv.Size
		if pv.StorageClassName != "" {
			notes = append(notes, "buildx has no driver-opt for storageClassName; its claims would use the default StorageClass")
		}
	}
	if n.Storage.Memory != "" {
		o[optRootMemory] = n.Storage.Memory
	}
	if n.Rootless {
		o[optRootless] = "true"
	}
	if n.SchedulerName != "" {
		o[optSchedulerName] = n.SchedulerName
	}
	if n.ServiceAccountName != "" {
		o[optServiceAccount] = n.ServiceAccountName
	}
	for _, m := range []struct {
		opt string
		v   map[string]string
	}{{optNodeSelector, n.NodeSelector}, {optAnnotations, n.Annotations}, {optLabels, n.Labels}} {
		if len(m.v) == 0 {
			continue
		}
		s, err := formatMap(m.opt, m.v)
		if err != nil {
			return nil, nil, err
		}
		o[m.opt] = s
	}
	if len(n.Tolerations) > 0 {
		s, err := formatTolerations(n.Tolerations)
		if err != nil {
			return nil, nil, err
		}
		o[optTolerations] = s
	}
	if n.Loadbalance != "" && n.Loadbalance != spec.LoadbalanceSticky {
		o[optLoadbalance] = n.Loadbalance
	}
	if n.Qemu.Install {
		o[optQemuInstall] = "true"
	}
	if n.Qemu.Image != "" && n.Qemu.Image != spec.DefaultQemuImage {
		o[optQemuImage] = n.Qemu.Image
	}
	if n.DefaultLoad {
		o[optDefaultLoad] = "true"
	}
	if n.Timeout != 0 && n.Timeout != spec.DefaultTimeout {
		o[optTimeout] = formatDuration(n.Timeout)
	}
	for _, e := range n.Env {
		if e.ValueFrom != nil {
			notes = append(notes, fmt.Sprintf("buildx has no driver-opt for env from a Secret or ConfigMap; %s is left out of its options", e.Name))
			continue
		}
		o[optEnvPrefix+e.Name] = e.Value
	}
	if len(n.PodTemplate) > 0 {
		notes = append(notes, "buildx has no driver-opt for podTemplate; objects it created would lack the patch")
	}
	return o, notes, nil
}

// toPlatforms parses and normalizes platforms as buildx's platformutil.Parse does (entries may
// hold several, comma-separated).
func toPlatforms(in []string) ([]Platform, error) {
	var out []Platform
	for _, entry := range in {
		for _, s := range strings.Split(entry, ",") {
			p, err := platforms.Parse(s)
			if err != nil {
				return nil, fmt.Errorf("parse platform %q: %w", s, err)
			}
			p = platforms.Normalize(p)
			out = append(out, Platform{
				Architecture: p.Architecture,
				OS:           p.OS,
				OSVersion:    p.OSVersion,
				OSFeatures:   p.OSFeatures,
				Variant:      p.Variant,
			})
		}
	}
	return out, nil
}
