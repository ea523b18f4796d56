// Package processnode is a small kubelet for Go binaries: it registers a Node,
// and runs each container of every pod bound to it as a local process, in a
// network namespace of its own with the pod's IP, the pod's environment
// (fieldRef, configMapKeyRef and secretKeyRef resolved), and the pod's service
// account token mounted where client-go's in-cluster configuration reads it. It
// runs the pod's readiness probes for real and reports the pod's status, restarts
// containers that exit, and stops them on deletion.
//
// The cluster test tier runs Knative's own Deployments (knative.dev/serving and
// knative.dev/eventing config/, unchanged) on this node, so their controllers
// and admission webhooks are the real binaries with their real RBAC, reachable by
// the API server at their pods' addresses. Images are ko:// references, mapped to
// binaries built from the same import paths.
package processnode

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// Taint keeps every pod off the process node except those that tolerate it
// (the cluster test tier gives Knative's namespaces that toleration).
const Taint = "serverless-architect.dev/process-node"

// Label marks the process node; Knative's namespaces select it.
const Label = "serverless-architect.dev/process-node"

// Config is the node's setup.
type Config struct {
	// Name is the Node's name.
	Name string
	// Client acts as the node (user system:node:<Name>, group system:nodes), so the
	// API server's Node authorizer and NodeRestriction apply as to a kubelet.
	Client kubernetes.Interface
	// Dir holds one directory per pod (token, resolv.conf, logs).
	Dir string
	// Bridge is the bridge in this network namespace the pods' veths join.
	Bridge string
	// Gateway is this namespace's address on the bridge: the API server's
	// address, the pods' default route and their DNS server.
	Gateway netip.Addr
	// Pods is the range pod addresses come from (the bridge's subnet, without
	// Gateway).
	Pods netip.Prefix
	// Reserved are addresses in Pods that are not pods' (the ingress's).
	Reserved []netip.Addr
	// NetnsPrefix names the pods' network namespaces (<prefix>-<n>).
	NetnsPrefix string
	// APIServerPort is where the API server listens on Gateway.
	APIServerPort int
	// CA is the cluster CA, mounted as the service account's ca.crt.
	CA []byte
	// ClusterDomain is the DNS suffix of Services (cluster.local).
	ClusterDomain string
	// Binary maps a container image to the binary to run, or reports false.
	Binary func(image string) (string, bool)
	// Log receives the node's events.
	Log *slog.Logger
}

// Node is a running process node.
type Node struct {
	cfg Config

	mu    sync.Mutex
	pods  map[string]*pod // by UID
	addrs map[netip.Addr]bool
	seq   int
}

// New returns a node; Run registers it and runs its pods.
func New(cfg Config) *Node {
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	n := &Node{cfg: cfg, pods: map[string]*pod{}, addrs: map[netip.Addr]bool{cfg.Gateway: true}}
	for _, a := range cfg.Reserved {
		n.addrs[a] = true
	}
	return n
}

// Run registers the Node, keeps its lease and Ready condition fresh, and runs
// the pods bound to it until ctx ends; then it stops every pod's processes and
// removes their network namespaces.
func (n *Node) Run(ctx context.Context) error {
	if err := n.register(ctx); err != nil {
		return fmt.Errorf("register node %s: %w", n.cfg.Name, err)
	}
	factory := informers.NewSharedInformerFactoryWithOptions(n.cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", n.cfg.Name).String()
		}))
	podInformer := factory.Core().V1().Pods().Informer()
	_, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { n.sync(ctx, obj) },
		UpdateFunc: func(_, obj any) { n.sync(ctx, obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				n.forget(p)
			}
		},
	})
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	go n.heartbeat(ctx)
	<-ctx.Done()
	factory.Shutdown()
	n.stopAll()
	return nil
}

func (n *Node) register(ctx context.Context) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   n.cfg.Name,
			Labels: map[string]string{Label: "true", corev1.LabelHostname: n.cfg.Name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64"},
		},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: Taint, Value: "true", Effect: corev1.TaintEffectNoSchedule}}},
	}
	if _, err := n.cfg.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return n.updateNodeStatus(ctx)
}

