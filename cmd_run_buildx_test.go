package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// bkctl run and the real buildx build, given the same flags on the same builder (the instance
// `bkctl buildx write` makes), push the same manifests with the same attestation kinds; with
// SOURCE_DATE_EPOCH the image manifests have the same digests, and the provenance statements
// are the same but for what differs between any two builds (BuildKit's invocation ID and start
// and finish times, which SOURCE_DATE_EPOCH does not fix; so attestation digests differ even
// between two buildx builds).
func TestRunMatchesBuildxBuild(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	file := writeBuilders(t, ns, twoNodes)
	applyFile(t, file)
	bx := t.TempDir()
	if code, out, errs := runCLI(t, "", "buildx", "write", "-f", file, "--buildx-config", bx, "--kubeconfig", env.Kubeconfig); code != 0 {
		t.Fatalf("buildx write = %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM base\nARG SOURCE_DATE_EPOCH\nCOPY hello /hello\nRUN echo built > /built\n")
	writeFile(t, dir, "hello", "side by side "+ns+"\n")
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000") // both read it from the environment

	for name, extra := range map[string][]string{
		"default provenance": nil,
		// mode=max records the LLB, which names the session's OCI store: random in every build
		"provenance max": {"--provenance", "mode=max", "--annotation", "index:org.bkctl.test=1"},
	} {
		t.Run(name, func(t *testing.T) {
			tag := strings.ReplaceAll(name, " ", "-")
			flags := append([]string{"--platform", "linux/amd64,linux/arm64",
				"--build-context", "base=oci-layout://" + env.BaseLayout + "@" + env.BaseDigest,
				"--output", "type=registry,registry.insecure=true"}, extra...)
			bxImage := env.Registry + "/" + ns + "/buildx:" + tag
			out, err := tryBuildx(t, bx, append(append([]string{"--builder", "kube", "build", "--progress", "quiet", "-t", bxImage}, flags...), dir)...)
			if err != nil {
				t.Fatalf("buildx build: %v\n%s", err, out)
			}
			bkImage := env.Registry + "/" + ns + "/bkctl:" + tag
			mustRun(t, append([]string{"run", dir, "--builders-file", file, "--kubeconfig=" + env.Kubeconfig, "--progress", "quiet", "-t", bkImage}, flags...)...)

			want, got := readPushed(t, bxImage), readPushed(t, bkImage)
			if d := cmp.Diff(want.Platforms, got.Platforms); d != "" {
				t.Errorf("manifests: buildx (-) vs bkctl (+)\n%s", d)
			}
			if d := cmp.Diff(want.Predicates, got.Predicates); d != "" {
				t.Errorf("attestation predicates: buildx (-) vs bkctl (+)\n%s", d)
			}
			if d := cmp.Diff(want.ByPlatform, got.ByPlatform); d != "" {
				t.Errorf("image manifest digests with SOURCE_DATE_EPOCH: buildx (-) vs bkctl (+)\n%s", d)
			}
			if d := cmp.Diff(want.Index, got.Index); d != "" {
				t.Errorf("index annotations: buildx (-) vs bkctl (+)\n%s", d)
			}
			if d := cmp.Diff(want.Attestation, got.Attestation); d != "" {
				t.Logf("attestation manifest digests: buildx (-) vs bkctl (+)\n%s", d)
			}
			normalize := func(p pushed, image string) any {
				// what differs between any two builds, two buildx builds too: the build's ID and
				// times, the random name of an OCI layout's store in the session, the image name
				b, err := json.Marshal(p.Statements)
				if err != nil {
					t.Fatal(err)
				}
				s := strings.ReplaceAll(string(b), strings.Split(image, ":")[1], "IMAGE")
				s = regexp.MustCompile(`"(invocationId|startedOn|finishedOn)":"[^"]*"`).ReplaceAllString(s, `"$1":""`)
				s = regexp.MustCompile(`oci-layout://[a-z0-9-]+@`).ReplaceAllString(s, "oci-layout://STORE@")
				var v any
				if err := json.Unmarshal([]byte(s), &v); err != nil {
					t.Fatal(err)
				}
				return v
			}
			if d := cmp.Diff(normalize(want, bxImage), normalize(got, bkImage)); d != "" && extra == nil {
				t.Errorf("provenance statements: buildx (-) vs bkctl (+)\n%s", d)
			}
			t.Logf("buildx %s: %v\nbkctl  %s: %v", bxImage, want, bkImage, got)
		})
	}
}
