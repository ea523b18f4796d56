package api

import (
	"testing"

	svcmetrics "github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
)

// TestDashboardSeriesRegistered: every gateway_* series the chart's Grafana dashboard
// queries is one the gateway registers.
func TestDashboardSeriesRegistered(t *testing.T) {
	m := newMetrics(svcmetrics.New())
	m.cacheGauges(func() float64 { return 0 }, func() float64 { return 0 })
	metricstest.CheckDashboard(t, "gateway_", m.reg.Names())
}
