package gateway

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
	names := metricstest.WithPrefix(metricstest.DashboardNames(t), "gateway_")
	if len(names) == 0 {
		t.Fatal("the dashboard has no gateway panel")
	}
	if missing := metricstest.Missing(names, m.reg.Names()); len(missing) > 0 {
		t.Errorf("the dashboard queries %v, which the gateway does not register", missing)
	}
}
