package api

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
)

// TestDashboardSeriesRegistered: the handler Build makes registers every
// welcome_mailer_* series the chart's Grafana dashboard queries.
func TestDashboardSeriesRegistered(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	reg := metrics.New()
	if _, err := Build(metrics.NewContext(context.Background(), reg), Config{
		Region: "eu-west-1", IdempotencyTable: "t", SenderEmail: "hello@example.com",
		UnsubscribeKey: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", UnsubscribeBaseURL: "https://blog.example",
		EmailAttribute: "email", BlogName: "MyBlog", ClaimLease: 30 * time.Second, SESTimeout: 10 * time.Second,
	}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	metricstest.CheckDashboard(t, "welcome_mailer_", reg.Names())
}
