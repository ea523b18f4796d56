// Package ingress is the cluster test tier's Knative networking layer: a small
// implementation of Knative's Ingress contract (networking.internal.knative.dev
// KIngress) for the ingress class Class. It routes real HTTP: each request is
// matched by host, visibility, path and headers to a rule of a ready KIngress,
// a split is drawn by weight, the split's and path's headers are appended, and
// the request is proxied to a ready endpoint of the split's Kubernetes Service
// (the endpoint's port for the Service port named), so requests reach Knative's
// activator or a revision's pods as through Kourier. Once a KIngress's rules are
// in the routing table it is marked Ready with the load balancers' addresses.
//
// It stands in for net-kourier, whose module is not served by the module proxy
// the project's CI can reach, and leaves out what the tier does not use: TLS
// (KIngress spec.tls), HTTP to HTTPS redirects and gRPC/HTTP2 upstreams.
package ingress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	listersdiscoveryv1 "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	netapi "knative.dev/networking/pkg/apis/networking"
	"knative.dev/networking/pkg/apis/networking/v1alpha1"
	netclient "knative.dev/networking/pkg/client/clientset/versioned"
	netinformers "knative.dev/networking/pkg/client/informers/externalversions"
	netlisters "knative.dev/networking/pkg/client/listers/networking/v1alpha1"
)

// Class is the ingress class (config-network ingress-class) this implements.
const Class = "ingress.cluster-tier.serverless-architect.dev"

// Config says where the ingress listens and how it is reached.
type Config struct {
	Kube       kubernetes.Interface
	Networking netclient.Interface
	// Public and Private are the listen addresses (host:port) of the external
	// and the cluster-local load balancer.
	Public, Private string
	// PublicName and PrivateName are the DNS names the KIngress status gives
	// for them (Knative points each route's Kubernetes Service at them).
	PublicName, PrivateName string
	Log                     *slog.Logger
}

// Ingress is a running ingress.
type Ingress struct {
	cfg      Config
	services listerscorev1.ServiceLister
	slices   listersdiscoveryv1.EndpointSliceLister
	kings    netlisters.IngressLister

	mu     sync.RWMutex
	routes map[v1alpha1.IngressVisibility]map[string][]v1alpha1.HTTPIngressPath
}

// Run serves both load balancers and reconciles KIngresses until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	kf := informers.NewSharedInformerFactory(cfg.Kube, 0)
	nf := netinformers.NewSharedInformerFactory(cfg.Networking, 0)
	in := &Ingress{
		cfg:      cfg,
		services: kf.Core().V1().Services().Lister(),
		slices:   kf.Discovery().V1().EndpointSlices().Lister(),
		kings:    nf.Networking().V1alpha1().Ingresses().Lister(),
	}
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	_, err := nf.Networking().V1alpha1().Ingresses().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: poke, UpdateFunc: func(_, o any) { poke(o) }, DeleteFunc: poke,
	})
	if err != nil {
		return err
	}
	kf.Start(ctx.Done())
	nf.Start(ctx.Done())
	kf.WaitForCacheSync(ctx.Done())
	nf.WaitForCacheSync(ctx.Done())

	servers := []*http.Server{
		{Addr: cfg.Public, Handler: in.handler(v1alpha1.IngressVisibilityExternalIP), ReadHeaderTimeout: 10 * time.Second},
		{Addr: cfg.Private, Handler: in.handler(v1alpha1.IngressVisibilityClusterLocal), ReadHeaderTimeout: 10 * time.Second},
	}
	errs := make(chan error, len(servers))
	for _, s := range servers {
		ln, err := net.Listen("tcp", s.Addr)
		if err != nil {
			return fmt.Errorf("ingress listen %s: %w", s.Addr, err)
		}
		go func() {
			if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- err
			}
		}()
	}
	resync := time.NewTicker(10 * time.Second)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			for _, s := range servers {
				_ = s.Close()
			}
			return nil
		case err := <-errs:
			return err
		case <-changed:
		case <-resync.C:
		}
		in.reconcile(ctx)
	}
}

// reconcile rebuilds the routing table from every KIngress of the class, then
// marks each one Ready whose current generation is in the table.
func (in *Ingress) reconcile(ctx context.Context) {
	all, err := in.kings.List(labels.Everything())
	if err != nil {
		in.cfg.Log.Error("list KIngresses", "err", err)
		return
	}
	routes := map[v1alpha1.IngressVisibility]map[string][]v1alpha1.HTTPIngressPath{
		v1alpha1.IngressVisibilityExternalIP:   {},
		v1alpha1.IngressVisibilityClusterLocal: {},
	}
	var mine []*v1alpha1.Ingress
	for _, ing := range all {
		if ing.Annotations[netapi.IngressClassAnnotationKey] != Class || ing.DeletionTimestamp != nil {
			continue
		}
		mine = append(mine, ing)
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			vis := rule.Visibility
			if vis == "" {
				vis = v1alpha1.IngressVisibilityExternalIP
			}
			for _, h := range rule.Hosts {
				routes[vis][strings.ToLower(h)] = append(routes[vis][strings.ToLower(h)], rule.HTTP.Paths...)
			}
		}
	}
	in.mu.Lock()
	in.routes = routes
	in.mu.Unlock()

	lb := func(name string) []v1alpha1.LoadBalancerIngressStatus {
		return []v1alpha1.LoadBalancerIngressStatus{{DomainInternal: name}}
	}
	for _, ing := range mine {
		if ing.Status.ObservedGeneration == ing.Generation && ing.IsReady() {
			continue
		}
		next := ing.DeepCopy()
		next.Status.InitializeConditions()
		next.Status.MarkNetworkConfigured()
		next.Status.MarkLoadBalancerReady(lb(in.cfg.PublicName), lb(in.cfg.PrivateName))
		next.Status.ObservedGeneration = ing.Generation
		if _, err := in.cfg.Networking.NetworkingV1alpha1().Ingresses(ing.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
			in.cfg.Log.Warn("KIngress status", "ingress", ing.Namespace+"/"+ing.Name, "err", err)
		}
	}
}

