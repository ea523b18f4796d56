package source

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
	metricstest.CheckDashboard(t, "s3_source_", reg.Names())
}
