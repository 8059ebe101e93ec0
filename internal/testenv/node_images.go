package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// nodeImagesRecipe changes whenever the way the node images are made changes, to miss the cache.
const nodeImagesRecipe = "node-images/v2"

// The images a real node runs. Nothing can be pulled here, so they are made from the test
// binaries and imported into the node's containerd under these names, which the rendered objects
// use unchanged.
const (
	PauseImage            = "registry.k8s.io/pause:3.10"
	BuildkitImage         = "moby/buildkit:buildx-stable-1"
	BuildkitRootlessImage = "moby/buildkit:buildx-stable-1-rootless"
)

// Capability numbers (linux/capability.h).
const (
	capSetgid  = 6
	capSetuid  = 7
	capSetfcap = 31
)

// alpinePath is the PATH of the official images' alpine base, which their config inherits.
const alpinePath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// nodeImageRecipes returns the images of the real-node tier. They follow the official BuildKit
// Dockerfile of the pinned version (targets buildkit-linux and rootless): the same binaries
// under /usr/bin, entrypoint, ENV, USER and VOLUME. What they lack against upstream: the alpine
// packages (git, openssh, fuse3, fuse-overlayfs, pigz, xz, iptables), the CNI plugins and the
// QEMU emulators; busybox stands in for alpine's shell and tools.
func nodeImageRecipes(binDir, buildkitSrc string) ([]imageRecipe, error) {
	busybox, err := busyboxEntries()
	if err != nil {
		return nil, err
	}
	runc, err := hostBinary("/usr/sbin/runc", "/usr/bin/buildkit-runc", 0o755)
	if err != nil {
		return nil, err
	}
	etc := []imageEntry{
		{path: "/etc/passwd", data: []byte("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"), mode: 0o644},
		{path: "/etc/group", data: []byte("root:x:0:root\nuser:x:1000:\n"), mode: 0o644},
		{path: "/tmp", mode: 0o1777},
		{path: "/root", mode: 0o700},
	}
	base := append(append(append([]imageEntry{}, busybox...), runc...), etc...)
	base = append(base,
		imageEntry{path: "/usr/bin/buildkitd", src: filepath.Join(binDir, "buildkitd"), mode: 0o755},
		imageEntry{path: "/usr/bin/buildctl", src: filepath.Join(binDir, "buildctl"), mode: 0o755},
	)

	pause := imageRecipe{
		ref: PauseImage,
		entries: []imageEntry{
			{path: "/bin/busybox", src: "/bin/busybox", mode: 0o755},
			{path: "/bin/sh", link: "busybox", mode: 0o777},
		},
		config: v1.Config{
			// the sandbox holds the pod's namespaces until it is told to end
			Entrypoint: []string{"/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do /bin/busybox sleep 3600 & wait $!; done"},
		},
	}

	rootful := imageRecipe{
		ref: BuildkitImage,
		entries: append(append([]imageEntry{}, base...),
			imageEntry{path: "/usr/bin/buildkitd-entrypoint", src: filepath.Join(buildkitSrc, "hack", "buildkitd-entrypoint"), mode: 0o755},
			imageEntry{path: "/usr/bin/with-cgroupfs-remount", src: filepath.Join(buildkitSrc, "hack", "with-cgroupfs-remount"), mode: 0o755},
			imageEntry{path: "/usr/bin/unshare", link: "/bin/busybox", mode: 0o777},
			imageEntry{path: "/var/lib/buildkit", mode: 0o755},
			imageEntry{path: "/etc/cdi", mode: 0o755},
			imageEntry{path: "/var/run/cdi", mode: 0o755},
			imageEntry{path: "/etc/buildkit/cdi", mode: 0o755},
		),
		config: v1.Config{
			Env:        []string{alpinePath, "BUILDKIT_SETUP_CGROUPV2_ROOT=1"},
			Entrypoint: []string{"/usr/bin/buildkitd-entrypoint"},
			Volumes:    map[string]struct{}{"/var/lib/buildkit": {}},
		},
	}
	recipes := []imageRecipe{pause, rootful}

	rootlesskit := filepath.Join(binDir, "rootlesskit")
	if _, err := os.Stat(rootlesskit); err == nil {
		uidmap := []imageEntry{}
		for _, b := range []string{"newuidmap", "newgidmap"} {
			e, err := hostBinary("/usr/bin/"+b, "/usr/bin/"+b, 0o755)
			if err != nil {
				return nil, err
			}
			// File capabilities, as Fedora installs them, rather than setuid root as alpine's
			// shadow-uidmap: Debian's newuidmap (shadow 4.13) writes the map with euid 0, and
			// without CAP_SYS_ADMIN (a container's bounding set lacks it) the kernel then refuses
			// it; with capabilities it writes as the namespace's owner.
			e[0].caps = []uint{capSetgid, capSetuid, capSetfcap}
			uidmap = append(uidmap, e...)
		}
		const user = 1000
		rootless := imageRecipe{
			ref: BuildkitRootlessImage,
			entries: append(append(append([]imageEntry{}, base...), uidmap...),
				imageEntry{path: "/usr/bin/rootlesskit", src: rootlesskit, mode: 0o755},
				imageEntry{path: "/etc/subuid", data: []byte("user:100000:65536\n"), mode: 0o644},
				imageEntry{path: "/etc/subgid", data: []byte("user:100000:65536\n"), mode: 0o644},
				imageEntry{path: "/run/user/1000", mode: 0o700, uid: user, gid: user},
				imageEntry{path: "/home/user", mode: 0o755, uid: user, gid: user},
				imageEntry{path: "/home/user/.local", mode: 0o755, uid: user, gid: user},
				imageEntry{path: "/home/user/.local/tmp", mode: 0o755, uid: user, gid: user},
				imageEntry{path: "/home/user/.local/share", mode: 0o755, uid: user, gid: user},
				imageEntry{path: "/home/user/.local/share/buildkit", mode: 0o755, uid: user, gid: user},
			),
			config: v1.Config{
				User: "1000:1000",
				Env: []string{alpinePath, "HOME=/home/user", "USER=user", "XDG_RUNTIME_DIR=/run/user/1000",
					"TMPDIR=/home/user/.local/tmp", "BUILDKIT_HOST=unix:///run/user/1000/buildkit/buildkitd.sock"},
				Entrypoint: []string{"rootlesskit", "buildkitd"},
				Volumes:    map[string]struct{}{"/home/user/.local/share/buildkit": {}},
			},
		}
		recipes = append(recipes, rootless)
	}
	return recipes, nil
}