type backendKey struct{}

// handler serves one load balancer: 404 for a host or path no rule has, 503
// when the chosen Service has no ready endpoint.
func (in *Ingress) handler(vis v1alpha1.IngressVisibility) http.Handler {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			b := pr.In.Context().Value(backendKey{}).(*backend)
			pr.SetURL(b.target)
			pr.Out.Host = b.host
			pr.SetXForwarded()
			for k, v := range b.headers {
				pr.Out.Header.Set(k, v)
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			in.cfg.Log.Warn("ingress upstream", "host", r.Host, "path", r.URL.Path, "err", err)
			http.Error(w, "upstream unavailable: "+err.Error(), http.StatusBadGateway)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, status, msg := in.route(vis, r)
		if b == nil {
			http.Error(w, msg, status)
			return
		}
		proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), backendKey{}, b)))
	})
}

// backend is where one request goes.
type backend struct {
	target  *url.URL
	host    string
	headers map[string]string
}

func (in *Ingress) route(vis v1alpha1.IngressVisibility, r *http.Request) (*backend, int, string) {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	for range 2 { // a rewriteHost re-routes once
		in.mu.RLock()
		paths := in.routes[vis][host]
		in.mu.RUnlock()
		path := matchPath(paths, r)
		if path == nil {
			return nil, http.StatusNotFound, fmt.Sprintf("no route for host %q path %q", host, r.URL.Path)
		}
		if path.RewriteHost != "" && path.RewriteHost != host {
			host = path.RewriteHost
			continue
		}
		split := pickSplit(path.Splits)
		if split == nil {
			return nil, http.StatusServiceUnavailable, "route has no backend"
		}
		addr, err := in.endpoint(split.IngressBackend)
		if err != nil {
			return nil, http.StatusServiceUnavailable, err.Error()
		}
		headers := map[string]string{}
		for k, v := range path.AppendHeaders {
			headers[k] = v
		}
		for k, v := range split.AppendHeaders {
			headers[k] = v
		}
		return &backend{target: &url.URL{Scheme: "http", Host: addr}, host: host, headers: headers}, 0, ""
	}
	return nil, http.StatusLoopDetected, "rewriteHost loop"
}

func matchPath(paths []v1alpha1.HTTPIngressPath, r *http.Request) *v1alpha1.HTTPIngressPath {
	var best *v1alpha1.HTTPIngressPath
	for i := range paths {
		p := &paths[i]
		prefix := p.Path
		if prefix == "" {
			prefix = "/"
		}
		if !strings.HasPrefix(r.URL.Path, prefix) {
			continue
		}
		ok := true
		for name, m := range p.Headers {
			if r.Header.Get(name) != m.Exact {
				ok = false
			}
		}
		// Rules with header matches come first in Knative's ingresses (tag
		// routing); among the rest the longest path wins.
		if ok && (best == nil || len(p.Headers) > len(best.Headers) || (len(p.Headers) == len(best.Headers) && len(prefix) > len(best.Path))) {
			best = p
		}
	}
	return best
}

func pickSplit(splits []v1alpha1.IngressBackendSplit) *v1alpha1.IngressBackendSplit {
	total := 0
	for _, s := range splits {
		total += max(s.Percent, 0)
	}
	if len(splits) == 1 || total == 0 {
		if len(splits) == 0 {
			return nil
		}
		return &splits[0]
	}
	n := rand.IntN(total)
	for i, s := range splits {
		if n -= max(s.Percent, 0); n < 0 {
			return &splits[i]
		}
	}
	return &splits[len(splits)-1]
}

// endpoint picks a ready endpoint of the backend's Service and the endpoint
// port that Service port maps to.
func (in *Ingress) endpoint(b v1alpha1.IngressBackend) (string, error) {
	svc, err := in.services.Services(b.ServiceNamespace).Get(b.ServiceName)
	if err != nil {
		return "", fmt.Errorf("service %s/%s: %w", b.ServiceNamespace, b.ServiceName, err)
	}
	var port *corev1.ServicePort
	for i, p := range svc.Spec.Ports {
		if (b.ServicePort.IntValue() != 0 && int(p.Port) == b.ServicePort.IntValue()) || (b.ServicePort.StrVal != "" && p.Name == b.ServicePort.StrVal) {
			port = &svc.Spec.Ports[i]
		}
	}
	if port == nil {
		return "", fmt.Errorf("service %s/%s has no port %s", b.ServiceNamespace, b.ServiceName, b.ServicePort.String())
	}
	slices, err := in.slices.EndpointSlices(b.ServiceNamespace).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: b.ServiceName}))
	if err != nil {
		return "", err
	}
	var addrs []string
	for _, sl := range slices {
		if sl.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		var epPort int32
		for _, p := range sl.Ports {
			if p.Port != nil && (p.Name == nil && port.Name == "" || p.Name != nil && *p.Name == port.Name) {
				epPort = *p.Port
			}
		}
		if epPort == 0 {
			continue
		}
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				addrs = append(addrs, net.JoinHostPort(a, strconv.Itoa(int(epPort))))
			}
		}
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("service %s/%s has no ready endpoint", b.ServiceNamespace, b.ServiceName)
	}
	return addrs[rand.IntN(len(addrs))], nil
}
