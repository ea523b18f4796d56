package packaging

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/eventing/pkg/apis/feature"
	sinksv1alpha1 "knative.dev/eventing/pkg/apis/sinks/v1alpha1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	sourcesv1alpha1 "knative.dev/eventing/pkg/apis/sources/v1alpha1"
	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	servingv1beta1 "knative.dev/serving/pkg/apis/serving/v1beta1"
	"sigs.k8s.io/yaml"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
)

const (
	// modulePath is this repository's Go module; ko:// references name its packages.
	modulePath = "github.com/serverless-architect/serverless-architect"
	// namespace is where config/ puts everything and where the tests install the chart.
	namespace = "serverless-architect"
	// chartPath is the chart's directory, relative to the repository root.
	chartPath = "charts/serverless-architect"
	// partOf is the app.kubernetes.io/part-of label every object carries.
	partOf = "serverless-architect"
)

// typedObject is what every decoded manifest is: a Kubernetes object with metadata.
type typedObject interface {
	runtime.Object
	metav1.Object
}

// kinds maps each apiVersion/kind the project may ship to its Go type. A manifest of
// any other kind fails the tests: add its type here when you start using one.
var kinds = map[schema.GroupVersionKind]func() typedObject{
	{Version: "v1", Kind: "Namespace"}:                                              func() typedObject { return &corev1.Namespace{} },
	{Version: "v1", Kind: "ServiceAccount"}:                                         func() typedObject { return &corev1.ServiceAccount{} },
	{Version: "v1", Kind: "ConfigMap"}:                                              func() typedObject { return &corev1.ConfigMap{} },
	{Version: "v1", Kind: "Secret"}:                                                 func() typedObject { return &corev1.Secret{} },
	{Version: "v1", Kind: "Service"}:                                                func() typedObject { return &corev1.Service{} },
	{Version: "v1", Kind: "Pod"}:                                                    func() typedObject { return &corev1.Pod{} },
	{Group: "apps", Version: "v1", Kind: "Deployment"}:                              func() typedObject { return &appsv1.Deployment{} },
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"}:               func() typedObject { return &rbacv1.Role{} },
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"}:        func() typedObject { return &rbacv1.RoleBinding{} },
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}:        func() typedObject { return &rbacv1.ClusterRole{} },
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"}: func() typedObject { return &rbacv1.ClusterRoleBinding{} },
	{Group: "serving.knative.dev", Version: "v1", Kind: "Service"}:                  func() typedObject { return &servingv1.Service{} },
	{Group: "serving.knative.dev", Version: "v1beta1", Kind: "DomainMapping"}:       func() typedObject { return &servingv1beta1.DomainMapping{} },
	{Group: "eventing.knative.dev", Version: "v1", Kind: "Broker"}:                  func() typedObject { return &eventingv1.Broker{} },
	{Group: "eventing.knative.dev", Version: "v1", Kind: "Trigger"}:                 func() typedObject { return &eventingv1.Trigger{} },
	{Group: "sources.knative.dev", Version: "v1", Kind: "SinkBinding"}:              func() typedObject { return &sourcesv1.SinkBinding{} },
	{Group: "sources.knative.dev", Version: "v1", Kind: "ContainerSource"}:          func() typedObject { return &sourcesv1.ContainerSource{} },
	{Group: "sources.knative.dev", Version: "v1", Kind: "ApiServerSource"}:          func() typedObject { return &sourcesv1.ApiServerSource{} },
	{Group: "sources.knative.dev", Version: "v1alpha1", Kind: "IntegrationSource"}:  func() typedObject { return &sourcesv1alpha1.IntegrationSource{} },
	{Group: "sinks.knative.dev", Version: "v1alpha1", Kind: "IntegrationSink"}:      func() typedObject { return &sinksv1alpha1.IntegrationSink{} },
	{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}:         func() typedObject { return &monitoringv1.ServiceMonitor{} },
}

// manifest is one YAML document of config/ or of a chart rendering, decoded.
type manifest struct {
	// source says where it came from: a file name, or a chart template's path.
	source string
	// raw is the document as written.
	raw []byte
	gvk schema.GroupVersionKind
	obj typedObject
}

// id names the manifest in test names and messages.
func (m manifest) id() string {
	return fmt.Sprintf("%s/%s/%s", filepath.Base(m.source), m.gvk.Kind, m.obj.GetName())
}

