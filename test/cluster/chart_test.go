package cluster

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

const (
	chartNamespace = "sa-helm"
	releaseName    = "sa"
	modulePath     = "github.com/serverless-architect/serverless-architect"
	testAccountID  = "123456789012"
)

// helmClient is the Helm SDK configured for the test cluster and one namespace,
// as `helm --kubeconfig <admin> --namespace <ns>` is.
func (e *clusterEnv) helmClient(t *testing.T, ns string) *action.Configuration {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	kubeconfig := e.cp.AdminKubeconfig
	flags.KubeConfig = &kubeconfig
	flags.Namespace = &ns
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, ns, "secret", func(format string, v ...any) { e.log.Debug(fmt.Sprintf(format, v...), "component", "helm") }); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// chartValues are the values of the test install: images built by ko (as
// hack/deploy.sh --helm passes them), IRSA on, the sender `sa provision
// --sender-email` verified; the keys are the Secrets made before the install.
func chartValues(images map[string]string, extra string) (map[string]any, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "aws: {accountId: %q, sesSender: welcome@blog.example.com}\niam: {irsa: true}\n", testAccountID)
	for ip, ref := range images {
		fmt.Fprintf(&b, "%s: {image: %q}\n", camel(filepath.Base(ip)), ref)
	}
	vals, err := chartutil.ReadValues([]byte(b.String()))
	if err != nil {
		return nil, err
	}
	// extra is a second values file: merged key by key over the first, as
	// `helm upgrade -f base.yaml -f extra.yaml` merges them (a YAML document with
	// the key todoApi twice would keep only the second, losing the image).
	more, err := chartutil.ReadValues([]byte(extra))
	if err != nil {
		return nil, err
	}
	return chartutil.CoalesceTables(more.AsMap(), vals.AsMap()), nil
}

// camel turns a service directory name into its values key: todo-api -> todoApi.
func camel(s string) string {
	parts := strings.Split(s, "-")
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	return strings.Join(parts, "")
}

