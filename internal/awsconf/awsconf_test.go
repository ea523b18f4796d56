package awsconf

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// failingDynamoDB is an endpoint that answers every call with a retryable server fault
// and counts the attempts it saw.
func failingDynamoDB(t *testing.T) *atomic.Int32 {
	t.Helper()
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"down"}`))
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_MAX_ATTEMPTS", "")
	t.Setenv("AWS_RETRY_MODE", "")
	return &attempts
}

// TestRetryAttempts checks, against an endpoint that always fails, how many attempts
// one call really makes: the operator's AWS_MAX_ATTEMPTS wins over the caller's
// default, and with neither the SDK's own DynamoDB default applies.
func TestRetryAttempts(t *testing.T) {
	cases := []struct {
		name        string
		env         string
		maxAttempts int
		want        int32
	}{
		{"AWS_MAX_ATTEMPTS=1", "1", 0, 1},
		{"AWS_MAX_ATTEMPTS=2 over the caller's 5", "2", 5, 2},
		{"caller's default without AWS_MAX_ATTEMPTS", "", 5, 5},
		{"SDK's DynamoDB default", "", 0, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			attempts := failingDynamoDB(t)
			t.Setenv("AWS_MAX_ATTEMPTS", c.env)
			cfg, err := Load(context.Background(), Options{MaxAttempts: c.maxAttempts})
			if err != nil {
				t.Fatal(err)
			}
			_, err = dynamodb.NewFromConfig(cfg).ListTables(context.Background(), &dynamodb.ListTablesInput{})
			if err == nil {
				t.Fatal("ListTables succeeded against an endpoint that always fails")
			}
			if got := attempts.Load(); got != c.want {
				t.Errorf("attempts = %d, want %d (last error: %v)", got, c.want, err)
			}
		})
	}
}

// TestRetryMode checks that AWS_RETRY_MODE reaches the clients and that a bad value is a
// clear error at start-up rather than a silent fallback.
func TestRetryMode(t *testing.T) {
	failingDynamoDB(t)
	t.Setenv("AWS_RETRY_MODE", "adaptive")
	cfg, err := Load(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := dynamodb.NewFromConfig(cfg).Options().Retryer; r == nil {
		t.Fatal("no retryer")
	} else if _, ok := r.(*retry.AdaptiveMode); !ok {
		t.Errorf("retryer with AWS_RETRY_MODE=adaptive is %T, want *retry.AdaptiveMode", r)
	}

	t.Setenv("AWS_RETRY_MODE", "eventually")
	if _, err := Load(context.Background(), Options{}); err == nil || !strings.Contains(err.Error(), "eventually") {
		t.Errorf("AWS_RETRY_MODE=eventually: err = %v, want an error naming the value", err)
	}
	t.Setenv("AWS_RETRY_MODE", "")
	t.Setenv("AWS_MAX_ATTEMPTS", "many")
	if _, err := Load(context.Background(), Options{}); err == nil {
		t.Error("AWS_MAX_ATTEMPTS=many loaded without an error")
	}
}
