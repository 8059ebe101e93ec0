package inspect

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/containerd/platforms"
	"k8s.io/apimachinery/pkg/util/duration"
)

// WriteList writes builders as an aligned table in the manner of docker buildx ls: a row per
// builder, node and pod. Declared platforms carry a "*", as in buildx; with trunc, the variants
// of one OS and architecture are counted rather than listed, and at most four groups are shown.
// A pod whose daemon could not be asked shows status "error" and the reason in place of its
// platforms.
func WriteList(w io.Writer, builders []Builder, trunc bool) error {
	t := newTable()
	row := t.row
	plats := func(declared, reported []string) string {
		ps := starred(declared, reported)
		if trunc {
			return truncate(ps, 4)
		}
		return strings.Join(ps, ", ")
	}
	row("NAME/NODE/POD", "NAMESPACE/WORKLOAD/HOST", "STATUS", "READY", "BUILDKIT", "PLATFORMS")
	for _, b := range builders {
		row(b.Name, b.Namespace, "", "", "", "")
		for _, n := range b.Nodes {
			workload, ready := "", ""
			if n.Kind != "" {
				workload = n.Kind + "/" + n.Name
				ready = fmt.Sprintf("%d/%d", n.ReadyReplicas, n.DesiredReplicas)
			}
			var versions, reported []string
			for _, p := range n.Pods {
				if p.Daemon != nil {
					versions = appendNew(versions, p.Daemon.BuildkitVersion)
					reported = append(reported, p.Daemon.Platforms...)
				}
			}
			row(" \\_ "+n.Name, workload, n.Status, ready, strings.Join(versions, ", "), plats(n.Platforms, reported))
			for _, p := range n.Pods {
				status, version, ps := strings.ToLower(p.Phase), "", ""
				if p.Daemon != nil {
					version, ps = p.Daemon.BuildkitVersion, plats(n.Platforms, p.Daemon.Platforms)
				}
				if p.Error != "" {
					status, ps = "error", p.Error
				}
				row("     \\_ "+p.Name, p.Host, status, fmt.Sprintf("%d/%d", p.ReadyContainers, p.Containers), version, ps)
			}
		}
	}
	return t.flush(w)
}

// WriteStatus writes a row per pod of the builders: its node, Kubernetes node, readiness,
// restarts, age, and its daemon's version, cache, completed builds and the age of the last one.
// Times are shown relative to now.
func WriteStatus(w io.Writer, builders []Builder, now time.Time) error {
	t := newTable()
	row := t.row
	row("BUILDER", "NODE", "POD", "HOST", "READY", "RESTARTS", "AGE", "BUILDKIT", "CACHE", "RECLAIMABLE", "BUILDS", "LAST BUILD")
	for _, b := range builders {
		for _, n := range b.Nodes {
			if len(n.Pods) == 0 {
				row(b.Name, n.Name, "-", "", "", "", "", "", "", "", "", n.Status+", no pods")
				continue
			}
			for _, p := range n.Pods {
				cells := []string{b.Name, n.Name, p.Name, p.Host,
					fmt.Sprintf("%d/%d", p.ReadyContainers, p.Containers),
					fmt.Sprint(p.Restarts), duration.HumanDuration(now.Sub(p.CreatedAt))}
				d := p.Daemon
				switch {
				case p.Error != "":
					cells = append(cells, "", "", "", "", "error: "+p.Error)
				case d == nil:
					cells = append(cells, "", "", "", "", strings.ToLower(p.Phase))
				default:
					cache, reclaimable, builds, last := "-", "-", "-", "-"
					if d.Cache != nil {
						cache, reclaimable = humanSize(d.Cache.Size), humanSize(d.Cache.Reclaimable)
					}
					if h := d.History; h != nil {
						builds = fmt.Sprint(h.Builds)
						if h.LastBuild != nil {
							last = duration.HumanDuration(now.Sub(*h.LastBuild)) + " ago"
						}
					}
					cells = append(cells, d.BuildkitVersion, cache, reclaimable, builds, last)
				}
				row(cells...)
			}
		}
	}
	return t.flush(w)
}

// table is an aligned table whose rows keep all their cells, so that a short row does not
// break the alignment of the rows after it; the spaces that pads an empty last cell are
// trimmed when it is flushed.
type table struct {
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTable() *table {
	t := &table{}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 4, 3, ' ', 0)
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

func (t *table) flush(w io.Writer) error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(t.buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// starred lists the declared platforms first, each with a "*", then the other reported ones.
func starred(declared, reported []string) []string {
	declared = normalize(declared)
	out := make([]string, 0, len(declared)+len(reported))
	for _, p := range declared {
		out = append(out, p+"*")
	}
	for _, p := range normalize(reported) {
		if !slices.Contains(declared, p) {
			out = append(out, p)
		}
	}
	return out
}

// truncate shortens a list of platforms as docker buildx ls does: the platforms of one OS and
// architecture become one entry with their count ("linux/amd64* (+4)"), at most max entries are
// shown, and the rest is counted ("(3 more)"). Groups keep the order of their first platform,
// so declared ones come first.
func truncate(ps []string, max int) string {
	var keys []string
	groups := map[string][]string{}
	for _, s := range ps {
		key := strings.TrimSuffix(s, "*")
		if p, err := platforms.Parse(key); err == nil {
			key = p.OS + "/" + p.Architecture
		}
		if _, ok := groups[key]; !ok {
			keys = append(keys, key)
		}
		groups[key] = append(groups[key], s)
	}
	var out []string
	shown := 0
	for _, k := range keys {
		if len(out) == max {
			break
		}
		g := groups[k]
		if len(g) == 1 {
			out = append(out, g[0])
		} else {
			if slices.ContainsFunc(g, func(s string) bool { return strings.HasSuffix(s, "*") }) {
				k += "*"
			}
			out = append(out, fmt.Sprintf("%s (+%d)", k, len(g)))
		}
		shown += len(g)
	}
	if left := len(ps) - shown; left > 0 {
		out = append(out, fmt.Sprintf("(%d more)", left))
	}
	return strings.Join(out, ", ")
}

func appendNew(s []string, v string) []string {
	if v == "" || slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// humanSize formats bytes in decimal units with four significant digits, as docker buildx du.
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	f, i := float64(n), 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}
