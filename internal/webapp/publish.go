package webapp

import (
	"context"
	"fmt"
	"os"

	"github.com/serverless-architect/serverless-architect/internal/sitedeploy"
)

// AssetsDir is the build's directory of content-hashed files (esbuild's output):
// published with a year's immutable caching; every other file is revalidated.
const AssetsDir = "assets"

// Publish builds the app and publishes the build with cfg as its config.json to t, as
// `sa site deploy` publishes the blog: only what changed is uploaded (assets before
// index.html and the service worker), nothing is deleted, and the distribution's
// copies of the changed fixed-name files are invalidated. build.mjs's report comes
// back with the result.
func (tc *Toolchain) Publish(ctx context.Context, cfg Config, t sitedeploy.Target) (sitedeploy.Result, string, error) {
	conf, err := cfg.JSON()
	if err != nil {
		return sitedeploy.Result{}, "", err
	}
	dir, err := os.MkdirTemp("", "mytodolist-build-")
	if err != nil {
		return sitedeploy.Result{}, "", err
	}
	defer func() { _ = os.RemoveAll(dir) }() // a scratch directory: nothing to undo if it stays
	report, err := tc.Build(ctx, dir)
	if err != nil {
		return sitedeploy.Result{}, report, fmt.Errorf("build the app: %w", err)
	}
	site, err := sitedeploy.Prebuilt(os.DirFS(dir), map[string][]byte{sitedeploy.ConfigKey: conf}, AssetsDir)
	if err != nil {
		return sitedeploy.Result{}, report, err
	}
	res, err := sitedeploy.Deploy(ctx, site, t)
	if err != nil {
		return res, report, fmt.Errorf("publish the app to s3://%s: %w", t.Bucket, err)
	}
	return res, report, nil
}
