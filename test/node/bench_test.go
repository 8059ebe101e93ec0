package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// podTimes is when a watch first saw each step of a workload's pods, from the command's start:
// the last pod to reach a step sets it (the builder is ready when all are).
type podTimes struct {
	mu                          sync.Mutex
	start                       time.Time
	created, scheduled, running map[string]time.Duration
	ready                       map[string]time.Duration
	imagePresent                bool
}

// watchPods records the steps of every pod in ns until ctx ends.
func watchPods(ctx context.Context, t testing.TB, ns string, start time.Time) *podTimes {
	pt := &podTimes{start: start, created: map[string]time.Duration{}, scheduled: map[string]time.Duration{},
		running: map[string]time.Duration{}, ready: map[string]time.Duration{}}
	w, err := clientset(t).CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			at := time.Since(start)
			pt.mu.Lock()
			note := func(m map[string]time.Duration) {
				if _, ok := m[p.Name]; !ok {
					m[p.Name] = at
				}
			}
			note(pt.created)
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue {
					note(pt.scheduled)
				}
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					note(pt.ready)
				}
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Running != nil {
					note(pt.running)
				}
			}
			pt.mu.Unlock()
		}
	}()
	return pt
}

func last(m map[string]time.Duration) time.Duration {
	var l time.Duration
	for _, d := range m {
		l = max(l, d)
	}
	return l
}

func (pt *podTimes) row(tool string, total time.Duration) string {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	created, scheduled, running, ready := last(pt.created), last(pt.scheduled), last(pt.running), last(pt.ready)
	return fmt.Sprintf("%-26s %7.2fs %9.2fs %9.2fs %13.2fs %12.2fs %9.2fs",
		tool, total.Seconds(), created.Seconds(), scheduled.Seconds(), running.Seconds(), ready.Seconds(),
		(ready - running).Seconds())
}

// imagePresent reports whether the kubelet found the image on the node for every pod in ns (the
// "Pulled" event says "already present on machine"), so that no pull is in the time.
func imagePresent(t testing.TB, ns string) string {
	ev, err := clientset(t).CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "reason=Pulled"})
	if err != nil {
		return err.Error()
	}
	present := 0
	for _, e := range ev.Items {
		if strings.Contains(e.Message, "already present") {
			present++
		}
	}
	return fmt.Sprintf("%d of %d Pulled events say the image was already present", present, len(ev.Items))
}

// BenchmarkBootstrap measures, cold (a new namespace each), how long one builder with two
// replicas takes from the command to Ready pods on the real node: bkctl apply against the real
// buildx create --bootstrap with the same options. It prints a table of both and their steps.
func BenchmarkBootstrap(b *testing.B) {
	buildx := filepath.Join(env.BinDir, "buildx")
	if _, err := os.Stat(buildx); err != nil {
		b.Fatalf("buildx is not in the test binaries (hint: make testbin): %v", err)
	}
	bin.Path(b) // the times start at the command, not at the build of the binary
	var rows []string
	for range b.N {
		// bkctl
		ns := env.Namespace(b)
		file := filepath.Join(b.TempDir(), "builders.yaml")
		doc := fmt.Sprintf("apiVersion: bkctl/v1alpha1\nkind: Builders\nmetadata: {name: bench, namespace: %s}\n"+
			"builders:\n  - name: bench\n    nodes:\n      - {name: bench0, replicas: 2}\n", ns)
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		pt := watchPods(ctx, b, ns, start)
		r := mustBkctl(b, 3*time.Minute, "apply", "-f", file)
		cancel()
		rows = append(rows, pt.row("bkctl apply", r.took))
		b.Logf("bkctl: %s", imagePresent(b, ns))
		mustBkctl(b, 2*time.Minute, "delete", "-f", file, "--yes")

		// buildx, with the same options: the default image, 2 replicas, its own namespace
		ns = env.Namespace(b)
		cfg := b.TempDir()
		ctx, cancel = context.WithCancel(context.Background())
		start = time.Now()
		pt = watchPods(ctx, b, ns, start)
		cmd := exec.Command(buildx, "create", "--bootstrap", "--name", "bench", "--driver", "kubernetes",
			"--driver-opt", "namespace="+ns+",replicas=2")
		cmd.Env = append(os.Environ(), "BUILDX_CONFIG="+cfg, "KUBECONFIG="+env.Kubeconfig)
		out, err := cmd.CombinedOutput()
		took := time.Since(start)
		cancel()
		if err != nil {
			b.Fatalf("buildx create --bootstrap: %v\n%s", err, out)
		}
		rows = append(rows, pt.row("buildx create --bootstrap", took))
		b.Logf("buildx: %s", imagePresent(b, ns))
		rm := exec.Command(buildx, "rm", "bench")
		rm.Env = cmd.Env
		if out, err := rm.CombinedOutput(); err != nil {
			b.Errorf("buildx rm: %v\n%s", err, out)
		}
	}
	fmt.Printf("\nbootstrap on the real node, cold (new namespace), 1 builder × 2 replicas; times from the command's start,\n" +
		"the last of the two pods for each step; 'probe wait' is Ready minus container running\n")
	fmt.Printf("%-26s %8s %10s %10s %14s %13s %10s\n", "", "total", "pod made", "scheduled", "ctr running", "Ready", "probe wait")
	for _, r := range rows {
		fmt.Println(r)
	}
}

