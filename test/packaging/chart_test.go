package packaging

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sinksv1alpha1 "knative.dev/eventing/pkg/apis/sinks/v1alpha1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	sourcesv1alpha1 "knative.dev/eventing/pkg/apis/sources/v1alpha1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	servingv1beta1 "knative.dev/serving/pkg/apis/serving/v1beta1"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"

	"github.com/serverless-architect/serverless-architect/internal/provision"
)

// TestChartLint runs `helm lint` through the SDK with the default and the flipped
// values; any warning or error fails.
func TestChartLint(t *testing.T) {
	for _, name := range sortedKeys(chartValues) {
		t.Run(name, func(t *testing.T) {
			vals, err := chartutil.ReadValues([]byte(chartValues[name]))
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
		{"a generated page token key", "pageToken: {create: true}"},
		{"a generated unsubscribe key", "unsubscribeKey: {create: true}"},
		{"broker toggle a string", "broker: {enabled: 'false'}"},
		{"health test image unpinned", "healthTest: {image: 'curlimages/curl:latest'}"},
		{"account id a number", "aws: {accountId: 123456789012}"},
		{"account id too short", "aws: {accountId: '12345'}"},
		{"unknown partition", "aws: {partition: aws-moon}"},
		{"bucket with capitals", "aws: {mediaBucket: MyMedia}"},
		{"path style a string", "aws: {s3ForcePathStyle: 'yes'}"},
		{"sender not an address", "aws: {sesSender: welcome}"},
		{"irsa a string", "iam: {irsa: 'true'}"},
		{"role arn malformed", "blogApi: {serviceAccount: {roleArn: 'sa-blog-api'}}"},
		{"replicas negative", "dynamodbSource: {replicas: -1}"},
		{"replicas a string", `s3Source: {replicas: "2"}`},
		{"K_SINK in a source's env", "s3Source: {env: {K_SINK: 'http://x'}}"},
		{"unsubscribe key as a value", "welcomeMailer: {env: {UNSUBSCRIBE_KEY: abc}}"},
		{"unknown backoff policy", "thumbnailer: {delivery: {retry: 3, backoffPolicy: random, backoffDelay: PT1S}}"},
		{"retry a string", "welcomeMailer: {delivery: {retry: 'ten', backoffPolicy: linear, backoffDelay: PT1S}}"},
		{"metrics on a Knative port", "gateway: {metrics: {port: 9090}}"},
		{"domain mapping host with scheme", "domainMappings: {api: {enabled: true, host: 'https://api.example.com'}}"},
		{"old domainMapping key", "domainMapping: {enabled: true}"},
		{"dead-letter queue not an ARN", "deadLetters: {sqs: {queueArn: https://sqs.us-east-1.amazonaws.com/1/q}}"},
		{"unknown stream iterator", "integrationSource: {enabled: true, streamIteratorType: LATEST}"},
		{"blog origin with a path", "blog: {publicOrigin: 'https://blog.example.com/'}"},
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

// TestChartRendersValues checks that values reach the objects: the defaults, the
// flipped set and the minimal set.
func TestChartRendersValues(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		r, err := renderChart(t, defaultValues)
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{
			"gateway": "", "blog-api": "",
			"todo-api": "cluster-local", "welcome-mailer": "cluster-local", "thumbnailer": "cluster-local",
		} {
			svc := one[*servingv1.Service](t, r.manifests, "Service", name)
			if got := svc.Labels["networking.knative.dev/visibility"]; got != want {
				t.Errorf("%s: visibility label = %q, want %q", name, got, want)
			}
			if got := envSecrets(svc.Spec.Template.Spec.Containers[0]); len(got) != 0 {
				t.Errorf("%s: envFrom Secrets = %v, want none by default (EKS credentials come from IRSA)", name, got)
			}
		}
		if got := len(find[*eventingv1.Broker](r.manifests, "Broker", "default")); got != 1 {
			t.Errorf("%d Brokers, want 1", got)
		}
		for _, m := range r.manifests {
			switch m.gvk.Kind {
			case "DomainMapping", "Secret", "IntegrationSource":
				t.Errorf("default rendering has a %s (%s)", m.gvk.Kind, m.obj.GetName())
			}
			if sa, ok := m.obj.(*corev1.ServiceAccount); ok && len(sa.Annotations) > 0 {
				t.Errorf("ServiceAccount %s has annotations %v by default (iam.irsa is off)", sa.Name, sa.Annotations)
			}
		}
		aws := one[*corev1.ConfigMap](t, r.manifests, "ConfigMap", "config-aws")
		want := map[string]string{
			"AWS_REGION":         "us-east-1",
			"COGNITO_ISSUER":     "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE",
			"COGNITO_CLIENT_IDS": "REPLACE_WITH_APP_CLIENT_ID",
			"COGNITO_TOKEN_USE":  "id,access",
			"METRICS_PORT":       "9464",
			// Present and empty: tracing off (internal/telemetry).
			"OTEL_EXPORTER_OTLP_ENDPOINT": "",
		}
		if diff := cmp.Diff(want, aws.Data); diff != "" {
			t.Errorf("config-aws data (-want +got):\n%s", diff)
		}
		for _, w := range []string{"placeholders", "aws.accountId", "unsubscribe-key"} {
			if !strings.Contains(r.notes, w) {
				t.Errorf("NOTES.txt does not mention %q:\n%s", w, r.notes)
			}
		}
		mailer := one[*servingv1.Service](t, r.manifests, "Service", "welcome-mailer")
		if ref := secretRef(mailer.Spec.Template.Spec.Containers[0], "UNSUBSCRIBE_KEY"); ref == nil || ref.Name != "unsubscribe-key" || isTrue(ref.Optional) {
			t.Errorf("welcome-mailer UNSUBSCRIBE_KEY comes from %+v, want the required Secret unsubscribe-key", ref)
		}
		sink := one[*sinksv1alpha1.IntegrationSink](t, r.manifests, "IntegrationSink", "dead-letters")
		if sink.Spec.Log == nil || sink.Spec.Aws != nil {
			t.Errorf("dead-letter sink spec = %+v, want a log sink", sink.Spec)
		}
	})

	t.Run("flipped", func(t *testing.T) {
		r, err := renderChart(t, flippedValues)
		if err != nil {
			t.Fatal(err)
		}
		svc := one[*servingv1.Service](t, r.manifests, "Service", "todo-api")
		if got := svc.Labels["networking.knative.dev/visibility"]; got != "" {
			t.Errorf("todo-api visibility label = %q, want none (public)", got)
		}
		gw := one[*servingv1.Service](t, r.manifests, "Service", "gateway")
		if got := gw.Labels["networking.knative.dev/visibility"]; got != "cluster-local" {
			t.Errorf("gateway visibility label = %q, want cluster-local", got)
		}
		if _, ok := gw.Spec.Template.Annotations["prometheus.io/scrape"]; ok {
			t.Error("gateway has scrape annotations with metrics.scrapeAnnotations=false")
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
		if ref := secretRef(c, "PAGE_TOKEN_KEY"); ref == nil || ref.Name != "page-key" || ref.Key != "key" {
			t.Errorf("PAGE_TOKEN_KEY comes from %+v, want Secret page-key key key", ref)
		}
		if got := envSecrets(c); !cmp.Equal(got, []string{"moto-credentials"}) {
			t.Errorf("envFrom Secrets = %v, want [moto-credentials]", got)
		}

		// Role ARNs: an explicit roleArn wins; others follow the convention; gateway
		// (no AWS calls) gets none.
		for name, want := range map[string]string{
			"todo-api":       "arn:aws:iam::123456789012:role/custom-todo-api",
			"blog-api":       "arn:aws:iam::123456789012:role/eu-blog-api",
			"welcome-mailer": "arn:aws:iam::123456789012:role/eu-welcome-mailer",
			"thumbnailer":    "arn:aws:iam::123456789012:role/eu-thumbnailer",
			"s3-source":      "arn:aws:iam::123456789012:role/eu-s3-source",
			"gateway":        "",
		} {
			sa := one[*corev1.ServiceAccount](t, r.manifests, "ServiceAccount", name)
			if got := sa.Annotations["eks.amazonaws.com/role-arn"]; got != want {
				t.Errorf("%s role-arn annotation = %q, want %q", name, got, want)
			}
		}
		if got := find[*appsv1.Deployment](r.manifests, "Deployment", "dynamodb-source"); len(got) != 0 {
			t.Error("dynamodb-source is rendered with dynamodbSource.enabled=false")
		}
		s3src := one[*appsv1.Deployment](t, r.manifests, "Deployment", "s3-source")
		if got := *s3src.Spec.Replicas; got != 3 {
			t.Errorf("s3-source replicas = %d, want 3", got)
		}
		for _, host := range []string{"todo.example.org", "origin.blog.example.org"} {
			one[*servingv1beta1.DomainMapping](t, r.manifests, "DomainMapping", host)
		}
		dm := one[*servingv1beta1.DomainMapping](t, r.manifests, "DomainMapping", "todo.example.org")
		if dm.Spec.Ref.Name != "gateway" || dm.Spec.TLS == nil || dm.Spec.TLS.SecretName != "todo-example-org-tls" {
			t.Errorf("DomainMapping spec = %+v", dm.Spec)
		}
		if dm := one[*servingv1beta1.DomainMapping](t, r.manifests, "DomainMapping", "origin.blog.example.org"); dm.Spec.Ref.Name != "blog-api" || dm.Spec.TLS != nil {
			t.Errorf("blog DomainMapping spec = %+v", dm.Spec)
		}
		sink := one[*sinksv1alpha1.IntegrationSink](t, r.manifests, "IntegrationSink", "dead-letters")
		if sink.Spec.Aws == nil || sink.Spec.Aws.SQS == nil || sink.Spec.Aws.SQS.Arn != "arn:aws:sqs:eu-west-2:123456789012:broker-dead-letters" ||
			sink.Spec.Aws.Auth == nil || sink.Spec.Aws.Auth.ServiceAccountName != "dead-letters" || sink.Spec.Log != nil {
			t.Errorf("dead-letter sink spec = %+v, want SQS through ServiceAccount dead-letters", sink.Spec)
		}
		src := one[*sourcesv1alpha1.IntegrationSource](t, r.manifests, "IntegrationSource", "subscribers-stream")
		if d := src.Spec.Aws.DDBStreams; d == nil || d.Table != "subscribers-eu" || d.Region != "eu-west-2" || d.StreamIteratorType != "FROM_START" || d.URIEndpointOverride != "http://moto.moto.svc.cluster.local:4566" {
			t.Errorf("IntegrationSource ddbStreams = %+v", d)
		}
		tr := one[*eventingv1.Trigger](t, r.manifests, "Trigger", "welcome-mailer")
		if d := tr.Spec.Delivery; d == nil || *d.Retry != 3 || string(*d.BackoffPolicy) != "linear" || *d.BackoffDelay != "PT5S" {
			t.Errorf("welcome-mailer delivery = %+v", tr.Spec.Delivery)
		}
		one[*eventingv1.Trigger](t, r.manifests, "Trigger", "welcome-mailer-integrationsource")
		for svc, want := range map[string][2]string{"todo-api": {"PAGE_TOKEN_KEY", "page-key"}, "blog-api": {"UNSUBSCRIBE_KEY", "unsubscribe-key-2026"},
			"welcome-mailer": {"UNSUBSCRIBE_KEY", "unsubscribe-key-2026"}} {
			if got := secretKeyRef(one[*servingv1.Service](t, r.manifests, "Service", svc), want[0]); got != want[1] {
				t.Errorf("%s: %s from Secret %q, want the existing Secret %q", svc, want[0], got, want[1])
			}
		}
		routes := one[*corev1.ConfigMap](t, r.manifests, "ConfigMap", "gateway-routes")
		if !strings.Contains(routes.Data["routes.yaml"], "pathPrefix: /v1/todos") || strings.Contains(routes.Data["routes.yaml"], "/v1/files") {
			t.Errorf("gateway-routes does not hold gateway.routes:\n%s", routes.Data["routes.yaml"])
		}

		aws := one[*corev1.ConfigMap](t, r.manifests, "ConfigMap", "config-aws")
		wantAWS := map[string]string{
			"AWS_REGION":                  "eu-west-2",
			"AWS_ENDPOINT_URL":            "http://moto.moto.svc.cluster.local:4566",
			"COGNITO_ISSUER":              "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_Abc123",
			"COGNITO_JWKS_URL":            "http://moto.moto.svc.cluster.local:4566/eu-west-2_Abc123/.well-known/jwks.json",
			"COGNITO_CLIENT_IDS":          "client1,client2",
			"COGNITO_TOKEN_USE":           "access",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability.svc.cluster.local:4318",
			"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio",
			"OTEL_TRACES_SAMPLER_ARG":     "0.25",
			"METRICS_PORT":                "9200",
		}
		if diff := cmp.Diff(wantAWS, aws.Data); diff != "" {
			t.Errorf("config-aws data (-want +got):\n%s", diff)
		}
		for cm, want := range map[string]map[string]string{
			"config-todo-api": {
				"LOG_LEVEL":              "debug",
				"TODOS_TABLE":            "todos-eu",
				"DAX_ENDPOINT":           "daxs://todos.abc123.dax-clusters.eu-west-2.amazonaws.com",
				"MAX_PAGE_SIZE":          "100", // a default the override did not touch
				"FILES_BUCKET":           "files-eu",
				"FILES_VENDING_ROLE_ARN": "arn:aws:iam::123456789012:role/vending-eu",
				"S3_FORCE_PATH_STYLE":    "true",
			},
			"config-gateway": {"TODO_API_URL": "http://todo-api.other.svc.cluster.local", "METRICS_PORT": "9100"},
			"config-blog-api": {
				"POSTS_TABLE": "posts-eu", "SUBSCRIBERS_TABLE": "subscribers-eu", "MEDIA_BUCKET": "media-eu",
				"MEDIA_BASE_URL": "https://cdn.example.org/media", "ADMIN_GROUP": "editors", "S3_FORCE_PATH_STYLE": "true",
				"CLOUDFRONT_DISTRIBUTION_ID": "E2EXAMPLE",
			},
			"config-welcome-mailer": {
				"IDEMPOTENCY_TABLE": "idempotency-eu", "SENDER_EMAIL": "hello@blog.example.org",
				"SES_CONFIGURATION_SET": "blog-mail", "UNSUBSCRIBE_BASE_URL": "https://blog.example.org", "BLOG_NAME": "Our Blog",
			},
			"config-thumbnailer": {"POSTS_TABLE": "posts-eu", "THUMBNAIL_WIDTHS": "128,512", "S3_FORCE_PATH_STYLE": "true"},
			// env overrides a derived setting.
			"config-s3-source": {"SQS_QUEUE_URL": "http://elsewhere:4566/123456789012/other"},
		} {
			got := one[*corev1.ConfigMap](t, r.manifests, "ConfigMap", cm)
			for k, v := range want {
				if got.Data[k] != v {
					t.Errorf("%s %s = %q, want %q", cm, k, got.Data[k], v)
				}
			}
		}
	})

	t.Run("minimal", func(t *testing.T) {
		r, err := renderChart(t, minimalValues)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, m := range r.manifests {
			switch m.gvk.Kind {
			case "Broker", "Trigger", "IntegrationSink", "IntegrationSource", "SinkBinding", "Deployment":
				kinds = append(kinds, m.id())
			}
		}
		if len(kinds) != 0 {
			t.Errorf("event objects rendered with broker and sources off: %v", kinds)
		}
		for _, name := range []string{"gateway", "todo-api"} {
			one[*servingv1.Service](t, r.manifests, "Service", name)
		}
		if got := len(find[*servingv1.Service](r.manifests, "Service", "blog-api")); got != 0 {
			t.Error("blog-api rendered with blogApi.enabled=false")
		}
	})
}

// secretRef returns the Secret key an env variable of c comes from, or nil.
func secretRef(c corev1.Container, name string) *corev1.SecretKeySelector {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil {
			return e.ValueFrom.SecretKeyRef
		}
	}
	return nil
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

// TestChartKafkaBroker: broker.class=Kafka makes the Broker Kafka-backed (durable:
// the EKS default), with its settings in a ConfigMap the chart renders from
// broker.kafka, or, without bootstrap servers, the Kafka broker install's own
// knative-eventing/kafka-broker-config. Knative's validation of both runs in
// TestManifestsAreValid (value set "kafka").
func TestChartKafkaBroker(t *testing.T) {
	r, err := renderChart(t, kafkaValues)
	if err != nil {
		t.Fatal(err)
	}
	b := one[*eventingv1.Broker](t, r.manifests, "Broker", "default")
	if b.Annotations["eventing.knative.dev/broker.class"] != "Kafka" || b.Spec.Config == nil || b.Spec.Config.Name != "kafka-broker-config" ||
		b.Spec.Config.Namespace != namespace || b.Spec.Config.Kind != "ConfigMap" {
		t.Errorf("broker = %v %+v, want class Kafka with the release's kafka-broker-config", b.Annotations, b.Spec.Config)
	}
	cm := one[*corev1.ConfigMap](t, r.manifests, "ConfigMap", "kafka-broker-config")
	want := map[string]string{"bootstrap.servers": "b-1.msk.example.com:9096,b-2.msk.example.com:9096", "default.topic.partitions": "6",
		"default.topic.replication.factor": "2", "auth.secret.ref.name": "msk-scram"}
	if diff := cmp.Diff(want, cm.Data); diff != "" {
		t.Errorf("kafka-broker-config (-want +got):\n%s", diff)
	}
	if err := defaultAndValidate(knativeContext(), b); err != nil {
		t.Errorf("Knative refuses the Kafka Broker: %v", err)
	}
	r, err = renderChart(t, defaultValues+"\nbroker: {class: Kafka}\n")
	if err != nil {
		t.Fatal(err)
	}
	b = one[*eventingv1.Broker](t, r.manifests, "Broker", "default")
	if b.Spec.Config == nil || b.Spec.Config.Namespace != "knative-eventing" || b.Spec.Config.Name != "kafka-broker-config" {
		t.Errorf("without bootstrap servers the Broker's config = %+v, want knative-eventing/kafka-broker-config", b.Spec.Config)
	}
	if got := find[*corev1.ConfigMap](r.manifests, "ConfigMap", "kafka-broker-config"); len(got) != 0 {
		t.Error("a kafka-broker-config was rendered without bootstrap servers")
	}
	if strings.Contains(r.notes, "in-memory channel") {
		t.Errorf("the notes warn about the in-memory channel with a Kafka broker:\n%s", r.notes)
	}
	if r, err = renderChart(t, defaultValues); err != nil || !strings.Contains(r.notes, "in-memory channel") {
		t.Errorf("the notes do not warn about the in-memory channel (%v):\n%s", err, r.notes)
	}
}

// secretKeyRef is the Secret the service's variable name comes from ("" when it does
// not come from a Secret, or may be missing).
func secretKeyRef(svc *servingv1.Service, name string) string {
	for _, e := range svc.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Key == "key" &&
			(e.ValueFrom.SecretKeyRef.Optional == nil || !*e.ValueFrom.SecretKeyRef.Optional) {
			return e.ValueFrom.SecretKeyRef.Name
		}
	}
	return ""
}

// TestChartGeneratesNoKeys: a key the chart made would change on every `helm
// template` (hack/resolve-chart.sh, GitOps), killing every outstanding page token and
// every unsubscribe link already emailed. The chart renders no Secret, its templates
// use no random or key function, two renderings are identical, and the services take
// their keys from the existing Secrets, not optionally (a missing Secret keeps the pod
// from starting, visibly, instead of each pod making its own key).
func TestChartGeneratesNoKeys(t *testing.T) {
	for _, name := range sortedKeys(chartValues) {
		var first string
		for range 2 {
			r, err := renderChart(t, chartValues[name])
			if err != nil {
				t.Fatal(err)
			}
			var all strings.Builder
			for _, m := range r.manifests {
				if m.gvk.Kind == "Secret" {
					t.Errorf("%s: the chart renders Secret %s", name, m.obj.GetName())
				}
				all.Write(m.raw)
			}
			if first == "" {
				first = all.String()
			} else if first != all.String() {
				t.Errorf("%s: two renderings differ", name)
			}
		}
	}
	templates, err := filepath.Glob(filepath.Join(repoRoot(t), chartPath, "templates", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range templates {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the tests directory
		}
		for _, fn := range []string{"randAlphaNum", "randAlpha", "randNumeric", "randAscii", "randBytes", "genPrivateKey", "genCA", "genSelfSignedCert", "uuidv4", "lookup"} {
			if strings.Contains(string(b), fn+" ") || strings.Contains(string(b), fn+")") {
				t.Errorf("%s uses %s", filepath.Base(f), fn)
			}
		}
	}
	r, err := renderChart(t, defaultValues)
	if err != nil {
		t.Fatal(err)
	}
	for svc, want := range map[string][2]string{"todo-api": {"PAGE_TOKEN_KEY", "todo-api-page-token"}, "blog-api": {"UNSUBSCRIBE_KEY", "unsubscribe-key"},
		"welcome-mailer": {"UNSUBSCRIBE_KEY", "unsubscribe-key"}} {
		if got := secretKeyRef(one[*servingv1.Service](t, r.manifests, "Service", svc), want[0]); got != want[1] {
			t.Errorf("%s: %s from Secret %q, want %q, not optional", svc, want[0], got, want[1])
		}
	}
	if _, err := renderChart(t, "aws: {sesSender: ''}"); err == nil || !strings.Contains(err.Error(), "aws.sesSender") {
		t.Errorf("the welcome mailer rendered without a sender: %v", err)
	}
}

// configEquivalentValues turn on what config/ has and the chart's defaults leave
// off: the development credentials Secret, IRSA annotations, the DomainMappings, and
// (for config/optional/) the IntegrationSource. config/'s ACCOUNT_ID placeholder
// stands for configAccountID, its REPLACE_WITH_SENDER_EMAIL for the sender here.
const configEquivalentValues = `
aws: {credentialsSecret: aws-credentials, accountId: "123456789012", sesSender: welcome@blog.example.com}
iam: {irsa: true}
domainMappings: {api: {enabled: true}, blogOrigin: {enabled: true}}
integrationSource: {enabled: true}
`

// configAccountID replaces config/'s ACCOUNT_ID placeholder in TestChartMatchesConfig.
const configAccountID = "123456789012"

// configBootstrap replaces config/optional/broker-kafka.yaml's bootstrap servers
// placeholder, and is broker.kafka.bootstrapServers in the chart it is compared with.
const configBootstrap = "b-1.kafka.example.com:9094,b-2.kafka.example.com:9094"

// TestChartMatchesConfig keeps the two packagings in step: the chart with its default
// values (plus configEquivalentValues) must produce the same settings, the same
// container specs, the same event wiring and the same identities as config/ and
// config/optional/.
func TestChartMatchesConfig(t *testing.T) {
	r, err := renderChart(t, configEquivalentValues)
	if err != nil {
		t.Fatal(err)
	}
	// config/optional/broker-kafka.yaml is the chart with broker.class=Kafka.
	kafka, err := renderChart(t, configEquivalentValues+"broker: {class: Kafka, kafka: {bootstrapServers: '"+configBootstrap+"'}}\n")
	if err != nil {
		t.Fatal(err)
	}
	var cfg []manifest
	for _, m := range append(configManifests(t), optionalManifests(t)...) {
		raw := bytes.ReplaceAll(m.raw, []byte("ACCOUNT_ID"), []byte(configAccountID))
		raw = bytes.ReplaceAll(raw, []byte("REPLACE_WITH_SENDER_EMAIL"), []byte("welcome@blog.example.com"))
		raw = bytes.ReplaceAll(raw, []byte("REPLACE_WITH_BOOTSTRAP_SERVERS"), []byte(configBootstrap))
		m, err := decodeStrict(m.source, raw)
		if err != nil {
			t.Fatal(err)
		}
		cfg = append(cfg, m)
	}
	matched := map[string]bool{}
	for _, m := range cfg {
		t.Run(m.id(), func(t *testing.T) {
			r := r
			if filepath.Base(m.source) == "broker-kafka.yaml" {
				r = kafka
			} else {
				matched[m.gvk.Kind+"/"+m.obj.GetName()] = true
			}
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
			case *appsv1.Deployment:
				got := one[*appsv1.Deployment](t, r.manifests, "Deployment", want.Name)
				if diff := cmp.Diff(want.Spec.Template.Spec, got.Spec.Template.Spec); diff != "" {
					t.Errorf("pod spec differs (-config +chart):\n%s", diff)
				}
				if diff := cmp.Diff(want.Spec.Replicas, got.Spec.Replicas); diff != "" {
					t.Errorf("replicas differ (-config +chart):\n%s", diff)
				}
				if diff := cmp.Diff(want.Spec.Selector, got.Spec.Selector); diff != "" {
					t.Errorf("selector differs (-config +chart):\n%s", diff)
				}
			case *corev1.ServiceAccount:
				got := one[*corev1.ServiceAccount](t, r.manifests, "ServiceAccount", want.Name)
				if diff := cmp.Diff(want.Annotations, got.Annotations); diff != "" {
					t.Errorf("annotations differ (-config +chart):\n%s", diff)
				}
			case *eventingv1.Broker:
				got := one[*eventingv1.Broker](t, r.manifests, "Broker", want.Name)
				if diff := cmp.Diff(want.Spec, got.Spec); diff != "" {
					t.Errorf("broker spec differs (-config +chart):\n%s", diff)
				}
				if diff := cmp.Diff(want.Annotations, got.Annotations); diff != "" {
					t.Errorf("broker annotations differ (-config +chart):\n%s", diff)
				}
			case *eventingv1.Trigger:
				got := one[*eventingv1.Trigger](t, r.manifests, "Trigger", want.Name)
				if diff := cmp.Diff(want.Spec, got.Spec); diff != "" {
					t.Errorf("trigger spec differs (-config +chart):\n%s", diff)
				}
			case *sourcesv1.SinkBinding:
				got := one[*sourcesv1.SinkBinding](t, r.manifests, "SinkBinding", want.Name)
				if diff := cmp.Diff(want.Spec, got.Spec); diff != "" {
					t.Errorf("sink binding spec differs (-config +chart):\n%s", diff)
				}
			case *sinksv1alpha1.IntegrationSink:
				got := one[*sinksv1alpha1.IntegrationSink](t, r.manifests, "IntegrationSink", want.Name)
				if diff := cmp.Diff(want.Spec, got.Spec); diff != "" {
					t.Errorf("integration sink spec differs (-config +chart):\n%s", diff)
				}
			case *sourcesv1alpha1.IntegrationSource:
				got := one[*sourcesv1alpha1.IntegrationSource](t, r.manifests, "IntegrationSource", want.Name)
				if diff := cmp.Diff(want.Spec, got.Spec); diff != "" {
					t.Errorf("integration source spec differs (-config +chart):\n%s", diff)
				}
			case *servingv1beta1.DomainMapping:
				got := one[*servingv1beta1.DomainMapping](t, r.manifests, "DomainMapping", want.Name)
				if diff := cmp.Diff(want.Spec, got.Spec); diff != "" {
					t.Errorf("domain mapping differs (-config +chart):\n%s", diff)
				}
			case *rbacv1.Role:
				got := one[*rbacv1.Role](t, r.manifests, "Role", want.Name)
				if diff := cmp.Diff(want.Rules, got.Rules); diff != "" {
					t.Errorf("rules differ (-config +chart):\n%s", diff)
				}
			case *rbacv1.RoleBinding:
				got := one[*rbacv1.RoleBinding](t, r.manifests, "RoleBinding", want.Name)
				if diff := cmp.Diff(want.RoleRef, got.RoleRef); diff != "" {
					t.Errorf("role differs (-config +chart):\n%s", diff)
				}
				if len(want.Subjects) != len(got.Subjects) {
					t.Fatalf("subjects: config %v, chart %v", want.Subjects, got.Subjects)
				}
				for i := range want.Subjects {
					// The chart binds in the release namespace.
					w, g := want.Subjects[i], got.Subjects[i]
					w.Namespace, g.Namespace = "", ""
					if diff := cmp.Diff(w, g); diff != "" {
						t.Errorf("subject %d differs (-config +chart):\n%s", i, diff)
					}
				}
			case *corev1.Namespace:
				// The chart installs into the release namespace instead.
			default:
				raw, _ := yaml.Marshal(want)
				t.Errorf("no chart comparison for %s; add one:\n%s", m.gvk, raw)
			}
		})
	}
	// And the other way: nothing the chart renders is missing from config/.
	for _, m := range r.manifests {
		if m.gvk.Kind == "Pod" { // the helm test hook
			continue
		}
		if !matched[m.gvk.Kind+"/"+m.obj.GetName()] {
			t.Errorf("the chart renders %s, which config/ lacks", m.id())
		}
	}
}

// TestRoutesInSync checks that the gateway's route table is the same file in
// services/gateway, config/ (ConfigMap gateway-routes) and the chart (files/).
func TestRoutesInSync(t *testing.T) {
	root := repoRoot(t)
	want, err := os.ReadFile(filepath.Join(root, "services", "gateway", "routes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	chartCopy, err := os.ReadFile(filepath.Join(root, chartPath, "files", "routes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(chartCopy)); diff != "" {
		t.Errorf("%s/files/routes.yaml differs from services/gateway/routes.yaml (-service +chart); copy it:\n%s", chartPath, diff)
	}
	cm := one[*corev1.ConfigMap](t, configManifests(t), "ConfigMap", "gateway-routes")
	if diff := cmp.Diff(string(want), cm.Data["routes.yaml"]); diff != "" {
		t.Errorf("config/ gateway-routes differs from services/gateway/routes.yaml (-service +config):\n%s", diff)
	}
}

// TestDAXWindowCoversTheQueryTTL: the read-your-writes window todo-api is configured
// with (DAX_QUERY_CACHE_TTL in config/ and in the chart's defaults) is at least the
// query TTL `sa provision --dax` gives the cluster; a shorter window lets a user see a
// list cached before their own write (services/todo-api/README.md).
func TestDAXWindowCoversTheQueryTTL(t *testing.T) {
	r, err := renderChart(t, defaultValues)
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]*corev1.ConfigMap{"chart": one[*corev1.ConfigMap](t, r.manifests, "ConfigMap", "config-todo-api")}
	for _, m := range configManifests(t) {
		if cm, ok := m.obj.(*corev1.ConfigMap); ok && cm.Name == "config-todo-api" {
			sources["config/"] = cm
		}
	}
	if len(sources) != 2 {
		t.Fatalf("config-todo-api found in %d places, want config/ and the chart", len(sources))
	}
	for where, cm := range sources {
		v, ok := cm.Data["DAX_QUERY_CACHE_TTL"]
		if !ok {
			continue // the service's default applies (checked in services/todo-api)
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < provision.DAXQueryTTL {
			t.Errorf("%s: DAX_QUERY_CACHE_TTL %q is below the cluster's query TTL %s (or not a duration: %v)", where, v, provision.DAXQueryTTL, err)
		}
	}
}
