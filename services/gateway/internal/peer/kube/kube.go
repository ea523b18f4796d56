// Package kube lists the gateway's replicas in a cluster: the endpoints of the
// EndpointSlices that match a label selector (those of the gateway's Knative Service),
// watched with a client-go informer (list, then watch; relisted after a broken watch).
// The gateway's ServiceAccount needs get, list and watch on endpointslices
// (discovery.k8s.io) in its namespace: config/ and the chart grant exactly that.
//
// It reads EndpointSlices through the dynamic client and converts them itself, so the
// gateway does not link client-go's typed clientset and its registration of every API
// group: that start-up cost is paid by no replica, in a cluster or not.
package kube

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/serverless-architect/serverless-architect/services/gateway/internal/peer"
)

// EndpointSlices is the resource watched.
var EndpointSlices = schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}

// namespaceFile holds the pod's namespace, as Kubernetes mounts it with the
// ServiceAccount token.
const namespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Options configure Watch.
type Options struct {
	// Selector is the label selector of the EndpointSlices.
	Selector string
	// Namespace holds them; the pod's own when empty.
	Namespace string
	// Port is the replicas' peer port (the slices list the serving ports, not it).
	Port int
	// Client reads the slices; built from the in-cluster configuration when nil.
	Client dynamic.Interface
	// Log receives what changes.
	Log *slog.Logger
}

// Watch calls set with every replica the slices list (once the first list is in, then
// on every change) until ctx ends. It returns an error only when it cannot start.
func Watch(ctx context.Context, o Options, set func([]peer.Member)) error {
	sel, err := labels.Parse(o.Selector)
	if err != nil {
		return fmt.Errorf("PEER_ENDPOINTSLICES %q is not a label selector: %w", o.Selector, err)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Namespace == "" {
		b, err := os.ReadFile(namespaceFile)
		if err != nil {
			return fmt.Errorf("the pod's namespace (set PEER_NAMESPACE outside a pod): %w", err)
		}
		o.Namespace = strings.TrimSpace(string(b))
	}
	if o.Client == nil {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return fmt.Errorf("PEER_ENDPOINTSLICES needs the Kubernetes API: %w", err)
		}
		cfg.UserAgent = "gateway (peer membership)"
		if o.Client, err = dynamic.NewForConfig(cfg); err != nil {
			return fmt.Errorf("kubernetes client: %w", err)
		}
	}
	res := o.Client.Resource(EndpointSlices).Namespace(o.Namespace)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.LabelSelector = sel.String()
			l, err := res.List(ctx, opts)
			if err != nil && ctx.Err() == nil {
				// The informer retries with a backoff; until a list succeeds the
				// replica is not ready (it could not tell its peers about its writes).
				o.Log.Error("cannot list the gateway's EndpointSlices; retrying (the gateway's ServiceAccount needs get, list and watch on endpointslices.discovery.k8s.io in its namespace)", "namespace", o.Namespace, "selector", sel.String(), "err", err)
			}
			if err != nil {
				return nil, err
			}
			return l, nil
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.LabelSelector = sel.String()
			return res.Watch(ctx, opts)
		},
	}
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	store, ctrl := cache.NewInformerWithOptions(cache.InformerOptions{
		// Streaming lists (WatchList) where the client supports them.
		ListerWatcher: cache.ToListWatcherWithWatchListSemantics(lw, o.Client),
		ObjectType:    &unstructured.Unstructured{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    poke,
			UpdateFunc: func(_, n any) { poke(n) },
			DeleteFunc: poke,
		},
	})
	go ctrl.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), ctrl.HasSynced) {
		return ctx.Err()
	}
	o.Log.Info("watching the gateway's replicas", "namespace", o.Namespace, "endpointSlices", sel.String())
	var last []peer.Member
	for {
		ms := Members(store.List(), o.Port, o.Log)
		if !slices.Equal(ms, last) {
			set(ms)
			last = ms
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			// Slices of one rollout change in bursts: take them in one go.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// Members turns EndpointSlices (unstructured, as the informer holds them) into the
// replicas at port, sorted by address. An endpoint is ready unless its ready condition
// is false (unknown counts as ready, as the API says consumers should); an address in
// several slices is ready if any says so. FQDN slices are skipped.
func Members(objs []any, port int, log *slog.Logger) []peer.Member {
	ready := map[string]bool{}
	for _, obj := range objs {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		var s discoveryv1.EndpointSlice
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &s); err != nil {
			log.Warn("skipping an EndpointSlice that does not parse", "name", u.GetName(), "err", err)
			continue
		}
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		for _, ep := range s.Endpoints {
			r := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			for _, a := range ep.Addresses {
				addr, err := peer.NormalizeAddr(net.JoinHostPort(a, strconv.Itoa(port)))
				if err != nil {
					continue
				}
				ready[addr] = ready[addr] || r
			}
		}
	}
	ms := make([]peer.Member, 0, len(ready))
	for a, r := range ready {
		ms = append(ms, peer.Member{Addr: a, Ready: r})
	}
	slices.SortFunc(ms, func(a, b peer.Member) int { return strings.Compare(a.Addr, b.Addr) })
	return ms
}
