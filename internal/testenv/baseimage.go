package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/plugins/content/local"
	bkclient "github.com/moby/buildkit/client"
	"github.com/tonistiigi/fsutil"
)

// baseRecipe changes whenever the way the base image is built changes, to miss the cache.
const baseRecipe = "busybox-rootfs/v1"

// baseImageName is the name of the base image in its OCI layout's index.json.
const baseImageName = "base:latest"

// ensureBaseImage sets BaseLayout and BaseDigest to a busybox image for linux/amd64 and
// linux/arm64, built FROM scratch with a buildkitd of this environment the first time, and kept
// in the user cache keyed by both busybox binaries and buildkitd.
func (e *Env) ensureBaseImage(ctx context.Context, cacheDir string) (cached bool, err error) {
	arm64 := filepath.Join(cacheDir, "testdeps", "busybox.arm64")
	buildkitd, err := filepath.EvalSymlinks(filepath.Join(e.BinDir, "buildkitd"))
	if err != nil {
		return false, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", baseRecipe, buildkitd)
	for _, f := range []string{"/bin/busybox", arm64} {
		if err := hashFile(h, f); err != nil {
			return false, err
		}
	}
	dir := filepath.Join(cacheDir, "baseimage", hex.EncodeToString(h.Sum(nil))[:16])
	e.BaseLayout = filepath.Join(dir, "layout")

	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return false, err
	}
	lock, err := os.OpenFile(filepath.Join(filepath.Dir(dir), ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return false, err
	}
	defer lock.Close()
	// another test binary may be building the same image right now
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return false, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "digest")); err == nil {
		e.BaseDigest = strings.TrimSpace(string(b))
		return true, nil
	}

	ctxDir := filepath.Join(e.RunDir, "basectx")
	if err := writeBaseContext(ctxDir, arm64); err != nil {
		return false, err
	}
	d, err := e.newDaemon("base", "", false)
	if err != nil {
		return false, err
	}
	defer d.stop()
	if err := d.wait(ctx); err != nil {
		return false, err
	}
	c, err := bkclient.New(ctx, d.addr)
	if err != nil {
		return false, err
	}
	defer c.Close()
	fs, err := fsutil.NewFS(ctxDir)
	if err != nil {
		return false, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	resp, err := c.Solve(ctx, nil, bkclient.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: map[string]string{"platform": "linux/amd64,linux/arm64"},
		LocalMounts:   map[string]fsutil.FS{"context": fs, "dockerfile": fs},
		Exports: []bkclient.ExportEntry{{
			Type:      bkclient.ExporterOCI,
			OutputDir: filepath.Join(tmp, "layout"),
			Attrs:     map[string]string{"tar": "false", "name": baseImageName},
		}},
	}, nil)
	if err != nil {
		return false, fmt.Errorf("build base image: %w", err)
	}
	e.BaseDigest = resp.ExporterResponse["containerimage.digest"]
	if !strings.HasPrefix(e.BaseDigest, "sha256:") {
		return false, fmt.Errorf("build base image: no digest in the response (%v)", resp.ExporterResponse)
	}
	if err := os.WriteFile(filepath.Join(tmp, "digest"), []byte(e.BaseDigest+"\n"), 0o644); err != nil {
		return false, err
	}
	return false, os.Rename(tmp, dir)
}

// writeBaseContext lays out a Dockerfile and one busybox root file system per architecture.
func writeBaseContext(dir, arm64Busybox string) error {
	applets, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for arch, busybox := range map[string]string{"amd64": "/bin/busybox", "arm64": arm64Busybox} {
		root := filepath.Join(dir, "rootfs-"+arch)
		for _, d := range []string{"bin", "etc", "root"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				return err
			}
		}
		if err := os.Mkdir(filepath.Join(root, "tmp"), 0o755); err != nil {
			return err
		}
		if err := os.Chmod(filepath.Join(root, "tmp"), os.ModeSticky|0o777); err != nil {
			return err
		}
		if err := copyFile(busybox, filepath.Join(root, "bin", "busybox"), 0o755); err != nil {
			return err
		}
		for _, a := range strings.Fields(string(applets)) {
			if a == "busybox" {
				continue
			}
			if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
				return err
			}
		}
		files := map[string]string{
			"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
			"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
				return err
			}
		}
	}
	dockerfile := "FROM scratch\nARG TARGETARCH\nCOPY rootfs-${TARGETARCH}/ /\nENV PATH=/bin\nCMD [\"/bin/sh\"]\n"
	return os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644)
}

func hashFile(h io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(h, f)
	return err
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// UseBaseImage makes `FROM base` in a Dockerfile solved with opt resolve to the base image: it
// adds the named context and the OCI store that holds the image.
func (e *Env) UseBaseImage(opt *bkclient.SolveOpt) error {
	store, err := local.NewStore(e.BaseLayout)
	if err != nil {
		return fmt.Errorf("open base image layout: %w", err)
	}
	if opt.FrontendAttrs == nil {
		opt.FrontendAttrs = map[string]string{}
	}
	if opt.OCIStores == nil {
		opt.OCIStores = map[string]content.Store{}
	}
	opt.FrontendAttrs["context:base"] = "oci-layout://base@" + e.BaseDigest
	opt.OCIStores["base"] = store
	return nil
}
