package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/client"
)

// TestRunMetadataFile checks that --metadata-file has the keys and shape of buildx's: the
// exporter response with its JSON values decoded, naming the digest the registry serves.
func TestRunMetadataFile(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, twoNodes)
	applyFile(t, file)
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base\nCOPY hello /hello\nRUN uname -m > /arch\n")
	writeFile(t, dir, "hello", "metadata "+ns+"\n")

	tests := map[string]struct {
		platform string
		// accept is the media type the registry serves the tag as.
		accept string
	}{
		// with the default provenance attestation, one platform is an index too, as with buildx
		"one node":  {platform: "linux/amd64", accept: "application/vnd.oci.image.index.v1+json"},
		"two nodes": {platform: "linux/amd64,linux/arm64", accept: "application/vnd.oci.image.index.v1+json"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			repo := ns + "/" + strings.ReplaceAll(name, " ", "-")
			image := env.Registry + "/" + repo + ":1"
			meta := filepath.Join(t.TempDir(), "metadata.json")
			mustRun(t, "run", dir, "--builders-file", file, "--kubeconfig="+env.Kubeconfig, "--progress", "quiet",
				"--build-context", "base=oci-layout://"+env.BaseLayout+"@"+env.BaseDigest, "--platform", tt.platform,
				"-t", image, "--output", "type=registry,registry.insecure=true", "--metadata-file", meta)

			var m struct {
				Digest     string `json:"containerimage.digest"`
				Name       string `json:"image.name"`
				Ref        string `json:"buildx.build.ref"`
				Descriptor *struct {
					MediaType string
					Digest    string
				} `json:"containerimage.descriptor"`
			}
			raw := readFile(t, meta)
			if err := json.Unmarshal([]byte(raw), &m); err != nil {
				t.Fatalf("metadata file: %v\n%s", err, raw)
			}
			served, mediaType := registryDigest(t, repo, "1", tt.accept)
			if m.Digest == "" || m.Digest != served {
				t.Errorf("containerimage.digest = %q, the registry serves %s as %s", m.Digest, image, served)
			}
			if m.Name != image {
				t.Errorf("image.name = %q, want %q", m.Name, image)
			}
			if m.Descriptor == nil || m.Descriptor.Digest != served || m.Descriptor.MediaType != mediaType {
				t.Errorf("containerimage.descriptor = %+v, want a JSON object of %s %s", m.Descriptor, mediaType, served)
			}
			if !strings.HasPrefix(m.Ref, "kube/amd/") {
				t.Errorf("buildx.build.ref = %q, want kube/amd/REF", m.Ref)
			}
			t.Logf("metadata file:\n%s", raw)
		})
	}
}

// registryDigest returns the digest and media type the test registry serves repo:tag as.
func registryDigest(t *testing.T, repo, tag, accept string) (digest, mediaType string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodHead, "http://"+env.Registry+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD %s: %s", req.URL, resp.Status)
	}
	return resp.Header.Get("Docker-Content-Digest"), resp.Header.Get("Content-Type")
}

// TestRunProgressModes checks what --progress rawjson and quiet write: solve status as JSON
// lines on stderr, or nothing but the requested result.
func TestRunProgressModes(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	dir := t.TempDir()
	marker := "progress-" + ns
	writeFile(t, dir, "Dockerfile", "FROM base\nRUN echo "+marker+" && echo "+marker+" > /out\n")
	args := []string{"run", dir, "--builders-file", file, "--kubeconfig=" + env.Kubeconfig,
		"--build-context", "base=oci-layout://" + env.BaseLayout + "@" + env.BaseDigest, "--output=-"}

	t.Run("rawjson", func(t *testing.T) {
		code, out, errs := runCluster(t, append(args, "--progress", "rawjson", "--no-cache")...)
		if code != 0 {
			t.Fatalf("run = %d\n%s", code, errs)
		}
		if got := tarFile(t, out, "out"); got != marker+"\n" {
			t.Errorf("stdout: /out of the tar = %q, want %q", got, marker+"\n")
		}
		var completed, logged bool
		for i, line := range strings.Split(strings.TrimSuffix(errs, "\n"), "\n") {
			var st client.SolveStatus
			dec := json.NewDecoder(strings.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&st); err != nil {
				t.Fatalf("stderr line %d is not a solve status: %v\n%s", i+1, err, line)
			}
			for _, v := range st.Vertexes {
				completed = completed || strings.Contains(v.Name, "RUN echo "+marker) && v.Completed != nil && v.Error == ""
			}
			for _, l := range st.Logs {
				logged = logged || bytes.Contains(l.Data, []byte(marker+"\n"))
			}
		}
		if !completed || !logged {
			t.Errorf("rawjson: RUN step completed %v, its output logged %v\n%s", completed, logged, errs)
		}
	})
	t.Run("quiet", func(t *testing.T) {
		code, out, errs := runCluster(t, append(args, "--progress", "quiet", "--no-cache")...)
		if code != 0 || errs != "" {
			t.Fatalf("run = %d, want 0 and nothing on stderr:\n%s", code, errs)
		}
		if got := tarFile(t, out, "out"); got != marker+"\n" {
			t.Errorf("stdout: /out of the tar = %q, want %q", got, marker+"\n")
		}
	})
}

// tarFile returns the content of the file name in the tar archive ar.
func tarFile(t *testing.T, ar, name string) string {
	t.Helper()
	tr := tar.NewReader(strings.NewReader(ar))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("no %s in the tar on stdout (%d bytes)", name, len(ar))
		}
		if err != nil {
			t.Fatalf("read the tar on stdout: %v", err)
		}
		if strings.TrimPrefix(h.Name, "/") == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}

// TestRunSSHForwardsAgentSocket checks that --ssh default=SOCKET mounts a socket for
// RUN --mount=type=ssh,required=true, and that without it the step fails naming the missing
// agent. (Without required=true, BuildKit runs the step with no socket, as for buildx.)
func TestRunSSHForwardsAgentSocket(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	sockDir, err := os.MkdirTemp("", "bkctl-ssh") // short: a unix socket path has ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })

	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base\nRUN --mount=type=ssh,required=true test -S \"$SSH_AUTH_SOCK\" && echo "+ns+"\n")
	args := []string{"run", dir, "--builders-file", file, "--kubeconfig=" + env.Kubeconfig, "--progress", "plain",
		"--build-context", "base=oci-layout://" + env.BaseLayout + "@" + env.BaseDigest}

	// without first: a failed step is not cached, a succeeded one would be taken from the cache
	code, _, errs := runCluster(t, args...)
	// BuildKit names the default agent "" here, as it does for buildx
	if code != 1 || !strings.Contains(errs, "no SSH key") || !strings.Contains(errs, "forwarded from the client") {
		t.Fatalf("run without --ssh = %d, want 1 with: no SSH key … forwarded from the client\nstderr:\n%s", code, errs)
	}
	if code, out, errs := runCluster(t, append(args, "--ssh", "default="+sock)...); code != 0 {
		t.Fatalf("run --ssh default=%s = %d\nstdout:\n%s\nstderr:\n%s", sock, code, out, errs)
	}
}
