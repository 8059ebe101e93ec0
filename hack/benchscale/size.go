package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bkctl/bkctl/hack/bench"
)

// row is one step measured with both tools.
type row struct {
	step           string
	bkctl, kubectl measured
}

// sizeResult is everything measured at one size.
type sizeResult struct {
	n    int
	rows []row
	// ready is set when the apply was measured until every Deployment was Available.
	ready              bool
	bkctlWrite         time.Duration // start of bkctl apply → its last write
	bkctlFloor         time.Duration // last write → every Deployment Available
	bkctlOverhead      time.Duration // every Deployment Available → bkctl exited
	kubectlWrite       time.Duration // kubectl apply --server-side
	kubectlFloor       time.Duration
	kubectlOverhead    time.Duration // every Deployment Available → kubectl wait exited
	loadStart, loadEnd string
}

// generate writes a builders file of n nodes, one per builder, in ns.
func generate(path, ns string, n int, image string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: bkctl/v1alpha1\nkind: Builders\nmetadata:\n  name: scale\n  namespace: %s\nbuilders:\n", ns)
	for i := range n {
		fmt.Fprintf(&b, "  - name: b%04d\n    nodes:\n      - name: b%04d-amd64\n        replicas: 0\n        image: %s\n        nodeSelector: {kubernetes.io/arch: amd64}\n", i, i, image)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// files writes the builders file of ns and its rendering (what kubectl is given).
func (b *bencher) files(name, ns string, n int, image string) (file, rendered string, err error) {
	file = filepath.Join(b.dir, name+".yaml")
	rendered = filepath.Join(b.dir, name+"-rendered.yaml")
	if err := generate(file, ns, n, image); err != nil {
		return "", "", err
	}
	r := bench.Command(nil, b.bin, "render", "-f", file)
	if r.Err != nil {
		return "", "", fmt.Errorf("render: %w\n%s", r.Err, tail(r.Out))
	}
	return file, rendered, os.WriteFile(rendered, r.Out, 0o644)
}

const (
	image1 = "moby/buildkit:buildx-stable-1"
	image2 = "moby/buildkit:v0.34.2"
)

// size runs every step at n nodes: bkctl in one namespace, kubectl in another.
func (b *bencher) size(ctx context.Context, n int, toReady bool) (sizeResult, error) {
	res := sizeResult{n: n, ready: toReady, loadStart: loadavg()}
	nsB, err := b.env.CreateNamespace(ctx, fmt.Sprintf("scale-%d-bkctl", n))
	if err != nil {
		return res, err
	}
	nsK, err := b.env.CreateNamespace(ctx, fmt.Sprintf("scale-%d-kubectl", n))
	if err != nil {
		return res, err
	}
	defer func() {
		_ = b.env.DeleteNamespace(context.WithoutCancel(ctx), nsB)
		_ = b.env.DeleteNamespace(context.WithoutCancel(ctx), nsK)
	}()
	fileB, _, err := b.files(fmt.Sprintf("b%d", n), nsB, n, image1)
	if err != nil {
		return res, err
	}
	_, renderedK, err := b.files(fmt.Sprintf("k%d", n), nsK, n, image1)
	if err != nil {
		return res, err
	}
	fileB2, _, err := b.files(fmt.Sprintf("b%d-image", n), nsB, n, image2)
	if err != nil {
		return res, err
	}
	_, renderedK2, err := b.files(fmt.Sprintf("k%d-image", n), nsK, n, image2)
	if err != nil {
		return res, err
	}
	diffEnv := []string{"KUBECTL_EXTERNAL_DIFF=true"}
	ssa := []string{"--server-side", "--field-manager=bkctl", "--force-conflicts"}
	kdiff := func(file string) []string { return append(append([]string{b.kubectl, "diff"}, ssa...), "-f", file) }
	kapply := append(append([]string{b.kubectl, "apply"}, ssa...), "-f", renderedK)
	step := func(name string, bArgs, kArgs []string) error {
		fmt.Fprintf(os.Stderr, "benchscale: %d objects: %s ...\n", n, name)
		mb, err := b.measure(nil, nil, bArgs...)
		if err != nil {
			return err
		}
		mk, err := b.measure(bench.ExitOneOK, diffEnv, kArgs...)
		if err != nil {
			return err
		}
		res.rows = append(res.rows, row{name, mb, mk})
		return nil
	}

	if err := step("plan, new file", []string{b.bin, "plan", "-f", fileB}, kdiff(renderedK)); err != nil {
		return res, err
	}
	if toReady {
		if err := b.applyToReady(ctx, &res, n, fileB, nsB, nsK, kapply); err != nil {
			return res, err
		}
	} else if err := step("apply --wait=false, new", []string{b.bin, "apply", "--wait=false", "-f", fileB}, kapply); err != nil {
		return res, err
	}
	if err := step("plan, in sync", []string{b.bin, "plan", "-f", fileB}, kdiff(renderedK)); err != nil {
		return res, err
	}
	// without the wait measured, the controller-manager is still rolling out: a no-op apply that
	// waits would wait for it
	noop := []string{b.bin, "apply", "-f", fileB}
	if !toReady {
		noop = append(noop, "--wait=false")
	}
	if err := step("apply, no-op", noop, kapply); err != nil {
		return res, err
	}
	if err := step("plan, image changed", []string{b.bin, "plan", "-f", fileB2}, kdiff(renderedK2)); err != nil {
		return res, err
	}
	res.loadEnd = loadavg()
	return res, nil
}

// applyToReady applies the new file with bkctl (which waits), then with kubectl apply and
// kubectl wait, each while a watch of the bench records when every Deployment became Available:
// the floor is the time from the last write to then, the overhead the time from then to exit.
func (b *bencher) applyToReady(ctx context.Context, res *sizeResult, n int, fileB, nsB, nsK string, kapply []string) error {
	fmt.Fprintf(os.Stderr, "benchscale: %d objects: apply to ready ...\n", n)
	avail := make(chan time.Time, 1)
	wctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	go func() { avail <- availableAt(wctx, b.cs, nsB, n) }()
	start := time.Now()
	mb, err := b.measure(nil, nil, b.bin, "apply", "-f", fileB, "--timeout=1h")
	if err != nil {
		return err
	}
	end := start.Add(mb.Wall)
	last := b.proxy.LastWrite()
	at := <-avail
	res.bkctlWrite, res.bkctlFloor, res.bkctlOverhead = last.Sub(start), at.Sub(last), end.Sub(at)

	go func() { avail <- availableAt(wctx, b.cs, nsK, n) }()
	start = time.Now()
	mk, err := b.measure(nil, nil, kapply...)
	if err != nil {
		return err
	}
	last = b.proxy.LastWrite()
	mw, err := b.measure(nil, nil, b.kubectl, "wait", "--for=condition=Available", "deployment", "--all", "-n", nsK, "--timeout=1h")
	if err != nil {
		return err
	}
	end = time.Now()
	at = <-avail
	res.kubectlWrite, res.kubectlFloor, res.kubectlOverhead = mk.Wall, at.Sub(last), end.Sub(at)
	both := measured{Run: bench.Run{Wall: end.Sub(start), MaxRSS: max(mk.MaxRSS, mw.MaxRSS)}, Requests: addSnap(mk.Requests, mw.Requests)}
	res.rows = append(res.rows, row{"apply to ready", mb, both})
	// the write phase alone, as apply --wait=false would see it
	res.rows = append(res.rows, row{"  of which writing", measured{Run: bench.Run{Wall: res.bkctlWrite}}, measured{Run: bench.Run{Wall: res.kubectlWrite}, Requests: mk.Requests}})
	return nil
}

func addSnap(a, b bench.Snapshot) bench.Snapshot {
	return bench.Snapshot{All: a.All + b.All, Reads: a.Reads + b.Reads, Watches: a.Watches + b.Watches, Writes: a.Writes + b.Writes, DryRuns: a.DryRuns + b.DryRuns, Throttled: a.Throttled + b.Throttled}
}

func (r sizeResult) print(w io.Writer) {
	fmt.Fprintf(w, "%d objects (Deployments, replicas: 0; load average %s → %s):\n", r.n, r.loadStart, r.loadEnd)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\tbkctl\tkubectl\tratio\tbkctl RSS\tkubectl RSS\tbkctl req (w/dry)\tkubectl req (w/dry)\t429s\t")
	for _, x := range r.rows {
		ratio := "-"
		if x.kubectl.Wall > 0 {
			ratio = fmt.Sprintf("%.2f×", x.bkctl.Wall.Seconds()/x.kubectl.Wall.Seconds())
		}
		rss := func(m measured) string {
			if m.MaxRSS == 0 {
				return "-"
			}
			return fmt.Sprintf("%d MB", m.MaxRSS>>20)
		}
		req := func(m measured) string {
			if m.Requests.All == 0 {
				return "-"
			}
			return fmt.Sprintf("%d (%d/%d)", m.Requests.All, m.Requests.Writes, m.Requests.DryRuns)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", x.step, secs(x.bkctl.Wall), secs(x.kubectl.Wall), ratio,
			rss(x.bkctl), rss(x.kubectl), req(x.bkctl), req(x.kubectl), x.bkctl.Requests.Throttled+x.kubectl.Requests.Throttled)
	}
	_ = tw.Flush()
	if r.ready {
		fmt.Fprintf(w, "  controller-manager floor (last write → all Available): bkctl run %s, kubectl run %s\n", secs(r.bkctlFloor), secs(r.kubectlFloor))
		fmt.Fprintf(w, "  overhead above the floor (all Available → exit): bkctl %s, kubectl wait %s\n", secs(r.bkctlOverhead), secs(r.kubectlOverhead))
	}
	fmt.Fprintln(w)
}
