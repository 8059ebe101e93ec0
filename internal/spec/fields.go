package spec

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/pelletier/go-toml/v2"
	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bkctl/bkctl/internal/keys"
)

// Reserved keys: bkctl and buildx own them, so a user value would break pod selection,
// platform routing or inventory membership.
var (
	reservedLabels = map[string]string{
		keys.LabelApp:            "bkctl and buildx select a node's pods by app=<node>",
		keys.LabelManagedBy:      "bkctl marks the objects it manages with it",
		keys.LabelApplySetPartOf: "bkctl records inventory membership with it",
		keys.LabelBuilder:        "bkctl marks a builder's objects and pods with it",
	}
	reservedAnnotations = map[string]string{
		keys.AnnotationPlatform:   "it is set from platforms (hint: set platforms instead)",
		keys.AnnotationConfigHash: "it is set from buildkitd.config, so that a change there rolls the pods",
	}
)

// fields checks the values of one node (or of a builder's defaults) where they are written.
func (c *checker) fields(np []string, n *rawNode) {
	sub := func(s ...string) []string { return append(np[:len(np):len(np)], s...) }
	c.platforms(sub("platforms"), n.Platforms)
	if n.Image != "" {
		if _, err := reference.ParseNormalizedNamed(n.Image); err != nil {
			c.errorf(sub("image"), "invalid image reference %q: %v", n.Image, err)
		}
	}
	if n.Qemu != nil && n.Qemu.Image != "" {
		if _, err := reference.ParseNormalizedNamed(n.Qemu.Image); err != nil {
			c.errorf(sub("qemu", "image"), "invalid image reference %q: %v", n.Qemu.Image, err)
		}
	}
	c.labelMap(sub("nodeSelector"), n.NodeSelector, nil)
	c.labelMap(sub("labels"), n.Labels, reservedLabels)
	c.annotations(sub("annotations"), n.Annotations)
	if n.Resources != nil {
		for _, kind := range []string{"requests", "limits"} {
			m := n.Resources.Requests
			if kind == "limits" {
				m = n.Resources.Limits
			}
			for _, k := range sortedKeys(m) {
				c.quantity(sub("resources", kind, k), m[k])
			}
		}
	}
	if n.Storage != nil {
		if n.Storage.PersistentVolume != nil {
			c.quantity(sub("storage", "persistentVolume", "size"), n.Storage.PersistentVolume.Size)
			if sc := n.Storage.PersistentVolume.StorageClassName; sc != "" {
				c.subdomain(sub("storage", "persistentVolume", "storageClassName"), sc)
			}
		}
		if n.Storage.Memory != "" {
			c.quantity(sub("storage", "memory"), n.Storage.Memory)
		}
	}
	if n.ServiceAccountName != "" {
		c.subdomain(sub("serviceAccountName"), n.ServiceAccountName)
	}
	for i, t := range n.Tolerations {
		c.toleration(sub("tolerations", strconv.Itoa(i)), t)
	}
	seenEnv := map[string]bool{}
	for i, e := range n.Env {
		ep := sub("env", strconv.Itoa(i), "name")
		if errs := validation.IsEnvVarName(e.Name); len(errs) > 0 {
			c.errorf(ep, "invalid environment variable name %q: %s", e.Name, errs[0])
		}
		if seenEnv[e.Name] {
			c.errorf(ep, "duplicate environment variable %q", e.Name)
		}
		seenEnv[e.Name] = true
		c.envValue(sub("env", strconv.Itoa(i)), e)
	}
	if n.Timeout != "" {
		if _, err := parseDuration(n.Timeout); err != nil {
			c.errorf(sub("timeout"), "%v", err)
		}
	}
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 90s, 2m, 1m30s)", shorten(s))
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %q must be positive", shorten(s))
	}
	return d, nil
}

// parseQuantity parses a Kubernetes quantity. Kubernetes reads a suffix alone ("m", "Gi") as
// zero; a builders file that writes one means something else, so it is refused.
func parseQuantity(s string) (resource.Quantity, error) {
	if !strings.ContainsAny(s, "0123456789") {
		return resource.Quantity{}, resource.ErrFormatWrong
	}
	return resource.ParseQuantity(s)
}

func (c *checker) quantity(path []string, s string) {
	q, err := parseQuantity(s)
	switch {
	case err != nil:
		c.errorf(path, "invalid quantity %q (want e.g. 500m, 2, 1Gi, 512Mi)%s", s, quantityHint(s))
	case q.Sign() < 0:
		c.errorf(path, "quantity %q must not be negative", s)
	}
}

