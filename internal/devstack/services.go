package devstack

import (
	"strconv"

	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// Service is one HTTP service of the local stack: built from Go source, run as a child
// process, ready when GET /readyz answers 200 over HTTPS.
type Service struct {
	// Name names the binary, prefixes the service's output and keys stack.json.
	Name string
	// Package is the Go package to build, relative to Options.SourceDir
	// ("./services/todo-api").
	Package string
	// Port returns the port the service listens on.
	Port func(o Options) int
	// Env returns the service's own variables; every service also gets CommonEnv.
	Env func(in Inputs) []string
	// API marks the service whose URL is the stack's apiUrl.
	API bool
}

// Inputs are what a service's environment is built from.
type Inputs struct {
	// Region is the AWS region.
	Region string
	// AWSEndpoint is moto's URL.
	AWSEndpoint string
	// Port is the service's port.
	Port int
	// TLS are the certificate files.
	TLS devtls.Paths
	// PageTokenKey is the base64 key that seals pagination tokens.
	PageTokenKey string
	// Resources are the provisioned AWS resources.
	Resources stack.Resources
}

// Services is the local stack's service table. A new service is one more entry.
func Services() []Service {
	return []Service{
		{
			Name:    "todo-api",
			Package: "./services/todo-api",
			Port:    func(o Options) int { return o.APIPort },
			Env:     TodoAPIEnv,
			API:     true,
		},
	}
}

// TodoAPIEnv is todo-api's own configuration (services/todo-api/internal/api/config.go).
func TodoAPIEnv(in Inputs) []string {
	return []string{
		"TODOS_TABLE=" + in.Resources.TodosTable,
		"COGNITO_ISSUER=" + in.Resources.Issuer,
		"COGNITO_JWKS_URL=" + in.Resources.JWKSURL,
		"COGNITO_CLIENT_IDS=" + in.Resources.UserPoolClientID,
		"PAGE_TOKEN_KEY=" + in.PageTokenKey,
	}
}

// CommonEnv is what every service of the local stack gets: where to listen (HTTPS on
// loopback), and how to reach moto with dummy credentials. DRAIN_DELAY is 0 because
// no load balancer needs time to notice a draining service.
func CommonEnv(in Inputs) []string {
	return []string{
		"PORT=" + strconv.Itoa(in.Port),
		"HOST=127.0.0.1",
		"TLS_CERT_FILE=" + in.TLS.Cert,
		"TLS_KEY_FILE=" + in.TLS.Key,
		"AWS_REGION=" + in.Region,
		"AWS_ENDPOINT_URL=" + in.AWSEndpoint,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"DRAIN_DELAY=0s",
	}
}
