package svcmain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
	"github.com/serverless-architect/serverless-architect/internal/server"
	"github.com/serverless-architect/serverless-architect/internal/telemetry/telemetrytest"
)

type testConfig struct {
	server.Config
	Table   string        `env:"TABLE_NAME,required"`
	Queue   string        `env:"QUEUE_URL,required"`
	Batch   int           `env:"BATCH_SIZE" envDefault:"10"`
	Timeout time.Duration `env:"TIMEOUT" envDefault:"1s"`
}

func (c testConfig) Validate() error {
	var errs []error
	if c.Batch < 1 {
		errs = append(errs, fmt.Errorf("BATCH_SIZE is %d; it must be at least 1", c.Batch))
	}
	if c.Timeout > time.Minute {
		errs = append(errs, fmt.Errorf("TIMEOUT is %s; it must be at most 1m", c.Timeout))
	}
	return errors.Join(errs...)
}

// TestParseListsEveryBadVariable: one error names every variable at fault, whether the
// environment cannot be parsed or the values fail the service's checks.
func TestParseListsEveryBadVariable(t *testing.T) {
	cases := []struct {
		name    string
		environ []string
		want    []string
	}{
		{"unparsable and missing", []string{"BATCH_SIZE=many", "TIMEOUT=soon", "PORT=http"},
			[]string{"TABLE_NAME", "QUEUE_URL", "BATCH_SIZE", "TIMEOUT", "PORT"}},
		{"out of range", []string{"TABLE_NAME=t", "QUEUE_URL=q", "BATCH_SIZE=0", "TIMEOUT=2m"},
			[]string{"BATCH_SIZE is 0", "TIMEOUT is 2m0s"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse[testConfig](c.environ)
			if err == nil {
				t.Fatal("Parse accepted a bad environment")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "configuration: ") || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line starting with \"configuration: \"", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not name %s", msg, w)
				}
			}
		})
	}
	cfg, err := Parse[testConfig]([]string{"TABLE_NAME=t", "QUEUE_URL=q", "LOG_LEVEL=debug"})
	if err != nil || cfg.Table != "t" || cfg.Batch != 10 || cfg.LogLevel != "debug" || cfg.Port != 8080 {
		t.Errorf("Parse = %+v, %v", cfg, err)
	}
}

// TestRun: start gets the parsed configuration and a JSON logger naming the service at
// LOG_LEVEL; a bad environment never reaches start.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	var got testConfig
	err := Run(context.Background(), "tester", []string{"TABLE_NAME=t", "QUEUE_URL=q", "LOG_LEVEL=warn"}, &out,
		func(_ context.Context, cfg testConfig, log *slog.Logger) error {
			got = cfg
			log.Info("not shown at warn")
			log.Warn("shown")
			return errors.New("stopped")
		})
	if err == nil || err.Error() != "stopped" || got.Table != "t" {
		t.Fatalf("Run = %v, cfg %+v; want start's error and the parsed config", err, got)
	}
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("log %q is not one JSON line: %v", out.String(), err)
	}
	if line["msg"] != "shown" || line["service"] != "tester" {
		t.Errorf("log line = %v, want msg shown from service tester", line)
	}
	started := false
	err = Run(context.Background(), "tester", []string{"QUEUE_URL=q"}, io.Discard, func(context.Context, testConfig, *slog.Logger) error {
		started = true
		return nil
	})
	if err == nil || started {
		t.Errorf("Run without TABLE_NAME = %v, started %v; want an error before start", err, started)
	}
}

// TestServe: the server and the workers run together; the end of ctx stops all of them
// cleanly, and a failing worker stops the server and is the error returned.
func TestServe(t *testing.T) {
	cfg, err := Parse[testConfig]([]string{"TABLE_NAME=t", "QUEUE_URL=q", "HOST=127.0.0.1", "PORT=0", "DRAIN_DELAY=0s"})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, cfg.Config, log, nil, func(ctx context.Context) error {
			close(ran)
			<-ctx.Done()
			return nil
		})
	}()
	<-ran
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after ctx ended = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after ctx ended")
	}

	// A worker that fails brings the server down with it. The server gets a port of
	// its own so a stuck one would show as a listener still open.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	cfg, err = Parse[testConfig]([]string{"TABLE_NAME=t", "QUEUE_URL=q", "HOST=127.0.0.1", "PORT=" + port, "DRAIN_DELAY=0s"})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("stream lost")
	err = Serve(context.Background(), cfg.Config, log, nil, func(ctx context.Context) error {
		// Wait until the server answers, then fail.
		for {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return boom
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	if !errors.Is(err, boom) {
		t.Errorf("Serve with a failing worker = %v, want %v", err, boom)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("the server still listens on %s after Serve returned", addr)
	}
}

// TestParseNamesVariables: a value that does not parse is reported by its variable
// (with any envPrefix), not by the Go field behind it.
func TestParseNamesVariables(t *testing.T) {
	type nested struct {
		Limit int `env:"LIMIT"`
	}
	type cfg struct {
		server.Config
		Files nested `envPrefix:"FILES_"`
	}
	_, err := Parse[cfg]([]string{"FILES_LIMIT=lots", "SHUTDOWN_TIMEOUT=1 minute"})
	for _, want := range []string{`FILES_LIMIT: strconv.ParseInt: parsing "lots"`, "SHUTDOWN_TIMEOUT: "} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse = %v, want it to contain %q", err, want)
		}
	}
}

