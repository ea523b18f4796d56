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
	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
	"github.com/serverless-architect/serverless-architect/internal/sitedeploy"
)

// BenchmarkEdgeCacheHit: a post page (web/blog/post.html) answered from the blog edge's
// cache over TLS — the gateway binary in edge mode with services/gateway/edge.yaml,
// the page in a moto S3 bucket with the site's page Cache-Control (s-maxage=300) —
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
	routes, err := os.ReadFile(filepath.Join(repoRoot(b), "services", "gateway", "edge.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	pool := authtest.NewPool(b)

	b.ResetTimer()
	for range b.N {
		for _, p := range placements() {
			port := porttest.Free(b)
			bareTLS := fmt.Sprintf("https://127.0.0.1:%d", port)
			procOn(b, p.servers, files, []string{fmt.Sprintf("PORT=%d", port), "DIR=" + root, "TLS_CERT_FILE=" + paths.Cert, "TLS_KEY_FILE=" + paths.Key}, bareTLS)
			edge := gatewayProc(b, p, gw, string(routes), pool, &paths,
				"SITE_BUCKET="+bucket, "MEDIA_BUCKET="+bucket, "BLOG_API_URL=http://127.0.0.1:9", "S3_FORCE_PATH_STYLE=true",
				"AWS_ENDPOINT_URL="+ep, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "LOG_LEVEL=error")

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
