package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sa status lists the processes status.json records and then prints where sa dev
// serves its own metrics (metricsUrl in stack.json).
func TestStatusPrintsTheMetricsURL(t *testing.T) {
	ca := httptest.NewTLSServer(http.NotFoundHandler()) // only for a CA certificate to trust
	ca.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw}))
	write("stack.json", []byte(`{"region":"us-east-1","caFile":"`+caFile+`","apiUrl":"","services":{},"resources":{},"metricsUrl":"http://127.0.0.1:41234/metrics"}`))
	write("status.json", []byte(`[{"name":"todo-api","url":"","pid":0,"restarts":2,"ready":false,"lastError":"","reloads":0,"scalesToZero":true,"coldStarts":3,"coldStartMs":120}]`))
	var out bytes.Buffer
	if err := run(context.Background(), []string{"status", "--dir", dir}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"todo-api", "scaled to zero", "120ms (3)", "sa dev's metrics (cold starts, restarts, reloads; Prometheus): http://127.0.0.1:41234/metrics"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("sa status printed\n%s\nwithout %q", out.String(), want)
		}
	}
}