func (n *Node) updateNodeStatus(ctx context.Context) error {
	node, err := n.cfg.Client.CoreV1().Nodes().Get(ctx, n.cfg.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("64Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	node.Status.Capacity, node.Status.Allocatable = capacity, capacity
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.cfg.Gateway.String()}, {Type: corev1.NodeHostName, Address: n.cfg.Name}}
	node.Status.NodeInfo = corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: "amd64", KubeletVersion: "processnode", ContainerRuntimeVersion: "processnode://local"}
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "process node is running pods as local processes", LastHeartbeatTime: now, LastTransitionTime: now}
	found := false
	for i, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				ready.LastTransitionTime = c.LastTransitionTime
			}
			node.Status.Conditions[i] = ready
			found = true
		}
	}
	if !found {
		node.Status.Conditions = append(node.Status.Conditions, ready)
	}
	_, err = n.cfg.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

// heartbeat renews the node's Lease every 10 s and its Ready condition every
// 30 s, as a kubelet does, so the node lifecycle controller keeps it Ready.
func (n *Node) heartbeat(ctx context.Context) {
	leases := n.cfg.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		now := metav1.NewMicroTime(time.Now())
		lease, err := leases.Get(ctx, n.cfg.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: n.cfg.Name},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity:       ptr.To(n.cfg.Name),
					LeaseDurationSeconds: ptr.To[int32](40),
					RenewTime:            &now,
				},
			}, metav1.CreateOptions{})
		case err == nil:
			lease.Spec.RenewTime = &now
			_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		}
		if err != nil && ctx.Err() == nil {
			n.cfg.Log.Warn("node lease", "err", err)
		}
		if i%3 == 2 {
			if err := n.updateNodeStatus(ctx); err != nil && ctx.Err() == nil {
				n.cfg.Log.Warn("node status", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sync starts a pod it has not seen, or stops one being deleted.
func (n *Node) sync(ctx context.Context, obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	n.mu.Lock()
	running := n.pods[string(p.UID)]
	if running == nil && p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
		addr, err := n.allocate()
		if err != nil {
			n.mu.Unlock()
			n.cfg.Log.Error("pod address", "pod", p.Namespace+"/"+p.Name, "err", err)
			return
		}
		n.seq++
		running = newPod(n, p.DeepCopy(), addr, fmt.Sprintf("%s-%d", n.cfg.NetnsPrefix, n.seq))
		n.pods[string(p.UID)] = running
		n.mu.Unlock()
		go running.run(ctx)
		return
	}
	n.mu.Unlock()
	if running != nil && p.DeletionTimestamp != nil {
		running.terminate(p)
	}
}

// forget is called when a pod is gone from the API: its processes must be too.
func (n *Node) forget(p *corev1.Pod) {
	n.mu.Lock()
	running := n.pods[string(p.UID)]
	n.mu.Unlock()
	if running != nil {
		running.terminate(p)
	}
}

func (n *Node) released(p *pod) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.pods, string(p.obj.UID))
	delete(n.addrs, p.addr)
}

func (n *Node) allocate() (netip.Addr, error) {
	for a := n.cfg.Pods.Addr().Next(); n.cfg.Pods.Contains(a); a = a.Next() {
		if !n.addrs[a] && a.Next().IsValid() && n.cfg.Pods.Contains(a.Next()) { // not the broadcast address
			n.addrs[a] = true
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no free address in %s", n.cfg.Pods)
}

func (n *Node) stopAll() {
	n.mu.Lock()
	pods := make([]*pod, 0, len(n.pods))
	for _, p := range n.pods {
		pods = append(pods, p)
	}
	n.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Go(func() { p.stop(5 * time.Second) })
	}
	wg.Wait()
}

// LogFiles returns the log file of every container of the pods running now,
// keyed by namespace/pod/container.
func (n *Node) LogFiles() map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]string{}
	for _, p := range n.pods {
		for _, c := range p.obj.Spec.Containers {
			out[p.obj.Namespace+"/"+p.obj.Name+"/"+c.Name] = filepath.Join(p.dir, c.Name+".log")
		}
	}
	return out
}

// mkdir makes a private directory.
func mkdir(path string) error { return os.MkdirAll(path, 0o700) }
