package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
)

var (
	ksvcGVR          = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}
	configurationGV  = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "configurations"}
	revisionGVR      = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "revisions"}
	routeGVR         = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "routes"}
	paGVR            = schema.GroupVersionResource{Group: "autoscaling.internal.knative.dev", Version: "v1alpha1", Resource: "podautoscalers"}
	sksGVR           = schema.GroupVersionResource{Group: "networking.internal.knative.dev", Version: "v1alpha1", Resource: "serverlessservices"}
	kingressGVR      = schema.GroupVersionResource{Group: "networking.internal.knative.dev", Version: "v1alpha1", Resource: "ingresses"}
	brokerGVR        = schema.GroupVersionResource{Group: "eventing.knative.dev", Version: "v1", Resource: "brokers"}
	triggerGVR       = schema.GroupVersionResource{Group: "eventing.knative.dev", Version: "v1", Resource: "triggers"}
	sinkBindingGVR   = schema.GroupVersionResource{Group: "sources.knative.dev", Version: "v1", Resource: "sinkbindings"}
	domainMappingGVR = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1beta1", Resource: "domainmappings"}
)

// condition is one entry of a Knative object's status.conditions.
type condition struct {
	Type, Status, Reason, Message string
}

func conditionsOf(u *unstructured.Unstructured) []condition {
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	var out []condition
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		out = append(out, condition{Type: str("type"), Status: str("status"), Reason: str("reason"), Message: str("message")})
	}
	return out
}

func conditionStatus(u *unstructured.Unstructured, typ string) string {
	for _, c := range conditionsOf(u) {
		if c.Type == typ {
			return c.Status
		}
	}
	return ""
}

// notTrue describes every condition of u that is not True, one per line.
func notTrue(u *unstructured.Unstructured) []string {
	var out []string
	for _, c := range conditionsOf(u) {
		if c.Status != "True" {
			out = append(out, fmt.Sprintf("%s %s: %s=%s %s: %s", u.GetKind(), u.GetName(), c.Type, c.Status, c.Reason, c.Message))
		}
	}
	return out
}

func nestedString(u *unstructured.Unstructured, fields ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, fields...)
	return s
}

// get reads one object, nil when it does not exist.
func (e *clusterEnv) get(ctx context.Context, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	u, err := e.dyn.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return u
}

// servingState is what Knative made of one Service.
type servingState struct {
	service, configuration, revision, route, pa *unstructured.Unstructured
}

func (s servingState) all() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range []*unstructured.Unstructured{s.service, s.configuration, s.revision, s.route, s.pa} {
		if u != nil {
			out = append(out, u)
		}
	}
	return out
}

// waitServing waits until Knative has made the Service's Configuration, its
// latest Revision and its Route, the Revision's pods (kwok's) are healthy, and
// the Service is Ready with that Revision (routed through the ingress), and
// returns them.
func (e *clusterEnv) waitServing(ctx context.Context, ns, name string, timeout time.Duration) (servingState, error) {
	var st servingState
	var missing string
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		next := servingState{service: e.get(ctx, ksvcGVR, ns, name), configuration: e.get(ctx, configurationGV, ns, name), route: e.get(ctx, routeGVR, ns, name)}
		if ctx.Err() != nil {
			return false, nil // keep the last state read for the message
		}
		st = next
		switch {
		case st.service == nil:
			missing = "the Service"
		case st.configuration == nil:
			missing = "its Configuration"
		case st.route == nil:
			missing = "its Route"
		}
		if st.service == nil || st.configuration == nil || st.route == nil {
			return false, nil
		}
		rev := nestedString(st.configuration, "status", "latestCreatedRevisionName")
		if rev == "" {
			missing = "a Revision (Configuration's latestCreatedRevisionName)"
			return false, nil
		}
		st.revision = e.get(ctx, revisionGVR, ns, rev)
		st.pa = e.get(ctx, paGVR, ns, rev)
		if st.revision == nil || st.pa == nil {
			missing = "Revision " + rev + " and its PodAutoscaler"
			return false, nil
		}
		for _, c := range []string{"ContainerHealthy", "ResourcesAvailable"} {
			if conditionStatus(st.revision, c) != "True" {
				missing = "Revision " + rev + " " + c
				return false, nil
			}
		}
		if ready := nestedString(st.service, "status", "latestReadyRevisionName"); ready != rev || conditionStatus(st.service, "Ready") != "True" {
			missing = "Ready=True with Revision " + rev + " ready and routed"
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		var lines []string
		for _, u := range st.all() {
			lines = append(lines, notTrue(u)...)
		}
		return st, fmt.Errorf("Knative Service %s/%s: no %s after %s: %w\n%s", ns, name, missing, timeout, err, strings.Join(lines, "\n"))
	}
	return st, nil
}

