package buildrun_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/bkctl/bkctl/internal/buildrun"

	"github.com/bkctl/bkctl/internal/testenv"
)

const copyRun = "FROM base\nCOPY hello.txt /hello.txt\nRUN cat /hello.txt > /copied && echo built >> /copied\n"

func TestBuildCopyRunThroughPodExec(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	b := applyBuilder(t, builderYAML(ns, "sticky", 1))
	dir := contextDir(t, map[string]string{"Dockerfile": copyRun, "hello.txt": "hello\n"})
	o := options(dir, nil)
	o.Outputs = []buildrun.Output{{Type: "local", Attrs: map[string]string{"dest": filepath.Join(t.TempDir(), "out")}}}
	res, err := buildrun.Build(context.Background(), b, o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(o.Outputs[0].Attrs["dest"], "copied"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello\nbuilt\n" {
		t.Fatalf("/copied = %q", got)
	}
	nb := res.Builds[0]
	if nb.Node != "amd" || !daemonBuilt(t, ns, nb.Daemon, nb.Ref) {
		t.Fatalf("build %+v: not in the history of the daemon of pod %s", nb, nb.Daemon)
	}
}

func TestBuildTwoPlatformsOnTwoNodesPushesOneIndex(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	b := applyBuilder(t, builderYAML(ns, "sticky", 1))
	dir := contextDir(t, map[string]string{"Dockerfile": copyRun + "RUN uname -m > /arch\n", "hello.txt": "hi\n"})
	o := options(dir, nil)
	o.Platforms = []string{"linux/amd64", "linux/arm64"}
	image := env.Registry + "/" + ns + "/app:1"
	o.Tags = []string{image}
	o.Outputs = []buildrun.Output{{Type: "image", Attrs: map[string]string{"push": "true", "registry.insecure": "true"}}}
	res, err := buildrun.Build(context.Background(), b, o)
	if err != nil {
		t.Fatal(err)
	}
	routed := map[string]string{}
	for _, nb := range res.Builds {
		routed[strings.Join(nb.Platforms, ",")] = nb.Node
		if !daemonBuilt(t, ns, nb.Daemon, nb.Ref) {
			t.Errorf("node %s: build %s not in the history of pod %s's daemon", nb.Node, nb.Ref, nb.Daemon)
		}
	}
	if routed["linux/amd64"] != "amd" || routed["linux/arm64"] != "arm" {
		t.Fatalf("routing = %v, want linux/amd64 on amd and linux/arm64 on arm", routed)
	}

	req, _ := http.NewRequest("GET", "http://"+env.Registry+"/v2/"+ns+"/app/manifests/1", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var idx struct {
		MediaType string
		Manifests []struct {
			Digest   string
			Platform struct{ OS, Architecture string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		t.Fatal(err)
	}
	var plats []string
	for _, m := range idx.Manifests {
		if m.Platform.OS != "unknown" {
			plats = append(plats, m.Platform.OS+"/"+m.Platform.Architecture)
		}
	}
	if resp.Header.Get("Docker-Content-Digest") != res.ExporterResponse["containerimage.digest"] {
		t.Errorf("registry digest %s, build says %s", resp.Header.Get("Docker-Content-Digest"), res.ExporterResponse["containerimage.digest"])
	}
	if strings.Join(plats, " ") != "linux/amd64 linux/arm64" {
		t.Fatalf("index %s has platforms %v, want linux/amd64 linux/arm64", idx.MediaType, plats)
	}
}

func TestBuildStickySameContextSamePodFullyCached(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	b := applyBuilder(t, builderYAML(ns, "sticky", 3))
	dir := contextDir(t, map[string]string{"Dockerfile": copyRun, "hello.txt": "sticky\n"})
	var first string
	for i := range 2 {
		var progress bytes.Buffer
		o := options(dir, &progress)
		o.ProgressMode = "rawjson"
		res, err := buildrun.Build(context.Background(), b, o)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = res.Builds[0].Daemon
			continue
		}
		if res.Builds[0].Daemon != first {
			t.Fatalf("same context built on %s, then on %s", first, res.Builds[0].Daemon)
		}
		for _, line := range strings.Split(progress.String(), "\n") {
			var st struct {
				Vertexes []struct {
					Name      string
					Cached    bool
					Completed *time.Time
				}
			}
			_ = json.Unmarshal([]byte(line), &st)
			for _, v := range st.Vertexes {
				if (strings.Contains(v.Name, "RUN") || strings.Contains(v.Name, "COPY")) && v.Completed != nil && !v.Cached {
					t.Errorf("second build ran %q again instead of taking it from the cache", v.Name)
				}
			}
		}
	}
}

func TestBuildRandomSpreadsOverReplicas(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	b := applyBuilder(t, builderYAML(ns, "random", 2))
	dir := contextDir(t, map[string]string{"Dockerfile": "FROM base\nCOPY hello.txt /\n", "hello.txt": "r\n"})
	seen := map[string]int{}
	for range 12 {
		res, err := buildrun.Build(context.Background(), b, options(dir, nil))
		if err != nil {
			t.Fatal(err)
		}
		seen[res.Builds[0].Daemon]++
	}
	if len(seen) != 2 {
		t.Fatalf("12 random builds landed on %v, want both replicas", seen)
	}
}

func TestBuildPodDeletedMidBuildRetriesOnAnotherReplica(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	b := applyBuilder(t, builderYAML(ns, "sticky", 2))
	dir := contextDir(t, map[string]string{"Dockerfile": "FROM base\nRUN sleep 4 && echo slow > /slow\n"})
	var progress testenv.Buffer
	o := options(dir, &progress)
	o.StickyKey = "mid-build"
	daemons, err := b.Nodes[0].Transport.Daemons(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	victim, _ := buildrun.Choose(daemons, "sticky", o.StickyKey, nil)
	go func() {
		for !strings.Contains(progress.String(), "RUN sleep") {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		var zero int64
		_ = kubernetes.NewForConfigOrDie(env.Config).CoreV1().Pods(ns).Delete(context.Background(), victim, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}()
	res, err := buildrun.Build(context.Background(), b, o)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, progress.String())
	}
	nb := res.Builds[0]
	if nb.Attempts != 2 || nb.Daemon == victim {
		t.Fatalf("build %+v: want 2 attempts, the second not on the deleted %s", nb, victim)
	}
	if want := "Pod/" + ns + "/" + victim + " was deleted during the build"; !strings.Contains(progress.String(), want) {
		t.Fatalf("progress does not say %q:\n%s", want, progress.String())
	}
}

func TestBuildPlatformNoNodeBuildsFailsFast(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	b := applyBuilder(t, builderYAML(ns, "sticky", 1))
	dir := contextDir(t, map[string]string{"Dockerfile": copyRun, "hello.txt": "x\n"})
	var progress bytes.Buffer
	o := options(dir, &progress)
	o.Platforms = []string{"linux/amd64", "linux/s390x"}
	_, err := buildrun.Build(context.Background(), b, o)
	if !errors.Is(err, buildrun.ErrPlatform) || !strings.Contains(err.Error(), "linux/s390x") {
		t.Fatalf("err = %v, want ErrPlatform naming linux/s390x", err)
	}
	if progress.Len() != 0 {
		t.Fatalf("something started:\n%s", progress.String())
	}
}

func TestBuildSecretStaysOutOfImageLogsAndProgress(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	b := applyBuilder(t, builderYAML(ns, "sticky", 1))
	const secret = "s3cr3t-7f1b9c-value"
	sum := sha256.Sum256([]byte(secret))
	dir := contextDir(t, map[string]string{
		"want.sha": hex.EncodeToString(sum[:]) + "\n",
		"Dockerfile": "FROM base\nCOPY want.sha /\n" +
			"RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | cut -d' ' -f1 > /got && cmp /got /want.sha && echo ok > /checked\n",
	})
	var progress, image bytes.Buffer
	o := options(dir, &progress)
	o.Stdout = &image
	o.Session = []session.Attachable{secretsprovider.FromMap(map[string][]byte{"tok": []byte(secret)})}
	o.Outputs = []buildrun.Output{{Type: "tar", Attrs: map[string]string{"dest": "-"}}}
	if _, err := buildrun.Build(context.Background(), b, o); err != nil {
		t.Fatalf("build: %v\n%s", err, progress.String())
	}
	if !bytes.Contains(image.Bytes(), []byte("checked")) {
		t.Fatalf("the image has no /checked: the secret check did not run")
	}
	if bytes.Contains(image.Bytes(), []byte(secret)) {
		t.Errorf("the secret is in the image")
	}
	if strings.Contains(progress.String(), secret) {
		t.Errorf("the secret is in the progress output")
	}
	logs, _ := filepath.Glob(filepath.Join(env.RunDir, "logs", "*.log"))
	for _, l := range logs {
		if b, _ := os.ReadFile(l); bytes.Contains(b, []byte(secret)) {
			t.Errorf("the secret is in %s", l)
		}
	}
	if len(logs) == 0 {
		t.Errorf("no daemon logs under %s to check", env.RunDir)
	}
}
