package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

// The fake nodes kwok simulates; pods scheduled there get a buildkitd of the node's architecture.
const (
	NodeAMD64 = "kwok-amd64"
	NodeARM64 = "kwok-arm64"
)

// nodePlatforms maps each fake node to the platform its builder pods' buildkitd serves.
var nodePlatforms = map[string]string{NodeAMD64: "linux/amd64", NodeARM64: "linux/arm64"}

const fieldManager = "bkctl-testenv"

var (
	execGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "execs"}
	crdGVR  = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// installExecCRD installs kwok's Exec CRD and waits until it is served.
func (e *Env) installExecCRD(ctx context.Context) error {
	b, err := os.ReadFile(filepath.Join(e.BinDir, "kwok-crd-execs.yaml"))
	if err != nil {
		return err
	}
	var crd unstructured.Unstructured
	if err := yaml.Unmarshal(b, &crd.Object); err != nil {
		return fmt.Errorf("decode kwok Exec CRD: %w", err)
	}
	b, err = crd.MarshalJSON()
	if err != nil {
		return err
	}
	crds := e.dynamic.Resource(crdGVR)
	if _, err := crds.Patch(ctx, crd.GetName(), types.ApplyPatchType, b,
		metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("apply CustomResourceDefinition/%s: %w", crd.GetName(), err)
	}
	for {
		got, err := crds.Get(ctx, crd.GetName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for CustomResourceDefinition/%s: %w", crd.GetName(), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (e *Env) startKwok(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	stages, err := os.ReadFile(filepath.Join(e.BinDir, "kwok-stages.yaml"))
	if err != nil {
		return err
	}
	if stages, err = gatePodReady(stages); err != nil {
		return err
	}
	var cfg bytes.Buffer
	// Defaults are not applied to options when a KwokConfiguration is given: every parallelism
	// must be set, and exec needs the debugging handlers.
	fmt.Fprintf(&cfg, `apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  manageNodesWithAnnotationSelector: kwok.x-k8s.io/node=fake
  nodeIP: 127.0.0.1
  nodePort: %[1]d
  serverAddress: 127.0.0.1:%[1]d
  cidr: 10.244.0.0/16
  nodeLeaseDurationSeconds: 40
  nodeLeaseParallelism: 4
  podPlayStageParallelism: 4
  nodePlayStageParallelism: 4
  podsOnNodeSyncParallelism: 4
  enablePodsOnNodeSyncStreamWatch: true
  enableDebuggingHandlers: true
  enableCRDs: [Exec]
`, port)
	cfg.Write(stages)
	cfgPath := filepath.Join(e.RunDir, "kwok.yaml")
	if err := os.WriteFile(cfgPath, cfg.Bytes(), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(e.BinDir, "kwok"), "--config="+cfgPath, "--kubeconfig="+e.kwokKubeconfig)
	// kwok runs the command of a pod exec (buildctl dial-stdio) on this host, found in its PATH
	cmd.Env = append(os.Environ(), "PATH="+e.BinDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Dir = e.RunDir
	p, err := e.run.startProcess("kwok", cmd)
	if err != nil {
		return err
	}
	e.kwok = p
	return waitHealthy(ctx, p, "kwok", httpOK(http.DefaultClient, "http://127.0.0.1:"+strconv.Itoa(port)+"/healthz"))
}

// ExecReadyAnnotation is set to "true" on a pod of a kwok node once an exec into it, through the
// apiserver and kwok, has been seen to reach the pod's own buildkitd address. kwok's pod-ready
// stage waits for it: a pod is never Running or Ready before exec into it works.
//
// kwok serves exec from an informer cache of Exec objects that lags behind the apiserver (and
// can hold a stale list until the next Exec event), so an Exec object that exists is no promise
// that kwok knows it yet.
const ExecReadyAnnotation = "testenv.bkctl.io/exec-ready"

var yamlSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// gatePodReady adds the ExecReadyAnnotation to the selector of kwok's pod-ready stage.
func gatePodReady(stages []byte) ([]byte, error) {
	var out bytes.Buffer
	found := false
	for _, doc := range yamlSeparator.Split(string(stages), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var stage map[string]any
		if err := yaml.Unmarshal([]byte(doc), &stage); err != nil {
			return nil, fmt.Errorf("decode kwok stages: %w", err)
		}
		if name, _, _ := unstructured.NestedString(stage, "metadata", "name"); name == "pod-ready" {
			if err := unstructured.SetNestedStringMap(stage, map[string]string{ExecReadyAnnotation: "true"},
				"spec", "selector", "matchAnnotations"); err != nil {
				return nil, err
			}
			found = true
		}
		b, err := yaml.Marshal(stage)
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.Write(b)
	}
	if !found {
		return nil, fmt.Errorf("kwok stages: no pod-ready stage to gate on %s", ExecReadyAnnotation)
	}
	return out.Bytes(), nil
}

// createNodes creates the fake nodes; kwok manages nodes with the kwok.x-k8s.io/node annotation.
func (e *Env) createNodes(ctx context.Context) error {
	for _, name := range []string{NodeAMD64, NodeARM64} {
		arch := filepath.Base(nodePlatforms[name])
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"type": "kwok", corev1.LabelArchStable: arch, corev1.LabelOSStable: "linux",
				corev1.LabelHostname: name,
			},
		}}
		// kwok keeps a node's own capacity; without ephemeral-storage, no pod that requests
		// some (examples/multi-arch.yaml) would be scheduled
		capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1k"), corev1.ResourceMemory: resource.MustParse("1Ti"),
			corev1.ResourcePods: resource.MustParse("1M"), corev1.ResourceEphemeralStorage: resource.MustParse("1Pi")}
		node.Status = corev1.NodeStatus{Capacity: capacity, Allocatable: capacity}
		if _, err := e.clientset.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create Node/%s: %w", name, err)
		}
	}
	return nil
}

