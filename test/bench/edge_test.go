package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/serverless-architect/serverless-architect/internal/auth/authtest"
	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
	"github.com/serverless-architect/serverless-architect/internal/provision"
	"github.com/serverless-architect/serverless-architect/internal/sitedeploy"
)

// BenchmarkEdgeCacheHit: a post page (web/blog/post.html) answered from the blog edge's
// cache over TLS — the gateway binary in edge mode running MyBlog's distribution
// (provision.BlogDistribution), the page in a moto S3 bucket with the site's page
// Cache-Control (s-maxage=300) —
// against a bare net/http file server (http.FileServer) serving the same bytes over
// TLS, 64 connections, same wrk, same run, medians of 3 runs each; measured with wrk
// sharing the CPUs and isolated, as BenchmarkGatewayCacheHit. Target: ratio ≥ 0.5.
func BenchmarkEdgeCacheHit(b *testing.B) {
	wrk := needWrk(b)
	ep := mototest.Endpoint(b)
	dir := b.TempDir()
	files := build(b, dir, "./test/bench/testdata/fileserver", "fileserver")
	gw := build(b, dir, "./services/gateway", "gateway")
	paths, err := devtls.Ensure(filepath.Join(dir, "tls"))
	if err != nil {
		b.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(repoRoot(b), "web", "blog", "post.html"))
	if err != nil {
		b.Fatal(err)
	}

	// The page in a bucket, as `sa site deploy` stores it.
	ctx := context.Background()
	client := s3.NewFromConfig(mototest.AWSConfig(b, ep), func(o *s3.Options) { o.UsePathStyle = true })
	bucket := mototest.Name("bench-site")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		b.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("post.html"), Body: bytes.NewReader(page),
		ContentType: aws.String("text/html; charset=utf-8"), CacheControl: aws.String(sitedeploy.HTMLCacheControl),
	}); err != nil {
		b.Fatal(err)
	}
	// The same bytes on disk for the file server.
	root := filepath.Join(dir, "site")
	if err := os.MkdirAll(root, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "post.html"), page, 0o644); err != nil {
		b.Fatal(err)
	}
	distribution := filepath.Join(dir, "distribution.json")
	if err := cdn.Write(distribution, benchDistribution(bucket)); err != nil {
		b.Fatal(err)
	}
	pool := authtest.NewPool(b)

	b.ResetTimer()
	for range b.N {
		for _, p := range placements() {
			port := porttest.Free(b)
			bareTLS := fmt.Sprintf("https://127.0.0.1:%d", port)
			procOn(b, p.servers, files, []string{fmt.Sprintf("PORT=%d", port), "DIR=" + root, "TLS_CERT_FILE=" + paths.Cert, "TLS_KEY_FILE=" + paths.Key}, bareTLS)
			edgePort := porttest.Free(b)
			edge := fmt.Sprintf("https://127.0.0.1:%d", edgePort)
			procOn(b, p.servers, gw, []string{
				fmt.Sprintf("PORT=%d", edgePort), fmt.Sprintf("METRICS_PORT=%d", porttest.Free(b)), "DISTRIBUTION_FILE=" + distribution,
				"COGNITO_ISSUER=" + pool.Issuer, "COGNITO_JWKS_URL=" + pool.JWKSURL, "COGNITO_CLIENT_IDS=" + pool.ClientID,
				"TLS_CERT_FILE=" + paths.Cert, "TLS_KEY_FILE=" + paths.Key, "S3_FORCE_PATH_STYLE=true",
				"AWS_ENDPOINT_URL=" + ep, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "LOG_LEVEL=error",
			}, edge)

			// Both answer the same bytes; the edge's first answer is a miss, then hits.
			for i, want := range []string{"Miss", "Hit"} {
				body, xcache := edgeFetch(b, edge+"/post.html")
				if !bytes.Equal(body, page) || xcache != want {
					b.Fatalf("edge GET %d: %d bytes (want %d), X-Cache %q (want %q)", i, len(body), len(page), xcache, want)
				}
			}
			if body, _ := edgeFetch(b, bareTLS+"/post.html"); !bytes.Equal(body, page) {
				b.Fatalf("file server: %d bytes, want %d", len(body), len(page))
			}

			r := compare(b, wrk, p, 64, target{url: bareTLS + "/post.html"}, target{url: edge + "/post.html"})
			rb, re := r[0], r[1]
			b.ReportMetric(rb.rps, p.name+"-fileserver-rps")
			b.ReportMetric(re.rps, p.name+"-edge-rps")
			b.ReportMetric(re.rps/rb.rps, p.name+"-ratio")
			b.ReportMetric(re.p99ms(), p.name+"-hit-p99-ms")
		}
	}
	b.ReportMetric(float64(len(page)), "page-bytes")
}

// benchDistribution is MyBlog's distribution with bucket as the site and media bucket
// and an API origin nothing listens on (the benchmark reads a page).
func benchDistribution(bucket string) *cdn.Distribution {
	cache, origin := provision.APICachePolicy("bench-"), provision.APIOriginRequestPolicy("bench-")
	cache.ID, origin.ID = provision.LocalPolicyID("cache policy", cache.Name), provision.LocalPolicyID("origin request policy", origin.Name)
	security := provision.SecurityHeadersPolicy("bench-", nil)
	security.ID = provision.LocalPolicyID("response headers policy", security.Name)
	site := provision.RegionalBucket{Bucket: bucket, Region: "us-east-1"}
	return provision.BlogDistribution(provision.DistributionInputs{
		Name: "bench-myblog", Site: site, Media: []provision.RegionalBucket{site}, OACID: "OAC",
		APIHost: "localhost", APIPort: 1025, MediaFunctionName: "bench-media-path", OriginSecret: "bench-origin-secret-not-a-real-one-00000",
		APICache: cache, APIOrigin: origin, SecurityHeaders: security,
	})
}

// edgeFetch GETs url (any certificate: the benchmark's own) and returns the body and
// X-Cache.
func edgeFetch(b *testing.B, url string) ([]byte, string) {
	b.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return body, resp.Header.Get("X-Cache")
}
