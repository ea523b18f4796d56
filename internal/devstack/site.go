package devstack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/sitedeploy"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// SiteDir is the blog's static site, relative to Options.SourceDir.
const SiteDir = "web/blog"

// deploySite publishes the blog's site to the moto site bucket, as `sa site deploy`
// does, so the blog edge can serve it. The admin page signs in against moto's Cognito
// (moto answers CORS preflights for any origin). A source tree without the site (the
// package's own tests build a test service only) is said and skipped.
func (s *stackRun) deploySite(ctx context.Context, region, ep string, res stack.Resources) error {
	dir := filepath.Join(s.o.SourceDir, SiteDir)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		s.con.Printf("no site at %s: the blog's site is not deployed", dir)
		return nil
	}
	cfg := sitedeploy.SiteConfig{
		Region: region, UserPoolID: res.UserPoolID, ClientID: res.UserPoolClientID,
		CognitoEndpoint: strings.TrimSuffix(ep, "/") + "/",
	}
	target := sitedeploy.NewTarget(motoConfig(region, ep), res.SiteBucket, res.BlogDistributionID)
	r, err := sitedeploy.Publish(ctx, dir, cfg, target)
	if err != nil {
		return fmt.Errorf("deploy the blog's site: %w", err)
	}
	s.con.Printf("%s", r.Summary(res.SiteBucket))
	return nil
}

// DistributionFile is where the edge's distribution document is written, in the
// stack's directory.
const DistributionFile = "edge/distribution.json"

// WriteDistribution writes the blog's distribution as provisioned (what moto holds,
// with the policies moto cannot) into the stack's directory dir, for the edge to run,
// and returns its path.
func WriteDistribution(dir string, res stack.Resources) (string, error) {
	if res.BlogEdge == nil {
		return "", errors.New("provisioning recorded no blog distribution for the edge")
	}
	path := filepath.Join(dir, DistributionFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("edge distribution: %w", err)
	}
	if err := cdn.Write(path, res.BlogEdge); err != nil {
		return "", fmt.Errorf("edge distribution: %w", err)
	}
	return path, nil
}
