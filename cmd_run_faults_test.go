package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bkctl/bkctl/internal/testenv"
)

// TestRunDaemonKilledMidBuild kills the buildkitd of the only pod while a build runs a slow
// step that is to be pushed. When the daemon comes back (as a kubelet restarts a crashed
// container), the build says it lost the connection and retries, and the tag then names a
// complete image. When it stays down, the build fails naming the builder, the node, the pod and
// the lost connection, and nothing is pushed under the tag.
func TestRunDaemonKilledMidBuild(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	pod := podNames(t, ns, "amd")[0]

	tests := map[string]struct {
		back bool // whether the daemon is restarted while the build still retries
	}{
		"daemon comes back": {back: true},
		"daemon stays down": {back: false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			repo := ns + "/" + strings.ReplaceAll(name, " ", "-")
			dir := t.TempDir()
			// unique per case: a step taken from the cache would not give the kill time to land
			writeFile(t, dir, "Dockerfile", "FROM base\nRUN sleep 5 && echo "+repo+" > /slow\n")
			args := []string{"run", dir, "--builders-file", file, "--kubeconfig=" + env.Kubeconfig, "--progress", "plain",
				"--build-context", "base=oci-layout://" + env.BaseLayout + "@" + env.BaseDigest,
				"-t", env.Registry + "/" + repo + ":1", "--output", "type=registry,registry.insecure=true",
				"--provenance=false"} // the check reads the tag as one manifest

			var resume func()
			code, out, errs := runClusterWhile(t, args, func(progress func() string) {
				waitFor(t, progress, "RUN sleep 5")
				time.Sleep(time.Second) // the step's container runs
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var err error
				if resume, err = env.KillDaemon(ctx, ns, pod); err != nil {
					t.Error(err)
					return
				}
				t.Cleanup(resume)
				if tt.back {
					time.Sleep(300 * time.Millisecond) // a kubelet does not restart at once either
					resume()
				}
			})
			if resume == nil {
				t.Fatalf("the daemon was never killed\nstderr:\n%s", errs)
			}
			lost := "node amd: build on Pod/" + ns + "/" + pod + ": lost the connection to buildkitd"
			if tt.back {
				if code != 0 {
					t.Fatalf("run = %d, want 0 after a retry\nstdout:\n%s\nstderr:\n%s", code, out, errs)
				}
				again := "node amd: attempt 2 of 4 on Pod/" + ns + "/" + pod
				if !strings.Contains(errs, lost) || !strings.Contains(errs, "retrying (attempt 2 of 4)") || !strings.Contains(errs, again) {
					t.Errorf("stderr does not say %q … retrying (attempt 2 of 4), then %q:\n%s", lost, again, errs)
				}
				checkPushedImage(t, repo, "1")
				t.Logf("stderr:\n%s", errs)
				return
			}
			want := "builder kube: " + lost
			if code != 1 || !strings.Contains(errs, want) {
				t.Errorf("run = %d, want 1 with %q\nstdout:\n%s\nstderr:\n%s", code, want, out, errs)
			}
			if status := registryStatus(t, "/v2/"+repo+"/manifests/1"); status != http.StatusNotFound {
				t.Errorf("GET manifest %s:1 = %d after a failed build, want 404", repo, status)
			}
			if status := registryStatus(t, "/v2/"+repo+"/tags/list"); status != http.StatusNotFound {
				t.Errorf("GET tags of %s = %d after a failed build, want 404 (no repository)", repo, status)
			}
			t.Logf("stderr:\n%s", errs)
		})
	}
}

// TestRunRegistryDown pushes to a registry address where nothing listens: the build fails
// naming the registry's host:port.
func TestRunRegistryDown(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close() // a port that was just free: nothing listens there now
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base\nRUN echo "+ns+" > /x\n")
	code, out, errs := runCluster(t, "run", dir, "--builders-file", file, "--kubeconfig="+env.Kubeconfig, "--progress", "plain",
		"--build-context", "base=oci-layout://"+env.BaseLayout+"@"+env.BaseDigest,
		"-t", down+"/"+ns+"/app:1", "--output", "type=registry,registry.insecure=true")
	// BuildKit's message names the image and the address it could not reach; bkctl adds the
	// builder, node and pod, and does not retry: the registry's trouble is not the pod's
	last := lastLine(errs)
	for _, want := range []string{"Error: builder kube: node amd: build on Pod/" + ns + "/",
		"failed to push " + down + "/" + ns + "/app:1: ", "dial tcp " + down + ": connect: connection refused"} {
		if code != 1 || !strings.Contains(last, want) {
			t.Errorf("run = %d, want 1 with a last line naming %q\nstdout:\n%s\nstderr:\n%s", code, want, out, errs)
		}
	}
	if strings.Contains(errs, "retrying") {
		t.Errorf("a push to a registry that is down was retried:\n%s", errs)
	}
	t.Logf("error: %s", last)
}

// runClusterWhile runs bkctl like runCluster while during runs with a function that returns the
// stderr written so far.
func runClusterWhile(t *testing.T, args []string, during func(progress func() string)) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	var errw testenv.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, streams{In: strings.NewReader(""), Out: &out, Err: &errw}) }()
	var wg sync.WaitGroup
	wg.Go(func() { during(errw.String) })
	code := <-done
	wg.Wait()
	return code, out.String(), errw.String()
}

// waitFor waits until progress() contains s, for a minute at most.
func waitFor(t *testing.T, progress func() string, s string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(progress(), s) {
		if time.Now().After(deadline) {
			t.Errorf("no %q in the progress after a minute:\n%s", s, progress())
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// registryStatus returns the status of GET path on the test registry.
func registryStatus(t *testing.T, path string) int {
	t.Helper()
	resp, err := http.Get("http://" + env.Registry + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// checkPushedImage checks that the test registry serves repo:tag as an image manifest whose
// config and layers all exist.
func checkPushedImage(t *testing.T, repo, tag string) {
	t.Helper()
	m := getManifest(t, http.DefaultClient, "http://"+env.Registry, repo, tag, nil)
	blobs := append([]descriptor{m.Config}, m.Layers...)
	if m.Config.Digest == "" || len(m.Layers) == 0 {
		t.Fatalf("manifest of %s:%s has config %q and %d layers", repo, tag, m.Config.Digest, len(m.Layers))
	}
	for _, b := range blobs {
		req, _ := http.NewRequest(http.MethodHead, "http://"+env.Registry+"/v2/"+repo+"/blobs/"+b.Digest, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ContentLength != b.Size {
			t.Errorf("HEAD blob %s of %s:%s = %s, %d bytes; want 200 and %d bytes", b.Digest, repo, tag, resp.Status, resp.ContentLength, b.Size)
		}
	}
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

type manifest struct {
	MediaType string       `json:"mediaType"`
	Config    descriptor   `json:"config"`
	Layers    []descriptor `json:"layers"`
}

// getManifest reads repo:tag as an image manifest from the registry at base, with auth set on
// the request when it is not nil.
func getManifest(t *testing.T, c *http.Client, base, repo, tag string, auth func(*http.Request)) manifest {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	if auth != nil {
		auth(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m manifest
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", req.URL, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(fmt.Errorf("decode manifest of %s:%s: %w", repo, tag, err))
	}
	return m
}
