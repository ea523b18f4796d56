package cluster

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// checkPods checks, for every pod in ns, what a kubelet checks before it starts
// a container and kwok does not: the service account exists, every ConfigMap and
// Secret an env var or envFrom names (unless optional) exists with the key, and
// every image built here can be pulled from the registry.
func (e *clusterEnv) checkPods(t *testing.T, ctx context.Context, ns string) {
	t.Helper()
	pods, err := e.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Errorf("no pods in %s", ns)
	}
	checked := map[string]bool{}
	for _, p := range pods.Items {
		where := "pod " + p.Name
		if sa := p.Spec.ServiceAccountName; sa != "" {
			if _, err := e.kube.CoreV1().ServiceAccounts(ns).Get(ctx, sa, metav1.GetOptions{}); err != nil {
				t.Errorf("%s: service account %s: %v", where, sa, err)
			}
		}
		for _, c := range append(slices.Clone(p.Spec.InitContainers), p.Spec.Containers...) {
			for _, problem := range e.envProblems(ctx, ns, c) {
				t.Errorf("%s container %s: %s (a kubelet would not start it: CreateContainerConfigError)", where, c.Name, problem)
			}
			if strings.HasPrefix(c.Image, e.images.host+"/") && !checked[c.Image] {
				checked[c.Image] = true
				if err := e.images.pullable(c.Image); err != nil {
					t.Errorf("%s container %s: image %s cannot be pulled: %v", where, c.Name, c.Image, err)
				}
			}
		}
	}
}

func (e *clusterEnv) envProblems(ctx context.Context, ns string, c corev1.Container) []string {
	var out []string
	cmKey := func(name, key string, optional *bool) {
		cm, err := e.kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) && isTrue(optional):
		case err != nil:
			out = append(out, fmt.Sprintf("ConfigMap %s: %v", name, err))
		case key != "":
			if _, ok := cm.Data[key]; !ok && !isTrue(optional) {
				out = append(out, fmt.Sprintf("ConfigMap %s has no key %s", name, key))
			}
		}
	}
	secretKey := func(name, key string, optional *bool) {
		s, err := e.kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) && isTrue(optional):
		case err != nil:
			out = append(out, fmt.Sprintf("Secret %s: %v", name, err))
		case key != "":
			if _, ok := s.Data[key]; !ok && !isTrue(optional) {
				out = append(out, fmt.Sprintf("Secret %s has no key %s", name, key))
			}
		}
	}
	for _, from := range c.EnvFrom {
		if r := from.ConfigMapRef; r != nil {
			cmKey(r.Name, "", r.Optional)
		}
		if r := from.SecretRef; r != nil {
			secretKey(r.Name, "", r.Optional)
		}
	}
	for _, v := range c.Env {
		if v.ValueFrom == nil {
			continue
		}
		if r := v.ValueFrom.ConfigMapKeyRef; r != nil {
			cmKey(r.Name, r.Key, r.Optional)
		}
		if r := v.ValueFrom.SecretKeyRef; r != nil {
			secretKey(r.Name, r.Key, r.Optional)
		}
	}
	return out
}

func isTrue(b *bool) bool { return b != nil && *b }

// apiAccess is one thing a service's code does with the Kubernetes API.
type apiAccess struct {
	Verb, Group, Resource string
}

// kubernetesAPIUse lists, per service, every Kubernetes API call its code
// makes. The tier asks the API server (SubjectAccessReview) that each service's
// ServiceAccount may make each of them; and it checks that a service whose code
// imports client-go is listed here, so a new use cannot ship without its RBAC.
var kubernetesAPIUse = map[string][]apiAccess{
	// The gateway's replicas find each other through their Service's EndpointSlices
	// (services/gateway/internal/peer/kube: a client-go informer).
	"gateway": {
		{"get", "discovery.k8s.io", "endpointslices"},
		{"list", "discovery.k8s.io", "endpointslices"},
		{"watch", "discovery.k8s.io", "endpointslices"},
	},
}

// deniedToEveryService are requests no service's ServiceAccount may make: the
// services keep no state in the cluster and read no Secret through the API.
var deniedToEveryService = []apiAccess{
	{"get", "", "secrets"},
	{"list", "", "secrets"},
	{"list", "", "pods"},
	{"create", "", "pods"},
	{"update", "", "configmaps"},
	{"create", "serving.knative.dev", "services"},
	{"create", "rbac.authorization.k8s.io", "rolebindings"},
}

// checkServiceAccountAccess asks the API server, for each service's
// ServiceAccount in ns, whether it may make each call its code makes (and may
// not make the ones no service needs).
func (e *clusterEnv) checkServiceAccountAccess(t *testing.T, ctx context.Context, ns string, serviceAccounts []string) {
	t.Helper()
	root := repoRoot(t)
	for _, sa := range serviceAccounts {
		if _, err := exec.LookPath("go"); err == nil {
			if imports, err := importsClientGo(root, sa); err != nil {
				t.Errorf("service %s: %v", sa, err)
			} else if imports && len(kubernetesAPIUse[sa]) == 0 {
				t.Errorf("services/%s imports k8s.io/client-go but kubernetesAPIUse lists no Kubernetes API call for it: add them (and its RBAC to config/ and the chart)", sa)
			}
		}
		user := "system:serviceaccount:" + ns + ":" + sa
		for _, a := range kubernetesAPIUse[sa] {
			if ok, reason := e.allowed(ctx, user, ns, a); !ok {
				t.Errorf("%s may not %s %s (its code does): %s", user, a.Verb, resourceName(a), reason)
			}
		}
		for _, a := range deniedToEveryService {
			if ok, reason := e.allowed(ctx, user, ns, a); ok {
				t.Errorf("%s may %s %s; no service needs that: %s", user, a.Verb, resourceName(a), reason)
			}
		}
	}
}

func resourceName(a apiAccess) string {
	if a.Group == "" {
		return a.Resource
	}
	return a.Resource + "." + a.Group
}

func (e *clusterEnv) allowed(ctx context.Context, user, ns string, a apiAccess) (bool, string) {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   user,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: a.Verb, Group: a.Group, Resource: a.Resource,
		},
	}}
	res, err := e.kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return false, err.Error()
	}
	return res.Status.Allowed, res.Status.Reason
}

// importsClientGo reports whether services/<name> depends on k8s.io/client-go.
func importsClientGo(root, service string) (bool, error) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./services/"+service)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		return false, fmt.Errorf("go list -deps ./services/%s: %v %s", service, err, stderr)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "k8s.io/client-go/") {
			return true, nil
		}
	}
	return false, nil
}

// serviceDirs lists services/<name>.
func serviceDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(repoRoot(t), "services", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range dirs {
		out = append(out, filepath.Base(filepath.Dir(d)))
	}
	slices.Sort(out)
	return out
}

// checkIRSA checks the ServiceAccounts' eks.amazonaws.com/role-arn annotations
// as stored: want maps each ServiceAccount to its role ARN ("" for none).
func (e *clusterEnv) checkIRSA(t *testing.T, ctx context.Context, ns string, want map[string]string) {
	t.Helper()
	for sa, arn := range want {
		got, err := e.kube.CoreV1().ServiceAccounts(ns).Get(ctx, sa, metav1.GetOptions{})
		if err != nil {
			t.Errorf("ServiceAccount %s: %v", sa, err)
			continue
		}
		if have := got.Annotations["eks.amazonaws.com/role-arn"]; have != arn {
			t.Errorf("ServiceAccount %s: eks.amazonaws.com/role-arn %q, want %q", sa, have, arn)
		}
	}
}
