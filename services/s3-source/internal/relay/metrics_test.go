package relay

import (
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
)

// TestDashboardSeriesRegistered: every s3_source_* series the chart's Grafana
// dashboard queries is one NewMetrics registers.
func TestDashboardSeriesRegistered(t *testing.T) {
	reg := metrics.New()
	NewMetrics(reg)
	names := metricstest.WithPrefix(metricstest.DashboardNames(t), "s3_source_")
	if len(names) == 0 {
		t.Fatal("the dashboard has no s3-source panel")
	}
	if missing := metricstest.Missing(names, reg.Names()); len(missing) > 0 {
		t.Errorf("the dashboard queries %v, which s3-source does not register", missing)
	}
}
