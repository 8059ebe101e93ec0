package buildrun

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tonistiigi/go-csvvalue"

	"github.com/bkctl/bkctl/internal/bakedef"
)

// FSEntitlementsEnv turns bake's file system checks off when false, as in buildx.
const FSEntitlementsEnv = "BUILDX_BAKE_ENTITLEMENTS_FS"

// Grants are the entitlements given to a bake with --allow: the build entitlements by name
// (network.host, security.insecure, device, ssh) and the paths targets may read and write.
// The working directory may always be read and written.
type Grants struct {
	names         map[string]bool
	read, write   []string
	anyRd, anyWrt bool
}

// ParseGrants parses --allow values as buildx's bake does: NAME, fs=PATH (read and write),
// fs.read=PATH, fs.write=PATH; a PATH of * allows any path.
func ParseGrants(allow []string, wd string) (Grants, error) {
	g := Grants{names: map[string]bool{}, read: []string{wd}, write: []string{wd}}
	for _, a := range allow {
		name, path, ok := strings.Cut(a, "=")
		switch name {
		case "fs", "fs.read", "fs.write":
			if !ok || path == "" {
				return g, fmt.Errorf("--allow %s: want %s=PATH (or * for any path)", a, name)
			}
			if path != "*" {
				var err error
				if path, err = resolvePath(path); err != nil {
					return g, fmt.Errorf("--allow %s: %w", a, err)
				}
			}
			if name != "fs.write" {
				g.read, g.anyRd = append(g.read, path), g.anyRd || path == "*"
			}
			if name != "fs.read" {
				g.write, g.anyWrt = append(g.write, path), g.anyWrt || path == "*"
			}
		default:
			g.names[name] = true
		}
	}
	return g, nil
}

// Missing returns the --allow values that the targets need but were not given: the
// entitlements they ask for, an SSH agent forwarded without key paths (ssh), and the local
// paths outside the granted ones that they read (contexts, Dockerfiles, OCI layouts, secrets,
// keys, local cache imports) or write (local, tar and oci outputs, local cache exports), unless
// BUILDX_BAKE_ENTITLEMENTS_FS is false. Each value appears once, in a stable order.
func (g Grants) Missing(targets []bakedef.Target, lookup func(string) (string, bool)) ([]string, error) {
	checkFS := true
	if v, ok := lookup(FSEntitlementsEnv); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: want true or false", FSEntitlementsEnv, v)
		}
		checkFS = b
	}
	var out, needRead, needWrite []string
	add := func(v string) {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	for _, t := range targets {
		for _, e := range t.Entitlements {
			if name, _, _ := strings.Cut(e, "="); !g.names[name] {
				add(e)
			}
		}
		read, write, agent := targetPaths(t)
		if !checkFS {
			continue
		}
		if agent && !g.names["ssh"] {
			add("ssh")
		}
		for _, p := range read {
			if rp, err := resolvePath(p); err != nil {
				return nil, fmt.Errorf("target %s: %w", t.Name, err)
			} else if !g.anyRd && !under(rp, g.read) {
				needRead = append(needRead, rp)
			}
		}
		for _, p := range write {
			if rp, err := resolvePath(p); err != nil {
				return nil, fmt.Errorf("target %s: %w", t.Name, err)
			} else if !g.anyWrt && !under(rp, g.write) {
				needWrite = append(needWrite, rp)
			}
		}
	}
	for _, p := range topmost(needRead) {
		out = append(out, "fs.read="+p)
	}
	for _, p := range topmost(needWrite) {
		out = append(out, "fs.write="+p)
	}
	return out, nil
}

// topmost returns the paths that are not inside another of them, sorted.
func topmost(paths []string) []string {
	slices.SortFunc(paths, func(a, b string) int { return len(a) - len(b) })
	var out []string
	for _, p := range paths {
		if !under(p, out) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// targetPaths returns the local paths a target reads and writes, and whether it forwards an
// SSH agent without naming key paths.
func targetPaths(t bakedef.Target) (read, write []string, agent bool) {
	ctx := strings.TrimPrefix(t.Context, "cwd://")
	if ctx == "" {
		ctx = "."
	}
	if !IsRemoteContext(ctx) {
		read = append(read, ctx)
	}
	if t.DockerfileInline == nil && (!IsRemoteContext(ctx) || filepath.IsAbs(t.Dockerfile) || strings.HasPrefix(t.Dockerfile, "cwd://")) {
		read = append(read, dockerfilePath(ctx, t.Dockerfile))
	}
	for _, v := range t.Contexts {
		v = strings.TrimPrefix(v, "cwd://")
		switch {
		case strings.HasPrefix(v, "oci-layout://"):
			p := strings.TrimPrefix(v, "oci-layout://")
			if i := strings.IndexAny(p, "@:"); i >= 0 {
				p = p[:i]
			}
			read = append(read, p)
		case strings.HasPrefix(v, "docker-image://"), strings.HasPrefix(v, "target:"), strings.Contains(v, "://"), IsRemoteContext(v):
		default:
			read = append(read, v)
		}
	}
	for _, c := range t.CacheFrom {
		if f := csvFields(c); f["type"] == "local" && f["src"] != "" {
			read = append(read, f["src"])
		}
	}
	for _, s := range t.Secrets {
		f := csvFields(s)
		if src := cmp.Or(f["src"], f["source"]); src != "" {
			read = append(read, src)
		}
	}
	for _, s := range t.SSH {
		_, paths, ok := strings.Cut(s, "=")
		if !ok {
			agent = true
			continue
		}
		read = append(read, strings.Split(paths, ",")...)
	}
	for _, o := range t.Outputs {
		if f := csvFields(o); (f["type"] == "local" || f["type"] == "tar" || f["type"] == "oci") && f["dest"] != "" && f["dest"] != "-" {
			write = append(write, f["dest"])
		}
	}
	for _, c := range t.CacheTo {
		if f := csvFields(c); f["type"] == "local" && f["dest"] != "" {
			write = append(write, f["dest"])
		}
	}
	return read, write, agent
}

func csvFields(v string) map[string]string {
	out := map[string]string{}
	fields, err := csvvalue.Fields(v, nil)
	if err != nil {
		return out
	}
	for _, f := range fields {
		k, val, _ := strings.Cut(f, "=")
		out[strings.TrimSpace(k)] = val
	}
	return out
}

// resolvePath makes p absolute with its symbolic links resolved as far as it exists, so that a
// link inside the working directory cannot reach outside it unnoticed.
func resolvePath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("path %s: %w", p, err)
	}
	existing, rest := abs, ""
	for {
		r, err := filepath.EvalSymlinks(existing)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("path %s: %w", p, err)
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			return abs, nil
		}
		rest = filepath.Join(filepath.Base(existing), rest)
		existing = parent
	}
}

// under reports whether p is one of roots or inside one.
func under(p string, roots []string) bool {
	for _, r := range roots {
		if p == r || r == "/" || strings.HasPrefix(p, strings.TrimSuffix(r, string(filepath.Separator))+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// WorkingDir is the working directory with its symbolic links resolved, the root every bake may
// read and write.
func WorkingDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	return resolvePath(wd)
}
