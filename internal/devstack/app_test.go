package devstack

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// TestAppEdgeService checks the app edge's entry: the gateway binary on AppPort (8445
// unless moved), marked as the stack's app URL, running the app's distribution
// document with a metrics port of its own, whose API origin is the to-do API's port;
// and the document written is the one provisioning recorded.
func TestAppEdgeService(t *testing.T) {
	var app *Service
	for _, s := range Services() {
		if s.App {
			if app != nil {
				t.Fatalf("two services marked App: %s, %s", app.Name, s.Name)
			}
			app = &s
		}
	}
	if app == nil || app.Package != "./services/gateway" || app.Blog || app.API {
		t.Fatalf("app edge = %+v, want ./services/gateway marked App only", app)
	}
	for o, want := range map[*Options]int{{}: 8445, {AppPort: 18445}: 18445} {
		if got := app.Port(o.withDefaults()); got != want {
			t.Errorf("port = %d, want %d", got, want)
		}
	}
	in := Inputs{PortShift: 100, TLS: devtls.Paths{CACert: "/dev/ca.pem"}, DistributionFile: "/dev/edge/distribution.json",
		AppDistributionFile: "/dev/edge/app-distribution.json", OriginURLs: "api=https://elsewhere",
		Resources: stack.Resources{Issuer: "https://issuer", JWKSURL: "http://jwks", UserPoolClientID: "client", BlogDistributionID: "EBLOG", AppDistributionID: "EAPP"}}
	env := map[string]string{}
	for _, kv := range AppEdgeEnv(in) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	want := map[string]string{
		"DISTRIBUTION_FILE": "/dev/edge/app-distribution.json", "CLOUDFRONT_DISTRIBUTION_ID": "EAPP", "S3_FORCE_PATH_STYLE": "true", "SSL_CERT_FILE": "/dev/ca.pem",
		"METRICS_PORT": "8192", "COGNITO_ISSUER": "https://issuer", "COGNITO_JWKS_URL": "http://jwks", "COGNITO_CLIENT_IDS": "client",
	}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("AppEdgeEnv (-want +got):\n%s", diff)
	}
	o := Options{APIPort: 9443}.withDefaults()
	if a := AppOrigin(o, "http://127.0.0.1:5000"); a.APIHost != "localhost" || a.APIPort != 9443 || !cmp.Equal(a.ConnectSources, []string{"http://127.0.0.1:5000"}) {
		t.Errorf("AppOrigin = %+v, want the to-do API on https://localhost:9443 and the Cognito stand-in", a)
	}

	s := &stackRun{o: Options{Dir: t.TempDir()}.withDefaults()}
	if _, err := s.writeAppDistribution(stack.Resources{}); err == nil {
		t.Error("no recorded app distribution: no error")
	}
	d := &cdn.Distribution{Name: "mytodolist-app", Origins: []cdn.Origin{{ID: "api", DomainName: "localhost", HTTPSPort: 8443, ProtocolPolicy: cdn.HTTPSOnly}}}
	p, err := s.writeAppDistribution(stack.Resources{AppEdge: d})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cdn.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d, got); diff != "" {
		t.Errorf("written app distribution (-want +got):\n%s", diff)
	}
}