// checkServing checks every Knative Service sent: Knative made its
// Configuration, Revision and Route, the Revision's Deployment runs, and it
// prints every condition that is not True, with its reason, on each object
// involved.
func (e *clusterEnv) checkServing(t *testing.T, ctx context.Context, ns string, services []string) map[string]servingState {
	t.Helper()
	states := map[string]servingState{}
	for _, name := range services {
		st, err := e.waitServing(ctx, ns, name, 3*time.Minute)
		if err != nil {
			t.Error(err)
			continue
		}
		states[name] = st
		rev := st.revision.GetName()
		if _, err := e.kube.AppsV1().Deployments(ns).Get(ctx, rev+"-deployment", metav1.GetOptions{}); err != nil {
			t.Errorf("Revision %s has no Deployment: %v", rev, err)
		}
		var lines []string
		for _, u := range st.all() {
			lines = append(lines, notTrue(u)...)
		}
		if len(lines) == 0 {
			t.Logf("Knative Service %s: Ready, Revision %s, address %s", name, rev, nestedString(st.service, "status", "address", "url"))
		} else {
			t.Logf("Knative Service %s: Ready, Revision %s, address %s; conditions not True:\n  %s", name, rev, nestedString(st.service, "status", "address", "url"), strings.Join(lines, "\n  "))
		}
	}
	return states
}

// checkDomainMappings checks that each DomainMapping sent is Ready (its host
// claimed, its Knative Service routed) and prints what is not True.
func (e *clusterEnv) checkDomainMappings(t *testing.T, ctx context.Context, ns string, names []string) {
	t.Helper()
	for _, name := range names {
		var dm *unstructured.Unstructured
		err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			dm = e.get(ctx, domainMappingGVR, ns, name)
			return dm != nil && conditionStatus(dm, "Ready") == "True", nil
		})
		if err != nil {
			t.Errorf("DomainMapping %s not Ready: %v\n%s", name, err, strings.Join(notTrue(orEmpty(dm, "DomainMapping", name)), "\n"))
			continue
		}
		t.Logf("DomainMapping %s: Ready, url %s; conditions not True: %v", name, nestedString(dm, "status", "url"), notTrue(dm))
	}
}

// namesOf lists the names of the objects of a group and kind among objs.
func namesOf(objs []object, group, kind string) []string {
	var out []string
	for _, o := range objs {
		if gvk := o.obj.GroupVersionKind(); gvk.Group == group && gvk.Kind == kind {
			out = append(out, o.obj.GetName())
		}
	}
	sort.Strings(out)
	return out
}

