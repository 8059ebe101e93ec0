package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// nodePath is the PATH of containerd and the kubelet. It leaves out /usr/sbin on purpose: the
// kubelet then finds no iptables and creates no chains (it needs none: there is no kube-proxy,
// and pods reach nothing but the bridge), and runc is named by its full path.
const nodePath = "PATH=/usr/local/bin:/usr/bin:/bin"

// containerdConfig is a private containerd 1.6 (Debian's): its own root, state, sockets and opt
// dir below the run directory, the CRI plugin with runc and a CNI bridge.
func (n *node) containerdConfig() string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # root here lacks CAP_SYS_RESOURCE: without this every sandbox fails in runc
  restrict_oom_score_adj = true
  # the pods' network namespaces below the state dir, not in /run/netns
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[7]q
`, n.path("containerd", "root"), n.path("containerd", "state"), n.socket, n.socket+".ttrpc",
		n.path("containerd", "opt"), PauseImage, n.path("cni"))
}

// cniConfig is a bridge on a private /24: isGateway gives the bridge the subnet's first address
// (where the registry's forwarder listens), and there is no default route and no masquerade, so
// a pod reaches nothing but the bridge's subnet.
func (n *node) cniConfig() string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "bkctl-testenv",
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": %q, "gateway": %q}]],
      "dataDir": %q
    }
  }, {"type": "loopback"}]
}
`, nodeBridge, nodeSubnet, nodeGateway, n.path("cni-ipam"))
}

func (e *Env) startContainerd(ctx context.Context) error {
	n := e.node
	for _, d := range []string{n.path("containerd"), n.path("cni"), n.path("cni-ipam")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	cfg := n.path("containerd", "config.toml")
	if err := os.WriteFile(cfg, []byte(n.containerdConfig()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(n.path("cni", "10-bkctl.conflist"), []byte(n.cniConfig()), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("/usr/bin/containerd", "--config", cfg)
	cmd.Env = []string{nodePath}
	p, err := e.run.startProcess("containerd", cmd)
	if err != nil {
		return err
	}
	n.containerd = p
	return waitHealthy(ctx, p, "containerd", func(ctx context.Context) error {
		_, err := n.ctr(ctx, "version")
		return err
	})
}

// ctr runs Debian's ctr against the node's containerd, in the k8s.io namespace of the CRI plugin.
func (n *node) ctr(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "/usr/bin/ctr", append([]string{"--address", n.socket, "--namespace", "k8s.io"}, args...)...)
	cmd.Env = []string{nodePath}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// importImages loads the node images into containerd under their names and unpacks them.
func (e *Env) importImages(ctx context.Context, tarballs []string) error {
	for _, t := range tarballs {
		if _, err := e.node.ctr(ctx, "images", "import", "--snapshotter", "overlayfs", t); err != nil {
			return err
		}
	}
	out, err := e.node.ctr(ctx, "images", "list", "-q")
	if err != nil {
		return err
	}
	for _, want := range []string{PauseImage, "docker.io/" + BuildkitImage} {
		if !strings.Contains(out, want+"\n") {
			return fmt.Errorf("import images: %s missing from containerd after import (it has: %s)", want, strings.Fields(out))
		}
	}
	return nil
}
