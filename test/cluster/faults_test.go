package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
)

// webhookDownError are the parts of the API server's answer when Knative
// Serving's webhook is down; docs/deploy.md quotes them for the operator.
var webhookDownError = []string{
	`failed calling webhook "webhook.serving.knative.dev"`,
	`no endpoints available for service "webhook"`,
}

// TestWebhookDownAtApply stops Knative Serving's webhook (its Deployment scaled
// to zero), applies one of the project's Knative Services, and expects the API
// server's refusal that docs/deploy.md documents; then it brings the webhook
// back and the same apply succeeds.
func TestWebhookDownAtApply(t *testing.T) {
	e := clusterFor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	objs, _ := e.applyConfig(t)
	var ksvc *unstructured.Unstructured
	for _, o := range objs {
		if o.obj.GroupVersionKind().Group == "serving.knative.dev" && o.obj.GetKind() == "Service" {
			ksvc = o.obj.DeepCopy()
			break
		}
	}
	if ksvc == nil {
		t.Fatal("config/ has no Knative Service")
	}
	// A change, so the apply is not a no-op the API server could skip.
	ann := ksvc.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann["cluster-tier/attempt"] = time.Now().Format(time.RFC3339Nano)
	ksvc.SetAnnotations(ann)

	docs, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range webhookDownError {
		if !strings.Contains(string(docs), part) {
			t.Errorf("docs/deploy.md does not quote %q: the operator who meets this error finds nothing", part)
		}
	}

	e.scaleDeployment(ctx, t, servingNamespace, "webhook", 0)
	defer e.scaleDeployment(context.Background(), t, servingNamespace, "webhook", 1)
	err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := e.kube.CoreV1().Pods(servingNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=webhook"})
		return err == nil && len(pods.Items) == 0, nil
	})
	if err != nil {
		t.Fatalf("Knative Serving's webhook pod did not go away: %v", err)
	}

	_, err = e.applier.apply(ctx, ksvc)
	if err == nil {
		t.Fatal("a Knative Service was admitted while Knative Serving's webhook was down")
	}
	t.Logf("apply with the webhook down: %v", err)
	for _, part := range webhookDownError {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("the refusal does not say %q (the message docs/deploy.md quotes): %v", part, err)
		}
	}

	e.scaleDeployment(ctx, t, servingNamespace, "webhook", 1)
	err = wait.PollUntilContextTimeout(ctx, 2*time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := e.applier.apply(ctx, ksvc)
		return err == nil, nil
	})
	if err != nil {
		t.Errorf("the apply did not succeed once the webhook was back: %v", err)
	}
}

func (e *clusterEnv) scaleDeployment(ctx context.Context, t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"replicas": replicas}})
	if _, err := e.kube.AppsV1().Deployments(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
		t.Errorf("scale %s/%s to %d: %v", ns, name, replicas, err)
	}
}