// repoRoot is the repository root: the nearest directory above the test with go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// splitDocuments returns the non-empty YAML documents of data.
func splitDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("split YAML documents: %w", err)
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("parse YAML document: %w", err)
		}
		if s := strings.TrimSpace(string(j)); s == "null" || s == "" {
			continue // only comments or whitespace
		}
		docs = append(docs, doc)
	}
}

// decodeStrict decodes one document into the Go type its apiVersion and kind name.
// Unknown and duplicate fields are errors.
func decodeStrict(source string, doc []byte) (manifest, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return manifest{}, fmt.Errorf("%s: read apiVersion and kind: %w", source, err)
	}
	gvk := schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind)
	newObj, ok := kinds[gvk]
	if !ok {
		return manifest{}, fmt.Errorf("%s: %s is not a kind the tests know; add its Go type to kinds", source, gvk)
	}
	obj := newObj()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return manifest{}, fmt.Errorf("%s: decode %s strictly: %w", source, gvk.Kind, err)
	}
	return manifest{source: source, raw: doc, gvk: gvk, obj: obj}, nil
}

// decodeAll decodes every document of data.
func decodeAll(source string, data []byte) ([]manifest, error) {
	docs, err := splitDocuments(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var ms []manifest
	for _, doc := range docs {
		m, err := decodeStrict(source, doc)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// configManifests decodes every object of config/, in file order (the order
// `ko apply -f config/` applies them in).
func configManifests(t testing.TB) []manifest {
	t.Helper()
	return configDirManifests(t, "config")
}

// optionalManifests decodes every object of config/optional/: alternatives that
// `ko apply -f config/` does not apply (it does not recurse).
func optionalManifests(t testing.TB) []manifest {
	t.Helper()
	return configDirManifests(t, filepath.Join("config", "optional"))
}

// configDirManifests decodes every object of the YAML files in dir (relative to the
// repository root), in file order.
func configDirManifests(t testing.TB, dir string) []manifest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), dir, "*.yaml"))
	if err != nil {
		t.Fatalf("list %s/: %v", dir, err)
	}
	if len(files) == 0 {
		t.Fatalf("%s/ has no YAML files", dir)
	}
	sort.Strings(files)
	var all []manifest
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		ms, err := decodeAll(filepath.Join(dir, filepath.Base(f)), data)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ms...)
	}
	return all
}

// rendering is the chart rendered with one set of values.
type rendering struct {
	manifests []manifest
	// notes is the rendered NOTES.txt.
	notes string
}

// renderChart renders the chart the way `helm template --namespace serverless-architect`
// does, with values (YAML) over the chart's defaults. Values that break the schema
// make it fail.
func renderChart(t testing.TB, values string) (rendering, error) {
	t.Helper()
	chrt, err := loader.Load(filepath.Join(repoRoot(t), chartPath))
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	vals, err := chartutil.ReadValues([]byte(values))
	if err != nil {
		return rendering{}, fmt.Errorf("read values: %w", err)
	}
	opts := chartutil.ReleaseOptions{Name: "sa", Namespace: namespace, Revision: 1, IsInstall: true}
	top, err := chartutil.ToRenderValues(chrt, vals, opts, chartutil.DefaultCapabilities.Copy())
	if err != nil {
		return rendering{}, fmt.Errorf("values: %w", err)
	}
	files, err := engine.Render(chrt, top)
	if err != nil {
		return rendering{}, fmt.Errorf("render: %w", err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var r rendering
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, "NOTES.txt"):
			r.notes = files[name]
		case strings.HasPrefix(filepath.Base(name), "_"):
		default:
			ms, err := decodeAll(name, []byte(files[name]))
			if err != nil {
				return rendering{}, err
			}
			r.manifests = append(r.manifests, ms...)
		}
	}
	return r, nil
}

// defaultValues renders the chart as it ships, with the one value it requires: the
// welcome mailer's verified SES sender.
const defaultValues = "aws: {sesSender: welcome@blog.example.com}"

