package store

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

func TestKey(t *testing.T) {
	tr := &Transport{RootObject: "index.html"}
	tests := []struct{ path, want string }{
		{"/", "index.html"},
		{"/style.css", "style.css"},
		{"/docs/", "docs/"}, // as CloudFront: only the root gets the root object
		{"/uploads/01J.jpg", "uploads/01J.jpg"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			if got := tr.Key(tc.path); got != tc.want {
				t.Errorf("Key(%q) = %q, want %q", tc.path, got, tc.want)
			}
		})
	}
}

// TestAgainstMoto checks the mapping of real S3 answers (moto's): metadata to
// headers, a failed If-None-Match to 304, a missing key to 404, a range to 206.
func TestAgainstMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	ctx := context.Background()
	client := s3.NewFromConfig(mototest.AWSConfig(t, ep), func(o *s3.Options) { o.UsePathStyle = true })
	bucket := mototest.Name("edge-site")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	const body = "<!doctype html><title>MyBlog</title>"
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("index.html"), Body: strings.NewReader(body),
		ContentType: aws.String("text/html; charset=utf-8"), CacheControl: aws.String("public, max-age=0, s-maxage=300"),
	}); err != nil {
		t.Fatal(err)
	}
	tr := &Transport{S3: func(context.Context) (API, error) { return client, nil }, Bucket: bucket, RootObject: "index.html"}
	do := func(method, path string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req := httptest.NewRequest(method, "s3://"+bucket+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	resp, got := do("GET", "/")
	if got != body || resp.StatusCode != 200 {
		t.Fatalf("GET /: %d %q", resp.StatusCode, got)
	}
	h := map[string]string{}
	for _, k := range []string{"Content-Type", "Cache-Control", "Content-Length"} {
		h[k] = resp.Header.Get(k)
	}
	want := map[string]string{"Content-Type": "text/html; charset=utf-8", "Cache-Control": "public, max-age=0, s-maxage=300", "Content-Length": "36"}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	etag := resp.Header.Get("Etag")
	if etag == "" || resp.Header.Get("Last-Modified") == "" {
		t.Fatalf("no validators: ETag %q, Last-Modified %q", etag, resp.Header.Get("Last-Modified"))
	}

	tests := []struct {
		name, method, path string
		hdr                []string
		status             int
		body               string
	}{
		{"revalidation", "GET", "/index.html", []string{"If-None-Match", etag}, 304, ""},
		{"changed etag", "GET", "/index.html", []string{"If-None-Match", `"other"`}, 200, body},
		{"range", "GET", "/index.html", []string{"Range", "bytes=0-8"}, 206, body[:9]},
		{"open range", "GET", "/index.html", []string{"Range", "bytes=30-"}, 206, body[30:]},
		{"suffix range", "GET", "/index.html", []string{"Range", "bytes=-6"}, 206, body[len(body)-6:]},
		{"range past the end", "GET", "/index.html", []string{"Range", "bytes=99999-"}, 416, `"code":"range_not_satisfiable"`},
		// Ranges S3 is not sent are ignored: the whole file, 200.
		{"other unit", "GET", "/index.html", []string{"Range", "items=0-1"}, 200, body},
		{"reversed range", "GET", "/index.html", []string{"Range", "bytes=5-2"}, 200, body},
		{"several ranges", "GET", "/index.html", []string{"Range", "bytes=0-1,5-6"}, 200, body},
		{"garbage range", "GET", "/index.html", []string{"Range", "bytes=a-b"}, 200, body},
		{"missing", "GET", "/nope.css", nil, 404, `"code":"not_found"`},
		{"missing page", "GET", "/nope/", []string{"Accept", "text/html"}, 404, "<h1>Not found</h1>"},
		{"head", "HEAD", "/index.html", nil, 200, ""},
		{"head missing", "HEAD", "/nope.css", nil, 404, ""},
		{"post", "POST", "/index.html", nil, 405, `"code":"method_not_allowed"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, got := do(tc.method, tc.path, tc.hdr...)
			if resp.StatusCode != tc.status || !strings.Contains(got, tc.body) {
				t.Errorf("%s %s: %d %q, want %d containing %q", tc.method, tc.path, resp.StatusCode, got, tc.status, tc.body)
			}
			if tc.status == 416 && resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", len(body)) {
				t.Errorf("416 Content-Range = %q, want bytes */%d", resp.Header.Get("Content-Range"), len(body))
			}
			if tc.status == 304 && resp.Header.Get("Etag") != etag {
				t.Errorf("304 ETag = %q, want %q", resp.Header.Get("Etag"), etag)
			}
		})
	}
}
