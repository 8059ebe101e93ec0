package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// randomSecret returns a value that appears nowhere by chance.
func randomSecret(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// secretForms are the spellings of secret that an output could carry it in: as is, and in
// base64 at each of the three alignments a longer base64 text could hold it (rawjson progress
// encodes log lines in base64; a docker config's auth is base64).
func secretForms(secret string) []string {
	forms := []string{secret}
	for pad := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, pad), secret...))
		// drop the characters that depend on the bytes around the secret
		start := (pad*8 + 5) / 6
		end := len(strings.TrimRight(enc, "=")) - 1
		if end-start >= 8 {
			forms = append(forms, enc[start:end])
		}
	}
	return forms
}

// leaks returns which of the secrets data holds, in any of their forms.
func leaks(data []byte, secrets ...string) []string {
	var found []string
	for _, s := range secrets {
		for _, f := range secretForms(s) {
			if bytes.Contains(data, []byte(f)) {
				found = append(found, fmt.Sprintf("%q (as %q)", s, f))
				break
			}
		}
	}
	return found
}

// assertNoLeak fails the test when data, named what, holds any of the secrets.
func assertNoLeak(t *testing.T, what string, data []byte, secrets ...string) {
	t.Helper()
	if found := leaks(data, secrets...); len(found) > 0 {
		t.Errorf("%s holds the secret %s", what, strings.Join(found, ", "))
	}
}

// assertDaemonLogsClean checks the logs of every process of the environment (the buildkitd
// daemons among them) for the secrets.
func assertDaemonLogsClean(t *testing.T, secrets ...string) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(env.RunDir, "logs", "*.log"))
	if len(logs) == 0 {
		t.Errorf("no logs under %s to check", env.RunDir)
	}
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		assertNoLeak(t, l, b, secrets...)
	}
}

// tarContents returns the concatenated contents of the files in a tar archive (gzip or not).
func tarContents(t *testing.T, data []byte) []byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(data)
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	var all bytes.Buffer
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return all.Bytes()
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		all.WriteString(h.Name + "\n")
		if _, err := io.Copy(&all, tr); err != nil {
			t.Fatal(err)
		}
	}
}

// registryImage returns the bytes of repo:tag on the registry at base: its manifest, config
// and layers, the layers unpacked.
func registryImage(t *testing.T, base, repo, tag string, auth func(*http.Request)) []byte {
	t.Helper()
	m := getManifest(t, http.DefaultClient, base, repo, tag, auth)
	var all bytes.Buffer
	for i, d := range append([]descriptor{m.Config}, m.Layers...) {
		req, err := http.NewRequest(http.MethodGet, base+"/v2/"+repo+"/blobs/"+d.Digest, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != nil {
			auth(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET blob %s of %s:%s: %s %v", d.Digest, repo, tag, resp.Status, err)
		}
		if i > 0 {
			b = tarContents(t, b)
		}
		all.Write(b)
	}
	return all.Bytes()
}

// authRegistry is a docker-registry that accepts only user and password (htpasswd, bcrypt).
type authRegistry struct {
	Addr, User, Password string
}

// basicAuth sets the registry's credentials on a request.
func (r authRegistry) basicAuth(req *http.Request) { req.SetBasicAuth(r.User, r.Password) }

// startAuthRegistry runs Debian's docker-registry with htpasswd auth on a free port of
// 127.0.0.1 for the test, and stops it when the test ends.
func startAuthRegistry(t *testing.T) authRegistry {
	t.Helper()
	r := authRegistry{User: "bkctl", Password: randomSecret(t, "pw-")}
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(r.User+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.Addr = l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf(`version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: %s}
http: {addr: %q}
auth:
  htpasswd: {realm: bkctl-test, path: %s}
`, filepath.Join(dir, "data"), r.Addr, htpasswd)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/docker-registry", "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start docker-registry: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return r
			}
			err = fmt.Errorf("GET /v2/ without credentials: %s, want 401", resp.Status)
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Fatalf("docker-registry exited: %v\n%s", cmd.ProcessState, b)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry at %s: %v", r.Addr, err)
		}
	}
}

// writeDockerConfig writes a docker config.json with the registry's credentials into a fresh
// directory and returns it, with the base64 auth value it holds.
func writeDockerConfig(t *testing.T, r authRegistry) (dir, auth string) {
	t.Helper()
	dir = t.TempDir()
	auth = base64.StdEncoding.EncodeToString([]byte(r.User + ":" + r.Password))
	cfg := fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, r.Addr, auth)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, auth
}