const snapshotterBuilders = `apiVersion: bkctl/v1alpha1
kind: Builders
metadata: {name: snap, namespace: %[1]s}
builders:
  - name: native
    nodes: [{name: native0, buildkitd: {flags: [--oci-worker-snapshotter=native]}}]
  - name: overlay
    nodes:
      - name: overlay0
        podTemplate:
          spec:
            containers:
              - name: buildkitd
                volumeMounts: [{name: state, mountPath: /var/lib/buildkit}]
            volumes: [{name: state, emptyDir: {}}]
`

const snapshotterDockerfile = `FROM base
RUN for i in $(seq 1 3000); do echo $i > /f$i; done
RUN mkdir /d && for i in $(seq 1 400); do dd if=/dev/zero of=/d/$i bs=64k count=4 2>/dev/null; done
RUN cat /d/* | wc -c
RUN rm -rf /d /f1* && echo done
COPY . /ctx
`

// BenchmarkSnapshotter builds the same image, without cache, with the native snapshotter and with
// overlayfs on an emptyDir for /var/lib/buildkit (what buildkitd picks there), and prints both
// times. (On this kernel buildkitd picks overlayfs also on the container's root file system.)
func BenchmarkSnapshotter(b *testing.B) {
	ns := env.Namespace(b)
	dir := b.TempDir()
	file := filepath.Join(dir, "builders.yaml")
	if err := os.WriteFile(file, fmt.Appendf(nil, snapshotterBuilders, ns), 0o644); err != nil {
		b.Fatal(err)
	}
	ctxDir := filepath.Join(dir, "ctx")
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(snapshotterDockerfile), 0o644); err != nil {
		b.Fatal(err)
	}
	mustBkctl(b, 3*time.Minute, "apply", "-f", file)
	type row struct {
		builder, snapshotter string
		took                 []time.Duration
	}
	var rows []row
	for _, builder := range []string{"native", "overlay"} {
		pods := readyPods(b, ns, builder+"0")
		if len(pods) != 1 {
			b.Fatalf("%s: %d Ready pods", builder, len(pods))
		}
		logs, err := kubectl(b, "-n", ns, "logs", pods[0], "-c", "buildkitd")
		if err != nil {
			b.Fatal(err)
		}
		snap := "?"
		for _, marker := range []string{"auto snapshotter: using ", "snapshotter="} {
			if i := strings.Index(logs, marker); i >= 0 && snap == "?" {
				snap = strings.Trim(strings.Fields(logs[i+len(marker):])[0], `"`)
			}
		}
		if builder == "native" {
			snap = "native (flag)"
		}
		r := row{builder: builder, snapshotter: snap}
		for i := range 3 {
			res := mustBkctl(b, 5*time.Minute, "run", "--builders-file", file, "--builder", builder, "--no-cache",
				"--progress", "quiet",
				"--build-context", "base=oci-layout://"+env.BaseLayout+"@"+env.BaseDigest,
				"-o", fmt.Sprintf("type=image,name=%s/%s/snap-%s:%d,push=true,registry.insecure=true", env.NodeRegistry, ns, builder, i),
				ctxDir)
			r.took = append(r.took, res.took)
		}
		rows = append(rows, r)
	}
	mustBkctl(b, 2*time.Minute, "delete", "-f", file, "--yes")
	fmt.Printf("\nthe same build without cache (3000 small files, 100 MiB in 400 files, 5 layers, push), three runs each\n")
	for _, r := range rows {
		var s []string
		for _, d := range r.took {
			s = append(s, fmt.Sprintf("%.2fs", d.Seconds()))
		}
		fmt.Printf("%-8s snapshotter %-9s %s\n", r.builder, r.snapshotter, strings.Join(s, " "))
	}
}
