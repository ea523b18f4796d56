package api

import (
	"testing"

	envconfig "github.com/caarlos0/env/v11"

	"github.com/serverless-architect/serverless-architect/internal/provision"
)

// TestDAXWindowDefaultCoversTheQueryTTL: with DAX_QUERY_CACHE_TTL unset, todo-api's
// read-your-writes window is at least the query TTL `sa provision --dax` gives the
// cluster (config/ and the chart are checked in test/packaging).
func TestDAXWindowDefaultCoversTheQueryTTL(t *testing.T) {
	var cfg Config
	if err := envconfig.ParseWithOptions(&cfg, envconfig.Options{Environment: map[string]string{
		"AWS_REGION": "us-east-1", "COGNITO_ISSUER": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_x", "COGNITO_CLIENT_IDS": "c",
	}}); err != nil {
		t.Fatal(err)
	}
	if cfg.DAXQueryCacheTTL < provision.DAXQueryTTL {
		t.Errorf("DAX_QUERY_CACHE_TTL defaults to %s, below the cluster's query TTL %s", cfg.DAXQueryCacheTTL, provision.DAXQueryTTL)
	}
}
