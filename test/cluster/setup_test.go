package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	netclient "knative.dev/networking/pkg/client/clientset/versioned"

	"github.com/serverless-architect/serverless-architect/test/cluster/clusterdns"
	"github.com/serverless-architect/serverless-architect/test/cluster/controlplane"
	"github.com/serverless-architect/serverless-architect/test/cluster/ingress"
	"github.com/serverless-architect/serverless-architect/test/cluster/podmetrics"
	"github.com/serverless-architect/serverless-architect/test/cluster/processnode"
	"github.com/serverless-architect/serverless-architect/test/cluster/serviceproxy"
)

// env is the running cluster, shared by every test (set once by TestMain).
var env *clusterEnv

// clusterEnv is the cluster and the clients the tests use.
type clusterEnv struct {
	settings
	cp      *controlplane.ControlPlane
	kube    kubernetes.Interface
	dyn     dynamic.Interface
	applier *applier
	node    *processnode.Node
	images  *images
	config  configRun
	log     *slog.Logger
	stop    func()
}

// settings are what hack/test-cluster.sh passes in the environment.
type settings struct {
	workDir       string
	netns         string
	bridge        string
	gateway       netip.Addr
	pods          netip.Prefix
	ingressPublic netip.Addr
	ingressLocal  netip.Addr
	kwokPods      string
	services      string
	etcdBin       string
	kubernetesBin string
	knativeBin    string
	kwokBin       string
	servingDir    string
	eventingDir   string
	networkingDir string
	cachingDir    string
	kwokDir       string
}

func readSettings() (settings, error) {
	var missing []string
	get := func(k string) string {
		v := os.Getenv(k)
		if v == "" {
			missing = append(missing, k)
		}
		return v
	}
	s := settings{
		workDir:       get("SA_CLUSTER_WORKDIR"),
		netns:         get("SA_CLUSTER_NETNS"),
		bridge:        get("SA_CLUSTER_BRIDGE"),
		etcdBin:       get("SA_CLUSTER_ETCD_BIN"),
		kubernetesBin: get("SA_CLUSTER_KUBERNETES_BIN"),
		knativeBin:    get("SA_CLUSTER_KNATIVE_BIN"),
		kwokBin:       get("SA_CLUSTER_KWOK_BIN"),
		servingDir:    get("SA_CLUSTER_SERVING_DIR"),
		eventingDir:   get("SA_CLUSTER_EVENTING_DIR"),
		networkingDir: get("SA_CLUSTER_NETWORKING_DIR"),
		cachingDir:    get("SA_CLUSTER_CACHING_DIR"),
		kwokDir:       get("SA_CLUSTER_KWOK_DIR"),
	}
	gw, pods, ing := get("SA_CLUSTER_GATEWAY"), get("SA_CLUSTER_PODS"), get("SA_CLUSTER_INGRESS")
	s.kwokPods = get("SA_CLUSTER_KWOK_PODS")
	s.services = get("SA_CLUSTER_SERVICES")
	if len(missing) > 0 {
		return s, fmt.Errorf("hack/test-cluster.sh sets these; missing: %s", strings.Join(missing, ", "))
	}
	var err error
	if s.gateway, err = netip.ParseAddr(gw); err != nil {
		return s, fmt.Errorf("SA_CLUSTER_GATEWAY: %w", err)
	}
	if s.pods, err = netip.ParsePrefix(pods); err != nil {
		return s, fmt.Errorf("SA_CLUSTER_PODS: %w", err)
	}
	public, local, _ := strings.Cut(ing, ",")
	if s.ingressPublic, err = netip.ParseAddr(public); err != nil {
		return s, fmt.Errorf("SA_CLUSTER_INGRESS: %w", err)
	}
	if s.ingressLocal, err = netip.ParseAddr(local); err != nil {
		return s, fmt.Errorf("SA_CLUSTER_INGRESS: %w", err)
	}
	return s, nil
}