// flippedValues changes every toggle and most settings from their defaults.
const flippedValues = `
aws:
  region: eu-west-2
  accountId: "123456789012"
  endpointUrl: http://moto.moto.svc.cluster.local:4566
  s3ForcePathStyle: true
  todosTable: todos-eu
  postsTable: posts-eu
  subscribersTable: subscribers-eu
  checkpointTable: checkpoints-eu
  idempotencyTable: idempotency-eu
  filesBucket: files-eu
  mediaBucket: media-eu
  mediaEventsQueue: media-events-eu
  subscriberEventsDlq: subscriber-dlq-eu
  filesVendingRole: vending-eu
  sesSender: hello@blog.example.org
  sesConfigurationSet: blog-mail
  credentialsSecret: moto-credentials
cognito:
  userPoolId: eu-west-2_Abc123
  clientIds: [client1, client2]
  jwksUrl: http://moto.moto.svc.cluster.local:4566/eu-west-2_Abc123/.well-known/jwks.json
  tokenUse: [access]
  identityPoolId: eu-west-2:0b5c2b4e-8d0e-4a53-9c77-5f2f0a1b2c3d
  adminGroup: editors
dax:
  endpoint: daxs://todos.abc123.dax-clusters.eu-west-2.amazonaws.com
observability:
  otlpEndpoint: http://otel-collector.observability.svc.cluster.local:4318
  tracesSampler: parentbased_traceidratio
  tracesSamplerArg: "0.25"
blog:
  publicOrigin: https://blog.example.org
  mediaBaseUrl: https://cdn.example.org/media
  name: Our Blog
  distributionId: E2EXAMPLE
iam:
  irsa: true
  rolePrefix: eu-
pageToken:
  existingSecret: page-key
unsubscribeKey:
  existingSecret: unsubscribe-key-2026
deadLetters:
  sqs:
    queueArn: arn:aws:sqs:eu-west-2:123456789012:broker-dead-letters
    serviceAccountName: dead-letters
integrationSource:
  enabled: true
  streamIteratorType: FROM_START
domainMappings:
  api: {enabled: true, host: todo.example.org, tlsSecret: todo-example-org-tls}
  blogOrigin: {enabled: true, host: origin.blog.example.org}
gateway:
  visibility: cluster-local
  todoApiUrl: http://todo-api.other.svc.cluster.local
  metrics: {port: 9100, scrapeAnnotations: false}
  routes: |
    routes:
      - pathPrefix: /v1/todos
        upstream: {url: ${TODO_API_URL}}
        auth: cognito
todoApi:
  visibility: public
  scaling:
    minScale: 1
    maxScale: 5
    initialScale: 2
    target: 25
    metric: rps
    scaleToZeroRetention: 30s
    containerConcurrency: 10
    timeoutSeconds: 120
  resources:
    requests: {cpu: 250m, memory: 128Mi}
    limits: {cpu: "2", memory: 512Mi}
  podAnnotations:
    autoscaling.knative.dev/window: 120s
  env:
    LOG_LEVEL: debug
  serviceAccount:
    roleArn: arn:aws:iam::123456789012:role/custom-todo-api
blogApi:
  visibility: cluster-local
welcomeMailer:
  delivery: {retry: 3, backoffPolicy: linear, backoffDelay: PT5S}
thumbnailer:
  env:
    THUMBNAIL_WIDTHS: "128,512"
dynamodbSource:
  enabled: false
s3Source:
  replicas: 3
  env:
    SQS_QUEUE_URL: http://elsewhere:4566/123456789012/other
metrics:
  port: 9200
  scrapeAnnotations: true
  serviceMonitor: {enabled: true, interval: 15s, scrapeTimeout: 5s, labels: {release: prometheus}}
  dashboard: {enabled: true, labels: {grafana_dashboard: "1", team: blog}}
`

// minimalValues turns the event system off and keeps only the to-do API.
const minimalValues = `
broker: {enabled: false}
blogApi: {enabled: false}
welcomeMailer: {enabled: false}
thumbnailer: {enabled: false}
dynamodbSource: {enabled: false}
s3Source: {enabled: false}
`

// kafkaValues makes the Broker Kafka-backed, with its ConfigMap rendered by the chart.
const kafkaValues = defaultValues + `
broker:
  class: Kafka
  kafka: {bootstrapServers: "b-1.msk.example.com:9096,b-2.msk.example.com:9096", partitions: 6, replicationFactor: 2, authSecret: msk-scram}
`

// chartValues are the value sets every chart check renders, by name.
var chartValues = map[string]string{"default": defaultValues, "flipped": flippedValues, "minimal": minimalValues, "kafka": kafkaValues}

// allSources returns config/ and the chart rendered with the default and with the
// flipped values, by name.
func allSources(t testing.TB) map[string][]manifest {
	t.Helper()
	out := map[string][]manifest{"config": configManifests(t), "config-optional": optionalManifests(t)}
	for name, values := range chartValues {
		r, err := renderChart(t, values)
		if err != nil {
			t.Fatalf("render chart (%s): %v", name, err)
		}
		out["chart-"+name] = r.manifests
	}
	return out
}