// quantityHint suggests the quantity s probably means: without spaces ("100 m"), or with
// Kubernetes' suffixes instead of byte units ("256MB", "1GiB").
func quantityHint(s string) string {
	if t := strings.Join(strings.Fields(s), ""); t != s {
		if _, err := parseQuantity(t); err == nil {
			return fmt.Sprintf(" (hint: no spaces: %s)", t)
		}
	}
	num, ok := strings.CutSuffix(s, "B")
	if !ok {
		return ""
	}
	if _, err := parseQuantity(num); err == nil && strings.HasSuffix(num, "i") {
		return fmt.Sprintf(" (hint: %s; Kubernetes writes no B)", num)
	}
	if prefix := strings.TrimRight(num, "kKMGTPE"); len(num)-len(prefix) == 1 {
		unit := strings.ToUpper(num[len(prefix):])
		if _, err := parseQuantity(prefix + unit + "i"); err == nil {
			dec := num[len(prefix):]
			if dec == "K" {
				dec = "k"
			}
			return fmt.Sprintf(" (hint: %s%si for powers of 1024, %s%s for powers of 1000)", prefix, unit, prefix, dec)
		}
	}
	return ""
}

func (c *checker) isDNSLabel(s string) string {
	if errs := validation.IsDNS1123Label(s); len(errs) > 0 {
		return errs[0]
	}
	return ""
}

func (c *checker) dnsLabel(path []string, s string) {
	if s == "" {
		return
	}
	if msg := c.isDNSLabel(s); msg != "" {
		c.errorf(path, "invalid name %q: %s", s, msg)
	}
}

func (c *checker) subdomain(path []string, s string) {
	if errs := validation.IsDNS1123Subdomain(s); len(errs) > 0 {
		c.errorf(path, "invalid name %q: %s", s, errs[0])
	}
}

func (c *checker) labelMap(path []string, m map[string]string, reserved map[string]string) {
	for _, k := range sortedKeys(m) {
		kp := append(path[:len(path):len(path)], k)
		if why, ok := reserved[k]; ok {
			c.keyErrorf(kp, "label %q is reserved: %s", k, why)
			continue
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			c.keyErrorf(kp, "invalid label key %q: %s", k, errs[0])
		}
		if errs := validation.IsValidLabelValue(m[k]); len(errs) > 0 {
			c.errorf(kp, "invalid label value %q: %s", m[k], errs[0])
		}
	}
}

func (c *checker) annotations(path []string, m map[string]string) {
	for _, k := range sortedKeys(m) {
		kp := append(path[:len(path):len(path)], k)
		if why, ok := reservedAnnotations[k]; ok {
			c.keyErrorf(kp, "annotation %q is reserved: %s", k, why)
			continue
		}
		if errs := validation.IsQualifiedName(strings.ToLower(k)); len(errs) > 0 {
			c.keyErrorf(kp, "invalid annotation key %q: %s", k, errs[0])
		}
	}
}

func (c *checker) toleration(path []string, t Toleration) {
	sub := func(s string) []string { return append(path[:len(path):len(path)], s) }
	if t.Key != "" {
		if errs := validation.IsQualifiedName(t.Key); len(errs) > 0 {
			c.errorf(sub("key"), "invalid toleration key %q: %s", t.Key, errs[0])
		}
	}
	switch t.Operator {
	case "Exists":
		if t.Value != "" {
			c.errorf(sub("value"), "must be empty when operator is Exists")
		}
	default: // Equal, the Kubernetes default
		if t.Key == "" {
			c.errorf(path, "key is required unless operator is Exists")
		}
	}
	if t.TolerationSeconds != nil && t.Effect != "NoExecute" {
		c.errorf(sub("tolerationSeconds"), "only allowed with effect NoExecute")
	}
}

