package cluster

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// TestKnativeAdmission checks that Knative's webhooks, running as processes on
// the process node, are called by the API server: a Service with an invalid
// field is rejected with Knative's own message, a valid one is stored with
// Knative's defaults filled in, and a field no schema knows is rejected by the
// API server's own schema validation.
func TestKnativeAdmission(t *testing.T) {
	e := clusterFor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := e.namespace(t, "admission")

	svc := func(extra string) *unstructured.Unstructured {
		t.Helper()
		doc := `
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
  namespace: ` + ns + `
spec:
  template:
    spec:
` + extra + `
      containers:
        - image: registry.example/hello@sha256:0000000000000000000000000000000000000000000000000000000000000000
`
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		return u
	}

	_, err := e.applier.apply(ctx, svc("      containerConcurrency: -1"))
	t.Logf("containerConcurrency -1: %v", err)
	if err == nil || !strings.Contains(err.Error(), "validation.webhook.serving.knative.dev") || !strings.Contains(err.Error(), "containerConcurrency") {
		t.Errorf("containerConcurrency -1: got %v, want a rejection by Knative's validation webhook naming the field", err)
	}

	_, err = e.applier.apply(ctx, svc("      notAField: true"))
	t.Logf("unknown field: %v", err)
	if err == nil || !strings.Contains(err.Error(), "notAField") {
		t.Errorf("unknown field: got %v, want the API server to reject .spec.template.spec.notAField", err)
	}

	// A client that does not ask for field validation (Helm's create and
	// update do not) gets the unknown field pruned in silence; the tier's
	// sent-versus-stored comparison is what catches it.
	pruned := svc("      notAField: true")
	pruned.SetName("pruned")
	ri, err := e.applier.resource(pruned)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ri.Create(ctx, pruned, metav1.CreateOptions{FieldValidation: "Ignore"})
	if err != nil {
		t.Fatalf("create with fieldValidation=Ignore: %v", err)
	}
	if lost := lostFields(pruned.Object, got.Object); !slices.Contains(lost, ".spec.template.spec.notAField: sent, not stored (pruned or dropped)") {
		t.Errorf("the comparison did not see the pruned field; it reported %v", lost)
	}

	stored, err := e.applier.apply(ctx, svc(""))
	if err != nil {
		t.Fatalf("a valid Service was not admitted: %v", err)
	}
	timeout, found, _ := unstructured.NestedInt64(stored.Object, "spec", "template", "spec", "timeoutSeconds")
	if !found || timeout <= 0 {
		t.Errorf("stored Service has no defaulted spec.template.spec.timeoutSeconds (the defaulting webhook did not run): %v", stored.Object["spec"])
	}
	if stored.GetAnnotations()["serving.knative.dev/creator"] == "" {
		t.Errorf("stored Service lacks the serving.knative.dev/creator annotation the webhook sets: %v", stored.GetAnnotations())
	}
}

// namespace creates a namespace for one test and deletes it at the end.
func (e *clusterEnv) namespace(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	_, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}
