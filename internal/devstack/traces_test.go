package devstack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TestTraceReceiver exports spans with the OpenTelemetry SDK's own OTLP/HTTP exporter
// (protobuf, then gzip) to the receiver and reads them back with ReadTrace and LastTrace.
func TestTraceReceiver(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, TracesDir), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&traceReceiver{dir: filepath.Join(dir, TracesDir), now: time.Now})
	defer srv.Close()

	for _, compression := range []otlptracehttp.Compression{otlptracehttp.NoCompression, otlptracehttp.GzipCompression} {
		exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(srv.URL+"/v1/traces"), otlptracehttp.WithCompression(compression))
		if err != nil {
			t.Fatal(err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "gateway"))))
		ctx, root := tp.Tracer("test").Start(context.Background(), "GET", trace.WithSpanKind(trace.SpanKindServer))
		_, child := tp.Tracer("test").Start(ctx, "DynamoDB.GetItem", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.StringSlice("aws.dynamodb.table_names", []string{"todos"})))
		child.End()
		root.End()
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}

		id := root.SpanContext().TraceID().String()
		spans, err := ReadTrace(dir, strings.ToUpper(id))
		if err != nil {
			t.Fatal(err)
		}
		if len(spans) != 2 {
			t.Fatalf("compression %v: %d spans of trace %s, want 2", compression, len(spans), id)
		}
		r, c := spans[0], spans[1]
		if r.Name != "GET" || r.Kind != "server" || r.Service != "gateway" || r.ParentSpanID != "" || r.SpanID != root.SpanContext().SpanID().String() {
			t.Errorf("root span %+v", r)
		}
		if c.ParentSpanID != r.SpanID || c.Kind != "client" || c.Status != "unset" {
			t.Errorf("child span %+v, want the root's client child", c)
		}
		if got, _ := c.Attributes["aws.dynamodb.table_names"].([]any); len(got) != 1 || got[0] != "todos" {
			t.Errorf("table names %v", c.Attributes["aws.dynamodb.table_names"])
		}
		if c.Start.IsZero() || c.Duration() < 0 || r.Duration() < c.Duration() {
			t.Errorf("times: root %v..%v, child %v..%v", r.Start, r.End, c.Start, c.End)
		}
		if last, err := LastTrace(dir); err != nil || last != id {
			t.Errorf("LastTrace = %q, %v; want %s", last, err, id)
		}
	}
}

func TestTraceReceiverRefuses(t *testing.T) {
	srv := httptest.NewServer(&traceReceiver{dir: t.TempDir(), now: time.Now})
	defer srv.Close()
	for _, tc := range []struct {
		name, method, path, ctype, body string
		want                            int
	}{
		{"wrong path", http.MethodPost, "/v1/metrics", "application/x-protobuf", "", http.StatusNotFound},
		{"GET", http.MethodGet, "/v1/traces", "", "", http.StatusMethodNotAllowed},
		{"text", http.MethodPost, "/v1/traces", "text/plain", "x", http.StatusUnsupportedMediaType},
		{"garbage", http.MethodPost, "/v1/traces", "application/x-protobuf", "\xff\xff\xff", http.StatusBadRequest},
		{"empty JSON export", http.MethodPost, "/v1/traces", "application/json", "{}", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ctype)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestReadTraceID(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadTrace(dir, "not-hex"); err == nil || !strings.Contains(err.Error(), "32 hex digits") {
		t.Errorf("bad id: err = %v", err)
	}
	if _, err := ReadTrace(dir, "4bf92f3577b34da6a3ce929d0e0e4736"); err == nil || !strings.Contains(err.Error(), "sa dev collects") {
		t.Errorf("no traces directory: err = %v", err)
	}
}
