package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunSecretsStayOutOfOutputs builds with --secret from a file and from an environment
// variable, and checks that neither value appears in stdout, stderr (plain and rawjson
// progress), the metadata file, the image (as a tar on stdout and as pushed) or the logs of the
// environment's processes, while the build did read both. A build that prints a secret shows
// that the check finds it, base64 in rawjson logs included.
func TestRunSecretsStayOutOfOutputs(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	fileSecret, envSecret := randomSecret(t, "file-secret-"), randomSecret(t, "env-secret-")
	secretFile := writeFile(t, t.TempDir(), "tok", fileSecret)
	t.Setenv("BKCTL_TEST_TOKEN", envSecret)
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

	dir := t.TempDir()
	writeFile(t, dir, "want.sha", sum(fileSecret)+"  /run/secrets/tok\n"+sum(envSecret)+"  /run/secrets/envtok\n")
	writeFile(t, dir, "Dockerfile", "FROM base\nCOPY want.sha /\n"+
		"RUN --mount=type=secret,id=tok --mount=type=secret,id=envtok sha256sum -c /want.sha && echo checked-"+ns+" > /checked\n")
	common := []string{"run", dir, "--builders-file", file, "--kubeconfig=" + env.Kubeconfig, "--no-cache",
		"--build-context", "base=oci-layout://" + env.BaseLayout + "@" + env.BaseDigest,
		"--secret", "id=tok,src=" + secretFile, "--secret", "id=envtok,env=BKCTL_TEST_TOKEN"}

	image := env.Registry + "/" + ns + "/secret:1"
	tests := map[string]struct {
		args []string
	}{
		"plain progress, tar on stdout": {args: []string{"--progress", "plain", "--output", "type=tar,dest=-"}},
		"rawjson progress, pushed":      {args: []string{"--progress", "rawjson", "-t", image, "--output", "type=registry,registry.insecure=true", "--provenance=false"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			meta := filepath.Join(t.TempDir(), "metadata.json")
			code, out, errs := runCluster(t, append(append(common, tt.args...), "--metadata-file", meta)...)
			if code != 0 {
				t.Fatalf("run = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			img := []byte(out)
			if strings.Contains(name, "pushed") {
				img = registryImage(t, "http://"+env.Registry, ns+"/secret", "1", nil)
			} else {
				img = tarContents(t, img)
			}
			if !strings.Contains(string(img), "checked-"+ns) {
				t.Fatalf("the image has no /checked: the build did not check the secrets")
			}
			assertNoLeak(t, "stdout", []byte(out), fileSecret, envSecret)
			assertNoLeak(t, "stderr", []byte(errs), fileSecret, envSecret)
			assertNoLeak(t, "the metadata file", []byte(readFile(t, meta)), fileSecret, envSecret)
			assertNoLeak(t, "the image", img, fileSecret, envSecret)
		})
	}
	assertDaemonLogsClean(t, fileSecret, envSecret)

	t.Run("the check finds a printed secret", func(t *testing.T) {
		leaky := t.TempDir()
		writeFile(t, leaky, "Dockerfile", "FROM base\nRUN --mount=type=secret,id=envtok cat /run/secrets/envtok\n")
		code, _, errs := runCluster(t, "run", leaky, "--builders-file", file, "--kubeconfig="+env.Kubeconfig, "--no-cache",
			"--build-context", "base=oci-layout://"+env.BaseLayout+"@"+env.BaseDigest,
			"--secret", "id=envtok,env=BKCTL_TEST_TOKEN", "--progress", "rawjson")
		if code != 0 {
			t.Fatalf("run = %d\n%s", code, errs)
		}
		if strings.Contains(errs, envSecret) {
			t.Fatalf("rawjson shows the log line as is; the base64 forms are not what finds it")
		}
		if len(leaks([]byte(errs), envSecret)) == 0 {
			t.Errorf("the check does not find the secret that the build printed in its rawjson progress:\n%s", errs)
		}
	})
}

// TestRunPushWithDockerConfigCredentials pushes to a registry that requires a password, with
// the credentials in a docker config named by DOCKER_CONFIG. Without them the push fails naming
// the registry; with them it succeeds, and neither the password nor the config's base64 auth
// value appears in any output, the image or the logs.
func TestRunPushWithDockerConfigCredentials(t *testing.T) {
	lazy.Require(t)
	reg := startAuthRegistry(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, cliNode)
	applyFile(t, file)
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base\nRUN echo "+ns+" > /pushed\n")
	repo := ns + "/private"
	args := []string{"run", dir, "--builders-file", file, "--kubeconfig=" + env.Kubeconfig,
		"--build-context", "base=oci-layout://" + env.BaseLayout + "@" + env.BaseDigest,
		"-t", reg.Addr + "/" + repo + ":1", "--output", "type=registry,registry.insecure=true",
		"--provenance=false"} // registryImage reads the tag as one manifest

	t.Run("without credentials", func(t *testing.T) {
		t.Setenv("DOCKER_CONFIG", t.TempDir())
		code, out, errs := runCluster(t, append(args, "--progress", "plain")...)
		last := lastLine(errs)
		if code != 1 || !strings.Contains(last, reg.Addr) || !strings.Contains(last, "401 Unauthorized") {
			t.Fatalf("run = %d, want 1 with an error naming %s and 401 Unauthorized\nstdout:\n%s\nstderr:\n%s", code, reg.Addr, out, errs)
		}
		t.Logf("error: %s", last)
	})

	cfgDir, auth := writeDockerConfig(t, reg)
	t.Setenv("DOCKER_CONFIG", cfgDir)
	secrets := []string{reg.Password, auth}
	for _, progress := range []string{"plain", "rawjson"} {
		t.Run("with credentials, "+progress+" progress", func(t *testing.T) {
			meta := filepath.Join(t.TempDir(), "metadata.json")
			code, out, errs := runCluster(t, append(args, "--progress", progress, "--metadata-file", meta)...)
			if code != 0 {
				t.Fatalf("run = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			img := registryImage(t, "http://"+reg.Addr, repo, "1", reg.basicAuth)
			if !strings.Contains(string(img), ns) {
				t.Fatalf("the pushed image has no /pushed with %s", ns)
			}
			assertNoLeak(t, "stdout", []byte(out), secrets...)
			assertNoLeak(t, "stderr", []byte(errs), secrets...)
			assertNoLeak(t, "the metadata file", []byte(readFile(t, meta)), secrets...)
			assertNoLeak(t, "the image", img, secrets...)
		})
	}
	assertDaemonLogsClean(t, secrets...)
	if b, err := os.ReadFile(filepath.Join(cfgDir, "config.json")); err != nil || !strings.Contains(string(b), auth) {
		t.Errorf("the docker config changed: %s %v", b, err)
	}
}
