package kube

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/serverless-architect/serverless-architect/services/gateway/internal/peer"
)

const selector = "serving.knative.dev/service=gateway,networking.internal.knative.dev/serviceType=Private"

func ptr[T any](v T) *T { return &v }

// slice is an EndpointSlice as the EndpointSlice controller writes one for Knative's
// private Service of a gateway revision (its labels copied from the Service).
func slice(t *testing.T, name, service string, eps ...discoveryv1.Endpoint) *unstructured.Unstructured {
	t.Helper()
	s := &discoveryv1.EndpointSlice{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "serverless-architect", Labels: map[string]string{
			"serving.knative.dev/service":                       service,
			"networking.internal.knative.dev/serviceType":       "Private",
			"kubernetes.io/service-name":                        name + "-private",
			"endpointslice.kubernetes.io/managed-by":            "endpointslice-controller.k8s.io",
			"serving.knative.dev/revision":                      name,
			"serving.knative.dev/configurationGeneration":       "1",
			"app.kubernetes.io/name":                            service,
			"networking.internal.knative.dev/serverlessservice": name,
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8012))}},
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(s)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: obj}
}

func ep(ip string, ready *bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
}

func TestWatch(t *testing.T) {
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{EndpointSlices: "EndpointSliceList"},
		slice(t, "gateway-00001", "gateway", ep("10.0.0.1", ptr(true)), ep("10.0.0.2", nil), ep("10.0.0.3", ptr(false))),
		slice(t, "todo-api-00001", "todo-api", ep("10.0.1.1", ptr(true))),
	)
	var mu sync.Mutex
	var got [][]peer.Member
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, Options{Selector: selector, Namespace: "serverless-architect", Port: 9465, Client: client, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
			func(ms []peer.Member) { mu.Lock(); got = append(got, ms); mu.Unlock() })
	}()
	wait := func(n int) []peer.Member {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			if len(got) >= n {
				ms := got[n-1]
				mu.Unlock()
				return ms
			}
			mu.Unlock()
		}
		t.Fatalf("no membership number %d", n)
		return nil
	}
	want := []peer.Member{{Addr: "10.0.0.1:9465", Ready: true}, {Addr: "10.0.0.2:9465", Ready: true}, {Addr: "10.0.0.3:9465", Ready: false}}
	if diff := cmp.Diff(want, wait(1)); diff != "" {
		t.Fatalf("first membership (-want +got):\n%s", diff)
	}

	// A new revision rolls out: its pods join through a second slice.
	if _, err := client.Resource(EndpointSlices).Namespace("serverless-architect").Create(ctx, slice(t, "gateway-00002", "gateway", ep("10.0.0.4", ptr(true)), ep("10.0.0.1", ptr(false))), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want = []peer.Member{{Addr: "10.0.0.1:9465", Ready: true}, {Addr: "10.0.0.2:9465", Ready: true}, {Addr: "10.0.0.3:9465", Ready: false}, {Addr: "10.0.0.4:9465", Ready: true}}
	if diff := cmp.Diff(want, wait(2)); diff != "" {
		t.Fatalf("after the new revision (-want +got):\n%s", diff)
	}
	// The old revision goes.
	if err := client.Resource(EndpointSlices).Namespace("serverless-architect").Delete(ctx, "gateway-00001", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want = []peer.Member{{Addr: "10.0.0.1:9465", Ready: false}, {Addr: "10.0.0.4:9465", Ready: true}}
	if diff := cmp.Diff(want, wait(3)); diff != "" {
		t.Fatalf("after the old revision went (-want +got):\n%s", diff)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if slices.ContainsFunc(got, func(ms []peer.Member) bool {
		return slices.ContainsFunc(ms, func(m peer.Member) bool { return m.Addr == "10.0.1.1:9465" })
	}) {
		t.Error("a replica of another Service was listed")
	}
}

func TestWatchBadSelector(t *testing.T) {
	err := Watch(context.Background(), Options{Selector: "a in (", Namespace: "ns", Port: 1}, func([]peer.Member) {})
	if err == nil {
		t.Fatal("a bad selector was accepted")
	}
}