// clusterFor returns the running cluster, or skips the test outside the tier.
func clusterFor(t *testing.T) *clusterEnv {
	t.Helper()
	if env == nil {
		t.Skip("the cluster tier runs under hack/test-cluster.sh (make test-cluster)")
	}
	return env
}

func TestMain(m *testing.M) {
	if os.Getenv("SA_CLUSTER") == "" {
		os.Exit(m.Run())
	}
	ctx, cancel := context.WithCancel(context.Background())
	e, err := startCluster(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster tier:", err)
		cancel()
		if e != nil {
			e.stop()
		}
		os.Exit(1)
	}
	env = e
	code := m.Run()
	if code != 0 {
		e.dumpDiagnostics()
	}
	cancel()
	e.stop()
	os.Exit(code)
}

// startCluster starts the control plane, the cluster DNS, the process node,
// kwok and Knative, and returns when Knative's webhooks answer.
func startCluster(ctx context.Context) (*clusterEnv, error) {
	s, err := readSettings()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(s.workDir, "cluster-tier.log"))
	if err != nil {
		return nil, err
	}
	e := &clusterEnv{settings: s, log: slog.New(slog.NewJSONHandler(logFile, nil))}
	// ko logs every build through the standard logger: to its own file.
	koLog, err := os.Create(filepath.Join(s.workDir, "ko.log"))
	if err != nil {
		return nil, err
	}
	log.SetOutput(koLog)
	var stops []func()
	e.stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		logFile.Close()
		koLog.Close()
	}
	step := func(what string, f func() error) error {
		start := time.Now()
		err := f()
		fmt.Printf("cluster tier: %s (%s)\n", what, time.Since(start).Round(100*time.Millisecond))
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}

	if err := step("control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler", func() error {
		cp, err := controlplane.Start(ctx, controlplane.Config{
			Dir:         s.workDir,
			BinDir:      s.kubernetesBin,
			Etcd:        filepath.Join(s.etcdBin, "etcd"),
			Address:     net.IP(s.gateway.AsSlice()),
			ServiceCIDR: s.services,
			// Knative's namespaces are given the process node through these
			// two (their namespace annotations); the project's pods go to kwok.
			ExtraAdmissionPlugins: "PodNodeSelector,PodTolerationRestriction",
		})
		if err != nil {
			return err
		}
		e.cp = cp
		stops = append(stops, cp.Stop)
		return e.clients()
	}); err != nil {
		return e, err
	}

	dnsCtx, dnsStop := context.WithCancel(ctx)
	stops = append(stops, dnsStop)
	go func() {
		if err := clusterdns.Serve(dnsCtx, e.kube, net.JoinHostPort(s.gateway.String(), "53"), "cluster.local", e.log.With("component", "dns")); err != nil {
			e.log.Error("cluster dns", "err", err)
			fmt.Fprintln(os.Stderr, "cluster tier: cluster DNS stopped:", err)
		}
	}()

	// Services' cluster IPs: the script routes SA_CLUSTER_SERVICES to this
	// namespace itself, and the proxy listens on each Service port there.
	go func() {
		if err := serviceproxy.Run(dnsCtx, e.kube, e.log.With("component", "service-proxy")); err != nil {
			e.log.Error("service proxy", "err", err)
			fmt.Fprintln(os.Stderr, "cluster tier: service proxy stopped:", err)
		}
	}()

	if err := step("process node (Knative's own Deployments run there as processes)", func() error {
		stop, err := e.startProcessNode(ctx)
		if err == nil {
			stops = append(stops, stop)
		}
		return err
	}); err != nil {
		return e, err
	}

	if err := step("kwok (fake nodes for the project's pods)", func() error {
		return e.startKwok(ctx)
	}); err != nil {
		return e, err
	}

	im, err := startRegistry()
	if err != nil {
		return e, err
	}
	e.images = im
	stops = append(stops, im.srv.Close)

	if err := step("Knative Serving and Eventing", func() error {
		return e.installKnative(ctx)
	}); err != nil {
		return e, err
	}

	if err := step("networking layer (the tier's KIngress implementation) and kwok pods' queue-proxy metrics", func() error {
		stop, err := e.startNetworking(ctx)
		if err == nil {
			stops = append(stops, stop)
		}
		return err
	}); err != nil {
		return e, err
	}
	return e, nil
}

