package spec

import (
	"fmt"
	"strings"
)

// LoadRestrictions says which files a builders file may make bkctl read (buildkitd.configFile),
// under the names kustomize gives its --load-restrictor values.
type LoadRestrictions string

const (
	// LoadRestrictionsRootOnly allows only files inside the builders file's directory tree,
	// after symlinks are resolved: a builders file from a pull request cannot make bkctl publish
	// another file of the machine into a ConfigMap or a plan. A file read from stdin has no
	// directory, so it may name no file at all.
	LoadRestrictionsRootOnly LoadRestrictions = "LoadRestrictionsRootOnly"
	// LoadRestrictionsNone allows any path: absolute, with "..", through any symlink. Relative
	// paths of a file read from stdin are then resolved against the working directory.
	LoadRestrictionsNone LoadRestrictions = "LoadRestrictionsNone"
)

// LoadRestrictorValues are the values a --load-restrictor flag accepts, as kustomize spells them.
var LoadRestrictorValues = []string{string(LoadRestrictionsRootOnly), string(LoadRestrictionsNone)}

// String returns the kustomize name of r.
func (r LoadRestrictions) String() string { return string(r) }

// UnmarshalText parses a --load-restrictor value: kustomize's names, or rootOnly and none.
func (r *LoadRestrictions) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "loadrestrictionsrootonly", "rootonly":
		*r = LoadRestrictionsRootOnly
	case "loadrestrictionsnone", "none":
		*r = LoadRestrictionsNone
	default:
		return fmt.Errorf("unknown load restrictor %q (want %s)", b, strings.Join(LoadRestrictorValues, " or "))
	}
	return nil
}

// Options change how a builders file is loaded.
type Options struct {
	// LoadRestrictions limits the files the builders file may name.
	LoadRestrictions LoadRestrictions
}

// DefaultOptions returns the options Load and Parse use: files only from inside the builders
// file's directory tree.
func DefaultOptions() Options {
	return Options{LoadRestrictions: LoadRestrictionsRootOnly}
}