// TestScaleToZeroAndBack follows one of the project's Knative Services
// (thumbnailer, min-scale 0, a minute's retention) down to zero once idle, back
// up when a request arrives through the ingress and Knative's activator, and
// checks that deleting the Revision's pod brings a new one.
func TestScaleToZeroAndBack(t *testing.T) {
	e := clusterFor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e.applyConfig(t)
	const name = "thumbnailer"
	st, err := e.waitServing(ctx, configNamespace, name, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rev := st.revision.GetName()
	deployment := rev + "-deployment"

	start := time.Now()
	if err := e.waitScale(ctx, configNamespace, rev, 0, 5*time.Minute); err != nil {
		t.Fatalf("to zero: %v", err)
	}
	t.Logf("%s scaled to zero %s after the test began watching (retention %s, stable window and grace from config-autoscaler)",
		rev, time.Since(start).Round(time.Second), st.revision.GetAnnotations()["autoscaling.knative.dev/scale-to-zero-pod-retention-period"])
	if a := conditionStatus(e.get(ctx, revisionGVR, configNamespace, rev), "Active"); a == "True" {
		t.Errorf("Revision %s scaled to zero but its Active condition is True", rev)
	}

	// A request through the cluster-local load balancer: the ingress sends it
	// to the activator (the revision has no pods), which asks the autoscaler for
	// one. kwok's pod serves nothing, so the request itself fails; the scale-up
	// is what is checked.
	host := nestedString(e.get(ctx, ksvcGVR, configNamespace, name), "status", "address", "url")
	host = strings.TrimPrefix(host, "http://")
	reqDone := make(chan string, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.ingressLocal.String()+"/healthz", nil)
		req.Host = host
		client := &http.Client{Timeout: 90 * time.Second}
		resp, err := client.Do(req)
		if err != nil {
			reqDone <- err.Error()
			return
		}
		resp.Body.Close()
		reqDone <- resp.Status
	}()
	start = time.Now()
	if err := e.waitScale(ctx, configNamespace, rev, 1, 3*time.Minute); err != nil {
		t.Fatalf("back from zero on a request: %v", err)
	}
	t.Logf("%s back to one pod %s after the request to %s", rev, time.Since(start).Round(time.Second), host)

	pods := e.revisionPods(ctx, t, configNamespace, rev)
	if len(pods) == 0 {
		t.Fatal("no pod after scaling back")
	}
	old := pods[0]
	if err := e.kube.CoreV1().Pods(configNamespace).Delete(ctx, old.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, p := range e.revisionPods(ctx, t, configNamespace, rev) {
			if p.UID != old.UID && p.DeletionTimestamp == nil && podReady(&p) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		d, _ := e.kube.AppsV1().Deployments(configNamespace).Get(ctx, deployment, metav1.GetOptions{})
		t.Errorf("deleted pod %s of Revision %s was not replaced by a ready one: %v (deployment %+v)", old.Name, rev, err, d.Status)
	}
	select {
	case s := <-reqDone:
		t.Logf("the request that woke %s ended: %s (kwok's pods serve nothing)", name, s)
	default:
	}
}

// waitScale waits until the Revision's PodAutoscaler and Deployment agree on
// want pods (for 0: no pod left).
func (e *clusterEnv) waitScale(ctx context.Context, ns, rev string, want int64, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		pa := e.get(ctx, paGVR, ns, rev)
		d, err := e.kube.AppsV1().Deployments(ns).Get(ctx, rev+"-deployment", metav1.GetOptions{})
		if pa == nil || err != nil {
			return false, nil
		}
		desired, _, _ := unstructured.NestedInt64(pa.Object, "status", "desiredScale")
		actual, _, _ := unstructured.NestedInt64(pa.Object, "status", "actualScale")
		replicas := int64(1)
		if d.Spec.Replicas != nil {
			replicas = int64(*d.Spec.Replicas)
		}
		ready := int64(d.Status.ReadyReplicas)
		var pods []string
		if list, err := e.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "serving.knative.dev/revision=" + rev}); err == nil {
			for _, p := range list.Items {
				pods = append(pods, fmt.Sprintf("%s %s ready=%t node=%s deleting=%t", p.Name, p.Status.Phase, podReady(&p), p.Spec.NodeName, p.DeletionTimestamp != nil))
			}
		}
		last = fmt.Sprintf("PodAutoscaler desiredScale %d actualScale %d (%v); Deployment replicas %d ready %d; pods %v", desired, actual, notTrue(pa), replicas, ready, pods)
		if want == 0 {
			return desired == 0 && replicas == 0 && d.Status.Replicas == 0, nil
		}
		return desired >= want && replicas >= want && ready >= want && actual >= want, nil
	})
	if err != nil {
		return fmt.Errorf("Revision %s not at %d pods after %s: %s: %w", rev, want, timeout, last, err)
	}
	return nil
}

func (e *clusterEnv) revisionPods(ctx context.Context, t *testing.T, ns, rev string) []corev1.Pod {
	t.Helper()
	pods, err := e.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "serving.knative.dev/revision=" + rev})
	if err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
