// Package buildxstore reads and writes docker buildx builder instances on disk and maps them to
// and from builders.yaml nodes, so that buildx uses the objects bkctl manages.
package buildxstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// DriverKubernetes is the buildx driver of every instance bkctl writes or imports.
const DriverKubernetes = "kubernetes"

// The layout of buildx's config dir (store/store.go of buildx v0.38.2).
const (
	instancesDir = "instances"
	defaultsDir  = "defaults"
	activityDir  = "activity"
	lockFile     = ".lock"
	filePerm     = 0o600
	dirPerm      = 0o700
)

// NodeGroup is a buildx builder instance, one JSON file under instances/. Its fields, their
// order and their JSON names are buildx's store.NodeGroup, so that both write the same bytes.
type NodeGroup struct {
	Name    string
	Driver  string
	Nodes   []Node
	Dynamic bool
}

// Node is one node of a buildx builder; for the kubernetes driver, one Deployment or StatefulSet.
type Node struct {
	Name           string
	Endpoint       string
	Platforms      []Platform
	DriverOpts     map[string]string
	BuildkitdFlags []string `json:"Flags"`
	Files          map[string][]byte
}

// Platform is an OCI platform as buildx stores it (image-spec v1.1.1 specs-go/v1.Platform).
type Platform struct {
	Architecture string   `json:"architecture"`
	OS           string   `json:"os"`
	OSVersion    string   `json:"os.version,omitempty"`
	OSFeatures   []string `json:"os.features,omitempty"`
	Variant      string   `json:"variant,omitempty"`
}

// ErrNotFound is returned by Get when the store has no instance of that name.
var ErrNotFound = errors.New("buildx builder not found")

// namePattern is what buildx accepts as a builder or node name (store.ValidateName).
var namePattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9.\-_]*$`)

// validateName returns the name as buildx stores it (lowercased), or why buildx refuses it.
func validateName(s string) (string, error) {
	if !namePattern.MatchString(s) {
		return "", fmt.Errorf("invalid buildx name %q: it must start with a letter and may contain only letters, digits and ._-", s)
	}
	return strings.ToLower(s), nil
}

// Store is a buildx config dir ($BUILDX_CONFIG, or $DOCKER_CONFIG/buildx, or ~/.docker/buildx).
// Take its Lock around reads and writes, as buildx does.
type Store struct {
	dir string
}

// Open returns the store in dir, creating its instances, defaults and activity directories the
// way buildx does on every command.
func Open(dir string) (*Store, error) {
	for _, d := range []string{instancesDir, defaultsDir, activityDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), dirPerm); err != nil {
			return nil, fmt.Errorf("open buildx store: %w", err)
		}
	}
	return &Store{dir: dir}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// InstancePath is the file that holds the instance of the named builder.
func (s *Store) InstancePath(name string) string {
	return filepath.Join(s.dir, instancesDir, strings.ToLower(name))
}

// Get reads the named instance; ErrNotFound when there is none.
func (s *Store) Get(name string) (*NodeGroup, error) {
	key, err := validateName(name)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(s.dir, instancesDir, key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %q in %s", ErrNotFound, name, s.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read buildx builder %q: %w", name, err)
	}
	var ng NodeGroup
	if err := json.Unmarshal(data, &ng); err != nil {
		return nil, fmt.Errorf("read buildx builder %q: %s: %w", name, s.InstancePath(name), err)
	}
	return &ng, nil
}

// List reads every instance, sorted by name. Unlike buildx it does not delete files it cannot
// read; it reports them.
func (s *Store) List() ([]*NodeGroup, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, instancesDir))
	if err != nil {
		return nil, fmt.Errorf("list buildx builders: %w", err)
	}
	var (
		out  []*NodeGroup
		errs []error
	)
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		ng, err := s.Get(e.Name())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, ng)
	}
	slices.SortFunc(out, func(a, b *NodeGroup) int { return strings.Compare(a.Name, b.Name) })
	return out, errors.Join(errs...)
}

// Marshal returns the bytes buildx writes for ng: compact encoding/json output.
func Marshal(ng *NodeGroup) ([]byte, error) {
	return json.Marshal(ng)
}

// Save writes ng unless the file already holds the same bytes, and reports whether it wrote.
// Like buildx's Txn.Save it writes atomically with mode 0600 and records now as the builder's
// last activity; an unchanged instance keeps its file and activity untouched.
func (s *Store) Save(ng *NodeGroup, now time.Time) (changed bool, err error) {
	key, err := validateName(ng.Name)
	if err != nil {
		return false, err
	}
	data, err := Marshal(ng)
	if err != nil {
		return false, fmt.Errorf("encode buildx builder %q: %w", ng.Name, err)
	}
	path := filepath.Join(s.dir, instancesDir, key)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	activity := []byte(now.UTC().Format(time.RFC3339))
	if err := writeFileAtomic(filepath.Join(s.dir, activityDir, key), activity, filePerm); err != nil {
		return false, fmt.Errorf("write buildx builder %q: %w", ng.Name, err)
	}
	if err := writeFileAtomic(path, data, filePerm); err != nil {
		return false, fmt.Errorf("write buildx builder %q: %w", ng.Name, err)
	}
	return true, nil
}

// writeFileAtomic writes data to a temporary file next to path, syncs it and renames it over
// path, so that a concurrent reader sees the old or the new content, never a part.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// Read returns the named instance, or every instance when name is empty, holding buildx's store
// lock as buildx does while it reads. Unlike Open it creates nothing: a dir without instances
// is ErrNotFound.
func Read(ctx context.Context, dir, name string) ([]*NodeGroup, error) {
	if _, err := os.Stat(filepath.Join(dir, instancesDir)); err != nil {
		return nil, fmt.Errorf("%w: %s has no buildx instances (%v)", ErrNotFound, dir, err)
	}
	s := &Store{dir: dir}
	release, err := s.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if name == "" {
		return s.List()
	}
	ng, err := s.Get(name)
	if err != nil {
		return nil, err
	}
	return []*NodeGroup{ng}, nil
}
