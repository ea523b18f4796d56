package ingress

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
	netapi "knative.dev/networking/pkg/apis/networking"
	"knative.dev/networking/pkg/apis/networking/v1alpha1"
	netfake "knative.dev/networking/pkg/client/clientset/versioned/fake"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// backendService makes a Service whose port 80 ("http") maps to the endpoint
// of a test server, as Knative's revision Services map 80 to a pod's 8012.
func backendService(t *testing.T, name string, srv *httptest.Server) []any {
	t.Helper()
	u, _ := url.Parse(srv.URL)
	host, portStr, _ := net.SplitHostPort(u.Host)
	port, _ := strconv.Atoi(portStr)
	return []any{
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}},
		&discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name + "-x", Namespace: "demo", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{host}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(port))}},
		},
	}
}

func TestIngress(t *testing.T) {
	seen := make(chan http.Header, 10)
	backend := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := r.Header.Clone()
			h.Set("X-Backend", name)
			h.Set("X-Host", r.Host)
			seen <- h
			io.WriteString(w, name)
		}))
	}
	blue, green := backend("blue"), backend("green")
	defer blue.Close()
	defer green.Close()

	var objs []any
	objs = append(objs, backendService(t, "hello-blue", blue)...)
	objs = append(objs, backendService(t, "hello-green", green)...)
	kube := kubefake.NewClientset()
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			kube.Tracker().Add(o)
		case *discoveryv1.EndpointSlice:
			kube.Tracker().Add(o)
		}
	}
	ing := &v1alpha1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "demo", Generation: 1, Annotations: map[string]string{netapi.IngressClassAnnotationKey: Class}},
		Spec: v1alpha1.IngressSpec{Rules: []v1alpha1.IngressRule{
			{
				Hosts:      []string{"hello.demo.svc.cluster.local"},
				Visibility: v1alpha1.IngressVisibilityClusterLocal,
				HTTP: &v1alpha1.HTTPIngressRuleValue{Paths: []v1alpha1.HTTPIngressPath{
					{
						Headers: map[string]v1alpha1.HeaderMatch{"Knative-Serving-Tag": {Exact: "green"}},
						Splits:  []v1alpha1.IngressBackendSplit{{IngressBackend: v1alpha1.IngressBackend{ServiceNamespace: "demo", ServiceName: "hello-green", ServicePort: intstr.FromInt32(80)}, Percent: 100}},
					},
					{
						AppendHeaders: map[string]string{"Knative-Serving-Namespace": "demo"},
						Splits: []v1alpha1.IngressBackendSplit{{
							IngressBackend: v1alpha1.IngressBackend{ServiceNamespace: "demo", ServiceName: "hello-blue", ServicePort: intstr.FromInt32(80)},
							Percent:        100, AppendHeaders: map[string]string{"Knative-Serving-Revision": "hello-00001"},
						}},
					},
				}},
			},
			{
				Hosts:      []string{"hello.demo.example.com"},
				Visibility: v1alpha1.IngressVisibilityExternalIP,
				HTTP: &v1alpha1.HTTPIngressRuleValue{Paths: []v1alpha1.HTTPIngressPath{{
					Splits: []v1alpha1.IngressBackendSplit{{IngressBackend: v1alpha1.IngressBackend{ServiceNamespace: "demo", ServiceName: "hello-green", ServicePort: intstr.FromString("http")}, Percent: 100}},
				}}},
			},
		}},
	}
	other := ing.DeepCopy()
	other.Name, other.Annotations = "not-mine", map[string]string{netapi.IngressClassAnnotationKey: "kourier.ingress.networking.knative.dev"}
	nets := netfake.NewSimpleClientset(ing, other)

	public, private := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if err := Run(ctx, Config{Kube: kube, Networking: nets, Public: public, Private: private, PublicName: "pub.local", PrivateName: "priv.local", Log: slog.New(slog.DiscardHandler)}); err != nil {
			t.Error(err)
		}
	}()

	// Ready, with both load balancers, once in the table.
	deadline := time.Now().Add(10 * time.Second)
	var got *v1alpha1.Ingress
	for time.Now().Before(deadline) {
		got, _ = nets.NetworkingV1alpha1().Ingresses("demo").Get(ctx, "hello", metav1.GetOptions{})
		if got.IsReady() {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !got.IsReady() || got.Status.ObservedGeneration != 1 {
		t.Fatalf("KIngress not Ready for generation 1: %+v", got.Status)
	}
	if lb := got.Status.PrivateLoadBalancer; lb == nil || lb.Ingress[0].DomainInternal != "priv.local" {
		t.Errorf("private load balancer %+v, want priv.local", lb)
	}
	if o, _ := nets.NetworkingV1alpha1().Ingresses("demo").Get(ctx, "not-mine", metav1.GetOptions{}); o.IsReady() {
		t.Error("a KIngress of another class was marked Ready")
	}

	get := func(addr, host string, header http.Header) (int, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
		req.Host = host
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, nil
		}
		return resp.StatusCode, <-seen
	}

	code, h := get(private, "hello.demo.svc.cluster.local", nil)
	if code != 200 || h.Get("X-Backend") != "blue" || h.Get("Knative-Serving-Revision") != "hello-00001" || h.Get("Knative-Serving-Namespace") != "demo" || h.Get("X-Host") != "hello.demo.svc.cluster.local" {
		t.Errorf("cluster-local request: %d %v; want blue with the appended headers and the original host", code, h)
	}
	code, h = get(private, "hello.demo.svc.cluster.local:80", http.Header{"Knative-Serving-Tag": {"green"}})
	if code != 200 || h.Get("X-Backend") != "green" {
		t.Errorf("tagged request: %d %v; want green", code, h)
	}
	if code, _ := get(public, "hello.demo.svc.cluster.local", nil); code != http.StatusNotFound {
		t.Errorf("cluster-local host on the external load balancer: %d, want 404", code)
	}
	code, h = get(public, "hello.demo.example.com", nil)
	if code != 200 || h.Get("X-Backend") != "green" {
		t.Errorf("external request by named port: %d %v; want green", code, h)
	}
	if code, _ := get(public, "nobody.example.com", nil); code != http.StatusNotFound {
		t.Errorf("unknown host: %d, want 404", code)
	}
}

func TestPickSplit(t *testing.T) {
	splits := []v1alpha1.IngressBackendSplit{{Percent: 90}, {Percent: 10}}
	counts := [2]int{}
	for range 2000 {
		s := pickSplit(splits)
		if s == &splits[0] {
			counts[0]++
		} else {
			counts[1]++
		}
	}
	// 90/10 of 2000: a binomial's 10 standard deviations either side.
	if counts[1] < 65 || counts[1] > 335 {
		t.Errorf("10%% split drawn %d of 2000 times", counts[1])
	}
	if pickSplit(nil) != nil {
		t.Error("no splits must give no backend")
	}
}
