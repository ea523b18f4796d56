package clusterdns

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestServe(t *testing.T) {
	client := fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "autoscaler", Namespace: "knative-serving"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}},
		// A Service with a cluster IP is answered with it, not its endpoints.
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "activator-service", Namespace: "knative-serving"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.20", ClusterIPs: []string{"10.96.0.20"}}},
		&discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "activator-service-abc", Namespace: "knative-serving", Labels: map[string]string{discoveryv1.LabelServiceName: "activator-service"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.211.0.4"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		},
		&discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "autoscaler-abc", Namespace: "knative-serving", Labels: map[string]string{discoveryv1.LabelServiceName: "autoscaler"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.211.0.7"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
				{Addresses: []string{"10.211.0.8"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
			},
		},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "demo"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "autoscaler.knative-serving.svc.cluster.local"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "empty", Namespace: "demo"}},
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	go func() {
		if err := Serve(ctx, client, addr, "cluster.local", slog.New(slog.DiscardHandler)); err != nil {
			t.Error(err)
		}
	}()

	tests := []struct {
		name  string
		qtype dnsmessage.Type
		rcode dnsmessage.RCode
		want  []string
	}{
		{"autoscaler.knative-serving.svc.cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, []string{"A 10.211.0.7"}},
		{"activator-service.knative-serving.svc.cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, []string{"A 10.96.0.20"}},
		{"AutoScaler.Knative-Serving.svc.cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, []string{"A 10.211.0.7"}},
		{"autoscaler.knative-serving.svc.cluster.local.", dnsmessage.TypeAAAA, dnsmessage.RCodeSuccess, nil},
		{"hello.demo.svc.cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, []string{"CNAME autoscaler.knative-serving.svc.cluster.local.", "A 10.211.0.7"}},
		{"empty.demo.svc.cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, nil},
		{"missing.demo.svc.cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeNameError, nil},
		{"autoscaler.knative-serving.svc.cluster.local.knative-serving.svc.cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeNameError, nil},
		{"example.com.", dnsmessage.TypeA, dnsmessage.RCodeRefused, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name+" "+tt.qtype.String(), func(t *testing.T) {
			var rcode dnsmessage.RCode
			var got []string
			deadline := time.Now().Add(10 * time.Second)
			for {
				rcode, got = query(t, addr, tt.name, tt.qtype)
				// The server starts answering once its caches synced.
				if (rcode == tt.rcode && cmp.Equal(tt.want, got)) || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if rcode != tt.rcode {
				t.Errorf("rcode %v, want %v", rcode, tt.rcode)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
		})
	}
}

func query(t *testing.T, addr, name string, qtype dnsmessage.Type) (dnsmessage.RCode, []string) {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, RecursionDesired: true})
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: qtype, Class: dnsmessage.ClassINET})
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		return 0xff, nil // not up yet
	}
	var p dnsmessage.Parser
	h, err := p.Start(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	_ = p.SkipAllQuestions()
	var out []string
	for {
		rh, err := p.AnswerHeader()
		if err != nil {
			break
		}
		switch rh.Type {
		case dnsmessage.TypeA:
			r, _ := p.AResource()
			out = append(out, "A "+net.IP(r.A[:]).String())
		case dnsmessage.TypeCNAME:
			r, _ := p.CNAMEResource()
			out = append(out, "CNAME "+r.CNAME.String())
		default:
			_ = p.SkipAnswer()
		}
	}
	if h.ID != 7 {
		t.Errorf("answer id %d, want 7", h.ID)
	}
	return h.RCode, out
}