// sortedKeys returns m's keys in order, for deterministic subtests.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// knativeContext is the context Knative's webhooks default and validate a new object
// in, with the default serving configuration and eventing feature flags.
func knativeContext() context.Context {
	ctx := apis.WithinCreate(context.Background())
	return feature.ToContext(ctx, feature.FromContextOrDefaults(ctx))
}

// defaultAndValidate runs Knative's SetDefaults then Validate on obj, as the
// admission webhooks do. Objects that are not Knative's pass untouched.
func defaultAndValidate(ctx context.Context, obj typedObject) error {
	if d, ok := obj.(apis.Defaultable); ok {
		d.SetDefaults(ctx)
	}
	if v, ok := obj.(apis.Validatable); ok {
		if fe := v.Validate(ctx); fe != nil {
			return fe
		}
	}
	return nil
}

// TestManifestsAreValid decodes every object of config/ and of the chart (default
// and flipped values) strictly, and runs Knative's defaulting and validation on the
// Knative ones.
func TestManifestsAreValid(t *testing.T) {
	sources := allSources(t)
	for _, source := range sortedKeys(sources) {
		for _, m := range sources[source] {
			t.Run(source+"/"+m.id(), func(t *testing.T) {
				if err := defaultAndValidate(knativeContext(), m.obj); err != nil {
					t.Errorf("Knative validation: %v", err)
				}
				wantNS := namespace
				if m.gvk.Kind == "Namespace" || strings.HasPrefix(m.gvk.Kind, "Cluster") {
					wantNS = ""
				}
				if got := m.obj.GetNamespace(); got != wantNS {
					t.Errorf("namespace = %q, want %q", got, wantNS)
				}
				labels := m.obj.GetLabels()
				if labels["app.kubernetes.io/name"] == "" {
					t.Error("no app.kubernetes.io/name label")
				}
				if got := labels["app.kubernetes.io/part-of"]; got != partOf {
					t.Errorf("label app.kubernetes.io/part-of = %q, want %q", got, partOf)
				}
			})
		}
	}
}

// TestValidationCatchesMistakes shows the checks above can fail: each case breaks
// config/400-todo-api.yaml in one way a person might, and decoding or Knative's
// validation must refuse it.
func TestValidationCatchesMistakes(t *testing.T) {
	path := filepath.Join(repoRoot(t), "config", "400-todo-api.yaml")
	original, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		text    func(string) string          // edits the YAML text
		typed   func(svc *servingv1.Service) // edits the decoded Service
		wantErr string
	}{{
		name:    "misspelt field",
		text:    func(s string) string { return strings.Replace(s, "containerConcurrency:", "containerConcurency:", 1) },
		wantErr: "unknown field",
	}, {
		name: "PORT set by hand",
		typed: func(svc *servingv1.Service) {
			c := &svc.Spec.Template.Spec.Containers[0]
			c.Env = append(c.Env, corev1.EnvVar{Name: "PORT", Value: "9000"})
		},
		wantErr: "PORT",
	}, {
		name: "serving on the queue-proxy's port",
		typed: func(svc *servingv1.Service) {
			svc.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort = 8012
		},
		wantErr: "containerPort",
	}, {
		name: "privileged container",
		typed: func(svc *servingv1.Service) {
			yes := true
			svc.Spec.Template.Spec.Containers[0].SecurityContext.Privileged = &yes
		},
		wantErr: "privileged",
	}, {
		name: "min-scale not a number",
		typed: func(svc *servingv1.Service) {
			svc.Spec.Template.Annotations["autoscaling.knative.dev/min-scale"] = "zero"
		},
		wantErr: "min-scale",
	}, {
		name: "min-scale above max-scale",
		typed: func(svc *servingv1.Service) {
			svc.Spec.Template.Annotations["autoscaling.knative.dev/min-scale"] = "50"
		},
		wantErr: "max-scale",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := string(original)
			if tc.text != nil {
				text = tc.text(text)
			}
			ms, err := decodeAll("400-todo-api.yaml", []byte(text))
			if err == nil {
				if len(ms) != 1 {
					t.Fatalf("got %d objects, want 1", len(ms))
				}
				svc := ms[0].obj.(*servingv1.Service)
				if tc.typed != nil {
					tc.typed(svc)
				}
				err = defaultAndValidate(knativeContext(), svc)
			}
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}
