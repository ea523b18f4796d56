package packaging

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	servingv1beta1 "knative.dev/serving/pkg/apis/serving/v1beta1"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// TestChartLint runs `helm lint` through the SDK with the default and the flipped
// values; any warning or error fails.
func TestChartLint(t *testing.T) {
	for name, values := range map[string]string{"default": defaultValues, "flipped": flippedValues} {
		t.Run(name, func(t *testing.T) {
			vals, err := chartutil.ReadValues([]byte(values))
			if err != nil {
				t.Fatal(err)
			}
			result := lint.All(filepath.Join(repoRoot(t), chartPath), vals, namespace, false)
			for _, msg := range result.Messages {
				if msg.Severity >= support.WarningSev {
					t.Errorf("lint: %s", msg)
				} else {
					t.Logf("lint: %s", msg)
				}
			}
		})
	}
}

// TestChartSchemaRejectsBadValues renders the chart with values that break
// values.schema.json; each must fail before anything is rendered.
func TestChartSchemaRejectsBadValues(t *testing.T) {
	tests := []struct {
		name   string
		values string
	}{
		{"minScale not an integer", "todoApi: {scaling: {minScale: zero}}"},
		{"maxScale a string", `todoApi: {scaling: {maxScale: "5"}}`},
		{"enabled not a boolean", "todoApi: {enabled: yes-please}"},
		{"unknown visibility", "todoApi: {visibility: internal}"},
		{"unknown metric", "todoApi: {scaling: {metric: cpu}}"},
		{"timeout out of range", "todoApi: {scaling: {timeoutSeconds: 3600}}"},
		{"misspelt key", "todoApi: {scalling: {minScale: 1}}"},
		{"unknown top-level key", "todoapi: {enabled: false}"},
		{"uppercase ko path", "todoApi: {image: ko://github.com/Serverless-Architect/x}"},
		{"env value not a string", "todoApi: {env: {MAX_PAGE_SIZE: 100}}"},
		{"PORT in env", "todoApi: {env: {PORT: '9000'}}"},
		{"AWS keys in env", "todoApi: {env: {AWS_SECRET_ACCESS_KEY: abc}}"},
		{"clientIds a string", "cognito: {clientIds: abc}"},
		{"clientIds empty", "cognito: {clientIds: []}"},
		{"unknown token use", "cognito: {tokenUse: [refresh]}"},
		{"issuer with trailing slash", "cognito: {issuer: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X/'}"},
		{"region a number", "aws: {region: 5}"},
		{"region malformed", "aws: {region: Frankfurt}"},
		{"dax endpoint without scheme", "dax: {endpoint: my-cluster.dax.amazonaws.com}"},
		{"page token key as a value", "pageToken: {key: c2VjcmV0}"},
		{"broker toggle a string", "broker: {enabled: 'false'}"},
		{"health test image unpinned", "healthTest: {image: 'curlimages/curl:latest'}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderChart(t, tc.values)
			if err == nil {
				t.Fatalf("values %q rendered; want a schema error", tc.values)
			}
			if !strings.Contains(err.Error(), "schema") {
				t.Errorf("error %q is not a schema error", err)
			}
		})
	}
}

// find returns the objects of kind (and type T) named name in ms.
func find[T typedObject](ms []manifest, kind, name string) []T {
	var out []T
	for _, m := range ms {
		if m.gvk.Kind != kind || m.obj.GetName() != name {
			continue
		}
		if obj, ok := m.obj.(T); ok {
			out = append(out, obj)
		}
	}
	return out
}

// one returns the single object of kind named name, failing the test otherwise.
func one[T typedObject](t *testing.T, ms []manifest, kind, name string) T {
	t.Helper()
	objs := find[T](ms, kind, name)
	if len(objs) != 1 {
		var zero T
		t.Fatalf("want 1 %s %q, got %d", kind, name, len(objs))
		return zero
	}
	return objs[0]
}

