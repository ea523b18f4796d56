// Package clusterdns answers DNS queries for Kubernetes Service names
// (<service>.<namespace>.svc.<cluster domain>) from the API server, for the
// processes of the cluster test tier's process node.
//
// A Service with a cluster IP is answered with it, as a cluster's DNS does (the
// tier's service proxy, package serviceproxy, plays kube-proxy's part: it
// carries a connection to one of the Service's ready endpoints at the port the
// Service's port maps to). A headless Service is answered with the addresses of
// its ready endpoints (EndpointSlices). An ExternalName Service is answered with
// a CNAME (and the target's addresses when it is a Service name too). Names
// outside the cluster domain are refused: the cluster has no upstream resolver.
package clusterdns

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	listersdiscoveryv1 "k8s.io/client-go/listers/discovery/v1"

	"golang.org/x/net/dns/dnsmessage"
)

// Server is a running DNS server.
type Server struct {
	domain   string // "svc.cluster.local."
	services listerscorev1.ServiceLister
	slices   listersdiscoveryv1.EndpointSliceLister
	log      *slog.Logger
}

// Serve answers queries on addr (UDP) until ctx ends.
func Serve(ctx context.Context, client kubernetes.Interface, addr, clusterDomain string, log *slog.Logger) error {
	factory := informers.NewSharedInformerFactory(client, 0)
	s := &Server{
		domain:   "svc." + strings.TrimSuffix(clusterDomain, ".") + ".",
		services: factory.Core().V1().Services().Lister(),
		slices:   factory.Discovery().V1().EndpointSlices().Lister(),
		log:      log,
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return errors.New("dns: cache of " + typ.String() + " did not sync")
		}
	}
	var lc net.ListenConfig
	conn, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		conn.Close()
		factory.Shutdown()
	}()
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if resp := s.answer(buf[:n]); resp != nil {
			_, _ = conn.WriteTo(resp, from)
		}
	}
}

// answer builds the response to one query message (nil for garbage).
func (s *Server) answer(query []byte) []byte {
	var p dnsmessage.Parser
	hdr, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	resp := dnsmessage.Header{ID: hdr.ID, Response: true, Authoritative: true, RecursionDesired: hdr.RecursionDesired, RCode: dnsmessage.RCodeSuccess}
	name := strings.ToLower(q.Name.String())
	var answers []dnsmessage.Resource
	switch {
	case !strings.HasSuffix(name, "."+s.domain):
		resp.RCode, resp.Authoritative = dnsmessage.RCodeRefused, false
	default:
		found := false
		answers, found = s.lookup(name, q.Type, 0)
		if !found {
			resp.RCode = dnsmessage.RCodeNameError
		}
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), resp)
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	for _, a := range answers {
		switch body := a.Body.(type) {
		case *dnsmessage.AResource:
			_ = b.AResource(a.Header, *body)
		case *dnsmessage.CNAMEResource:
			_ = b.CNAMEResource(a.Header, *body)
		}
	}
	out, err := b.Finish()
	if err != nil {
		s.log.Warn("dns answer", "name", name, "err", err)
		return nil
	}
	return out
}

// lookup resolves <service>.<namespace>.svc.<domain>.; found is false when no
// such Service exists.
func (s *Server) lookup(name string, qtype dnsmessage.Type, depth int) (answers []dnsmessage.Resource, found bool) {
	rest := strings.TrimSuffix(name, "."+s.domain)
	svcName, ns, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(ns, ".") || depth > 4 {
		return nil, false
	}
	svc, err := s.services.Services(ns).Get(svcName)
	if err != nil {
		return nil, false
	}
	rrName := dnsmessage.MustNewName(name)
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		target := strings.TrimSuffix(strings.ToLower(svc.Spec.ExternalName), ".") + "."
		cname, err := dnsmessage.NewName(target)
		if err != nil {
			return nil, true
		}
		answers = append(answers, dnsmessage.Resource{
			Header: dnsmessage.ResourceHeader{Name: rrName, Type: dnsmessage.TypeCNAME, Class: dnsmessage.ClassINET, TTL: 5},
			Body:   &dnsmessage.CNAMEResource{CNAME: cname},
		})
		if strings.HasSuffix(target, "."+s.domain) {
			more, _ := s.lookup(target, qtype, depth+1)
			answers = append(answers, more...)
		}
		return answers, true
	}
	if qtype != dnsmessage.TypeA && qtype != dnsmessage.TypeALL {
		return nil, true
	}
	addrs := clusterIPs(svc)
	if len(addrs) == 0 && (svc.Spec.ClusterIP == corev1.ClusterIPNone || svc.Spec.ClusterIP == "") {
		addrs = s.readyAddresses(ns, svcName)
	}
	for _, a := range addrs {
		answers = append(answers, dnsmessage.Resource{
			Header: dnsmessage.ResourceHeader{Name: rrName, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 5},
			Body:   &dnsmessage.AResource{A: a.As4()},
		})
	}
	return answers, true
}

// clusterIPs are a Service's IPv4 cluster IPs (none for a headless Service).
func clusterIPs(svc *corev1.Service) []netip.Addr {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	var out []netip.Addr
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip); err == nil && a.Is4() {
			out = append(out, a)
		}
	}
	return out
}

// readyAddresses are the IPv4 addresses of a Service's ready endpoints.
func (s *Server) readyAddresses(ns, svc string) []netip.Addr {
	slices, err := s.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc}))
	if err != nil {
		return nil
	}
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, sl := range slices {
		if sl.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				if ip, err := netip.ParseAddr(a); err == nil && ip.Is4() && !seen[ip] {
					seen[ip] = true
					out = append(out, ip)
				}
			}
		}
	}
	return out
}
