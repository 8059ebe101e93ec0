package spec

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// checker runs the semantic checks that a schema cannot express, and builds the File.
type checker struct {
	t   *tree
	ds  *diagnostics
	dir string
	// stdin says the file was read from stdin: it has no directory of its own.
	stdin bool
	// restrict keeps configFile inside dir's tree (LoadRestrictionsRootOnly).
	restrict bool
	doc      *yaml.Node
	src      []byte
	// skip holds the values the schema found of the wrong type (see skipped).
	skip map[string]bool
	// skipObject holds the objects the schema found an unknown field in (see skipped).
	skipObject map[string]bool
	// reported holds the values the rules found an error in, so that a schema finding they
	// explain better gives way (see schemaResult.add).
	reported map[string]bool
}

func (c *checker) file(raw *rawFile) *File {
	f := &File{
		Path:       c.t.file,
		APIVersion: raw.APIVersion,
		Kind:       raw.Kind,
		Metadata:   Metadata{Name: raw.Metadata.Name, Namespace: raw.Metadata.Namespace},
	}
	if f.Metadata.Namespace == "" {
		f.Metadata.Namespace, f.Metadata.DefaultNamespace = "default", true
	}
	c.dnsLabel([]string{"metadata", "name"}, raw.Metadata.Name)
	c.dnsLabel([]string{"metadata", "namespace"}, raw.Metadata.Namespace)

	builderAt := map[string]int{}
	// nodeOwner maps namespace/node to the builder index that renders it: objects are named after
	// nodes, so two nodes of one name in one namespace would overwrite each other.
	nodeOwner := map[string]string{}
	for i, rb := range raw.Builders {
		bp := []string{"builders", strconv.Itoa(i)}
		if j, dup := builderAt[rb.Name]; dup {
			c.errorf(append(bp, "name"), "duplicate builder name %q (also at line %d)", rb.Name, c.t.at("builders", strconv.Itoa(j), "name").Line)
		} else {
			builderAt[rb.Name] = i
		}
		b := c.builder(bp, &rb, f.Metadata.Namespace)
		for j, n := range b.Nodes {
			key := b.Namespace + "/" + n.Name
			np := append(bp, "nodes", strconv.Itoa(j))
			if owner, dup := nodeOwner[key]; dup {
				c.errorf(nameOrNode(c.t, np), "duplicate node name %q in namespace %q (also %s)", n.Name, b.Namespace, owner)
			} else {
				nodeOwner[key] = fmt.Sprintf("builder %q at line %d", b.Name, n.Pos.Line)
			}
		}
		f.Builders = append(f.Builders, b)
	}
	return f
}

// nameOrNode points at a node's name when it has one, else at the node itself.
func nameOrNode(t *tree, np []string) []string {
	if _, ok := t.valuePos[pathKey(append(np, "name"))]; ok {
		return append(np[:len(np):len(np)], "name")
	}
	return np
}

func (c *checker) builder(bp []string, rb *rawBuilder, defaultNamespace string) Builder {
	b := Builder{Name: rb.Name, Namespace: rb.Namespace, CreateNamespace: rb.CreateNamespace, Pos: c.t.at(bp...)}
	if b.Namespace == "" {
		b.Namespace, b.DefaultNamespace = defaultNamespace, true
	}
	c.dnsLabel(append(bp, "name"), rb.Name)
	c.dnsLabel(append(bp, "namespace"), rb.Namespace)
	dp := append(bp[:len(bp):len(bp)], "defaults")
	c.fields(dp, &rb.Defaults)

	platformAt := map[string]string{}
	for j := range rb.Nodes {
		np := append(bp[:len(bp):len(bp)], "nodes", strconv.Itoa(j))
		rn := &rb.Nodes[j]
		c.fields(np, rn)
		n := merge(&rb.Defaults, rn)
		n.Pos = c.t.at(np...)
		// The same patches as merge takes, in its order: the defaults', then the node's.
		for i, raw := range []*rawNode{&rb.Defaults, rn} {
			if raw.PodTemplate != nil {
				p := [][]string{dp, np}[i]
				n.PodTemplateFields = append(n.PodTemplateFields, fieldPath(append(p[:len(p):len(p)], "podTemplate")))
			}
		}
		if n.Name == "" {
			n.Name = rb.Name + strconv.Itoa(j)
			if c.isDNSLabel(n.Name) != "" {
				c.errorf(np, "default node name %q is not a valid Kubernetes name (hint: set name)", n.Name)
			}
		} else {
			c.dnsLabel(append(np, "name"), n.Name)
		}
		if n.Image == "" {
			n.Image = DefaultImage
			if n.Rootless {
				n.Image = DefaultRootlessImage
			}
		}
		c.buildkitd(np, dp, rn, &rb.Defaults, &n)
		c.crossField(np, &n)
		for _, p := range n.Platforms {
			norm := normalizePlatform(p)
			if other, dup := platformAt[norm]; dup && other != n.Name {
				c.errorf(append(np, "platforms"), "platform %s is claimed by nodes %q and %q of builder %q; each platform has one native node", p, other, n.Name, rb.Name)
			} else {
				platformAt[norm] = n.Name
			}
		}
		b.Nodes = append(b.Nodes, n)
	}
	return b
}

