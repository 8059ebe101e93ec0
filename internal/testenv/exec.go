package testenv

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
)

// execOutput runs cmd in the pod's container through the apiserver and kwok (websocket, SPDY if
// refused) and returns its standard output.
func (e *Env) execOutput(ctx context.Context, namespace, pod, container string, cmd ...string) (string, error) {
	req := e.clientset.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).
		SubResource("exec").VersionedParams(&corev1.PodExecOptions{
		Container: container, Command: cmd, Stdout: true, Stderr: true,
	}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(e.Config, "GET", req.URL().String())
	if err != nil {
		return "", err
	}
	spdy, err := remotecommand.NewSPDYExecutor(e.Config, "POST", req.URL())
	if err != nil {
		return "", err
	}
	exe, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	if err := exe.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}); err != nil {
		return "", fmt.Errorf("exec %s in Pod/%s/%s: %w: %s", strings.Join(cmd, " "), namespace, pod, err, stderr.String())
	}
	return stdout.String(), nil
}

// waitExec waits until an exec into the pod runs on this host with the pod's daemon address,
// and has buildctl there reach the daemon (starting it) and list its platform: kwok loads Exec
// objects with an informer of its own, which is not ready as soon as kwok is.
func (e *Env) waitExec(ctx context.Context, namespace, pod, addr, platform string) error {
	var last error
	err := poll(ctx, 50*time.Millisecond, "exec into Pod/"+namespace+"/"+pod, func(ctx context.Context) (bool, error) {
		// one try may hang (a stream that never ends under load): it gets a deadline of its own
		tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		out, err := e.execOutput(tctx, namespace, pod, "buildkitd", "/bin/sh", "-c", `echo "$BUILDKIT_HOST" && buildctl debug workers`)
		if err != nil {
			last = err
			return false, nil
		}
		host, workers, _ := strings.Cut(out, "\n")
		if host != addr {
			return false, fmt.Errorf("exec into Pod/%s/%s reached BUILDKIT_HOST=%q, want %q", namespace, pod, host, addr)
		}
		if !strings.Contains(workers, platform) {
			return false, fmt.Errorf("exec into Pod/%s/%s: buildctl debug workers does not list %s:\n%s", namespace, pod, platform, workers)
		}
		return true, nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("%w (last error: %v)", err, last)
	}
	return err
}
