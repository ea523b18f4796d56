package devstack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/provision"
	"github.com/serverless-architect/serverless-architect/internal/sitedeploy"
	"github.com/serverless-architect/serverless-architect/internal/stack"
	"github.com/serverless-architect/serverless-architect/internal/webapp"
)

// The MyTodoList app in the local stack is served as in AWS: provisioning makes its
// bucket and its own CloudFront distribution in moto (provision.AppResources), the
// build is published to the bucket as `sa site deploy --site todo` publishes it, and
// a second gateway process in edge mode runs that distribution's document on
// https://localhost:<AppPort> (stack.json appUrl), its /v1/* going to the to-do API.

// AppDistributionFile is where the app edge's distribution document is written, in the
// stack's directory.
const AppDistributionFile = "edge/app-distribution.json"

// AppEdgeMetricsPort is where the app's edge serves /metrics.
const AppEdgeMetricsPort = 8092

// AppOrigin is how the local stack provisions the app's distribution: its API origin
// is the to-do API on https://localhost:<APIPort> (the gateway, or its balancer), and
// the app may call the Cognito stand-in at cognitoURL besides moto.
func AppOrigin(o Options, cognitoURL string) provision.AppOptions {
	return provision.AppOptions{APIHost: "localhost", APIPort: o.APIPort, ConnectSources: []string{cognitoURL}}
}

// AppEdgeEnv is the app edge's configuration: the blog edge's (EdgeEnv) with the
// app's distribution, its invalidations, and a metrics port of its own.
func AppEdgeEnv(in Inputs) []string {
	in.DistributionFile, in.OriginURLs = in.AppDistributionFile, ""
	env := EdgeEnv(in)
	for i, kv := range env {
		switch {
		case strings.HasPrefix(kv, "METRICS_PORT="):
			env[i] = "METRICS_PORT=" + strconv.Itoa(in.Local(AppEdgeMetricsPort))
		case strings.HasPrefix(kv, "CLOUDFRONT_DISTRIBUTION_ID="):
			env[i] = "CLOUDFRONT_DISTRIBUTION_ID=" + in.Resources.AppDistributionID
		}
	}
	return env
}

// servesApp reports whether the run has the app's edge among its services.
func (s *stackRun) servesApp() bool {
	for _, svc := range s.o.Services {
		if svc.App {
			return true
		}
	}
	return false
}

// writeAppDistribution writes the app's distribution as provisioned into the stack's
// directory for its edge and returns the path ("" when the run serves no app).
func (s *stackRun) writeAppDistribution(res stack.Resources) (string, error) {
	if !s.servesApp() {
		return "", nil
	}
	if res.AppEdge == nil {
		return "", errors.New("provisioning recorded no app distribution for the edge")
	}
	path := filepath.Join(s.o.Dir, AppDistributionFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("app distribution: %w", err)
	}
	if err := cdn.Write(path, res.AppEdge); err != nil {
		return "", fmt.Errorf("app distribution: %w", err)
	}
	return path, nil
}

// deployApp builds the app and publishes it to its bucket in moto with a config.json
// for st (the Cognito stand-in, moto, /v1/* on the app's own origin). Without node
// and npm, or without web/todo in the source tree, it says so and the app's edge
// serves an empty bucket.
func (s *stackRun) deployApp(ctx context.Context, st *stack.Stack) error {
	if !s.servesApp() {
		return nil
	}
	src := filepath.Join(s.o.SourceDir, webapp.SourceDir)
	if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
		s.con.Printf("no app at %s: the MyTodoList app is not deployed", src)
		return nil
	}
	s.con.Printf("building the MyTodoList app (%s) and publishing it to s3://%s", src, st.Resources.AppBucket)
	tc, err := webapp.InstallSource(ctx, src, s.con.Printf)
	if errors.Is(err, webapp.ErrNoNode) {
		s.con.Printf("the MyTodoList app is not deployed: %v", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("the MyTodoList app: %w", err)
	}
	target := sitedeploy.NewTarget(motoConfig(st.Region, st.AWSEndpoint), st.Resources.AppBucket, st.Resources.AppDistributionID)
	res, _, err := tc.Publish(ctx, webapp.ConfigFromStack(st, ""), target)
	if err != nil {
		return fmt.Errorf("the MyTodoList app: %w", err)
	}
	s.con.Printf("app %s", res.Summary(st.Resources.AppBucket))
	return nil
}