// merge applies defaults under node: the node's value wins; maps merge key by key.
func merge(d, n *rawNode) Node {
	out := Node{
		Name:               n.Name,
		Platforms:          pick(n.Platforms, d.Platforms),
		Replicas:           DefaultReplicas,
		Image:              or(n.Image, d.Image),
		Loadbalance:        or(n.Loadbalance, d.Loadbalance, LoadbalanceSticky),
		NodeSelector:       mergeMaps(d.NodeSelector, n.NodeSelector),
		Tolerations:        pick(n.Tolerations, d.Tolerations),
		ServiceAccountName: or(n.ServiceAccountName, d.ServiceAccountName),
		SchedulerName:      or(n.SchedulerName, d.SchedulerName),
		Annotations:        mergeMaps(d.Annotations, n.Annotations),
		Labels:             mergeMaps(d.Labels, n.Labels),
		Env:                pick(n.Env, d.Env),
		Timeout:            DefaultTimeout,
		Qemu:               Qemu{Image: DefaultQemuImage},
	}
	if r := ptrOr(n.Replicas, d.Replicas); r != nil {
		out.Replicas = *r
	}
	if r := ptrOr(n.Rootless, d.Rootless); r != nil {
		out.Rootless = *r
	}
	if r := ptrOr(n.DefaultLoad, d.DefaultLoad); r != nil {
		out.DefaultLoad = *r
	}
	for _, q := range []*rawQemu{d.Qemu, n.Qemu} {
		if q == nil {
			continue
		}
		if q.Install != nil {
			out.Qemu.Install = *q.Install
		}
		if q.Image != "" {
			out.Qemu.Image = q.Image
		}
	}
	for _, r := range []*Resources{d.Resources, n.Resources} {
		if r != nil {
			out.Resources.Requests = mergeMaps(out.Resources.Requests, r.Requests)
			out.Resources.Limits = mergeMaps(out.Resources.Limits, r.Limits)
		}
	}
	if s := ptrOr(n.Storage, d.Storage); s != nil {
		out.Storage = *s
	}
	if t := or(n.Timeout, d.Timeout); t != "" {
		if dur, err := parseDuration(t); err == nil {
			out.Timeout = dur
		}
	}
	for _, p := range []map[string]any{d.PodTemplate, n.PodTemplate} {
		if p != nil {
			out.PodTemplate = append(out.PodTemplate, p)
		}
	}
	return out
}

func or(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func ptrOr[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

func pick[T any](a, b []T) []T {
	if a != nil {
		return slices.Clone(a)
	}
	return slices.Clone(b)
}

func mergeMaps(base, over map[string]string) map[string]string {
	if base == nil && over == nil {
		return nil
	}
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, over)
	return out
}

// buildkitd resolves the node's flags and config (the node's own, else the defaults') and checks
// that the config parses as TOML.
func (c *checker) buildkitd(np, dp []string, rn, rd *rawNode, n *Node) {
	nb, db := rn.Buildkitd, rd.Buildkitd
	if nb == nil {
		nb = &rawBuildkitd{}
	}
	if db == nil {
		db = &rawBuildkitd{}
	}
	n.Buildkitd.Flags = pick(nb.Flags, db.Flags)
	src, path := nb, np
	if nb.Config == nil && nb.ConfigFile == "" {
		src, path = db, dp
	}
	bp := append(path[:len(path):len(path)], "buildkitd")
	switch {
	case src.Config != nil && src.ConfigFile != "":
		c.errorf(append(bp, "configFile"), "set either config or configFile, not both")
	case src.Config != nil:
		n.Buildkitd.Config = *src.Config
		c.toml(append(bp, "config"), *src.Config)
	case src.ConfigFile != "":
		n.Buildkitd.ConfigFile, n.Buildkitd.Config = c.configFile(append(bp, "configFile"), src.ConfigFile)
	}
}

func (c *checker) crossField(np []string, n *Node) {
	if n.Storage.PersistentVolume != nil && n.Storage.Memory != "" {
		c.errorf(append(np, "storage"), "set either persistentVolume or memory, not both (both would mount at /var/lib/buildkit)")
	}
	if n.Rootless && n.Qemu.Install {
		c.warnf(append(np, "qemu", "install"), "the qemu init container runs privileged even though the node is rootless")
	}
	for _, res := range []string{"cpu", "memory", "ephemeral-storage"} {
		req, okr := n.Resources.Requests[res]
		lim, okl := n.Resources.Limits[res]
		if !okr || !okl {
			continue
		}
		rq, err1 := parseQuantity(req)
		lq, err2 := parseQuantity(lim)
		if err1 == nil && err2 == nil && rq.Cmp(lq) > 0 {
			c.errorf(append(np, "resources", "requests", res), "request %s is above the limit %s", req, lim)
		}
	}
	for _, f := range n.Buildkitd.Flags {
		if !strings.HasPrefix(f, "-") {
			c.warnf(append(np, "buildkitd", "flags"), "%q does not look like a flag; each list item is one argument", f)
		}
	}
}