// TestChart installs the chart through the Helm SDK in its own namespace, checks
// it as TestConfig checks config/, then upgrades it with a changed value, rolls
// it back, runs `helm test` and uninstalls it, checking that nothing is left.
func TestChart(t *testing.T) {
	e := clusterFor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	root := repoRoot(t)
	chrt, err := loader.Load(filepath.Join(root, "charts", "serverless-architect"))
	if err != nil {
		t.Fatal(err)
	}
	services := serviceDirs(t)
	var paths []string
	for _, s := range services {
		paths = append(paths, modulePath+"/services/"+s)
	}
	start := time.Now()
	images, err := e.images.build(ctx, root, paths...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ko build of %d services: %s", len(images), time.Since(start).Round(time.Second))
	cfg := e.helmClient(t, chartNamespace)

	vals, err := chartValues(images, "")
	if err != nil {
		t.Fatal(err)
	}
	// hack/deploy.sh --helm makes the namespace and the key Secrets first; the
	// release does not own them, so uninstalling keeps them (checked below).
	if err := e.createKeys(ctx, chartNamespace); err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace, install.CreateNamespace = releaseName, chartNamespace, true
	install.Timeout = 5 * time.Minute
	rel, err := install.RunWithContext(ctx, chrt, vals)
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	objs, err := releaseObjects(rel)
	if err != nil {
		t.Fatal(err)
	}
	e.checkApplied(t, e.storedAs(ctx, objs))
	e.checkProject(t, ctx, chartNamespace, objs)
	t.Run("ServiceAccountsMayDoWhatTheCodeDoes", func(t *testing.T) {
		e.checkServiceAccountAccess(t, ctx, chartNamespace, services)
	})
	t.Run("IRSAAnnotations", func(t *testing.T) {
		want := map[string]string{}
		for _, s := range services {
			want[s] = "arn:aws:iam::" + testAccountID + ":role/sa-" + s
		}
		want["gateway"] = ""
		e.checkIRSA(t, ctx, chartNamespace, want)
	})

	first := e.latestRevision(ctx, t, chartNamespace, "todo-api")
	upgraded := first
	t.Run("UpgradeWithAChangedValue", func(t *testing.T) {
		vals, err := chartValues(images, "todoApi: {env: {LOG_LEVEL: debug}}\n")
		if err != nil {
			t.Fatal(err)
		}
		up := action.NewUpgrade(cfg)
		up.Namespace, up.Timeout = chartNamespace, 5*time.Minute
		if _, err := up.RunWithContext(ctx, releaseName, chrt, vals); err != nil {
			t.Fatalf("helm upgrade: %v", err)
		}
		upgraded = e.expectLogLevel(ctx, t, "debug", first, first, false)
	})

	t.Run("Rollback", func(t *testing.T) {
		rb := action.NewRollback(cfg)
		rb.Version, rb.Timeout = 1, 5*time.Minute
		if err := rb.Run(releaseName); err != nil {
			t.Fatalf("helm rollback %s 1: %v", releaseName, err)
		}
		e.expectLogLevel(ctx, t, "info", upgraded, first, true)
		last, err := cfg.Releases.Last(releaseName)
		if err != nil {
			t.Fatal(err)
		}
		if last.Version != 3 || last.Info.Status != release.StatusDeployed {
			t.Errorf("after rollback: release version %d %s, want 3 deployed", last.Version, last.Info.Status)
		}
	})

	t.Run("HelmTest", func(t *testing.T) {
		e.checkHelmTest(ctx, t, cfg)
	})

	t.Run("UninstallLeavesNothing", func(t *testing.T) {
		un := action.NewUninstall(cfg)
		un.Timeout = 5 * time.Minute
		if _, err := un.Run(releaseName); err != nil {
			t.Fatalf("helm uninstall: %v", err)
		}
		e.expectEmptyNamespace(ctx, t, chartNamespace, rel)
	})
}

// releaseObjects decodes a release's manifest (hooks excluded).
func releaseObjects(rel *release.Release) ([]object, error) {
	return decodeYAML("helm release "+rel.Name, []byte(rel.Manifest))
}

// storedAs reads each object back, for the sent-versus-stored comparison (Helm
// applies with its own three-way merge, not server-side apply).
func (e *clusterEnv) storedAs(ctx context.Context, objs []object) []applied {
	var out []applied
	for _, o := range objs {
		if o.obj.GetNamespace() == "" && namespaced(o.obj) {
			o.obj.SetNamespace(chartNamespace)
		}
		stored, err := e.applier.get(ctx, o.obj)
		out = append(out, applied{object: o, stored: stored, err: err})
	}
	return out
}

// namespaced reports whether an object's kind is namespaced (all the chart's
// kinds are, except these).
func namespaced(u *unstructured.Unstructured) bool {
	return !slices.Contains([]string{"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "ClusterDomainClaim"}, u.GetKind())
}

// latestRevision is the name of a Knative Service's latest created Revision.
func (e *clusterEnv) latestRevision(ctx context.Context, t *testing.T, ns, name string) string {
	t.Helper()
	c := e.get(ctx, configurationGV, ns, name)
	if c == nil {
		t.Fatalf("no Configuration %s/%s", ns, name)
	}
	return nestedString(c, "status", "latestCreatedRevisionName")
}

// expectLogLevel waits until todo-api's ConfigMap has LOG_LEVEL level and the
// Knative Service is Ready with a Revision newer than previous (the chart's
// config checksum annotation rolls one whenever the settings change), whose
// checksum equals first's exactly when sameAsFirst; it returns that Revision.
func (e *clusterEnv) expectLogLevel(ctx context.Context, t *testing.T, level, previous, first string, sameAsFirst bool) string {
	t.Helper()
	cm, err := e.kube.CoreV1().ConfigMaps(chartNamespace).Get(ctx, "config-todo-api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cm.Data["LOG_LEVEL"]; got != level {
		t.Errorf("config-todo-api LOG_LEVEL = %q, want %q", got, level)
	}
	var st servingState
	err = wait.PollUntilContextTimeout(ctx, 2*time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		st, err = e.waitServing(ctx, chartNamespace, "todo-api", 3*time.Minute)
		return err == nil && st.revision.GetName() != previous, err
	})
	if err != nil {
		t.Fatalf("todo-api has no ready Revision after %s: %v", previous, err)
	}
	firstRev := e.get(ctx, revisionGVR, chartNamespace, first)
	if firstRev == nil {
		t.Fatalf("Revision %s is gone", first)
	}
	const checksum = "serverless-architect.dev/config-checksum"
	got, want := st.revision.GetAnnotations()[checksum], firstRev.GetAnnotations()[checksum]
	if got == "" || (got == want) != sameAsFirst {
		t.Errorf("Revision %s %s %q, Revision %s's %q: want them equal exactly when the settings are", st.revision.GetName(), checksum, got, first, want)
	}
	t.Logf("todo-api: Revision %s Ready with LOG_LEVEL=%s (%s %s)", st.revision.GetName(), level, checksum, got)
	return st.revision.GetName()
}

// expectEmptyNamespace waits for the garbage collector after an uninstall and
// fails for anything left in ns but what Kubernetes makes in every namespace,
// events, and the objects the chart keeps on purpose (helm.sh/resource-policy:
// keep).
func (e *clusterEnv) expectEmptyNamespace(ctx context.Context, t *testing.T, ns string, rel *release.Release) {
	t.Helper()
	kept := map[string]bool{}
	objs, err := releaseObjects(rel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.obj.GetAnnotations()["helm.sh/resource-policy"] == "keep" {
			kept[o.obj.GetKind()+"/"+o.obj.GetName()] = true
		}
	}
	var left []string
	err = wait.PollUntilContextTimeout(ctx, 2*time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		all, err := e.namespacedObjects(ctx, ns)
		if err != nil {
			return false, err
		}
		left = left[:0]
		for _, u := range all {
			id := u.GetKind() + "/" + u.GetName()
			switch {
			case kept[id]:
			case id == "ServiceAccount/default", id == "ConfigMap/kube-root-ca.crt":
			case u.GetKind() == "Secret" && slices.Contains(keySecrets, u.GetName()):
				// The operator's keys, not the release's: they outlive it on purpose.
			case u.GetKind() == "Event":
			default:
				left = append(left, id)
			}
		}
		return len(left) == 0, nil
	})
	if err != nil {
		t.Errorf("after helm uninstall, %s still holds: %v (%v)", ns, left, err)
	}
	if len(kept) > 0 {
		t.Logf("kept on purpose (helm.sh/resource-policy: keep): %v", slices.Sorted(maps.Keys(kept)))
	}
}

// namespacedObjects lists every object of every listable namespaced kind in ns.
func (e *clusterEnv) namespacedObjects(ctx context.Context, ns string) ([]unstructured.Unstructured, error) {
	lists, err := e.kube.Discovery().ServerPreferredNamespacedResources()
	if err != nil {
		return nil, err
	}
	var out []unstructured.Unstructured
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			return nil, err
		}
		for _, r := range l.APIResources {
			if !slices.Contains(r.Verbs, "list") || strings.Contains(r.Name, "/") {
				continue
			}
			items, err := e.dyn.Resource(gv.WithResource(r.Name)).Namespace(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue // a kind this user cannot list, or one that just went away
			}
			for _, it := range items.Items {
				it.SetKind(r.Kind)
				out = append(out, it)
			}
		}
	}
	return out, nil
}

