package source

import (
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
)

// TestDashboardSeriesRegistered: every dynamodb_source_* series the chart's Grafana
// dashboard queries is one NewMetrics registers.
func TestDashboardSeriesRegistered(t *testing.T) {
	reg := metrics.New()
	NewMetrics(reg)
	names := metricstest.WithPrefix(metricstest.DashboardNames(t), "dynamodb_source_")
	if len(names) == 0 {
		t.Fatal("the dashboard has no dynamodb-source panel")
	}
	if missing := metricstest.Missing(names, reg.Names()); len(missing) > 0 {
		t.Errorf("the dashboard queries %v, which dynamodb-source does not register", missing)
	}
}
