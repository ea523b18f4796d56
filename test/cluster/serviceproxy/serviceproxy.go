// Package serviceproxy gives Services' cluster IPs a meaning in the cluster test
// tier, as kube-proxy does in a cluster: a connection to a Service's cluster IP
// and port reaches one of its ready endpoints at the port the Service's port
// maps to (its targetPort, as the EndpointSlice carries it).
//
// It is kube-proxy's old userspace mode: one TCP listener per Service port on
// the Service's cluster IP (the cluster's network namespace routes the whole
// Service range to itself, so every cluster IP is a local address), and a copy
// of the bytes both ways. The port mapping matters: Knative's autoscaler checks
// that the activator backs an idle Revision by dialling the Revision's public
// Service on port 80, which the activator serves on 8012.
package serviceproxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersdiscoveryv1 "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"golang.org/x/sys/unix"
)

// servicePort is one TCP port of one Service at its cluster IP.
type servicePort struct {
	namespace, service, portName string
	addr                         string // cluster IP:port
}

type proxy struct {
	slices listersdiscoveryv1.EndpointSliceLister
	log    *slog.Logger

	mu        sync.Mutex
	listeners map[servicePort]net.Listener
	wg        sync.WaitGroup
}

// Run proxies every TCP port of every Service with a cluster IP until ctx
// ends. A port that cannot be bound is logged and left out.
func Run(ctx context.Context, client kubernetes.Interface, log *slog.Logger) error {
	factory := informers.NewSharedInformerFactory(client, 0)
	services := factory.Core().V1().Services()
	p := &proxy{
		slices:    factory.Discovery().V1().EndpointSlices().Lister(),
		log:       log,
		listeners: map[servicePort]net.Listener{},
	}
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    poke,
		UpdateFunc: func(_, n any) { poke(n) },
		DeleteFunc: poke,
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return errors.New("service proxy: cache of " + typ.String() + " did not sync")
		}
	}
	lister := services.Lister()
	for {
		if list, err := lister.List(labels.Everything()); err == nil {
			p.sync(ctx, list)
		}
		select {
		case <-ctx.Done():
			p.sync(ctx, nil)
			p.wg.Wait()
			return nil
		case <-changed:
		}
	}
}

// ports are the TCP ports a Service has at a cluster IP (none for a headless
// or ExternalName Service).
func ports(svc *corev1.Service) []servicePort {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	var out []servicePort
	for _, ip := range clusterIPs(svc) {
		for _, sp := range svc.Spec.Ports {
			if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
				continue
			}
			out = append(out, servicePort{
				namespace: svc.Namespace, service: svc.Name, portName: sp.Name,
				addr: net.JoinHostPort(ip, strconv.Itoa(int(sp.Port))),
			})
		}
	}
	return out
}

func clusterIPs(svc *corev1.Service) []string {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	var out []string
	for _, ip := range ips {
		if ip != corev1.ClusterIPNone && net.ParseIP(ip) != nil {
			out = append(out, ip)
		}
	}
	return out
}

// sync opens a listener for every wanted port that has none and closes the
// listeners of ports no Service has any more.
func (p *proxy) sync(ctx context.Context, services []*corev1.Service) {
	want := map[servicePort]bool{}
	for _, svc := range services {
		for _, sp := range ports(svc) {
			want[sp] = true
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for sp, ln := range p.listeners {
		if !want[sp] {
			_ = ln.Close()
			delete(p.listeners, sp)
		}
	}
	for sp := range want {
		if _, ok := p.listeners[sp]; ok {
			continue
		}
		ln, err := listen(ctx, sp.addr)
		if err != nil {
			p.log.Warn("service port not proxied", "service", sp.namespace+"/"+sp.service, "port", sp.portName, "addr", sp.addr, "err", err)
			continue
		}
		p.listeners[sp] = ln
		p.wg.Go(func() { p.serve(ctx, ln, sp) })
	}
}

// listen binds addr with SO_REUSEPORT, so that a listener of the tier's own on
// the wildcard address and the same port (the kwok pods' metrics on :9090)
// does not keep a cluster IP from being bound; the kernel gives a connection
// to the listener with the more specific address.
func listen(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: ReusePort}
	return lc.Listen(ctx, "tcp4", addr)
}

// ReusePort sets SO_REUSEPORT on a socket (a net.ListenConfig's Control).
func ReusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}

func (p *proxy) serve(ctx context.Context, ln net.Listener, sp servicePort) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go p.forward(ctx, conn, sp)
	}
}

// forward copies one connection to a ready endpoint of the Service and back.
// With no ready endpoint the connection is reset, as kube-proxy's reject rule
// refuses it.
func (p *proxy) forward(ctx context.Context, conn net.Conn, sp servicePort) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	targets := p.endpoints(sp)
	if len(targets) == 0 {
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		p.log.Debug("service has no ready endpoint", "service", sp.namespace+"/"+sp.service, "port", sp.portName)
		return
	}
	target := targets[rand.IntN(len(targets))]
	up, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		p.log.Debug("service endpoint unreachable", "service", sp.namespace+"/"+sp.service, "endpoint", target, "err", err)
		return
	}
	defer up.Close()
	stopUp := context.AfterFunc(ctx, func() { up.Close() })
	defer stopUp()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(up, conn)
		if tc, ok := up.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		close(done)
	}()
	_, _ = io.Copy(conn, up)
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	<-done
}

// endpoints are the ready endpoints' addresses with the port the Service port
// maps to.
func (p *proxy) endpoints(sp servicePort) []string {
	slices, err := p.slices.EndpointSlices(sp.namespace).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: sp.service}))
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, sl := range slices {
		if sl.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		port := int32(0)
		for _, ep := range sl.Ports {
			name := ""
			if ep.Name != nil {
				name = *ep.Name
			}
			if name == sp.portName && ep.Port != nil && (ep.Protocol == nil || *ep.Protocol == corev1.ProtocolTCP) {
				port = *ep.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				addr := net.JoinHostPort(a, strconv.Itoa(int(port)))
				if !seen[addr] {
					seen[addr] = true
					out = append(out, addr)
				}
			}
		}
	}
	return out
}
