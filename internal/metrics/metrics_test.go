package metrics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/serverless-architect/serverless-architect/internal/jsonapi"
	"github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
)

// TestInstrumentLabelsByRouteTemplate: a gin engine with jsonapi.Route names the
// template it matched, never the raw path; a path no route takes is "unmatched"; a
// made-up method is OTHER; the code is the one the client got.
func TestInstrumentLabelsByRouteTemplate(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.Use(jsonapi.Route)
	e.GET("/v1/posts/:slug", func(c *gin.Context) {
		if c.Param("slug") == "missing" {
			c.Status(http.StatusNotFound)
			return
		}
		c.String(http.StatusOK, "post")
	})
	e.POST("/v1/posts", func(c *gin.Context) { c.Status(http.StatusCreated) })
	reg := metrics.New()
	srv := httptest.NewServer(reg.Instrument(e))
	defer srv.Close()
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/posts/a"}, {"GET", "/v1/posts/b"}, {"GET", "/v1/posts/missing"},
		{"POST", "/v1/posts"}, {"GET", "/nowhere/123"}, {"BREW", "/v1/posts"},
	} {
		req, _ := http.NewRequest(r.method, srv.URL+r.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	fams := scrape(t, reg)
	want := []string{
		"code=200,method=GET,route=/v1/posts/:slug",
		"code=201,method=POST,route=/v1/posts",
		"code=404,method=GET,route=/v1/posts/:slug",
		"code=404,method=GET,route=unmatched",
		"code=405,method=OTHER,route=unmatched",
	}
	if diff := cmp.Diff(want, fams.Series("http_server_requests_total")); diff != "" {
		t.Errorf("request series (-want +got):\n%s", diff)
	}
	if v, _ := fams.Value("http_server_requests_total", map[string]string{"route": "/v1/posts/:slug", "code": "200"}); v != 2 {
		t.Errorf("GET /v1/posts/:slug 200 counted %v times, want 2", v)
	}
	if v, _ := fams.Value("http_server_request_duration_seconds", map[string]string{"route": "/v1/posts/:slug", "method": "GET"}); v != 3 {
		t.Errorf("GET /v1/posts/:slug timed %v times, want 3", v)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s missing: the runtime and process collectors are not registered", name)
		}
	}
}

// TestServeUntilStopped: Serve answers /metrics until stop is closed, then returns nil;
// a port in use is an error naming METRICS_PORT.
func TestServeUntilStopped(t *testing.T) {
	reg := metrics.New()
	port := porttest.Free(t)
	stop := make(chan struct{})
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- reg.Serve(context.Background(), "127.0.0.1", port, log, stop) }()
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	metricstest.Wait(t, url)
	if _, ok := metricstest.Scrape(t, url)["go_goroutines"]; !ok {
		t.Error("the served registry has no go_goroutines")
	}
	err := reg.Serve(context.Background(), "127.0.0.1", port, log, stop)
	if err == nil || !strings.Contains(err.Error(), "METRICS_PORT") {
		t.Errorf("a second Serve on the same port: %v, want an error naming METRICS_PORT", err)
	}
	close(stop)
	if err := <-done; err != nil {
		t.Errorf("Serve after stop: %v", err)
	}
	if _, err := http.Get(url); err == nil {
		t.Error("/metrics still answers after stop")
	}
}

func scrape(t *testing.T, reg *metrics.Registry) metricstest.Families {
	t.Helper()
	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	return metricstest.Scrape(t, srv.URL)
}

// TestNames: the families of every collector registered, written to or not.
func TestNames(t *testing.T) {
	reg := metrics.New()
	reg.MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: "x"}, []string{"a"}))
	names := reg.Names()
	for _, want := range []string{"x_total", "http_server_requests_total", "http_server_request_duration_seconds", "go_goroutines", "process_resident_memory_bytes"} {
		if !slices.Contains(names, want) {
			t.Errorf("Names() lacks %s: %v", want, names)
		}
	}
}

// serviceSeries are the prefixes of the series one service registers, each checked
// against the dashboard by that service's own test (TestDashboardSeriesRegistered).
var serviceSeries = []string{"gateway_", "dynamodb_source_", "s3_source_", "welcome_mailer_", "thumbnailer_"}

// TestDashboardQueries: the shipped Grafana dashboard's queries parse into metric
// names; the shared ones (http_server_*, go_*, process_*) are what New registers, every
// other belongs to a service whose test checks it; and the panels the issue asks for
// are there (RED per route, the gateway's cache hit ratio, the sources' lag, the
// consumers' outcomes).
func TestDashboardQueries(t *testing.T) {
	names := metricstest.DashboardNames(t)
	shared := metrics.New().Names()
	for _, n := range metricstest.Missing(names, shared) {
		if !slices.ContainsFunc(serviceSeries, func(p string) bool { return strings.HasPrefix(n, p) }) {
			t.Errorf("the dashboard queries %s, which no service registers", n)
		}
	}
	for _, want := range []string{"http_server_requests_total", "http_server_request_duration_seconds_bucket", "gateway_cache_lookups_total",
		"dynamodb_source_iterator_age_seconds", "s3_source_received_message_age_seconds", "welcome_mailer_emails_total", "thumbnailer_photos_total"} {
		if !slices.Contains(names, want) {
			t.Errorf("the dashboard has no panel on %s", want)
		}
	}
}

// TestQueryNames: the names of a query, not its functions, labels or variables.
func TestQueryNames(t *testing.T) {
	for q, want := range map[string][]string{
		`histogram_quantile(0.95, sum by (service, route, le) (rate(http_server_request_duration_seconds_bucket{service=~"$service", code=~"5.."}[$__rate_interval])))`: {"http_server_request_duration_seconds_bucket"},
		`sum(rate(a_total[5m])) / sum without (x) (rate(b_total{y="z"}[5m])) or vector(0)`:                                                                              {"a_total", "b_total"},
		`label_values(http_server_requests_total, service)`:                                                                                                             {"http_server_requests_total"},
	} {
		if diff := cmp.Diff(want, metricstest.QueryNames(q)); diff != "" {
			t.Errorf("QueryNames(%s) (-want +got):\n%s", q, diff)
		}
	}
}
