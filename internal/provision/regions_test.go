package provision

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// distributionCalls records the distribution calls a CloudFront client makes and
// what they carried: the ETags read and the IfMatch sent.
type distributionCalls struct {
	mu    sync.Mutex
	calls []string
}

func (r *distributionCalls) middleware(st *middleware.Stack) error {
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc("recordDistributionCalls",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			r.mu.Lock()
			defer r.mu.Unlock()
			switch p := in.Parameters.(type) {
			case *cloudfront.CreateDistributionInput:
				r.calls = append(r.calls, "create")
			case *cloudfront.GetDistributionConfigInput:
				if res, ok := out.Result.(*cloudfront.GetDistributionConfigOutput); ok && err == nil {
					r.calls = append(r.calls, "get etag "+aws.ToString(res.ETag))
				}
			case *cloudfront.UpdateDistributionInput:
				r.calls = append(r.calls, "update if-match "+aws.ToString(p.IfMatch))
			}
			return out, md, err
		}), middleware.After)
}

func (r *distributionCalls) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// regionClients are clients for region of one moto, recording distribution calls.
func regionClients(t *testing.T, ep, region string, rec *distributionCalls) *Clients {
	cfg := mototest.AWSConfig(t, ep)
	cfg.Region = region
	c := NewClients(cfg)
	c.CloudFront = cloudfront.NewFromConfig(cfg, func(o *cloudfront.Options) { o.APIOptions = append(o.APIOptions, rec.middleware) })
	return c
}

// TestSecondRegion provisions MyBlog in a first region before the API host is known
// (the placeholder), then in a second region of the same moto with the real,
// latency-routed API host: the second run succeeds with buckets of its own, finds the
// one distribution and repairs it with UpdateDistribution and the ETag it read; a
// third run, back in the first region, changes nothing, because every region computes
// the same distribution.
func TestSecondRegion(t *testing.T) {
	ep := mototest.Endpoint(t)
	ctx := context.Background()
	prefix := mototest.Name("regions") + "-"
	regions := []string{"us-east-1", "eu-west-1"}
	rec := &distributionCalls{}
	east, west := regionClients(t, ep, "us-east-1", rec), regionClients(t, ep, "eu-west-1", rec)

	first, err := Ensure(ctx, east, DefinitionsFor(Options{Prefix: prefix, Blog: BlogOptions{Regions: regions}}), nil)
	if err != nil {
		t.Fatalf("first region: %v", err)
	}
	if got := first.BlogEdge.Origin("api").DomainName; got != DefaultBlogAPIHost {
		t.Fatalf("API origin = %q, want the placeholder %s", got, DefaultBlogAPIHost)
	}
	rec.take()

	blog := BlogOptions{Regions: regions, APIHost: "blog-origin.example.com"}
	var log strings.Builder
	second, err := Ensure(ctx, west, DefinitionsFor(Options{Prefix: prefix, Blog: blog}), &log)
	if err != nil {
		t.Fatalf("second region: %v\n%s", err, log.String())
	}
	lines := log.String()
	for _, want := range []string{
		"created  s3 bucket " + prefix + "myblog-media (" + prefix + "myblog-media-123456789012-eu-west-1)",
		"skipped  s3 bucket " + prefix + "myblog-site (" + first.SiteBucket + " lives in the home region us-east-1)",
		"created  s3 files bucket " + prefix + "user-files (" + prefix + "user-files-123456789012-eu-west-1)",
		"applied  cloudfront distribution " + prefix + "myblog (" + first.BlogDistributionID + ")",
	} {
		if !strings.Contains(lines, want) {
			t.Errorf("second region's log lacks %q:\n%s", want, lines)
		}
	}
	if second.SiteBucket != first.SiteBucket || second.MediaBucket == first.MediaBucket || second.FilesBucket == first.FilesBucket {
		t.Errorf("buckets: first %s %s %s, second %s %s %s; want one site, a media and files bucket per region",
			first.SiteBucket, first.MediaBucket, first.FilesBucket, second.SiteBucket, second.MediaBucket, second.FilesBucket)
	}
	calls := rec.take()
	var etag string
	for _, c := range calls {
		if e, ok := strings.CutPrefix(c, "get etag "); ok {
			etag = e
		}
	}
	if etag == "" || calls[len(calls)-1] != "update if-match "+etag {
		t.Errorf("distribution calls %v: want an update with the ETag just read", calls)
	}
	cur, err := west.CloudFront.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(first.BlogDistributionID)})
	if err != nil {
		t.Fatal(err)
	}
	got := DistributionFromAPI(cur.DistributionConfig)
	if got.Origin("api").DomainName != "blog-origin.example.com" {
		t.Errorf("API origin after the second region = %q", got.Origin("api").DomainName)
	}
	if diff := cdn.Diff(WithoutMotoGaps(APIView(second.BlogEdge)), WithoutMotoGaps(got)); len(diff) > 0 {
		t.Errorf("distribution in moto differs from the second region's document:\n%s", strings.Join(diff, "\n"))
	}

	log.Reset()
	third, err := Ensure(ctx, east, DefinitionsFor(Options{Prefix: prefix, Blog: blog}), &log)
	if err != nil {
		t.Fatalf("first region again: %v", err)
	}
	if want := "exists   cloudfront distribution " + prefix + "myblog (" + first.BlogDistributionID + ")"; !strings.Contains(log.String(), want) {
		t.Errorf("first region again: log lacks %q:\n%s", want, log.String())
	}
	for _, c := range rec.take() {
		if strings.HasPrefix(c, "update") || c == "create" {
			t.Errorf("first region again changed the distribution: %s", c)
		}
	}
	if diff := cdn.Diff(second.BlogEdge, third.BlogEdge); len(diff) > 0 {
		t.Errorf("the regions compute different distributions:\n%s", strings.Join(diff, "\n"))
	}

	// A region's run that forgets --blog-api-host keeps the host the distribution has:
	// putting the placeholder back would take the blog API offline everywhere.
	log.Reset()
	fourth, err := Ensure(ctx, west, DefinitionsFor(Options{Prefix: prefix, Blog: BlogOptions{Regions: regions}}), &log)
	if err != nil {
		t.Fatalf("second region without the API host: %v", err)
	}
	for _, c := range rec.take() {
		if strings.HasPrefix(c, "update") || c == "create" {
			t.Errorf("a run without --blog-api-host changed the distribution: %s", c)
		}
	}
	if got := fourth.BlogEdge.Origin("api").DomainName; got != "blog-origin.example.com" {
		t.Errorf("API origin after a run without --blog-api-host = %q, want blog-origin.example.com kept", got)
	}
}