// TestMetrics: under Run, Serve serves the process's registry on METRICS_PORT, with the
// series the service registered from start's context and every request it answered;
// METRICS_PORT=0 serves none; a bad METRICS_PORT is named with the service's own bad
// variables before start runs.
func TestMetrics(t *testing.T) {
	port, mport := porttest.Free(t), porttest.Free(t)
	environ := []string{"TABLE_NAME=t", "QUEUE_URL=q", "HOST=127.0.0.1", "DRAIN_DELAY=0s",
		"PORT=" + strconv.Itoa(port), "METRICS_PORT=" + strconv.Itoa(mport)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, "tester", environ, io.Discard, func(ctx context.Context, cfg testConfig, log *slog.Logger) error {
			started := prometheus.NewCounter(prometheus.CounterOpts{Name: "tester_started_total", Help: "Starts."})
			metrics.FromContext(ctx).MustRegister(started)
			started.Inc()
			return Serve(ctx, cfg.Config, log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusTeapot)
			}))
		})
	}()
	murl := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	metricstest.Wait(t, murl)
	waitListening(t, port) // the two listeners come up apart
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/tea/42", port))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	fams := metricstest.Scrape(t, murl)
	if v, _ := fams.Value("tester_started_total", nil); v != 1 {
		t.Errorf("tester_started_total = %v, want 1: the service's own series are not on the served registry", v)
	}
	if v, _ := fams.Value("http_server_requests_total", map[string]string{"route": metrics.Unmatched, "method": "GET", "code": "418"}); v != 1 {
		t.Errorf("the request was not counted; series %v", fams.Series("http_server_requests_total"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := http.Get(murl); err == nil {
		t.Error("/metrics still answers after Run returned")
	}

	// METRICS_PORT=0: nothing listens on the port it would have had.
	environ[len(environ)-1] = "METRICS_PORT=0"
	ctx, cancel = context.WithCancel(context.Background())
	go func() {
		done <- Run(ctx, "tester", environ, io.Discard, func(ctx context.Context, cfg testConfig, log *slog.Logger) error {
			return Serve(ctx, cfg.Config, log, nil)
		})
	}()
	waitListening(t, port)
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", mport)); err == nil {
		c.Close()
		t.Error("METRICS_PORT=0 still serves metrics on the port of the first run")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	err = Run(context.Background(), "tester", []string{"QUEUE_URL=q", "METRICS_PORT=70000"}, io.Discard, func(context.Context, testConfig, *slog.Logger) error {
		t.Error("start ran with a bad METRICS_PORT")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "METRICS_PORT") || !strings.Contains(err.Error(), "TABLE_NAME") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Run with METRICS_PORT=70000 and no TABLE_NAME = %v, want one line naming both", err)
	}
}

func waitListening(t *testing.T, port int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %d", port)
		}
	}
}

// TestRunPushesMetricsOverOTLP: with an OTLP endpoint, the series on the registry
// start's context holds (the service's own and the requests Serve counts) also reach a
// collector every OTEL_METRIC_EXPORT_INTERVAL, named after the service; the last values
// are pushed when Run returns.
func TestRunPushesMetricsOverOTLP(t *testing.T) {
	collector := telemetrytest.NewMetricsReceiver(t)
	port := porttest.Free(t)
	environ := []string{"TABLE_NAME=t", "QUEUE_URL=q", "HOST=127.0.0.1", "DRAIN_DELAY=0s", "PORT=" + strconv.Itoa(port), "METRICS_PORT=0",
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + collector.URL, "OTEL_TRACES_EXPORTER=none", "OTEL_METRIC_EXPORT_INTERVAL=100"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := prometheus.NewCounter(prometheus.CounterOpts{Name: "tester_started_total", Help: "Starts."})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, "tester", environ, io.Discard, func(ctx context.Context, cfg testConfig, log *slog.Logger) error {
			metrics.FromContext(ctx).MustRegister(started)
			return Serve(ctx, cfg.Config, log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusTeapot)
			}))
		})
	}()
	waitListening(t, port)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/tea/42", port))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	requests := map[string]string{"route": metrics.Unmatched, "method": "GET", "code": "418"}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if v, svc, _ := collector.Sum("http_server_requests_total", requests); v == 1 {
			if svc != "tester" {
				t.Errorf("service.name %q, want tester", svc)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("http_server_requests_total%v = 1 not pushed within 10s (%d export requests)", requests, collector.Requests())
		}
	}
	started.Inc() // after the last periodic push a moment ago, or before it: the flush at exit carries it
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if v, _, _ := collector.Sum("tester_started_total", nil); v != 1 {
		t.Errorf("tester_started_total = %v in the pushes, want 1 (the service's own series, flushed at exit)", v)
	}
}
