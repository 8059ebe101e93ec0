package buildrun

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/dfgitutil"
	"github.com/moby/buildkit/session/upload/uploadprovider"
	"github.com/moby/buildkit/util/archiveutil"
	"github.com/tonistiigi/fsutil"
)

// IsRemoteContext reports whether a build context is one the daemon fetches itself, as buildx
// decides it: an http(s) URL (a tarball, a Dockerfile or a git repository) or a git reference
// that BuildKit's dockerfile frontend parses (git@…, git://, ….git#ref).
func IsRemoteContext(c string) bool {
	if strings.HasPrefix(c, "http://") || strings.HasPrefix(c, "https://") {
		return true
	}
	_, ok, _ := dfgitutil.ParseGitRef(c)
	return ok
}

// inputs sets the context and Dockerfile of the solve, as buildx's inputs: a local directory is
// mounted as "context"; a remote context goes to the frontend's context attribute and the daemon
// fetches it; "-" reads Stdin, a tar archive as the context (uploaded through the session), else
// a Dockerfile with an empty context. A Dockerfile "-" is read from Stdin.
func (b *solveBase) inputs(opts Options) error {
	dockerfile := opts.Dockerfile
	ctxPath := opts.ContextDir
	if ctxPath == "-" && dockerfile == "-" {
		return fmt.Errorf("build context and Dockerfile cannot both be read from stdin")
	}
	var dfReader io.Reader
	switch {
	case ctxPath == "-":
		br := bufio.NewReaderSize(stdinOf(opts), 64<<10)
		head, _ := br.Peek(512)
		if archiveutil.IsArchive(head) {
			up := uploadprovider.New()
			b.attrs["context"] = up.Add(io.NopCloser(br))
			b.session = append(b.session, up)
		} else {
			if dockerfile != "" {
				return fmt.Errorf("ambiguous Dockerfile source: both stdin and -f name a Dockerfile")
			}
			dfReader = br
			empty, err := b.tempDir("bkctl-context-")
			if err != nil {
				return err
			}
			if err := b.mount("context", empty); err != nil {
				return fmt.Errorf("build context: %w", err)
			}
		}
	case IsRemoteContext(ctxPath):
		b.attrs["context"] = ctxPath
		if dockerfile == "-" {
			dfReader = stdinOf(opts)
		} else if filepath.IsAbs(dockerfile) {
			if err := b.mountDockerfile(dockerfile); err != nil {
				return err
			}
			b.attrs["dockerfilekey"] = "dockerfile" // the frontend reads it from the client, not the context
		} else if dockerfile != "" {
			b.attrs["filename"] = dockerfile
		}
	default:
		st, err := os.Stat(ctxPath)
		if err != nil || !st.IsDir() {
			return fmt.Errorf("build context %s: not a directory, git repository or URL", ctxPath)
		}
		if err := b.mount("context", ctxPath); err != nil {
			return fmt.Errorf("build context: %w", err)
		}
		switch dockerfile {
		case "-":
			dfReader = stdinOf(opts)
		case "":
			if err := b.mountDockerfile(filepath.Join(ctxPath, "Dockerfile")); err != nil {
				return err
			}
		default:
			if err := b.mountDockerfile(dockerfile); err != nil {
				return err
			}
		}
	}
	if dfReader != nil {
		dir, err := b.tempDir("bkctl-dockerfile-")
		if err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(dir, "Dockerfile"))
		if err != nil {
			return err
		}
		_, err = io.Copy(f, dfReader)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("read Dockerfile from stdin: %w", err)
		}
		if err := b.mountDockerfile(filepath.Join(dir, "Dockerfile")); err != nil {
			return err
		}
		b.attrs["dockerfilekey"] = "dockerfile"
	}
	if _, ok := b.attrs["filename"]; !ok {
		b.attrs["filename"] = "Dockerfile"
	}
	return nil
}

// mountDockerfile mounts the Dockerfile's directory as the frontend's dockerfile input.
func (b *solveBase) mountDockerfile(path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("read Dockerfile: %w", err)
	}
	if err := b.mount("dockerfile", filepath.Dir(path)); err != nil {
		return fmt.Errorf("dockerfile directory: %w", err)
	}
	b.attrs["filename"] = filepath.Base(path)
	return nil
}

// mount makes directory dir the solve's local input name.
func (b *solveBase) mount(name, dir string) error {
	fs, err := fsutil.NewFS(dir)
	if err != nil {
		return err
	}
	b.mounts[name], b.dirs[name] = fs, dir
	return nil
}

func (b *solveBase) tempDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	b.temps = append(b.temps, dir)
	return dir, nil
}

func stdinOf(opts Options) io.Reader {
	if opts.Stdin == nil {
		return strings.NewReader("")
	}
	return opts.Stdin
}
