// Package inspect reports the live state of bkctl's builders: their workloads, their pods, and
// what the buildkitd in each pod says about itself (platforms, version, cache, last build).
package inspect

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/containerd/platforms"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bkctl/bkctl/internal/keys"
	"github.com/bkctl/bkctl/internal/podexec"
)

// Options configure what Inspect asks the daemons.
type Options struct {
	// Timeout bounds all questions to one pod's daemon; a pod that does not answer in time gets
	// an error in its row instead of failing the whole report.
	Timeout time.Duration
	// Concurrency bounds the daemons asked at once.
	Concurrency int
	// Usage also asks every daemon for its disk usage and build history (bkctl status).
	Usage bool
}

// DefaultOptions returns a 5 s timeout per pod, 16 pods at once, and no usage questions.
func DefaultOptions() Options {
	return Options{Timeout: 5 * time.Second, Concurrency: 16}
}

// Builder is the live state of one builder in one namespace.
type Builder struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Nodes     []Node `json:"nodes"`
}

// Node statuses, after the workload's replicas.
const (
	StatusRunning  = "running"   // every desired replica is ready
	StatusStarting = "starting"  // fewer replicas are ready than desired
	StatusInactive = "inactive"  // scaled to zero
	StatusNotFound = "not found" // the file names it, the cluster has no such workload
)

// Node is one builder node: its workload and pods.
type Node struct {
	Name string `json:"name"`
	// Kind is Deployment or StatefulSet; empty when the workload was not found.
	Kind            string `json:"kind"`
	Status          string `json:"status"`
	DesiredReplicas int32  `json:"desiredReplicas"`
	ReadyReplicas   int32  `json:"readyReplicas"`
	// Platforms are the platforms the node declares (buildx's platform annotation).
	Platforms []string `json:"platforms"`
	Pods      []Pod    `json:"pods"`
}

// Pod is one pod of a node and, when it runs, what its daemon answered.
type Pod struct {
	Name string `json:"name"`
	// Host is the Kubernetes node the pod is scheduled on.
	Host string `json:"host"`
	// Phase is the pod's phase, or Terminating.
	Phase           string    `json:"phase"`
	Ready           bool      `json:"ready"`
	ReadyContainers int       `json:"readyContainers"`
	Containers      int       `json:"containers"`
	Restarts        int32     `json:"restarts"`
	CreatedAt       time.Time `json:"createdAt"`
	// Daemon is what the pod's buildkitd answered; nil when it was not asked or did not answer.
	Daemon *Daemon `json:"daemon,omitempty"`
	// Error says why the daemon could not be asked.
	Error string `json:"error,omitempty"`
}

// Daemon is what a buildkitd reports about itself.
type Daemon struct {
	BuildkitVersion string `json:"buildkitVersion"`
	// Platforms are those of its workers, native first, normalized and without duplicates.
	Platforms []string `json:"platforms"`
	// Cache is the daemon's disk usage; nil unless Options.Usage.
	Cache *Cache `json:"cache,omitempty"`
	// History summarizes its build history; nil unless Options.Usage.
	History *History `json:"history,omitempty"`
}

// History summarizes a daemon's build history.
type History struct {
	// Builds counts the completed builds the daemon still records.
	Builds int `json:"builds"`
	// LastBuild is when the newest of them completed; nil when there is none.
	LastBuild *time.Time `json:"lastBuild,omitempty"`
}

// Cache sums the daemon's cache records as docker buildx du does.
type Cache struct {
	Records int `json:"records"`
	// Size is the disk space all records take.
	Size int64 `json:"size"`
	// Reclaimable is the part that no build uses now, which a prune would free.
	Reclaimable int64 `json:"reclaimable"`
}

// Inspector reads builders from one cluster.
type Inspector struct {
	cfg    *rest.Config
	client kubernetes.Interface
}

// New returns an Inspector for the cluster of cfg.
func New(cfg *rest.Config) (*Inspector, error) {
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("make client for %s: %w", cfg.Host, err)
	}
	return &Inspector{cfg: cfg, client: c}, nil
}

