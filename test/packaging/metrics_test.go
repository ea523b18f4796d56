package packaging

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// TestChartMetrics renders the chart's metrics both ways. As shipped: no ServiceMonitor,
// no metrics Service, no dashboard, no scrape annotations. Switched on (the flipped
// values, port 9200): a ServiceMonitor (decoded into the Prometheus Operator's own type)
// scraping port "metrics" of a headless Service whose selector takes the pods of every
// Knative Service and source and no other, with targetPort 9200 as a number (Knative
// allows no second named port: TestKnativeAllowsOnePort); the sources also name the
// port; every pod carries prometheus.io annotations for 9200, but the gateway, which
// the flipped values put on a port of its own (gateway.metrics.port 9100) and which the
// Service therefore leaves alone; the dashboard ConfigMap carries the sidecar's label
// and the dashboard file as is.
func TestChartMetrics(t *testing.T) {
	off, err := renderChart(t, defaultValues)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range off.manifests {
		name := m.obj.GetName()
		if m.gvk.Kind == "ServiceMonitor" || name == "serverless-architect-metrics" || name == "serverless-architect-dashboard" {
			t.Errorf("as shipped the chart renders %s %s; the metrics objects are opt-in", m.gvk.Kind, name)
		}
		if _, ok := podTemplateAnnotations(m)["prometheus.io/scrape"]; ok && m.obj.GetName() != "gateway" {
			t.Errorf("%s: prometheus.io annotations by default (only the gateway has them, gateway.metrics)", m.id())
		}
	}

	r, err := renderChart(t, flippedValues)
	if err != nil {
		t.Fatal(err)
	}
	sm := one[*monitoringv1.ServiceMonitor](t, r.manifests, "ServiceMonitor", "serverless-architect")
	if sm.Labels["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels %v lack metrics.serviceMonitor.labels", sm.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints: %+v", sm.Spec.Endpoints)
	}
	ep := sm.Spec.Endpoints[0]
	if ep.Port != "metrics" || ep.Path != "/metrics" || ep.Interval != "15s" || ep.ScrapeTimeout != "5s" {
		t.Errorf("ServiceMonitor endpoint %+v, want port metrics, /metrics, every 15s, timeout 5s", ep)
	}
	svc := one[*corev1.Service](t, r.manifests, "Service", "serverless-architect-metrics")
	if !labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels)) {
		t.Errorf("the ServiceMonitor's selector %v does not select the metrics Service (labels %v)", sm.Spec.Selector.MatchLabels, svc.Labels)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "metrics" ||
		svc.Spec.Ports[0].TargetPort != intstr.FromInt32(9200) {
		t.Errorf("metrics Service spec %+v, want headless, port metrics targeting 9200", svc.Spec)
	}
	selector := labels.SelectorFromSet(svc.Spec.Selector)
	pods := 0
	for _, m := range r.manifests {
		var podLabels map[string]string
		switch o := m.obj.(type) {
		case *servingv1.Service:
			podLabels = o.Spec.Template.Labels
		case *appsv1.Deployment:
			podLabels = o.Spec.Template.Labels
			if !hasPort(o.Spec.Template.Spec.Containers[0], "metrics", 9200) {
				t.Errorf("%s: the source's container does not name port metrics 9200", m.id())
			}
		case *corev1.Pod:
			if selector.Matches(labels.Set(o.Labels)) {
				t.Errorf("the metrics Service selects the %s Pod", o.Name)
			}
			continue
		default:
			continue
		}
		pods++
		a := podTemplateAnnotations(m)
		if m.obj.GetName() == "gateway" {
			// The flipped values give the gateway its own port and no annotations
			// (gateway.metrics): the Service, whose targetPort is metrics.port, must
			// leave it alone.
			if selector.Matches(labels.Set(podLabels)) || a["prometheus.io/scrape"] != "" {
				t.Errorf("the gateway, on a metrics port of its own, is selected by the metrics Service or annotated: %v, %v", podLabels, a)
			}
			continue
		}
		if !selector.Matches(labels.Set(podLabels)) {
			t.Errorf("%s: the metrics Service does not select its pods (labels %v)", m.id(), podLabels)
		}
		if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != "9200" || a["prometheus.io/path"] != "/metrics" {
			t.Errorf("%s: scrape annotations %v", m.id(), a)
		}
	}
	if pods == 0 {
		t.Fatal("no Knative Service or Deployment rendered")
	}

	dash := one[*corev1.ConfigMap](t, r.manifests, "ConfigMap", "serverless-architect-dashboard")
	if dash.Labels["grafana_dashboard"] != "1" || dash.Labels["team"] != "blog" {
		t.Errorf("dashboard ConfigMap labels %v", dash.Labels)
	}
	file, err := os.ReadFile(filepath.Join(repoRoot(t), chartPath, "files", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := dash.Data["serverless-architect.json"]
	if !json.Valid([]byte(got)) || strings.TrimSpace(got) != string(bytes.TrimSpace(file)) {
		t.Errorf("the dashboard ConfigMap does not hold files/grafana-dashboard.json as is (valid JSON: %v)", json.Valid([]byte(got)))
	}
}

// TestKnativeAllowsOnePort: Knative's validation refuses a second port on a Service's
// container, which is why /metrics is reached by number (TestChartMetrics).
func TestKnativeAllowsOnePort(t *testing.T) {
	r, err := renderChart(t, defaultValues)
	if err != nil {
		t.Fatal(err)
	}
	svc := one[*servingv1.Service](t, r.manifests, "Service", "todo-api")
	if err := defaultAndValidate(knativeContext(), svc.DeepCopy()); err != nil {
		t.Fatalf("todo-api as rendered: %v", err)
	}
	c := &svc.Spec.Template.Spec.Containers[0]
	c.Ports = append(c.Ports, corev1.ContainerPort{Name: "metrics", ContainerPort: 9464})
	err = defaultAndValidate(knativeContext(), svc)
	if err == nil || !strings.Contains(err.Error(), "port") {
		t.Errorf("a second container port: %v; want Knative to refuse it", err)
	}
	t.Logf("Knative: %v", err)
}

func hasPort(c corev1.Container, name string, port int32) bool {
	for _, p := range c.Ports {
		if p.Name == name && p.ContainerPort == port {
			return true
		}
	}
	return false
}

func podTemplateAnnotations(m manifest) map[string]string {
	switch o := m.obj.(type) {
	case *servingv1.Service:
		return o.Spec.Template.Annotations
	case *appsv1.Deployment:
		return o.Spec.Template.Annotations
	}
	return nil
}
