package testenv_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/tonistiigi/fsutil"
)

// podClient connects a BuildKit client to the pod's buildkitd through pod exec of
// `buildctl dial-stdio`, as bkctl and buildx do.
func podClient(t *testing.T, ns, pod string, tr transport) *bkclient.Client {
	t.Helper()
	c, err := bkclient.New(t.Context(), "", bkclient.WithContextDialer(func(context.Context, string) (net.Conn, error) {
		return execConn(env.Config, ns, pod, tr)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func workerOf(ctx context.Context, t *testing.T, c *bkclient.Client) (id, platform string) {
	t.Helper()
	ws, err := c.ListWorkers(ctx)
	if err != nil {
		t.Fatalf("list workers: %v", err)
	}
	if len(ws) != 1 || len(ws[0].Platforms) == 0 {
		t.Fatalf("workers = %+v, want one with platforms", ws)
	}
	p := ws[0].Platforms[0]
	return ws[0].ID, p.OS + "/" + p.Architecture
}

func TestExecReachesThePodsOwnDaemon(t *testing.T) {
	ctx := t.Context()
	ns := env.Namespace(t)
	for _, name := range []string{"amd", "arm"} {
		if _, err := apply(ctx, t, ns, "bkctl", builderDeployment(name, name+"64", 1), false, false); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		app, platform string
		transports    []transport
	}{
		{"amd", "linux/amd64", []transport{websocketOrSPDY, spdyOnly}},
		{"arm", "linux/arm64", []transport{websocketOrSPDY, spdyOnly}},
	}
	daemons := map[string]string{}
	for _, tc := range tests {
		pod := waitReadyPods(ctx, t, ns, tc.app, 1)[0]
		addr, err := env.PodDaemon(ctx, ns, pod.Name)
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := daemons[addr]; dup {
			t.Fatalf("pods %s and %s share the buildkitd %s", other, pod.Name, addr)
		}
		daemons[addr] = pod.Name

		direct, err := bkclient.New(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		wantID, platform := workerOf(ctx, t, direct)
		direct.Close()
		if platform != tc.platform {
			t.Errorf("buildkitd of %s serves %s, want %s", pod.Name, platform, tc.platform)
		}
		for _, tr := range tc.transports {
			t.Run(tc.app+"/"+string(tr), func(t *testing.T) {
				c := podClient(t, ns, pod.Name, tr)
				id, platform := workerOf(ctx, t, c)
				if id != wantID {
					t.Errorf("exec into %s reached worker %s, want %s (the pod's own buildkitd at %s)", pod.Name, id, wantID, addr)
				}
				if platform != tc.platform {
					t.Errorf("exec into %s: worker platform %s, want %s", pod.Name, platform, tc.platform)
				}
			})
		}
	}
}

func TestPushFromBaseImage(t *testing.T) {
	ctx := t.Context()
	ns := env.Namespace(t)
	if _, err := apply(ctx, t, ns, "bkctl", builderDeployment("arm", "arm64", 1), false, false); err != nil {
		t.Fatal(err)
	}
	pod := waitReadyPods(ctx, t, ns, "arm", 1)[0]
	c := podClient(t, ns, pod.Name, websocketOrSPDY)

	dir := t.TempDir()
	dockerfile := "FROM base\nRUN echo \"built on $(uname -m)\" > /built\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	fs, err := fsutil.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	repo := "testenv/" + ns
	opt := bkclient.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: map[string]string{"platform": "linux/arm64"},
		LocalMounts:   map[string]fsutil.FS{"context": fs, "dockerfile": fs},
		Exports: []bkclient.ExportEntry{{Type: bkclient.ExporterImage, Attrs: map[string]string{
			"name": env.Registry + "/" + repo + ":1", "push": "true", "registry.insecure": "true",
		}}},
	}
	if err := env.UseBaseImage(&opt); err != nil {
		t.Fatal(err)
	}
	resp := solve(ctx, t, c, opt)
	digest := resp.ExporterResponse["containerimage.digest"]

	manifest, gotDigest := registryGet(t, repo, "manifests/1")
	if gotDigest != digest {
		t.Errorf("registry has digest %s for %s:1, the build pushed %s", gotDigest, repo, digest)
	}
	var m struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		t.Fatalf("decode manifest: %v\n%s", err, manifest)
	}
	if len(m.Layers) != 2 {
		t.Fatalf("manifest has %d layers, want 2 (base, RUN):\n%s", len(m.Layers), manifest)
	}
	cfg, _ := registryGet(t, repo, "blobs/"+m.Config.Digest)
	var config struct{ Architecture, OS string }
	if err := json.Unmarshal(cfg, &config); err != nil {
		t.Fatal(err)
	}
	if config.OS+"/"+config.Architecture != "linux/arm64" {
		t.Errorf("image config is for %s/%s, want linux/arm64", config.OS, config.Architecture)
	}
	layer, _ := registryGet(t, repo, "blobs/"+m.Layers[1].Digest)
	if got := fileInLayer(t, layer, "built"); got != "built on aarch64\n" {
		t.Errorf("/built = %q, want the RUN step to have run emulated on aarch64", got)
	}
}

func solve(ctx context.Context, t *testing.T, c *bkclient.Client, opt bkclient.SolveOpt) *bkclient.SolveResponse {
	t.Helper()
	var progress strings.Builder
	d, err := progressui.NewDisplay(&progress, progressui.PlainMode)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *bkclient.SolveStatus)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = d.UpdateFrom(context.WithoutCancel(ctx), ch)
	}()
	resp, err := c.Solve(ctx, nil, opt, ch)
	<-done
	if err != nil {
		t.Fatalf("solve: %v\n%s", err, progress.String())
	}
	return resp
}

// registryGet reads from the registry's v2 API; for manifests it also returns the digest.
func registryGet(t *testing.T, repo, path string) ([]byte, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, fmt.Sprintf("http://%s/v2/%s/%s", env.Registry, repo, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", req.URL, resp.Status, b)
	}
	return b, resp.Header.Get("Docker-Content-Digest")
}

func fileInLayer(t *testing.T, layer []byte, name string) string {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(string(layer)))
	if err != nil {
		t.Fatalf("layer: %v", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("layer has no %s", name)
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}
