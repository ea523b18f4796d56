package sitedeploy

import (
	"context"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/provision"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// TestDeployAgainstMoto deploys a site twice into a bucket behind a distribution made
// by the provisioner: the first deploy uploads everything with its headers and
// invalidates the pages, the second changes nothing, a third after an edit uploads only
// the edited page and its new asset, invalidates only that page, and leaves the old
// asset in place.
func TestDeployAgainstMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	cfg := mototest.AWSConfig(t, ep)
	ctx := context.Background()
	prefix := mototest.Name("site") + "-"
	c := provision.NewClients(cfg)
	res, err := provision.Ensure(ctx, c, provision.BlogResources(prefix, provision.BlogOptions{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	target := Target{S3: c.S3, Bucket: res.SiteBucket, CloudFront: c.CloudFront, DistributionID: res.BlogDistributionID}

	src := fstest.MapFS{
		"index.html": {Data: []byte(`<link rel="stylesheet" href="/a.css"><script src="/b.js"></script>`)},
		"post.html":  {Data: []byte(`<script src="/b.js"></script>`)},
		"a.css":      {Data: []byte(`x{color:red}`)},
		"b.js":       {Data: []byte(`1`)},
	}
	site, err := Build(src, map[string][]byte{ConfigKey: []byte(`{"region":"us-east-1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	first, err := Deploy(ctx, site, target)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Uploaded) != 5 || len(first.Unchanged) != 0 {
		t.Errorf("first deploy: uploaded %v, unchanged %v; want all 5 uploaded", first.Uploaded, first.Unchanged)
	}
	if diff := cmp.Diff([]string{"/", "/config.json", "/index.html", "/post.html"}, first.InvalidatedPaths); diff != "" {
		t.Errorf("first invalidation (-want +got):\n%s", diff)
	}
	checkInvalidation(t, c.CloudFront, res.BlogDistributionID, first)

	for _, f := range site.Files {
		h, err := c.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(res.SiteBucket), Key: aws.String(f.Key)})
		if err != nil {
			t.Fatalf("head %s: %v", f.Key, err)
		}
		got := [3]string{aws.ToString(h.ContentType), aws.ToString(h.CacheControl), strings.Trim(aws.ToString(h.ETag), `"`)}
		if want := [3]string{f.ContentType, f.CacheControl, f.MD5()}; got != want {
			t.Errorf("%s stored as %v, want %v", f.Key, got, want)
		}
	}

	second, err := Deploy(ctx, site, target)
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Uploaded) != 0 || len(second.Unchanged) != 5 || second.InvalidationID != "" {
		t.Errorf("second deploy of the same site: %+v; want nothing uploaded or invalidated", second)
	}

	oldCSS, _ := site.File("a.css")
	src["a.css"] = &fstest.MapFile{Data: []byte(`x{color:blue}`)}
	edited, err := Build(src, map[string][]byte{ConfigKey: []byte(`{"region":"us-east-1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	newCSS, _ := edited.File("a.css")
	third, err := Deploy(ctx, edited, target)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{newCSS.Key, "index.html"}, third.Uploaded); diff != "" {
		t.Errorf("third deploy uploads (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/", "/index.html"}, third.InvalidatedPaths); diff != "" {
		t.Errorf("third invalidation (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{oldCSS.Key}, third.Stale); diff != "" {
		t.Errorf("stale (-want +got):\n%s", diff)
	}
	if _, err := c.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(res.SiteBucket), Key: aws.String(oldCSS.Key)}); err != nil {
		t.Errorf("the old stylesheet was removed (pages cached before the deploy still name it): %v", err)
	}
	checkInvalidation(t, c.CloudFront, res.BlogDistributionID, third)

	// A changed caching policy alone (same bytes) is uploaded again.
	for i := range edited.Files {
		if edited.Files[i].Key == "post.html" {
			edited.Files[i].CacheControl = "no-cache"
		}
	}
	fourth, err := Deploy(ctx, edited, target)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"post.html"}, fourth.Uploaded); diff != "" {
		t.Errorf("headers-only change uploads (-want +got):\n%s", diff)
	}
}

func checkInvalidation(t *testing.T, cf *cloudfront.Client, dist string, r Result) {
	t.Helper()
	if r.InvalidationID == "" {
		t.Fatal("no invalidation created")
	}
	got, err := cf.GetInvalidation(context.Background(), &cloudfront.GetInvalidationInput{DistributionId: aws.String(dist), Id: aws.String(r.InvalidationID)})
	if err != nil {
		t.Fatalf("GetInvalidation %s: %v", r.InvalidationID, err)
	}
	paths := got.Invalidation.InvalidationBatch.Paths.Items
	if diff := cmp.Diff(r.InvalidatedPaths, paths); diff != "" {
		t.Errorf("invalidation %s paths (-want +got):\n%s", r.InvalidationID, diff)
	}
}