// Inspect returns the state of every target, in the targets' order with nodes in theirs. Only an
// API error fails it; a daemon that cannot be reached is reported in its pod's Error.
func (in *Inspector) Inspect(ctx context.Context, targets []Target, opts Options) ([]Builder, error) {
	out := make([]Builder, 0, len(targets))
	for _, t := range targets {
		b, err := in.builder(ctx, t)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	in.askDaemons(ctx, out, opts)
	return out, nil
}

// builder reads the workloads and pods of one target: one list of each kind for all its nodes.
func (in *Inspector) builder(ctx context.Context, t Target) (Builder, error) {
	b := Builder{Name: t.Builder, Namespace: t.Namespace, Nodes: []Node{}}
	if len(t.Nodes) == 0 {
		return b, nil
	}
	names := make([]string, len(t.Nodes))
	for i, n := range t.Nodes {
		names[i] = n.Name
	}
	req, err := labels.NewRequirement(keys.LabelApp, selection.In, names)
	if err != nil {
		return b, fmt.Errorf("select nodes of builder %s: %w", t.Builder, err)
	}
	lo := metav1.ListOptions{LabelSelector: labels.NewSelector().Add(*req).String()}
	deps, err := in.client.AppsV1().Deployments(t.Namespace).List(ctx, lo)
	if err != nil {
		return b, listError("Deployments", t.Namespace, err)
	}
	sets, err := in.client.AppsV1().StatefulSets(t.Namespace).List(ctx, lo)
	if err != nil {
		return b, listError("StatefulSets", t.Namespace, err)
	}
	pods, err := in.client.CoreV1().Pods(t.Namespace).List(ctx, lo)
	if err != nil {
		return b, listError("Pods", t.Namespace, err)
	}
	for _, ref := range t.Nodes {
		n := Node{Name: ref.Name, Status: StatusNotFound, Platforms: ref.Platforms, Pods: []Pod{}}
		if i := slices.IndexFunc(deps.Items, func(d appsv1.Deployment) bool { return d.Name == ref.Name }); i >= 0 {
			d := &deps.Items[i]
			n.setWorkload("Deployment", d.Annotations, d.Spec.Replicas, d.Status.ReadyReplicas)
		} else if i := slices.IndexFunc(sets.Items, func(s appsv1.StatefulSet) bool { return s.Name == ref.Name }); i >= 0 {
			s := &sets.Items[i]
			n.setWorkload("StatefulSet", s.Annotations, s.Spec.Replicas, s.Status.ReadyReplicas)
		}
		for i := range pods.Items {
			if p := &pods.Items[i]; p.Labels[keys.LabelApp] == ref.Name {
				n.Pods = append(n.Pods, podOf(p))
			}
		}
		slices.SortFunc(n.Pods, func(a, b Pod) int { return strings.Compare(a.Name, b.Name) })
		b.Nodes = append(b.Nodes, n)
	}
	return b, nil
}

func (n *Node) setWorkload(kind string, annotations map[string]string, replicas *int32, ready int32) {
	n.Kind, n.ReadyReplicas = kind, ready
	n.DesiredReplicas = 1 // the API server's default when unset
	if replicas != nil {
		n.DesiredReplicas = *replicas
	}
	if p := annotations[keys.AnnotationPlatform]; p != "" {
		n.Platforms = strings.Split(p, ",")
	}
	switch {
	case n.DesiredReplicas == 0:
		n.Status = StatusInactive
	case ready >= n.DesiredReplicas:
		n.Status = StatusRunning
	default:
		n.Status = StatusStarting
	}
}

func podOf(p *corev1.Pod) Pod {
	out := Pod{Name: p.Name, Host: p.Spec.NodeName, Phase: string(p.Status.Phase),
		CreatedAt: p.CreationTimestamp.UTC(), Containers: len(p.Spec.Containers)}
	if p.DeletionTimestamp != nil {
		out.Phase = "Terminating"
	}
	for _, c := range p.Status.ContainerStatuses {
		out.Restarts += c.RestartCount
		if c.Ready {
			out.ReadyContainers++
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Ready = c.Status == corev1.ConditionTrue
		}
	}
	return out
}

// normalize formats platforms as buildx shows them: normalized, duplicates removed, in order.
func normalize(ps []string) []string {
	out := []string{}
	for _, s := range ps {
		if p, err := platforms.Parse(s); err == nil {
			s = platforms.Format(platforms.Normalize(p))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// listError is the error of a refused or failed list of kind in where, with a hint when the
// API server refused it for the caller's rights.
func listError(kind, where string, err error) error {
	forbidden := apierrors.IsForbidden(err)
	err = fmt.Errorf("list %s in %s: %w", kind, where, err)
	if !forbidden {
		return err
	}
	need := "bkctl ls and status need list on deployments, statefulsets and pods, and create on pods/exec to ask the daemons"
	if where == allNamespaces {
		need += "; with rights in one namespace, pass -n NAMESPACE"
	}
	return &podexec.RefusedError{Err: err, Need: need}
}
