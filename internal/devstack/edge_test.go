package devstack

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// TestEdgeService checks the blog edge's entry: the gateway binary on EdgePort (8444
// unless moved), marked as the stack's blog URL, running the distribution document
// the stack wrote, whose API origin is blog-api's own loopback port.
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

	in := Inputs{PortShift: 100, TLS: devtls.Paths{CACert: "/dev/ca.pem"}, DistributionFile: "/dev/edge/distribution.json",
		Resources: stack.Resources{Issuer: "https://issuer", JWKSURL: "http://jwks", UserPoolClientID: "client", BlogDistributionID: "EBLOG", AppDistributionID: "EAPP"}}
	env := map[string]string{}
	for _, kv := range EdgeEnv(in) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	want := map[string]string{
		"DISTRIBUTION_FILE": "/dev/edge/distribution.json", "CLOUDFRONT_DISTRIBUTION_ID": "EBLOG", "S3_FORCE_PATH_STYLE": "true", "SSL_CERT_FILE": "/dev/ca.pem",
		"METRICS_PORT": "8191", "COGNITO_ISSUER": "https://issuer", "COGNITO_JWKS_URL": "http://jwks", "COGNITO_CLIENT_IDS": "client",
	}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("EdgeEnv (-want +got):\n%s", diff)
	}
	if o := BlogOrigin(100); o.APIHost != "localhost" || o.APIPort != in.Local(BlogAPIPort) {
		t.Errorf("BlogOrigin = %+v, want blog-api's own https://localhost:%d", o, in.Local(BlogAPIPort))
	}

	// The document written is the one provisioning recorded.
	dir := t.TempDir()
	if _, err := WriteDistribution(dir, stack.Resources{}); err == nil {
		t.Error("no recorded distribution: no error")
	}
	d := &cdn.Distribution{Name: "myblog", Origins: []cdn.Origin{{ID: "api", DomainName: "localhost", HTTPSPort: 8182, ProtocolPolicy: cdn.HTTPSOnly}}}
	p, err := WriteDistribution(dir, stack.Resources{BlogEdge: d})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cdn.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d, got); diff != "" {
		t.Errorf("written distribution (-want +got):\n%s", diff)
	}
}
