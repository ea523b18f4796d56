package serviceproxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// freePort is a TCP port nothing listens on at ip.
func freePort(t *testing.T, ip string) int32 {
	t.Helper()
	ln, err := net.Listen("tcp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return int32(ln.Addr().(*net.TCPAddr).Port)
}

// readAll dials addr and returns what the other end sends before closing.
func readAll(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

func TestRun(t *testing.T) {
	// The backend: the endpoint, on another address and port than the Service's.
	backend, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "activator")
			c.Close()
		}
	}()
	target := int32(backend.Addr().(*net.TCPAddr).Port)
	const clusterIP = "127.0.0.2"
	port := freePort(t, clusterIP)
	addr := net.JoinHostPort(clusterIP, strconv.Itoa(int(port)))

	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "rev-abc", Namespace: "demo", Labels: map[string]string{discoveryv1.LabelServiceName: "rev"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("metrics"), Port: ptr.To(freePort(t, "127.0.0.1")), Protocol: ptr.To(corev1.ProtocolTCP)},
			{Name: ptr.To("http"), Port: ptr.To(target), Protocol: ptr.To(corev1.ProtocolTCP)},
		},
	}
	client := fake.NewClientset(
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "rev", Namespace: "demo"},
			Spec: corev1.ServiceSpec{ClusterIP: clusterIP, Ports: []corev1.ServicePort{
				{Name: "http", Port: port, Protocol: corev1.ProtocolTCP},
			}},
		},
		slice,
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, client, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); {
			if time.Now().After(deadline) {
				t.Fatalf("after 5s: %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var got string
	eventually("the Service's port answers with its endpoint's http port", func() bool {
		got, err = readAll(addr)
		return err == nil && got == "activator"
	})

	// No ready endpoint: the connection is refused after accept (reset), and
	// nothing of the backend's comes through.
	slice.Endpoints[0].Conditions.Ready = ptr.To(false)
	if _, err := client.DiscoveryV1().EndpointSlices("demo").Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("a Service without ready endpoints answers nothing", func() bool {
		got, _ = readAll(addr)
		return got == ""
	})

	if err := client.CoreV1().Services("demo").Delete(ctx, "rev", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("a deleted Service's port is closed", func() bool {
		_, err := net.DialTimeout("tcp", addr, time.Second)
		return err != nil
	})
}

func TestPorts(t *testing.T) {
	svc := func(spec corev1.ServiceSpec) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "n"}, Spec: spec}
	}
	tcp := []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}}
	tests := []struct {
		name string
		svc  *corev1.Service
		want []string
	}{
		{"cluster IP", svc(corev1.ServiceSpec{ClusterIP: "10.96.0.5", ClusterIPs: []string{"10.96.0.5"}, Ports: tcp}), []string{"10.96.0.5:80"}},
		{"headless", svc(corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: tcp}), nil},
		{"external name", svc(corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com", Ports: tcp}), nil},
		{"not yet allocated", svc(corev1.ServiceSpec{Ports: tcp}), nil},
	}
	for _, tt := range tests {
		var got []string
		for _, sp := range ports(tt.svc) {
			got = append(got, sp.addr)
		}
		if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
			t.Errorf("%s: ports %v, want %v", tt.name, got, tt.want)
		}
	}
}
