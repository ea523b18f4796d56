package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
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

func TestRunRefusesBadPeerSettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(file, []byte("routes:\n  - pathPrefix: /v1/todos\n    upstream: {url: \"http://127.0.0.1:1\"}\n    auth: cognito\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{
		"ROUTES_FILE=" + file, "PORT=0", "METRICS_PORT=0", "PEER_PORT=19465",
		"COGNITO_ISSUER=https://cognito-idp.us-east-1.amazonaws.com/us-east-1_x", "COGNITO_CLIENT_IDS=c",
	}
	key := "PEER_KEY=" + strings.Repeat("A", 44) // 33 bytes
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"no key", []string{"PEERS=127.0.0.1:19465,127.0.0.1:19466"}, "PEER_KEY must be at least 32 random bytes"},
		{"short key", []string{"PEERS=127.0.0.1:19465,127.0.0.1:19466", "PEER_KEY=" + strings.Repeat("A", 20)}, "PEER_KEY must be at least 32 random bytes"},
		{"two memberships", []string{"PEERS=127.0.0.1:19465", "PEER_ENDPOINTSLICES=app=gateway", key}, "PEERS and PEER_ENDPOINTSLICES"},
		{"host name", []string{"PEERS=localhost:19465", key}, `peer address "localhost:19465" is not ip:port`},
		{"not listed", []string{"PEERS=127.0.0.1:19466,127.0.0.1:19467", key}, "does not list this replica"},
		{"short grace", []string{"PEERS=127.0.0.1:19465,127.0.0.1:19466", key, "PEER_GRACE=5s"}, "PEER_GRACE (5s) must be at least DRAIN_DELAY + SHUTDOWN_TIMEOUT + PEER_WINDOW (24s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), append(slices.Clone(base), tc.env...), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestRunRefusesBadDistribution: in edge mode a distribution CloudFront would refuse
// (or that could not work) stops the gateway with the field at fault, as does asking
// for both modes.
func TestRunRefusesBadDistribution(t *testing.T) {
	file := filepath.Join(t.TempDir(), "distribution.json")
	doc := `{"name": "myblog", "defaultRootObject": "index.html",
	  "origins": [{"id": "site", "domainName": "site.s3.us-east-1.amazonaws.com", "s3": true}],
	  "defaultBehavior": {"targetOriginId": "site", "viewerProtocolPolicy": "redirect-to-https", "allowedMethods": ["GET", "HEAD"],
	    "cachedMethods": ["GET", "HEAD"], "compress": true, "cachePolicyId": "83da9c7e-98b4-4e11-a168-04f0df8e2c65"}}`
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"DISTRIBUTION_FILE=" + file, "PORT=0", "METRICS_PORT=0",
		"COGNITO_ISSUER=https://cognito-idp.us-east-1.amazonaws.com/us-east-1_x", "COGNITO_CLIENT_IDS=c",
	}
	err := run(context.Background(), env, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "defaultBehavior: sends the viewer's Host to S3 origin \"site\"") {
		t.Errorf("run = %v, want an error naming the default behaviour", err)
	}
	err = run(context.Background(), append(env, "ROUTES_FILE=routes.yaml"), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("run with both files = %v", err)
	}
}
