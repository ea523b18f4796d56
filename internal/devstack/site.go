package devstack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

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