// TestBucketInAnotherRegion: a bucket with the name a region's run wants, but in
// another region, is an error that names both regions, not a silent reuse. (S3 answers
// HeadBucket there with 301; moto 5.2 with 200 and the bucket's region in
// x-amz-bucket-region: both are handled.)
func TestBucketInAnotherRegion(t *testing.T) {
	ep := mototest.Endpoint(t)
	ctx := context.Background()
	prefix := mototest.Name("xregion") + "-"
	rec := &distributionCalls{}
	east, west := regionClients(t, ep, "us-east-1", rec), regionClients(t, ep, "eu-west-1", rec)
	name, err := west.BucketName(ctx, prefix+mediaBucketBase, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := east.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	head, err := west.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)})
	if err != nil {
		t.Logf("HeadBucket from the other region: %v", err)
	} else if aws.ToString(head.BucketRegion) != "us-east-1" {
		t.Errorf("moto's HeadBucket from another region gave region %q", aws.ToString(head.BucketRegion))
	}
	_, err = Ensure(ctx, west, []Resource{Bucket{Base: prefix + mediaBucketBase, Record: func(*stack.Resources, string, string) {}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "exists in us-east-1, but this run provisions eu-west-1") {
		t.Errorf("Ensure = %v, want the wrong-region error", err)
	}
}

// selfSigned is a PEM certificate and key for names.
func selfSigned(t *testing.T, names ...string) (cert, key []byte) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

// TestCustomDomain: with --blog-domain and an ACM certificate (us-east-1) the
// distribution gets the alias and the certificate, the media bucket's CORS allows the
// domain, and the blog's public URL is the domain; a certificate that does not cover
// the domain is refused before CloudFront is asked.
func TestCustomDomain(t *testing.T) {
	ep := mototest.Endpoint(t)
	ctx := context.Background()
	prefix := mototest.Name("domain") + "-"
	c := regionClients(t, ep, "us-east-1", &distributionCalls{})
	imp := func(names ...string) string {
		cert, key := selfSigned(t, names...)
		res, err := c.ACM.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: cert, PrivateKey: key})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(res.CertificateArn)
	}
	blog := BlogOptions{APIHost: "blog-origin.example.com", Aliases: []string{"blog.example.com"}, CertificateARN: imp("*.example.com")}
	out, err := Ensure(ctx, c, BlogResources(prefix, blog), nil)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := c.CloudFront.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(out.BlogDistributionID)})
	if err != nil {
		t.Fatal(err)
	}
	got := DistributionFromAPI(cur.DistributionConfig)
	if diff := cmp.Diff([]string{"blog.example.com"}, got.Aliases); diff != "" || got.CertificateARN != blog.CertificateARN {
		t.Errorf("aliases (-want +got):\n%s\ncertificate %q, want %q", diff, got.CertificateARN, blog.CertificateARN)
	}
	if out.BlogPublicURL != "https://blog.example.com" {
		t.Errorf("public URL = %q", out.BlogPublicURL)
	}
	cors, err := c.S3.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String(out.MediaBucket)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"https://" + out.BlogDistributionDomain, "https://blog.example.com"}, cors.CORSRules[0].AllowedOrigins); diff != "" {
		t.Errorf("media CORS origins (-want +got):\n%s", diff)
	}

	blog.CertificateARN = imp("other.example.org")
	if _, err := Ensure(ctx, c, BlogResources(prefix, blog), nil); err == nil || !strings.Contains(err.Error(), "not blog.example.com") {
		t.Errorf("a certificate for another name gave %v, want a refusal", err)
	}
	blog.CertificateARN = strings.Replace(blog.CertificateARN, "us-east-1", "eu-west-1", 1)
	if _, err := Ensure(ctx, c, BlogResources(prefix, blog), nil); err == nil || !strings.Contains(err.Error(), "only uses ACM certificates from us-east-1") {
		t.Errorf("a certificate outside us-east-1 gave %v", err)
	}
}