// checkHelmTest runs `helm test` through the SDK. kwok's pods run no
// containers, so the test pod's curl cannot run here: the tier checks what
// happens up to it — the hook pod is made from the chart, admitted, scheduled
// and started, and every URL it would GET is the cluster-local address of a
// Knative Service of the release — and says that the curl's own result is not
// observed.
func (e *clusterEnv) checkHelmTest(ctx context.Context, t *testing.T, cfg *action.Configuration) {
	t.Helper()
	rt := action.NewReleaseTesting(cfg)
	rt.Namespace, rt.Timeout = chartNamespace, 20*time.Second
	_, err := rt.Run(releaseName)
	t.Logf("helm test: %v (kwok does not run the test pod's container, so its result is not observed)", err)
	// On success the hook's delete policy (hook-succeeded) removes the pod; a
	// result kwok cannot give leaves it, so the tier removes it as that policy
	// would, before the uninstall check.
	defer func() {
		_ = e.kube.CoreV1().Pods(chartNamespace).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=test-health"})
	}()
	pods, err := e.kube.CoreV1().Pods(chartNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=test-health"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 {
		t.Fatalf("helm test made %d test pods, want 1", len(pods.Items))
	}
	pod := pods.Items[0]
	if pod.Spec.NodeName == "" || pod.Status.Phase != corev1.PodRunning {
		t.Errorf("test pod %s: node %q, phase %s; want scheduled and started", pod.Name, pod.Spec.NodeName, pod.Status.Phase)
	}
	addresses := map[string]bool{}
	list, err := e.dyn.Resource(ksvcGVR).Namespace(chartNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Items {
		addresses[nestedString(&s, "status", "address", "url")+"/healthz"] = true
	}
	var urls []string
	for _, a := range append(slices.Clone(pod.Spec.Containers[0].Command), pod.Spec.Containers[0].Args...) {
		if strings.HasPrefix(a, "http") {
			urls = append(urls, a)
		}
	}
	if len(urls) != len(list.Items) {
		t.Errorf("test pod GETs %d URLs, the release has %d Knative Services: %v", len(urls), len(list.Items), urls)
	}
	for _, u := range urls {
		if !addresses[u] {
			t.Errorf("test pod GETs %s, which is no Knative Service's address (+/healthz) in %s: %v", u, chartNamespace, addresses)
		}
	}
}