// ensureNodeImages returns the docker-archive tarballs of the node images, made the first time
// and kept in the user cache, keyed by their recipes and the bytes of every file in them.
func ensureNodeImages(cacheDir, binDir string) (paths []string, cached bool, err error) {
	src, err := buildkitSource()
	if err != nil {
		return nil, false, err
	}
	recipes, err := nodeImageRecipes(binDir, src)
	if err != nil {
		return nil, false, err
	}
	h := sha256.New()
	fmt.Fprintln(h, nodeImagesRecipe)
	for _, r := range recipes {
		if err := r.key(h); err != nil {
			return nil, false, err
		}
	}
	parent := filepath.Join(cacheDir, "nodeimages")
	unlock, err := lockDir(parent)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	dir := filepath.Join(parent, hex.EncodeToString(h.Sum(nil))[:16])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, err
	}
	cached = true
	for _, r := range recipes {
		p, err := cacheImage(dir, r)
		if err != nil {
			return nil, false, fmt.Errorf("make image %s: %w", r.ref, err)
		}
		paths = append(paths, p)
	}
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err != nil {
		cached = false
		if err := os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644); err != nil {
			return nil, false, err
		}
	}
	return paths, cached, nil
}

// buildkitSource returns the directory of the pinned BuildKit module in the module cache: the
// images take its entrypoint scripts from there.
func buildkitSource() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/moby/buildkit")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("find the BuildKit module: go list -m: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	if _, err := os.Stat(filepath.Join(dir, "hack", "buildkitd-entrypoint")); err != nil {
		return "", fmt.Errorf("find BuildKit's entrypoint script: %w", err)
	}
	return dir, nil
}
