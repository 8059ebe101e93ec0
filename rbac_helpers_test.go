package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// rbacExample is the file under test: the rights it grants are the ones the tests use.
const rbacExample = "deploy/rbac.yaml"

// exampleNamespace is the namespace deploy/rbac.yaml is written for.
const exampleNamespace = "buildkit"

// rbacObjects are the objects of deploy/rbac.yaml, moved to one test namespace: namespaced
// objects and subjects into it, cluster-scoped names suffixed with it.
type rbacObjects struct {
	ns   string
	objs []runtime.Object
	cs   kubernetes.Interface
}

func loadRBAC(t *testing.T, ns string) *rbacObjects {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	r := &rbacObjects{ns: ns, cs: cs}
	rd := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(readFile(t, rbacExample))))
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", rbacExample, err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatalf("%s: %v", rbacExample, err)
		}
		if len(m) == 0 {
			continue // comments only
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", rbacExample, err)
		}
		r.objs = append(r.objs, r.move(t, obj))
	}
	return r
}

// move puts obj into the test namespace, and fails the test when the file puts it elsewhere.
func (r *rbacObjects) move(t *testing.T, obj runtime.Object) runtime.Object {
	t.Helper()
	namespaced := func(m *metav1.ObjectMeta) {
		if m.Namespace != exampleNamespace {
			t.Fatalf("%s: %s is in namespace %q, want %q", rbacExample, m.Name, m.Namespace, exampleNamespace)
		}
		m.Namespace = r.ns
	}
	subjects := func(ss []rbacv1.Subject) {
		for i := range ss {
			if ss[i].Kind == rbacv1.ServiceAccountKind {
				namespaced(&metav1.ObjectMeta{Name: ss[i].Name, Namespace: ss[i].Namespace})
				ss[i].Namespace = r.ns
			}
		}
	}
	switch o := obj.(type) {
	case *corev1.ServiceAccount:
		namespaced(&o.ObjectMeta)
	case *rbacv1.Role:
		namespaced(&o.ObjectMeta)
	case *rbacv1.RoleBinding:
		namespaced(&o.ObjectMeta)
		subjects(o.Subjects)
	case *rbacv1.ClusterRole:
		o.Name += "-" + r.ns
	case *rbacv1.ClusterRoleBinding:
		o.Name += "-" + r.ns
		o.RoleRef.Name += "-" + r.ns
		subjects(o.Subjects)
	default:
		t.Fatalf("%s: unexpected %T", rbacExample, obj)
	}
	return obj
}

// rules returns the rules of the Role or ClusterRole named name in the file.
func (r *rbacObjects) rules(t *testing.T, name string) []rbacv1.PolicyRule {
	t.Helper()
	for _, o := range r.objs {
		switch o := o.(type) {
		case *rbacv1.Role:
			if o.Name == name {
				return o.Rules
			}
		case *rbacv1.ClusterRole:
			if o.Name == name+"-"+r.ns {
				return o.Rules
			}
		}
	}
	t.Fatalf("%s has no role %s", rbacExample, name)
	return nil
}

// grant creates the ServiceAccount sa, the roles bound to it in the file (of roles, by their
// name in the file) and their bindings, with rules[role] instead of a role's own rules where
// given; it waits until the authorizer enforces them and returns a kubeconfig of sa.
func (r *rbacObjects) grant(t *testing.T, sa string, roles []string, rules map[string][]rbacv1.PolicyRule) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want := map[string][]rbacv1.PolicyRule{}
	for _, role := range roles {
		want[role] = r.rules(t, role)
		if rs, ok := rules[role]; ok {
			want[role] = rs
		}
	}
	bound := func(ss []rbacv1.Subject, role string) bool {
		return slices.Contains(roles, role) && slices.ContainsFunc(ss, func(s rbacv1.Subject) bool { return s.Name == sa })
	}
	for _, o := range r.objs {
		var err error
		switch o := o.DeepCopyObject().(type) {
		case *corev1.ServiceAccount:
			if o.Name == sa {
				_, err = r.cs.CoreV1().ServiceAccounts(r.ns).Create(ctx, o, metav1.CreateOptions{})
			}
		case *rbacv1.Role:
			if rs, ok := want[o.Name]; ok {
				o.Rules = rs
				_, err = r.cs.RbacV1().Roles(r.ns).Create(ctx, o, metav1.CreateOptions{})
			}
		case *rbacv1.RoleBinding:
			if bound(o.Subjects, o.RoleRef.Name) {
				_, err = r.cs.RbacV1().RoleBindings(r.ns).Create(ctx, o, metav1.CreateOptions{})
			}
		case *rbacv1.ClusterRole:
			if rs, ok := want[strings.TrimSuffix(o.Name, "-"+r.ns)]; ok {
				o.Rules = rs
				_, err = r.cs.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
				r.deleteAtEnd(t, o)
			}
		case *rbacv1.ClusterRoleBinding:
			if bound(o.Subjects, strings.TrimSuffix(o.RoleRef.Name, "-"+r.ns)) {
				_, err = r.cs.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
				r.deleteAtEnd(t, o)
			}
		}
		if err != nil {
			t.Fatalf("grant %s: %v", sa, err)
		}
	}
	for role, rs := range want {
		r.waitEnforced(t, sa, role, rs, access{})
	}
	return r.kubeconfig(t, sa)
}