// checkEventing checks the Broker and the Triggers: the Broker has an address,
// each Trigger resolved its subscriber to that Knative Service's address, and
// each SinkBinding put the Broker's address into its Deployment's pods as K_SINK.
func (e *clusterEnv) checkEventing(t *testing.T, ctx context.Context, ns string, objs []object, states map[string]servingState) {
	t.Helper()
	for _, name := range namesOf(objs, "eventing.knative.dev", "Broker") {
		var b *unstructured.Unstructured
		err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			b = e.get(ctx, brokerGVR, ns, name)
			return b != nil && nestedString(b, "status", "address", "url") != "", nil
		})
		if err != nil {
			t.Errorf("Broker %s has no address: %v\n%s", name, err, strings.Join(notTrue(orEmpty(b, "Broker", name)), "\n"))
			continue
		}
		t.Logf("Broker %s: address %s; conditions not True: %v", name, nestedString(b, "status", "address", "url"), notTrue(b))
	}

	for _, o := range objs {
		if o.obj.GetKind() != "Trigger" {
			continue
		}
		name := o.obj.GetName()
		sub := nestedString(o.obj, "spec", "subscriber", "ref", "name")
		var tr *unstructured.Unstructured
		err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			if u := e.get(ctx, triggerGVR, ns, name); u != nil {
				tr = u
			}
			return tr != nil && conditionStatus(tr, "SubscriberResolved") == "True" && conditionStatus(tr, "Ready") == "True", nil
		})
		if err != nil {
			t.Errorf("Trigger %s (subscriber %s) not Ready: %v\n%s", name, sub, err, strings.Join(notTrue(orEmpty(tr, "Trigger", name)), "\n"))
			continue
		}
		got := nestedString(tr, "status", "subscriberUri")
		if st, ok := states[sub]; ok {
			if want := nestedString(e.get(ctx, ksvcGVR, ns, st.service.GetName()), "status", "address", "url"); got != want {
				t.Errorf("Trigger %s: subscriberUri %q, want Service %s's address %q", name, got, sub, want)
			}
		}
		t.Logf("Trigger %s -> %s; conditions not True: %v", name, got, notTrue(tr))
	}

	for _, o := range objs {
		if o.obj.GetKind() != "SinkBinding" {
			continue
		}
		e.checkSinkBinding(t, ctx, ns, o.obj)
	}
}

func (e *clusterEnv) checkSinkBinding(t *testing.T, ctx context.Context, ns string, sent *unstructured.Unstructured) {
	t.Helper()
	name := sent.GetName()
	subject := nestedString(sent, "spec", "subject", "name")
	var sb *unstructured.Unstructured
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		sb = e.get(ctx, sinkBindingGVR, ns, name)
		return sb != nil && nestedString(sb, "status", "sinkUri") != "", nil
	})
	if err != nil {
		t.Errorf("SinkBinding %s has no sinkUri: %v\n%s", name, err, strings.Join(notTrue(orEmpty(sb, "SinkBinding", name)), "\n"))
		return
	}
	sink := nestedString(sb, "status", "sinkUri")
	t.Logf("SinkBinding %s: sink %s; conditions not True: %v", name, sink, notTrue(sb))
	// The binding patches the subject's pod template; the Deployment then rolls
	// pods that carry K_SINK.
	var pods []corev1.Pod
	err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := e.kube.AppsV1().Deployments(ns).Get(ctx, subject, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		list, err := e.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(d.Spec.Selector)})
		if err != nil {
			return false, err
		}
		pods = pods[:0]
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil {
				pods = append(pods, p)
			}
		}
		if len(pods) == 0 {
			return false, nil
		}
		for _, p := range pods {
			if envValue(p.Spec.Containers, "K_SINK") != sink || p.Status.Phase != corev1.PodRunning {
				return false, nil
			}
		}
		return deploymentAvailable(d), nil
	})
	if err != nil {
		var got []string
		for _, p := range pods {
			got = append(got, fmt.Sprintf("%s (%s): K_SINK=%q", p.Name, p.Status.Phase, envValue(p.Spec.Containers, "K_SINK")))
		}
		t.Errorf("SinkBinding %s: pods of Deployment %s do not all run with K_SINK=%s: %v; pods: %v", name, subject, sink, err, got)
	}
}

func envValue(cs []corev1.Container, name string) string {
	for _, c := range cs {
		for _, e := range c.Env {
			if e.Name == name {
				return e.Value
			}
		}
	}
	return ""
}

func orEmpty(u *unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	if u != nil {
		return u
	}
	out := &unstructured.Unstructured{}
	out.SetKind(kind)
	out.SetName(name)
	return out
}