const (
	ingressService      = "cluster-ingress"
	ingressLocalService = "cluster-ingress-private"
)

// startNetworking runs the ingress on its two addresses, with a selector-less
// Service and EndpointSlice for each so their names resolve in the cluster DNS,
// and the idle queue-proxy metrics of kwok's pods.
func (e *clusterEnv) startNetworking(ctx context.Context) (func(), error) {
	for name, addr := range map[string]netip.Addr{ingressService: e.ingressPublic, ingressLocalService: e.ingressLocal} {
		if err := e.endpointService(ctx, servingNamespace, name, addr, 80); err != nil {
			return nil, err
		}
	}
	nc, err := netclient.NewForConfig(e.cp.Admin)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		err := ingress.Run(runCtx, ingress.Config{
			Kube: e.kube, Networking: nc,
			Public:      net.JoinHostPort(e.ingressPublic.String(), "80"),
			Private:     net.JoinHostPort(e.ingressLocal.String(), "80"),
			PublicName:  ingressService + "." + servingNamespace + ".svc.cluster.local",
			PrivateName: ingressLocalService + "." + servingNamespace + ".svc.cluster.local",
			Log:         e.log.With("component", "ingress"),
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "cluster tier: ingress stopped:", err)
		}
	})
	wg.Go(func() {
		if err := podmetrics.Serve(runCtx, e.kube, ":9090", e.log.With("component", "podmetrics")); err != nil {
			fmt.Fprintln(os.Stderr, "cluster tier: kwok pods' metrics stopped:", err)
		}
	})
	return func() { cancel(); wg.Wait() }, nil
}

// endpointService makes a Service without a selector and its EndpointSlice,
// for an address served by the tier itself.
func (e *clusterEnv) endpointService(ctx context.Context, ns, name string, addr netip.Addr, port int32) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: port, Protocol: corev1.ProtocolTCP}}},
	}
	if _, err := e.kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "cluster-tier"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr.String()}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	if _, err := e.kube.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

func (e *clusterEnv) clients() error {
	cfg := rest.CopyConfig(e.cp.Admin)
	cfg.QPS, cfg.Burst = 100, 200
	warn := &warnings{}
	cfg.WarningHandler = warn
	var err error
	if e.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	if e.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	e.applier = &applier{dyn: e.dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), warnings: warn}
	return nil
}

const processNodeName = "process-node"

func (e *clusterEnv) startProcessNode(ctx context.Context) (func(), error) {
	kubeconfig, err := e.cp.Kubeconfig("process-node", "system:node:"+processNodeName, "system:nodes")
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	// A kubelet's own limits (--kube-api-qps 50, --kube-api-burst 100).
	cfg.QPS, cfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(e.workDir, "pods")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	e.node = processnode.New(processnode.Config{
		Name:          processNodeName,
		Client:        client,
		Dir:           dir,
		Bridge:        e.bridge,
		Gateway:       e.gateway,
		Pods:          e.pods,
		Reserved:      []netip.Addr{e.ingressPublic, e.ingressLocal},
		NetnsPrefix:   e.netns,
		APIServerPort: 6443,
		CA:            e.cp.CA.CertPEM,
		Binary:        e.binaryFor,
		Log:           e.log.With("component", "process-node"),
	})
	nodeCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := e.node.Run(nodeCtx); err != nil {
			e.log.Error("process node", "err", err)
			fmt.Fprintln(os.Stderr, "cluster tier: process node stopped:", err)
		}
	}()
	stop := func() { cancel(); <-done }
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := e.kube.CoreV1().Nodes().Get(ctx, processNodeName, metav1.GetOptions{})
		if err != nil {
			return false, ignoreNotFound(err)
		}
		return nodeReady(n), nil
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("node %s not Ready: %w", processNodeName, err)
	}
	return stop, nil
}

