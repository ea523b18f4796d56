package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"

	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/devstack"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/provision"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/api"
)

// edgeDivergence lists where the distribution document at file (what the local edge
// runs) differs from distribution id as CloudFront (moto) holds it, but for the fields
// moto does not keep (provision.MotoGaps). The project's own policies are not in a
// distribution's configuration, only their ids: under moto they exist only in the
// document, which is where the edge takes them from.
func edgeDivergence(ctx context.Context, t *testing.T, cf *cloudfront.Client, file, id string) []string {
	t.Helper()
	doc, err := cdn.Read(file)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := cf.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	return cdn.Diff(provision.WithoutMotoGaps(provision.APIView(doc)), provision.WithoutMotoGaps(provision.DistributionFromAPI(cur.DistributionConfig)))
}

// TestEdgeRunsTheProvisionedDistribution provisions MyBlog into moto as `sa dev` does,
// writes the edge's distribution document as `sa dev` does, starts the gateway on it
// as `sa dev` does, and checks that what the edge runs is what CloudFront (moto)
// holds. Then it changes the distribution in moto behind the document's back, and the
// same check reports the divergence: the edge and the provisioned distribution cannot
// drift apart unnoticed.
func TestEdgeRunsTheProvisionedDistribution(t *testing.T) {
	ep := mototest.Endpoint(t)
	ctx := context.Background()
	cfg := mototest.AWSConfig(t, ep)
	prefix := mototest.Name("edge") + "-"
	res, err := provision.Run(ctx, cfg, provision.Options{Prefix: prefix, Blog: devstack.BlogOrigin(0)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file, err := devstack.WriteDistribution(dir, res)
	if err != nil {
		t.Fatal(err)
	}

	// The edge starts on it (it refuses a distribution it cannot run as CloudFront would).
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	g, err := api.Build(ctx, api.Config{
		DistributionFile: file, S3ForcePathStyle: true, CacheMaxEntries: 100, CacheMaxBytes: 1 << 20,
		AuthCacheSize: 10, AuthCacheTTL: 60e9, ThrottleMaxCallers: 10, UpstreamMaxIdleConns: 4,
		Auth: auth.Config{Issuer: res.Issuer, JWKSURL: res.JWKSURL, ClientIDs: []string{res.UserPoolClientID}},
	}, func(string) (string, bool) { return "", false }, log)
	if err != nil {
		t.Fatalf("the edge does not run the provisioned distribution: %v", err)
	}
	g.Close()

	cf := cloudfront.NewFromConfig(cfg)
	if diff := edgeDivergence(ctx, t, cf, file, res.BlogDistributionID); len(diff) > 0 {
		t.Fatalf("the edge's distribution differs from the provisioned one (%s aside):\n%s", provision.MotoGaps, strings.Join(diff, "\n"))
	}
	doc, err := cdn.Read(file)
	if err != nil {
		t.Fatal(err)
	}
	if o := doc.Origin("api"); o.DomainName != "localhost" || o.HTTPSPort != devstack.BlogAPIPort {
		t.Errorf("API origin %s:%d, want blog-api's own localhost:%d", o.DomainName, o.HTTPSPort, devstack.BlogAPIPort)
	}
	for _, b := range doc.AllBehaviors() {
		if b.ResponseHeadersPolicyID != res.BlogSecurityHeadersPolicyID {
			t.Errorf("behaviour %s has response headers policy %q, want the security headers %q", b.Pattern(), b.ResponseHeadersPolicyID, res.BlogSecurityHeadersPolicyID)
		}
	}

	// The MyTodoList app's distribution, provisioned by the same run: its edge starts
	// on it too, and it is what moto holds.
	appFile := filepath.Join(dir, "app-distribution.json")
	if err := cdn.Write(appFile, res.AppEdge); err != nil {
		t.Fatal(err)
	}
	app, err := api.Build(ctx, api.Config{
		DistributionFile: appFile, S3ForcePathStyle: true, CacheMaxEntries: 100, CacheMaxBytes: 1 << 20,
		AuthCacheSize: 10, AuthCacheTTL: 60e9, ThrottleMaxCallers: 10, UpstreamMaxIdleConns: 4,
		Auth: auth.Config{Issuer: res.Issuer, JWKSURL: res.JWKSURL, ClientIDs: []string{res.UserPoolClientID}},
	}, func(string) (string, bool) { return "", false }, log)
	if err != nil {
		t.Fatalf("the app's edge does not run the provisioned app distribution: %v", err)
	}
	app.Close()
	if diff := edgeDivergence(ctx, t, cf, appFile, res.AppDistributionID); len(diff) > 0 {
		t.Fatalf("the app edge's distribution differs from the provisioned one (%s aside):\n%s", provision.MotoGaps, strings.Join(diff, "\n"))
	}

	// Someone changes the /v1/* cache policy in CloudFront: the check sees it.
	cur, err := cf.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(res.BlogDistributionID)})
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range cur.DistributionConfig.CacheBehaviors.Items {
		if aws.ToString(b.PathPattern) == "/v1/*" {
			cur.DistributionConfig.CacheBehaviors.Items[i].CachePolicyId = aws.String(cdn.UseOriginCacheControlHeadersQSID)
		}
	}
	if _, err := cf.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: aws.String(res.BlogDistributionID), IfMatch: cur.ETag,
		DistributionConfig: cur.DistributionConfig}); err != nil {
		t.Fatal(err)
	}
	diff := edgeDivergence(ctx, t, cf, file, res.BlogDistributionID)
	if len(diff) != 1 || !strings.Contains(diff[0], "behaviors[0].cachePolicyId") {
		t.Errorf("a changed distribution gave divergences %q, want the /v1/* cache policy", diff)
	}
	// And provisioning again puts it back.
	if res, err = provision.Run(ctx, cfg, provision.Options{Prefix: prefix, Blog: devstack.BlogOrigin(0)}); err != nil {
		t.Fatal(err)
	}
	if diff := edgeDivergence(ctx, t, cf, file, res.BlogDistributionID); len(diff) > 0 {
		t.Errorf("after provisioning again:\n%s", strings.Join(diff, "\n"))
	}
}
