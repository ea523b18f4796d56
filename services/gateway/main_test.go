package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRefusesBadRouteTable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(file, []byte("routes:\n  - pathPrefix: /v1/todos\n    upstream: {url: \"${TODO_API_URL}\"}\n    auth: cognito\n    cache: {ttl: 2h}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"ROUTES_FILE=" + file, "TODO_API_URL=http://127.0.0.1:1", "PORT=0", "METRICS_PORT=0",
		"COGNITO_ISSUER=https://cognito-idp.us-east-1.amazonaws.com/us-east-1_x", "COGNITO_CLIENT_IDS=c",
	}
	err := run(context.Background(), env, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "routes[0].cache.ttl: 2h0m0s is above the maximum 1h0m0s") {
		t.Errorf("run = %v, want an error naming routes[0].cache.ttl", err)
	}
	err = run(context.Background(), env[1:], io.Discard)
	if err == nil || !strings.Contains(err.Error(), "ROUTES_FILE") {
		t.Errorf("run without ROUTES_FILE = %v", err)
	}
}