var platformRE = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$`)

var (
	knownOS   = []string{"linux", "windows", "darwin", "freebsd", "openbsd", "netbsd", "illumos", "solaris", "aix", "wasip1"}
	knownArch = []string{"amd64", "arm64", "arm", "386", "ppc64le", "ppc64", "s390x", "riscv64", "mips64le", "mips64", "mipsle", "mips", "loong64", "wasm"}
)

// checkPlatform returns why p is not an os/arch[/variant] platform, or "".
func checkPlatform(p string) string {
	if !platformRE.MatchString(p) {
		if lower := strings.ToLower(p); lower != p && checkPlatform(lower) == "" {
			return fmt.Sprintf("invalid platform %q (hint: platforms are lowercase: %s)", p, lower)
		}
		return fmt.Sprintf("invalid platform %q (want os/arch[/variant], e.g. linux/arm64 or linux/arm/v7)", p)
	}
	parts := strings.Split(p, "/")
	for _, x := range []struct {
		what, v string
		known   []string
	}{{"operating system", parts[0], knownOS}, {"architecture", parts[1], knownArch}} {
		if !slices.Contains(x.known, x.v) {
			msg := fmt.Sprintf("unknown %s %q in platform %q", x.what, x.v, p)
			if s := suggest(x.v, x.known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return msg
		}
	}
	return ""
}

// platforms checks each platform of one node (or of defaults), and that none is listed twice,
// also under another spelling of the same platform (linux/arm64 and linux/arm64/v8): buildx
// would publish it twice.
func (c *checker) platforms(path []string, ps []string) {
	seen := map[string]int{}
	for i, p := range ps {
		ip := append(path[:len(path):len(path)], strconv.Itoa(i))
		if msg := checkPlatform(p); msg != "" {
			c.errorf(ip, "%s", msg)
			continue
		}
		norm := normalizePlatform(p)
		j, dup := seen[norm]
		switch {
		case !dup:
			seen[norm] = i
		case ps[j] == p:
			c.errorf(ip, "duplicate platform %s (also item %d, line %d)", p, j, c.t.at(append(path[:len(path):len(path)], strconv.Itoa(j))...).Line)
		default:
			c.errorf(ip, "platform %s is %s again (item %d, line %d); list each platform once", p, ps[j], j, c.t.at(append(path[:len(path):len(path)], strconv.Itoa(j))...).Line)
		}
	}
}

// normalizePlatform folds spellings that name the same platform (linux/arm64/v8 = linux/arm64),
// the way buildx and render do.
func normalizePlatform(p string) string {
	parsed, err := platforms.Parse(p)
	if err != nil {
		return p
	}
	return platforms.FormatAll(platforms.Normalize(parsed))
}

// toml reports where a buildkitd.toml given inline fails to parse, as a position in the YAML file.
func (c *checker) toml(path []string, cfg string) {
	var v map[string]any
	err := toml.Unmarshal([]byte(cfg), &v)
	if err == nil {
		return
	}
	if c.skipped(path) {
		return
	}
	c.report(path)
	pos := c.t.at(path...)
	msg := err.Error()
	if de, ok := err.(*toml.DecodeError); ok {
		row, col := de.Position()
		// In a block scalar the TOML's lines are the YAML's lines, shifted by the block's
		// indentation; elsewhere escapes make columns unreliable, so point at the value.
		if n := lookup(c.doc, path); n != nil && (n.Style&(yaml.LiteralStyle|yaml.FoldedStyle)) != 0 {
			pos.Line = n.Line + row
			pos.Col = col + c.indent(n.Line+1)
		}
	}
	c.ds.errorf(pos, fieldPath(path), "invalid buildkitd.toml: %s", strings.TrimPrefix(msg, "toml: "))
}

// indent counts the leading spaces of a 1-based line of the source.
func (c *checker) indent(line int) int {
	lines := strings.SplitN(string(c.src), "\n", line+1)
	if line-1 >= len(lines) {
		return 0
	}
	l := lines[line-1]
	return len(l) - len(strings.TrimLeft(l, " "))
}

// configFile reads a buildkitd.toml named relative to the builders file, within the load
// restrictions, and checks it parses.
func (c *checker) configFile(path []string, name string) (resolved, content string) {
	resolved, data, ref, err := c.readNamed(name)
	switch {
	case ref != nil:
		c.errorf(path, "buildkitd config %s is not loaded: %s (load restrictor %s; %s allows any file)", name, ref.why, LoadRestrictionsRootOnly, LoadRestrictionsNone)
		return resolved, ""
	case os.IsNotExist(err):
		c.errorf(path, "buildkitd config %s does not exist (paths are relative to the builders file)", resolved)
		return resolved, ""
	case err != nil:
		c.errorf(path, "read buildkitd config: %v", err)
		return resolved, ""
	case len(data) > MaxFileSize:
		c.errorf(path, "buildkitd config %s is larger than %d MiB", resolved, MaxFileSize>>20)
		return resolved, ""
	}
	var v map[string]any
	if err := toml.Unmarshal(data, &v); err != nil {
		pos := Pos{File: resolved, Line: 1, Col: 1}
		if de, ok := err.(*toml.DecodeError); ok {
			pos.Line, pos.Col = de.Position()
		}
		c.ds.errorf(pos, "", "invalid buildkitd.toml: %s (used by %s at %s)", strings.TrimPrefix(err.Error(), "toml: "), fieldPath(path), c.t.at(path...))
	}
	return resolved, string(data)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
