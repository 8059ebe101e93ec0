package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubeletConfig configures a kubelet for this machine: everything on 127.0.0.1, its state below
// the run directory, no QoS cgroups and no node-allocatable enforcement (the machine runs other
// things), cgroup v1 allowed, the kernel settings checked rather than changed (the environment
// sets them), and the API server trusted through the environment's CA.
func (n *node) kubeletConfig(caCert string, port, healthzPort int) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %q}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
protectKernelDefaults: true
cgroupsPerQOS: false
enforceNodeAllocatable: []
containerRuntimeEndpoint: unix://%s
podLogsDir: %q
volumePluginDir: %q
staticPodPath: ""
resolvConf: ""
registerNode: true
nodeStatusUpdateFrequency: 2s
imageGCHighThresholdPercent: 100
evictionHard: {}
`, port, healthzPort, caCert, n.socket, n.path("pod-logs"), n.path("volume-plugins"))
}

func (e *Env) startKubelet(ctx context.Context, pki *pki) error {
	n := e.node
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	dir := n.path("kubelet")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(n.kubeletConfig(pki.caCert, ports[0], ports[1])), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(e.BinDir, "kubelet"),
		"--config="+cfg, "--kubeconfig="+e.Kubeconfig,
		"--root-dir="+filepath.Join(dir, "root"), "--cert-dir="+filepath.Join(dir, "pki"),
		// the API server dials a node by its Hostname address (for exec and logs): it must
		// resolve to the loopback, where the kubelet listens
		"--hostname-override="+NodeReal,
		"-v=1",
	)
	cmd.Env = []string{nodePath}
	p, err := e.run.startProcess("kubelet", cmd)
	if err != nil {
		return err
	}
	n.kubelet = p
	if err := waitHealthy(ctx, p, "kubelet", httpOK(http.DefaultClient, "http://127.0.0.1:"+strconv.Itoa(ports[1])+"/healthz")); err != nil {
		return err
	}
	return poll(ctx, 100*time.Millisecond, "Node/"+NodeReal+" Ready", func(ctx context.Context) (bool, error) {
		if err := p.exited(); err != nil {
			return false, err
		}
		node, err := e.clientset.CoreV1().Nodes().Get(ctx, NodeReal, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // not registered yet
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
}