// setRules replaces the rules of role (its name in the file) and waits until the authorizer
// enforces them for sa.
func (r *rbacObjects) setRules(t *testing.T, sa, role string, rules []rbacv1.PolicyRule) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	if cr, gerr := r.cs.RbacV1().ClusterRoles().Get(ctx, role+"-"+r.ns, metav1.GetOptions{}); gerr == nil {
		cr.Rules = rules
		_, err = r.cs.RbacV1().ClusterRoles().Update(ctx, cr, metav1.UpdateOptions{})
	} else if ro, gerr := r.cs.RbacV1().Roles(r.ns).Get(ctx, role, metav1.GetOptions{}); gerr == nil {
		ro.Rules = rules
		_, err = r.cs.RbacV1().Roles(r.ns).Update(ctx, ro, metav1.UpdateOptions{})
	} else {
		err = gerr
	}
	if err != nil {
		t.Fatalf("set the rules of %s: %v", role, err)
	}
	r.waitEnforced(t, sa, role, rules, access{})
}

func (r *rbacObjects) deleteAtEnd(t *testing.T, o runtime.Object) {
	t.Cleanup(func() {
		ctx := context.Background()
		var err error
		switch o := o.(type) {
		case *rbacv1.ClusterRole:
			err = r.cs.RbacV1().ClusterRoles().Delete(ctx, o.Name, metav1.DeleteOptions{})
		case *rbacv1.ClusterRoleBinding:
			err = r.cs.RbacV1().ClusterRoleBindings().Delete(ctx, o.Name, metav1.DeleteOptions{})
		}
		if err != nil && !apierrors.IsNotFound(err) {
			t.Error(err)
		}
	})
}

// access is one verb on one resource ("pods/exec" for a subresource).
type access struct{ group, resource, verb string }

func (a access) String() string { return a.verb + " " + a.resource }

// accesses lists every verb on every resource that rules grant.
func accesses(rules []rbacv1.PolicyRule) []access {
	var out []access
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out = append(out, access{g, res, v})
				}
			}
		}
	}
	return out
}

// without returns rules less the one access a, splitting the rule that grants it.
func without(rules []rbacv1.PolicyRule, a access) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range rules {
		if !slices.Contains(r.APIGroups, a.group) || !slices.Contains(r.Resources, a.resource) || !slices.Contains(r.Verbs, a.verb) {
			out = append(out, r)
			continue
		}
		if others := slices.DeleteFunc(slices.Clone(r.Resources), func(s string) bool { return s == a.resource }); len(others) > 0 {
			out = append(out, rbacv1.PolicyRule{APIGroups: r.APIGroups, Resources: others, Verbs: r.Verbs})
		}
		if verbs := slices.DeleteFunc(slices.Clone(r.Verbs), func(s string) bool { return s == a.verb }); len(verbs) > 0 {
			out = append(out, rbacv1.PolicyRule{APIGroups: r.APIGroups, Resources: []string{a.resource}, Verbs: verbs})
		}
	}
	return out
}

// waitEnforced waits until the authorizer allows sa every access of rules (in the test
// namespace) and denies denied, when it is set: RBAC changes reach the authorizer through a
// watch, a moment after they are written.
func (r *rbacObjects) waitEnforced(t *testing.T, sa, role string, rules []rbacv1.PolicyRule, denied access) {
	t.Helper()
	checks := map[access]bool{}
	for _, a := range accesses(rules) {
		checks[a] = true
	}
	if denied != (access{}) {
		checks[denied] = false
	}
	deadline := time.Now().Add(30 * time.Second)
	for a, allowed := range checks {
		for {
			got, err := r.allowed(sa, a)
			if err != nil {
				t.Fatalf("access review of %s for %s: %v", a, sa, err)
			}
			if got == allowed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s for %s is %v after 30s, want %v", role, a, sa, got, allowed)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func (r *rbacObjects) allowed(sa string, a access) (bool, error) {
	res, sub, _ := strings.Cut(a.resource, "/")
	ns := r.ns
	if res == "namespaces" {
		ns = ""
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + r.ns + ":" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + r.ns, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: a.verb, Group: a.group, Resource: res, Subresource: sub,
		},
	}}
	got, err := r.cs.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return got.Status.Allowed, nil
}

// kubeconfig writes a kubeconfig that authenticates as sa with a fresh token.
func (r *rbacObjects) kubeconfig(t *testing.T, sa string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tok, err := r.cs.CoreV1().ServiceAccounts(r.ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token of %s: %v", sa, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData, CertificateAuthority: env.Config.CAFile}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), sa+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// forbidden is what the API server says when sa lacks a.
func (r *rbacObjects) forbidden(sa string, a access) string {
	return fmt.Sprintf(`User "system:serviceaccount:%s:%s" cannot %s resource %q`, r.ns, sa, a.verb, a.resource)
}