func (e *Env) waitNodesReady(ctx context.Context) error {
	for {
		ready := 0
		for _, name := range []string{NodeAMD64, NodeARM64} {
			n, err := e.clientset.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("get Node/%s: %w", name, err)
			}
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready == 2 {
			return nil
		}
		if err := e.kwok.exited(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for kwok nodes Ready: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// kwokDeletePolicy keeps kwok from deleting a pod that is not terminating. kwok v0.8.0 deletes a
// terminating pod by name, without a UID precondition, from a queue that may run late: when the
// pod was already gone and recreated under the same name (a StatefulSet's pod, a test's), the
// delete hit the new pod. Denied, kwok drops or retries it; the new pod is left alone.
var kwokDeletePolicy = []map[string]any{{
	"apiVersion": "admissionregistration.k8s.io/v1",
	"kind":       "ValidatingAdmissionPolicy",
	"metadata":   map[string]any{"name": "bkctl-testenv-kwok-deletes-terminating-pods"},
	"spec": map[string]any{
		"failurePolicy": "Fail",
		"matchConstraints": map[string]any{"resourceRules": []any{map[string]any{
			"apiGroups": []any{""}, "apiVersions": []any{"v1"}, "operations": []any{"DELETE"}, "resources": []any{"pods"},
		}}},
		"matchConditions": []any{map[string]any{"name": "kwok", "expression": `request.userInfo.username == "` + kwokUser + `"`}},
		"validations": []any{map[string]any{
			"expression": "has(oldObject.metadata.deletionTimestamp)",
			"message":    "kwok may only delete a terminating pod (a late delete of an earlier pod of this name)",
		}},
	},
}, {
	"apiVersion": "admissionregistration.k8s.io/v1",
	"kind":       "ValidatingAdmissionPolicyBinding",
	"metadata":   map[string]any{"name": "bkctl-testenv-kwok-deletes-terminating-pods"},
	"spec": map[string]any{
		"policyName":        "bkctl-testenv-kwok-deletes-terminating-pods",
		"validationActions": []any{"Deny"},
	},
}}

func (e *Env) applyKwokDeletePolicy(ctx context.Context) error {
	for _, obj := range kwokDeletePolicy {
		u := &unstructured.Unstructured{Object: obj}
		b, err := u.MarshalJSON()
		if err != nil {
			return err
		}
		resource := map[string]string{
			"ValidatingAdmissionPolicy":        "validatingadmissionpolicies",
			"ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings",
		}[u.GetKind()]
		gvr := schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: resource}
		if _, err := e.dynamic.Resource(gvr).Patch(ctx, u.GetName(), types.ApplyPatchType, b,
			metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("apply %s/%s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}
