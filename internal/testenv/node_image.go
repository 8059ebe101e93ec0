package testenv

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// imageEntry is one file, directory or symlink of an image's single layer.
type imageEntry struct {
	path     string // absolute path in the image
	src      string // host file to copy (a regular file), or
	data     []byte // the content of a regular file, or
	link     string // the target of a symlink; none of the three makes a directory
	mode     int64
	uid, gid int
	caps     []uint // file capabilities (security.capability), effective and permitted
}

// imageRecipe describes a one-layer image: the files of its layer and its config.
type imageRecipe struct {
	ref     string // the name it is imported under, as a pod names it
	entries []imageEntry
	config  v1.Config
}

// key hashes everything the image is made from: the recipe and the bytes of every host file.
func (r imageRecipe) key(h io.Writer) error {
	fmt.Fprintf(h, "%s\n%#v\n", r.ref, r.config)
	for _, e := range r.entries {
		fmt.Fprintf(h, "%s|%s|%q|%s|%o|%d|%d|%v\n", e.path, e.src, e.data, e.link, e.mode, e.uid, e.gid, e.caps)
		if e.src != "" {
			if err := hashFile(h, e.src); err != nil {
				return err
			}
		}
	}
	return nil
}

// write writes the image as a docker-archive tarball at dst, the format `ctr images import` reads.
func (r imageRecipe) write(dst string) error {
	layerTar, err := r.layer()
	if err != nil {
		return fmt.Errorf("make layer of %s: %w", r.ref, err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config = r.config
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	tag, err := name.NewTag(r.ref)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(dst, tag, img)
}

// layer returns the layer's tar, parents before children, with every parent directory present.
func (r imageRecipe) layer() ([]byte, error) {
	entries := map[string]imageEntry{}
	for _, e := range r.entries {
		for d := path.Dir(e.path); d != "/"; d = path.Dir(d) {
			if _, ok := entries[d]; !ok {
				entries[d] = imageEntry{path: d, mode: 0o755}
			}
		}
		entries[e.path] = e
	}
	paths := make([]string, 0, len(entries))
	for p := range entries {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		e := entries[p]
		hdr := &tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: e.mode, Uid: e.uid, Gid: e.gid, Format: tar.FormatPAX}
		if len(e.caps) > 0 {
			hdr.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": string(fileCaps(e.caps))}
		}
		data := e.data
		switch {
		case e.link != "":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.link
		case e.src != "":
			b, err := os.ReadFile(e.src)
			if err != nil {
				return nil, err
			}
			data = b
			fallthrough
		case e.data != nil:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(data))
		default:
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// fileCaps encodes capabilities as the security.capability xattr (struct vfs_cap_data,
// revision 2): permitted, and effective on exec.
func fileCaps(caps []uint) []byte {
	var perm [2]uint32
	for _, c := range caps {
		perm[c/32] |= 1 << (c % 32)
	}
	const revision2, effective = 0x02000000, 0x000001
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], revision2|effective)
	binary.LittleEndian.PutUint32(b[4:], perm[0])
	binary.LittleEndian.PutUint32(b[12:], perm[1])
	return b
}

// hostBinary adds a host executable and the shared libraries ldd finds for it, at the same paths.
func hostBinary(src, dst string, mode int64) ([]imageEntry, error) {
	entries := []imageEntry{{path: dst, src: src, mode: mode}}
	out, err := exec.Command("ldd", src).Output()
	if err != nil {
		// a static binary: ldd exits 1 ("not a dynamic executable")
		return entries, nil //nolint:nilerr // nothing else to add
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		lib := ""
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			lib = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			lib = f[0]
		}
		if lib == "" {
			continue
		}
		real, err := filepath.EvalSymlinks(lib)
		if err != nil {
			return nil, err
		}
		entries = append(entries, imageEntry{path: lib, src: real, mode: 0o755})
	}
	return entries, nil
}

// busyboxEntries is a busybox-static /bin with a symlink for each applet: the shell and tools
// the BuildKit images' entrypoint scripts and `kubectl exec` checks use.
func busyboxEntries() ([]imageEntry, error) {
	list, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	entries := []imageEntry{{path: "/bin/busybox", src: "/bin/busybox", mode: 0o755}}
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" {
			entries = append(entries, imageEntry{path: "/bin/" + applet, link: "busybox", mode: 0o777})
		}
	}
	return entries, nil
}

// cacheImage writes the recipe's tarball into dir/<ref-hash>.tar unless it is there already, and
// returns its path. dir is keyed by every recipe, so a present file is complete (written by rename).
func cacheImage(dir string, r imageRecipe) (string, error) {
	sum := sha256.Sum256([]byte(r.ref))
	dst := filepath.Join(dir, hex.EncodeToString(sum[:8])+".tar")
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	tmp := dst + fmt.Sprintf(".%d.tmp", os.Getpid())
	if err := r.write(tmp); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return dst, os.Rename(tmp, dst)
}

// lockDir takes an exclusive lock on dir/.lock until the returned function runs.
func lockDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
