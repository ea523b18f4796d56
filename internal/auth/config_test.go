package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/google/go-cmp/cmp"
)

// TestConfigFromEnv parses Config the way services do: as a named field of their own
// config struct, with caarlos0/env.
func TestConfigFromEnv(t *testing.T) {
	type serviceConfig struct {
		Auth Config
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{
			name: "defaults",
			env:  map[string]string{"COGNITO_ISSUER": testIssuer, "COGNITO_CLIENT_IDS": "a,b"},
			want: Config{
				Issuer: testIssuer, ClientIDs: []string{"a", "b"}, TokenUses: []string{"id", "access"},
				Leeway: 5 * time.Second, MinRefreshInterval: time.Minute, JWKSTimeout: 3 * time.Second,
			},
		},
		{
			name: "everything set",
			env: map[string]string{
				"COGNITO_ISSUER": testIssuer, "COGNITO_JWKS_URL": "http://127.0.0.1:4566/p/.well-known/jwks.json",
				"COGNITO_CLIENT_IDS": "a", "COGNITO_TOKEN_USE": "access", "COGNITO_LEEWAY": "0s",
				"COGNITO_JWKS_MIN_REFRESH": "30s", "COGNITO_JWKS_TIMEOUT": "1s",
			},
			want: Config{
				Issuer: testIssuer, JWKSURL: "http://127.0.0.1:4566/p/.well-known/jwks.json", ClientIDs: []string{"a"},
				TokenUses: []string{"access"}, MinRefreshInterval: 30 * time.Second, JWKSTimeout: time.Second,
			},
		},
		{name: "issuer required", env: map[string]string{"COGNITO_CLIENT_IDS": "a"}, wantErr: "COGNITO_ISSUER"},
		{name: "client ids required", env: map[string]string{"COGNITO_ISSUER": testIssuer}, wantErr: "COGNITO_CLIENT_IDS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got serviceConfig
			err := env.ParseWithOptions(&got, env.Options{Environment: tt.env})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse: %v, want an error about %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got.Auth); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if _, err := NewVerifier(got.Auth, nil); err != nil {
				t.Errorf("NewVerifier rejects the parsed config: %v", err)
			}
		})
	}
}
