// Package svcmain is the one main of every service, in the spirit of Knative's
// sharedmain: a service's main.go keeps only its own wiring and hands the rest here.
//
//   - Main turns SIGTERM and interrupts into the end of a context, runs the service and
//     makes the process's exit status (the only os.Exit of a service).
//   - Run parses the service's configuration struct from the environment once and
//     refuses to start with one error that lists every bad variable: the parse errors
//     (caarlos0/env reports all of them, not the first) or, when they parse, every
//     complaint of the struct's Validate method. It then makes the JSON logger
//     (LOG_LEVEL) and calls the service's start function.
//   - Serve runs the shared HTTP server (internal/server: $PORT, TLS when
//     TLS_CERT_FILE/TLS_KEY_FILE are set, /healthz and /readyz, request ids and access
//     log, body limit, drain on SIGTERM within DRAIN_DELAY + SHUTDOWN_TIMEOUT) and the
//     service's background workers beside it; the first to fail stops the others.
//   - Metrics: Run makes the process's Prometheus registry (internal/metrics) and puts
//     it in the context start gets (metrics.FromContext), so the service registers its
//     own series; Serve counts and times every request by route and serves /metrics on
//     METRICS_PORT (9464; 0: off) until the server has drained.
//   - Run also sets up tracing from the OTEL_* variables (internal/telemetry; off
//     without an OTLP endpoint) and flushes the last spans when the service stops.
//
// run(ctx, environ, stdout) stays in each main.go so that tests start the whole service
// in-process, as before.
package svcmain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"
	"golang.org/x/sync/errgroup"

	"github.com/serverless-architect/serverless-architect/internal/logging"
	"github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/internal/server"
	"github.com/serverless-architect/serverless-architect/internal/telemetry"
)

// Config is what every service's configuration struct has: the shared server settings,
// by embedding server.Config.
type Config interface {
	ServerConfig() server.Config
}

// Validator is a configuration with checks beyond what its env tags say. Validate
// reports every problem it finds (errors.Join), each naming its variable.
type Validator interface {
	Validate() error
}

// Main runs a service until SIGTERM or an interrupt: run is the service's
// run(ctx, environ, stdout). A failure is logged and exits the process with status 1.
func Main(run func(ctx context.Context, environ []string, stdout io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Environ(), os.Stdout)
	stop()
	if err != nil {
		slog.Error("exit", "err", err)
		os.Exit(1)
	}
}

// Run parses a C from environ, validates it, makes the service's logger (JSON on stdout,
// every line naming service) and calls start with both. Every bad variable is in the one
// error it returns before start runs.
func Run[C Config](ctx context.Context, service string, environ []string, stdout io.Writer,
	start func(ctx context.Context, cfg C, log *slog.Logger) error) error {
	cfg, err := Parse[C](environ)
	mcfg, merr := Parse[metrics.Config](environ)
	switch {
	case err != nil && merr != nil:
		return fmt.Errorf("%w; %w", err, errors.Unwrap(merr))
	case err != nil:
		return err
	case merr != nil:
		return merr
	}
	ctx = context.WithValue(metrics.NewContext(ctx, metrics.New()), metricsPortKey{}, mcfg.Port)
	log := logging.New(stdout, cfg.ServerConfig().LogLevel, service)
	flush, err := startTracing(ctx, service, environ, log)
	if err != nil {
		return err
	}
	defer flush()
	return start(ctx, cfg, log)
}

// traceFlushTimeout bounds the export of the spans and metrics still buffered when a
// service stops: it runs after the server drained, inside the pod's termination
// grace period.
const traceFlushTimeout = 5 * time.Second

// startTracing sets up OpenTelemetry tracing and the OTLP push of the process's
// Prometheus series from environ's OTEL_* variables (internal/telemetry: each off
// without its OTLP endpoint) and returns the function that flushes both at exit.
func startTracing(ctx context.Context, service string, environ []string, log *slog.Logger) (flush func(), err error) {
	vars := env.ToMap(environ)
	settings, err := telemetry.Read(service, func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	shutdown, err := telemetry.Setup(ctx, settings, metrics.FromContext(ctx))
	if err != nil {
		return nil, err
	}
	if settings.Endpoint != "" {
		log.Info("tracing", "endpoint", settings.Endpoint, "serviceName", settings.Service)
	}
	if settings.MetricsEndpoint != "" {
		log.Info("pushing metrics", "endpoint", settings.MetricsEndpoint, "interval", settings.MetricsInterval.String())
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), traceFlushTimeout)
		defer cancel()
		if err := shutdown(sctx); err != nil {
			log.Warn("cannot flush the last spans and metrics", "traces", settings.Endpoint, "metrics", settings.MetricsEndpoint, "err", err)
		}
	}, nil
}