// TestChartRendersValues checks that values reach the objects: the defaults, then
// the flipped set.
func TestChartRendersValues(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		r, err := renderChart(t, defaultValues)
		if err != nil {
			t.Fatal(err)
		}
		svc := one[*servingv1.Service](t, r.manifests, "Service", "todo-api")
		if got := svc.Labels["networking.knative.dev/visibility"]; got != "" {
			t.Errorf("visibility label = %q, want none (public)", got)
		}
		if got := len(find[*eventingv1.Broker](r.manifests, "Broker", "default")); got != 1 {
			t.Errorf("%d Brokers, want 1", got)
		}
		if got := envSecrets(svc.Spec.Template.Spec.Containers[0]); len(got) != 0 {
			t.Errorf("envFrom Secrets = %v, want none by default (EKS credentials come from IRSA)", got)
		}
		for _, m := range r.manifests {
			switch m.gvk.Kind {
			case "DomainMapping", "Secret":
				t.Errorf("default rendering has a %s (%s)", m.gvk.Kind, m.obj.GetName())
			}
		}
		aws := one[*corev1.ConfigMap](t, r.manifests, "ConfigMap", "config-aws")
		want := map[string]string{
			"AWS_REGION":         "us-east-1",
			"COGNITO_ISSUER":     "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE",
			"COGNITO_CLIENT_IDS": "REPLACE_WITH_APP_CLIENT_ID",
			"COGNITO_TOKEN_USE":  "id,access",
		}
		if diff := cmp.Diff(want, aws.Data); diff != "" {
			t.Errorf("config-aws data (-want +got):\n%s", diff)
		}
		if !strings.Contains(r.notes, "placeholders") {
			t.Errorf("NOTES.txt does not warn about the Cognito placeholders:\n%s", r.notes)
		}
	})

	t.Run("flipped", func(t *testing.T) {
		r, err := renderChart(t, flippedValues)
		if err != nil {
			t.Fatal(err)
		}
		svc := one[*servingv1.Service](t, r.manifests, "Service", "todo-api")
		if got := svc.Labels["networking.knative.dev/visibility"]; got != "cluster-local" {
			t.Errorf("visibility label = %q, want cluster-local", got)
		}
		gotAnn := svc.Spec.Template.Annotations
		for k, want := range map[string]string{
			"autoscaling.knative.dev/min-scale":                          "1",
			"autoscaling.knative.dev/max-scale":                          "5",
			"autoscaling.knative.dev/initial-scale":                      "2",
			"autoscaling.knative.dev/target":                             "25",
			"autoscaling.knative.dev/metric":                             "rps",
			"autoscaling.knative.dev/scale-to-zero-pod-retention-period": "30s",
			"autoscaling.knative.dev/window":                             "120s",
		} {
			if gotAnn[k] != want {
				t.Errorf("template annotation %s = %q, want %q", k, gotAnn[k], want)
			}
		}
		spec := svc.Spec.Template.Spec
		if got := *spec.ContainerConcurrency; got != 10 {
			t.Errorf("containerConcurrency = %d, want 10", got)
		}
		if got := *spec.TimeoutSeconds; got != 120 {
			t.Errorf("timeoutSeconds = %d, want 120", got)
		}
		c := spec.Containers[0]
		if got := c.Resources.Limits.Memory().String(); got != "512Mi" {
			t.Errorf("memory limit = %s, want 512Mi", got)
		}
		var ref *corev1.SecretKeySelector
		for _, e := range c.Env {
			if e.Name == "PAGE_TOKEN_KEY" && e.ValueFrom != nil {
				ref = e.ValueFrom.SecretKeyRef
			}
		}
		if ref == nil || ref.Name != "page-key" || ref.Key != "key" {
			t.Errorf("PAGE_TOKEN_KEY comes from %+v, want Secret page-key key key", ref)
		}
		if got := envSecrets(c); !cmp.Equal(got, []string{"moto-credentials"}) {
			t.Errorf("envFrom Secrets = %v, want [moto-credentials]", got)
		}

		sa := one[*corev1.ServiceAccount](t, r.manifests, "ServiceAccount", "todo-api")
		if got := sa.Annotations["eks.amazonaws.com/role-arn"]; got != "arn:aws:iam::123456789012:role/sa-todo-api" {
			t.Errorf("role-arn annotation = %q", got)
		}
		if got := len(find[*eventingv1.Broker](r.manifests, "Broker", "default")); got != 0 {
			t.Errorf("%d Brokers with broker.enabled=false, want 0", got)
		}
		dm := one[*servingv1beta1.DomainMapping](t, r.manifests, "DomainMapping", "todo.example.org")
		if dm.Spec.Ref.Name != "todo-api" || dm.Spec.TLS == nil || dm.Spec.TLS.SecretName != "todo-example-org-tls" {
			t.Errorf("DomainMapping spec = %+v", dm.Spec)
		}

		aws := one[*corev1.ConfigMap](t, r.manifests, "ConfigMap", "config-aws")
		wantAWS := map[string]string{
			"AWS_REGION":         "eu-west-2",
			"AWS_ENDPOINT_URL":   "http://moto.moto.svc.cluster.local:4566",
			"COGNITO_ISSUER":     "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_Abc123",
			"COGNITO_JWKS_URL":   "http://moto.moto.svc.cluster.local:4566/eu-west-2_Abc123/.well-known/jwks.json",
			"COGNITO_CLIENT_IDS": "client1,client2",
			"COGNITO_TOKEN_USE":  "access",
		}
		if diff := cmp.Diff(wantAWS, aws.Data); diff != "" {
			t.Errorf("config-aws data (-want +got):\n%s", diff)
		}
		todo := one[*corev1.ConfigMap](t, r.manifests, "ConfigMap", "config-todo-api")
		for k, want := range map[string]string{
			"LOG_LEVEL":     "debug",
			"TODOS_TABLE":   "todos-eu",
			"DAX_ENDPOINT":  "daxs://todos.abc123.dax-clusters.eu-west-2.amazonaws.com",
			"MAX_PAGE_SIZE": "100", // a default the override did not touch
		} {
			if got := todo.Data[k]; got != want {
				t.Errorf("config-todo-api %s = %q, want %q", k, got, want)
			}
		}
	})
}

