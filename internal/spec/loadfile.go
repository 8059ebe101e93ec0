package spec

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Files a builders file names (buildkitd.configFile) are read within the LoadRestrictions. The
// check is by path first, so that a refused path is never opened, and the file is then opened
// through an os.Root of the builders file's directory, which refuses a path that leaves it by a
// symlink also when the symlink changes between the check and the open.

// refusal is a file the load restrictions do not allow; why says what the path leads to.
type refusal struct{ why string }

// readNamed reads the file name of the builders file, resolved against its directory. It
// returns the path as resolved (for messages and File) and the content; a refusal when the
// restrictions forbid the file, else the read error.
func (c *checker) readNamed(name string) (resolved string, data []byte, ref *refusal, err error) {
	resolved = name
	if !filepath.IsAbs(name) {
		resolved = filepath.Join(c.dir, name)
	}
	if !c.restrict {
		data, err = readLimited(resolved)
		return resolved, data, nil, err
	}
	switch {
	case c.stdin:
		return resolved, nil, &refusal{"the builders file comes from stdin, which has no directory to hold it (hint: pass the builders file by name, or inline the TOML as buildkitd.config)"}, nil
	case filepath.IsAbs(name):
		return resolved, nil, &refusal{fmt.Sprintf("an absolute path is outside the builders file's directory %s", c.dir)}, nil
	case !local(name):
		return resolved, nil, &refusal{fmt.Sprintf("it leads outside the builders file's directory %s", c.dir)}, nil
	}
	if rel, ok := c.resolveInRoot(resolved); !ok {
		return resolved, nil, &refusal{fmt.Sprintf("through a symlink it leads to %s, outside the builders file's directory %s", rel, c.dir)}, nil
	}
	root, err := os.OpenRoot(c.dir)
	if err != nil {
		return resolved, nil, nil, err
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		return resolved, nil, nil, err
	}
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	return resolved, data, nil, err
}

// local tells whether the relative path name stays below its directory by its own ".."s.
func local(name string) bool {
	clean := filepath.Clean(name)
	return clean != ".." && !strings.HasPrefix(clean, ".."+string(filepath.Separator))
}

// resolveInRoot resolves the symlinks of path and of the builders file's directory and tells
// whether path still lies inside it; rel is where it leads, relative to the directory. A path
// that does not resolve (it does not exist) is left for the open to report.
func (c *checker) resolveInRoot(path string) (rel string, ok bool) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", true
	}
	rootReal, err := filepath.EvalSymlinks(c.dir)
	if err != nil {
		return "", true
	}
	if real, err = filepath.Abs(real); err != nil {
		return "", true
	}
	if rootReal, err = filepath.Abs(rootReal); err != nil {
		return "", true
	}
	rel, err = filepath.Rel(rootReal, real)
	return rel, err == nil && local(rel)
}