// metricsPortKey carries METRICS_PORT from Run to Serve.
type metricsPortKey struct{}

// RunHandler is Run for a service that is one HTTP handler: build makes it from the
// configuration (an error is a configuration error), and Serve serves it.
func RunHandler[C Config](ctx context.Context, service string, environ []string, stdout io.Writer,
	build func(ctx context.Context, cfg C, log *slog.Logger) (http.Handler, error)) error {
	return Run(ctx, service, environ, stdout, func(ctx context.Context, cfg C, log *slog.Logger) error {
		h, err := build(ctx, cfg, log)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		return Serve(ctx, cfg.ServerConfig(), log, h)
	})
}

// Parse reads a C from environ (NAME=value strings) and validates it: one error, prefixed
// "configuration: ", lists every variable at fault.
func Parse[C any](environ []string) (C, error) {
	var cfg C
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: env.ToMap(environ)}); err != nil {
		return cfg, fmt.Errorf("configuration: %w", byVariable(err, reflect.TypeFor[C]()))
	}
	if v, ok := any(&cfg).(Validator); ok {
		if err := v.Validate(); err != nil {
			return cfg, fmt.Errorf("configuration: %w", flatten(err))
		}
	}
	return cfg, nil
}

// flatten renders a joined error on one line ("a; b"), as a log line wants it, keeping
// the errors for errors.Is and errors.As.
func flatten(err error) error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	return joined(j.Unwrap())
}

type joined []error

func (j joined) Error() string {
	s := ""
	for i, e := range j {
		if i > 0 {
			s += "; "
		}
		s += e.Error()
	}
	return s
}

func (j joined) Unwrap() []error { return j }

// Serve serves h on the shared server until ctx ends, with workers (a stream poller, a
// queue relay) running beside it; a nil h serves only the health endpoints (404
// elsewhere). Every request h answers is counted by route (metrics.Registry.Instrument);
// under Run, /metrics is served on METRICS_PORT until the server has drained. When a
// worker or a server fails, the others are stopped and the first error is returned.
func Serve(ctx context.Context, cfg server.Config, log *slog.Logger, h http.Handler, workers ...func(context.Context) error) error {
	if h == nil {
		h = http.NotFoundHandler()
	}
	reg := metrics.FromContext(ctx)
	g, gctx := errgroup.WithContext(ctx)
	for _, w := range workers {
		g.Go(func() error { return w(gctx) })
	}
	drained := make(chan struct{})
	g.Go(func() error {
		defer close(drained)
		return server.New(cfg, log, reg.Instrument(h)).Run(gctx)
	})
	if port, _ := ctx.Value(metricsPortKey{}).(int); port > 0 {
		g.Go(func() error { return reg.Serve(gctx, cfg.Host, port, log, drained) })
	}
	return g.Wait()
}

// byVariable rewrites caarlos0/env's errors, which name a value that does not parse by
// its Go field, to name the variable instead ("BATCH_SIZE: ..."): the operator knows
// the variables, not the struct. Other errors (a required variable unset) already name
// theirs.
func byVariable(err error, t reflect.Type) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	vars := map[string][]string{}
	envVars(t, "", vars)
	out := make(joined, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) && len(vars[pe.Name]) > 0 {
			e = fmt.Errorf("%s: %w", strings.Join(vars[pe.Name], " or "), pe.Err)
		}
		out = append(out, e)
	}
	return out
}

// envVars records, for each field name of struct type t, the variables that set it
// (several when nested structs reuse a name), following embedded structs and envPrefix.
func envVars(t reflect.Type, prefix string, vars map[string][]string) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
			vars[f.Name] = append(vars[f.Name], prefix+name)
			continue
		}
		envVars(f.Type, prefix+f.Tag.Get("envPrefix"), vars)
	}
}