// envSecrets lists the Secrets a container loads whole with envFrom.
func envSecrets(c corev1.Container) []string {
	var names []string
	for _, from := range c.EnvFrom {
		if from.SecretRef != nil {
			names = append(names, from.SecretRef.Name)
		}
	}
	return names
}

// TestChartPageTokenSecret checks the Secret made with pageToken.create: a random
// 32-byte key, different on every fresh rendering, never a value from the values.
func TestChartPageTokenSecret(t *testing.T) {
	keys := map[string]bool{}
	for range 2 {
		r, err := renderChart(t, "pageToken: {create: true}")
		if err != nil {
			t.Fatal(err)
		}
		sec := one[*corev1.Secret](t, r.manifests, "Secret", "todo-api-page-token")
		if sec.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Error("the Secret is not kept on uninstall")
		}
		key, err := base64.StdEncoding.DecodeString(string(sec.Data["key"]))
		if err != nil {
			t.Fatalf("key is not base64: %v", err)
		}
		if len(key) != 32 {
			t.Errorf("key has %d bytes, want 32", len(key))
		}
		keys[string(key)] = true
	}
	if len(keys) != 2 {
		t.Error("two renderings made the same key")
	}
}

// configEquivalentValues turn on what config/ has and the chart's defaults leave
// off: the development credentials Secret and the DomainMapping.
const configEquivalentValues = `
aws: {credentialsSecret: aws-credentials}
domainMapping: {enabled: true}
`

// TestChartMatchesConfig keeps the two packagings in step: the chart with its default
// values (plus configEquivalentValues) must produce the same settings and the same
// container spec as config/.
func TestChartMatchesConfig(t *testing.T) {
	cfg := configManifests(t)
	r, err := renderChart(t, configEquivalentValues)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range cfg {
		t.Run(m.id(), func(t *testing.T) {
			switch want := m.obj.(type) {
			case *corev1.ConfigMap:
				got := one[*corev1.ConfigMap](t, r.manifests, "ConfigMap", want.Name)
				if diff := cmp.Diff(want.Data, got.Data); diff != "" {
					t.Errorf("data differs (-config +chart):\n%s", diff)
				}
			case *servingv1.Service:
				got := one[*servingv1.Service](t, r.manifests, "Service", want.Name)
				if diff := cmp.Diff(want.Spec.Template.Spec, got.Spec.Template.Spec); diff != "" {
					t.Errorf("revision spec differs (-config +chart):\n%s", diff)
				}
				for k, v := range want.Spec.Template.Annotations {
					if got.Spec.Template.Annotations[k] != v {
						t.Errorf("template annotation %s: config %q, chart %q", k, v, got.Spec.Template.Annotations[k])
					}
				}
				if diff := cmp.Diff(want.Labels["networking.knative.dev/visibility"], got.Labels["networking.knative.dev/visibility"]); diff != "" {
					t.Errorf("visibility differs (-config +chart):\n%s", diff)
				}
			case *corev1.ServiceAccount:
				one[*corev1.ServiceAccount](t, r.manifests, "ServiceAccount", want.Name)
			case *eventingv1.Broker:
				got := one[*eventingv1.Broker](t, r.manifests, "Broker", want.Name)
				if diff := cmp.Diff(want.Spec, got.Spec); diff != "" {
					t.Errorf("broker spec differs (-config +chart):\n%s", diff)
				}
				if diff := cmp.Diff(want.Annotations, got.Annotations); diff != "" {
					t.Errorf("broker annotations differ (-config +chart):\n%s", diff)
				}
			case *servingv1beta1.DomainMapping:
				got := one[*servingv1beta1.DomainMapping](t, r.manifests, "DomainMapping", want.Name)
				if diff := cmp.Diff(want.Spec, got.Spec); diff != "" {
					t.Errorf("domain mapping differs (-config +chart):\n%s", diff)
				}
			case *corev1.Namespace:
				// The chart installs into the release namespace instead.
			default:
				raw, _ := yaml.Marshal(want)
				t.Errorf("no chart comparison for %s; add one:\n%s", m.gvk, raw)
			}
		})
	}
}
