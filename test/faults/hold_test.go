package faults

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// holder is a real validating admission webhook that stops one request in the API server: the
// first non-dry-run op on the Deployment labelled app=<name> in one namespace waits in the
// webhook until the test releases it (or is refused, with deny). It is how a test knows that bkctl is inside a step (applying,
// pruning) and keeps it there for as long as the fault takes.
type holder struct {
	// held receives the request once it is held.
	held    chan *admissionv1.AdmissionRequest
	release chan struct{}
	probed  chan struct{}

	holding     atomic.Bool
	releaseOnce sync.Once
	// deny, when set, refuses the request with this message at once instead of holding it.
	deny string
}

// holdDeployment installs a holder for op (CREATE, UPDATE or DELETE) on Deployment app=name in ns
// and returns once the API server calls it. The test's cleanup releases and removes it.
func holdDeployment(t *testing.T, ns, name string, op admissionregistrationv1.OperationType) *holder {
	t.Helper()
	return installHolder(t, ns, name, op, "")
}

// denyDeployment is holdDeployment that refuses the first request with message instead.
func denyDeployment(t *testing.T, ns, name string, op admissionregistrationv1.OperationType, message string) *holder {
	t.Helper()
	return installHolder(t, ns, name, op, message)
}

func installHolder(t *testing.T, ns, name string, op admissionregistrationv1.OperationType, deny string) *holder {
	t.Helper()
	h := &holder{held: make(chan *admissionv1.AdmissionRequest, 1), release: make(chan struct{}), probed: make(chan struct{}, 1), deny: deny}
	srv := httptest.NewTLSServer(http.HandlerFunc(h.serve))
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	url := srv.URL + "/hold"
	none := admissionregistrationv1.SideEffectClassNone
	ignore := admissionregistrationv1.Ignore
	timeout := int32(30)
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "bkctl-faults-hold-" + ns},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         "hold.faults.bkctl.dev",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{op},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
			}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          &timeout,
			FailurePolicy:           &ignore,
		}},
	}
	cs := kubernetes.NewForConfigOrDie(env.Config)
	whs := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	if _, err := whs.Create(ctx(t), cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.releaseOnce.Do(func() { close(h.release) })
		// the API server may be down when a test fails: give it time to come back
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := whs.Delete(cctx, cfg.Name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete the holding webhook: %v", err)
		}
		srv.Close()
	})

	// The API server loads webhook configurations asynchronously: a dry-run of the op, which the
	// holder passes, shows when it is in force.
	probe := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name),
		},
	}
	dry := []string{metav1.DryRunAll}
	deadline := time.After(time.Minute)
	for {
		var err error
		switch op {
		case admissionregistrationv1.Create:
			_, err = cs.AppsV1().Deployments(ns).Create(ctx(t), probe, metav1.CreateOptions{DryRun: dry})
		case admissionregistrationv1.Delete:
			err = cs.AppsV1().Deployments(ns).Delete(ctx(t), name, metav1.DeleteOptions{DryRun: dry})
		default:
			t.Fatalf("holder: no probe for %s", op)
		}
		if err != nil {
			t.Fatalf("probe the holding webhook: %v", err)
		}
		select {
		case <-h.probed:
			return h
		case <-deadline:
			t.Fatal("the API server never called the holding webhook")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// serve passes dry-runs and every request after the first held one; it holds the first until
// the test releases it or the API server gives up on it (it was killed, or its timeout passed).
func (h *holder) serve(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "bad admission review", http.StatusBadRequest)
		return
	}
	req := review.Request
	review.Response = &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	switch {
	case req.DryRun != nil && *req.DryRun:
		select {
		case h.probed <- struct{}{}:
		default:
		}
	case !h.holding.CompareAndSwap(false, true):
	case h.deny != "":
		review.Response.Allowed = false
		review.Response.Result = &metav1.Status{Code: http.StatusForbidden, Message: h.deny}
		h.held <- req
	default:
		h.held <- req
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
	}
	review.Request = nil
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review)
}

// waitHeld waits until the holder holds a request and returns it.
func (h *holder) waitHeld(t *testing.T, p *proc) *admissionv1.AdmissionRequest {
	t.Helper()
	select {
	case req := <-h.held:
		return req
	case <-p.done:
		t.Fatalf("bkctl exited (%v) before the held request\nstdout:\n%s\nstderr:\n%s", p.cmd.ProcessState, p.stdout.String(), p.stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("no request held after 2m\nstderr:\n%s", p.stderr.String())
	}
	return nil
}

// releaseHeld lets the held request (and all later ones) through.
func (h *holder) releaseHeld() { h.releaseOnce.Do(func() { close(h.release) }) }

func podTemplate(name string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "buildkitd", Image: "moby/buildkit:buildx-stable-1"}}},
	}
}