// binaryFor maps a ko:// image of Knative's config to the binary built from that
// import path (hack/test-cluster.sh names it after the path, / as _).
func (e *clusterEnv) binaryFor(image string) (string, bool) {
	path, ok := strings.CutPrefix(image, "ko://")
	if !ok {
		return "", false
	}
	bin := filepath.Join(e.knativeBin, strings.ReplaceAll(path, "/", "_"))
	if _, err := os.Stat(bin); err != nil {
		return "", false
	}
	return bin, true
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// kwokNodes are the fake nodes the project's pods run on.
var kwokNodes = []string{"kwok-node-1", "kwok-node-2"}

// startKwok installs kwok's Stage CRD and the stages that make nodes Ready and
// pods Running and Ready, registers the fake nodes and starts kwok.
func (e *clusterEnv) startKwok(ctx context.Context) error {
	var objs []object
	crd, err := readFile(filepath.Join(e.kwokDir, "kustomize/crd/bases/kwok.x-k8s.io_stages.yaml"))
	if err != nil {
		return err
	}
	objs = append(objs, crd...)
	for _, dir := range []string{"kustomize/stage/node/fast", "kustomize/stage/node/heartbeat-with-lease", "kustomize/stage/pod/fast"} {
		stages, err := readDir(filepath.Join(e.kwokDir, dir), false)
		if err != nil {
			return err
		}
		objs = append(objs, stages...)
	}
	if err := e.applier.applyAll(ctx, objs); err != nil {
		return err
	}
	for _, name := range kwokNodes {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
				Labels:      map[string]string{corev1.LabelHostname: name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64", "type": "kwok"},
			},
			Status: corev1.NodeStatus{
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")},
				Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")},
			},
		}
		if _, err := e.kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	p, err := e.cp.StartKwok(filepath.Join(e.kwokBin, "kwok"), e.kwokPods)
	if err != nil {
		return err
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, name := range kwokNodes {
			n, err := e.kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil || !nodeReady(n) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("kwok nodes not Ready: %w\n%s", err, p.Tail(20))
	}
	return nil
}

func readFile(path string) ([]object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeYAML(path, data)
}

// onProcessNode gives a namespace's pods the process node: its node selector
// and a toleration of the node's taint (the PodNodeSelector and
// PodTolerationRestriction admission plugins read these annotations).
func (e *clusterEnv) onProcessNode(ctx context.Context, namespace string) error {
	tolerations, err := json.Marshal([]corev1.Toleration{{Key: processnode.Taint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}})
	if err != nil {
		return err
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		"scheduler.alpha.kubernetes.io/node-selector":      processnode.Label + "=true",
		"scheduler.alpha.kubernetes.io/defaultTolerations": string(tolerations),
	}}})
	if err != nil {
		return err
	}
	_, err = e.kube.CoreV1().Namespaces().Patch(ctx, namespace, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
	return err
}

// dumpDiagnostics prints the tail of every process's log after a failure.
func (e *clusterEnv) dumpDiagnostics() {
	fmt.Printf("\ncluster tier: logs of every process are in %s\n", e.workDir)
	for _, p := range e.cp.Processes() {
		fmt.Printf("--- %s (%s), last lines:\n%s\n", p.Name, p.LogFile, p.Tail(15))
	}
	for name, path := range e.node.LogFiles() {
		fmt.Printf("--- pod %s (%s), last lines:\n%s\n", name, path, controlplane.TailFile(path, 15))
	}
}
