package devstack

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// TestEdgeService checks the blog edge's entry: the gateway binary on EdgePort (8444
// unless moved), marked as the stack's blog URL, with the edge route table and every
// variable that table uses.
func TestEdgeService(t *testing.T) {
	var edge *Service
	for _, s := range Services() {
		if s.Name == "edge" {
			edge = &s
		}
	}
	if edge == nil {
		t.Fatal("Services() has no edge")
	}
	if edge.Package != "./services/gateway" || !edge.Blog || edge.API {
		t.Errorf("edge = %+v, want ./services/gateway marked Blog only", *edge)
	}
	for _, tc := range []struct {
		name string
		o    Options
		want int
	}{
		{"default", Options{}, 8444},
		{"moved", Options{EdgePort: 18444}, 18444},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := edge.Port(tc.o.withDefaults()); got != tc.want {
				t.Errorf("port = %d, want %d", got, tc.want)
			}
		})
	}

	in := Inputs{PortShift: 100, TLS: devtls.Paths{CACert: "/dev/ca.pem"}, Resources: stack.Resources{SiteBucket: "site-b", MediaBucket: "media-b", Issuer: "https://issuer", JWKSURL: "http://jwks", UserPoolClientID: "client"}}
	env := map[string]string{}
	for _, kv := range EdgeEnv(in) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	want := map[string]string{
		"ROUTES_FILE": "services/gateway/edge.yaml", "SITE_BUCKET": "site-b", "MEDIA_BUCKET": "media-b",
		"BLOG_API_URL": "https://localhost:8182", "S3_FORCE_PATH_STYLE": "true", "SSL_CERT_FILE": "/dev/ca.pem",
		"METRICS_PORT": "8191", "COGNITO_ISSUER": "https://issuer", "COGNITO_JWKS_URL": "http://jwks", "COGNITO_CLIENT_IDS": "client",
	}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("EdgeEnv (-want +got):\n%s", diff)
	}

	// Every ${VAR} of the route table (outside comments) is set.
	table, err := os.ReadFile(filepath.Join("..", "..", env["ROUTES_FILE"]))
	if err != nil {
		t.Fatal(err)
	}
	var code strings.Builder
	for line := range strings.Lines(string(table)) {
		line, _, _ = strings.Cut(line, "#")
		code.WriteString(line + "\n")
	}
	var missing []string
	os.Expand(code.String(), func(name string) string {
		if _, ok := env[name]; !ok && !slices.Contains(missing, name) {
			missing = append(missing, name)
		}
		return ""
	})
	if len(missing) > 0 {
		t.Errorf("%s uses %v, which EdgeEnv does not set", env["ROUTES_FILE"], missing)
	}
}
