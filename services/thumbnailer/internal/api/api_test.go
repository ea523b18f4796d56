package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
	"github.com/serverless-architect/serverless-architect/services/thumbnailer/internal/photo"
)

// TestOtherEventsAreAcknowledged: behind a Broker Trigger without a filter, or fed by
// a source it does not expect, the thumbnailer acknowledges the events it does not
// handle — the project's DynamoDB events and Knative IntegrationSource's
// dev.knative.eventing.aws-ddb-streams (the golden events of internal/cloudevent) —
// with 204 through its whole HTTP handler, touching no AWS API (the endpoint here
// leads nowhere). The handler Build makes registers every thumbnailer_* series the
// chart's Grafana dashboard queries.
func TestOtherEventsAreAcknowledged(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "x")
	cfg := Config{Region: "us-east-1", PostsTable: "posts", Widths: []int{256}, Quality: 82, MaxPixels: 50e6, MaxImageBytes: 25 << 20,
		MemoryBudget: 256 << 20, ProbeBytes: 256 << 10, UploadsPrefix: "uploads/", ThumbnailsPrefix: "thumbnails/"}
	reg := metrics.New()
	h, err := Build(metrics.NewContext(context.Background(), reg), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	metricstest.CheckDashboard(t, "thumbnailer_", reg.Names())
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, name := range []string{"knative-ddb-streams.json", "dynamodb-insert.json"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile("../../../../internal/cloudevent/testdata/" + name)
			if err != nil {
				t.Fatal(err)
			}
			var e cloudevents.Event
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
			if err := cehttp.WriteRequest(binding.WithForceBinary(context.Background()), binding.ToMessage(&e), req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Errorf("%s answered %d, want 204", e.Type(), resp.StatusCode)
			}
		})
	}
	if _, err := photo.New(nil, nil, cfg.Options(), slog.New(slog.DiscardHandler)); err != nil {
		t.Errorf("the options the config sets are refused: %v", err)
	}
}
