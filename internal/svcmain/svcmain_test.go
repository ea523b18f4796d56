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
	"strings"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/server"
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
