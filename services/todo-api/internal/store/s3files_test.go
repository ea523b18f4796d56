package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/files"
)

var creds = aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}

func offlineBucket(t *testing.T) *Bucket {
	t.Helper()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.StaticCredentialsProvider{Value: creds}}
	return NewBucket(NewS3(cfg, false), "files")
}

// resign recomputes the presigned URL's signature for a request whose headers are hdr,
// at the URL's own signing time: S3 does exactly this and refuses a mismatch.
func resign(t *testing.T, raw string, hdr http.Header) string {
	t.Helper()
	u, _ := url.Parse(raw)
	q := u.Query()
	at, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		q.Del(k)
	}
	u.RawQuery = q.Encode()
	req, _ := http.NewRequest(http.MethodPut, u.String(), nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	if n := hdr.Get("Content-Length"); n != "" {
		req.Header.Del("Content-Length")
		req.ContentLength, _ = strconv.ParseInt(n, 10, 64)
	}
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
	su, _ := url.Parse(signed)
	return su.Query().Get("X-Amz-Signature")
}

// TestPutSignatureCoversSizeAndType shows that a presigned PUT is only valid for the
// size and content type that were signed: recomputing the signature for another
// Content-Length or Content-Type gives another signature, which S3 refuses
// (SignatureDoesNotMatch). moto does not check signatures, so this is where the
// "larger than signed" refusal is proven.
func TestPutSignatureCoversSizeAndType(t *testing.T) {
	b := offlineBucket(t)
	up, err := b.PresignUpload(context.Background(), files.Upload{Key: "users/a/x.txt", ContentType: "text/plain", Size: 100, MaxBytes: 1000, Expires: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(up.URL)
	if got := u.Query().Get("X-Amz-SignedHeaders"); got != "content-length;content-type;host" {
		t.Errorf("signed headers = %q, want content-length;content-type;host", got)
	}
	if diff := cmp.Diff(map[string]string{"Content-Length": "100", "Content-Type": "text/plain"}, up.Headers); diff != "" {
		t.Errorf("headers to send (-want +got):\n%s", diff)
	}
	sig := u.Query().Get("X-Amz-Signature")
	hdr := func(n, ct string) http.Header { return http.Header{"Content-Length": {n}, "Content-Type": {ct}} }
	if got := resign(t, up.URL, hdr("100", "text/plain")); got != sig {
		t.Fatalf("recomputing the signature with the signed values gives %s, want %s: the check below would prove nothing", got, sig)
	}
	for _, h := range []http.Header{hdr("101", "text/plain"), hdr("100000", "text/plain"), hdr("100", "text/html")} {
		if got := resign(t, up.URL, h); got == sig {
			t.Errorf("request with %v matches the signature made for 100 bytes of text/plain", h)
		}
	}
	if up.Method != http.MethodPut || !up.ExpiresAt.After(time.Now().Add(4*time.Minute)) {
		t.Errorf("method %s, expires %s", up.Method, up.ExpiresAt)
	}
	if got := u.Query().Get("X-Amz-Expires"); got != "300" {
		t.Errorf("X-Amz-Expires = %s, want 300", got)
	}
}

// TestPostPolicyBoundsSize reads the presigned POST's policy: S3 enforces its
// conditions, so it must pin the key and content type and bound the size.
func TestPostPolicyBoundsSize(t *testing.T) {
	b := offlineBucket(t)
	up, err := b.PresignUpload(context.Background(), files.Upload{Key: "users/a/x.txt", ContentType: "text/plain", Size: 100, MaxBytes: 1000, Expires: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(up.Post.Fields["policy"])
	if err != nil {
		t.Fatalf("policy field: %v (fields %v)", err, up.Post.Fields)
	}
	var pol struct {
		Expiration string `json:"expiration"`
		Conditions []any  `json:"conditions"`
	}
	if err := json.Unmarshal(raw, &pol); err != nil {
		t.Fatal(err)
	}
	var rng, ctype, key bool
	for _, c := range pol.Conditions {
		switch v := c.(type) {
		case []any:
			if len(v) == 3 && v[0] == "content-length-range" && v[1] == float64(1) && v[2] == float64(1000) {
				rng = true
			}
			if len(v) == 3 && v[0] == "eq" && v[1] == "$Content-Type" && v[2] == "text/plain" {
				ctype = true
			}
			if len(v) > 1 && v[0] == "starts-with" && v[1] == "$key" {
				t.Errorf("policy lets the client choose the key: %v", v)
			}
		case map[string]any:
			if v["key"] == "users/a/x.txt" {
				key = true
			}
			if v["bucket"] != nil && v["bucket"] != "files" {
				t.Errorf("bucket condition %v", v)
			}
		}
	}
	if !rng || !ctype || !key {
		t.Errorf("policy %s: content-length-range=%v content-type=%v key=%v, want all", raw, rng, ctype, key)
	}
	exp, err := time.Parse(time.RFC3339, pol.Expiration)
	if err != nil || exp.After(time.Now().Add(6*time.Minute)) {
		t.Errorf("policy expiration %q: want about 5 minutes from now", pol.Expiration)
	}
	if up.Post.Fields["key"] != "users/a/x.txt" || up.Post.Fields["Content-Type"] != "text/plain" {
		t.Errorf("form fields %v", up.Post.Fields)
	}
}

func TestAgainstMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	cfg := mototest.AWSConfig(t, ep)
	ctx := context.Background()
	client := NewS3(cfg, true)
	name := mototest.Name("files")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	b := NewBucket(client, name)
	body := []byte("hello, folder")
	up, err := b.PresignUpload(ctx, files.Upload{Key: "users/a/x.txt", ContentType: "text/plain", Size: int64(len(body)), MaxBytes: 100, Expires: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(up.URL, ep+"/"+name+"/users/a/x.txt?") {
		t.Errorf("URL %s is not path-style at moto", up.URL)
	}
	req, _ := http.NewRequest(up.Method, up.URL, bytes.NewReader(body))
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT: %s", resp.Status)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String("users/b/y.txt"), Body: strings.NewReader("b")}); err != nil {
		t.Fatal(err)
	}
	objs, more, err := b.List(ctx, "users/a/", "", 10)
	if err != nil || more || len(objs) != 1 || objs[0].Key != "users/a/x.txt" || objs[0].Size != int64(len(body)) {
		t.Fatalf("List = %+v, %v, %v", objs, more, err)
	}
	// Pages: one S3 call each, in key order, after the given key.
	for _, k := range []string{"users/a/y1", "users/a/y2", "users/a/y3"} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String(k), Body: strings.NewReader("y")}); err != nil {
			t.Fatal(err)
		}
	}
	objs, more, err = b.List(ctx, "users/a/", "users/a/x.txt", 2)
	if err != nil || !more || len(objs) != 2 || objs[0].Key != "users/a/y1" || objs[1].Key != "users/a/y2" {
		t.Fatalf("List after x.txt, 2 = %+v, %v, %v; want y1, y2 and more", objs, more, err)
	}
	objs, more, err = b.List(ctx, "users/a/", "users/a/y2", 2)
	if err != nil || more || len(objs) != 1 || objs[0].Key != "users/a/y3" {
		t.Fatalf("List after y2, 2 = %+v, %v, %v; want y3 and no more", objs, more, err)
	}
	down, err := b.PresignDownload(ctx, "users/a/x.txt", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(down.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != string(body) {
		t.Fatalf("GET: %s %q", resp.Status, got)
	}

	v := NewVendor(sts.NewFromConfig(cfg), "arn:aws:iam::123456789012:role/"+name)
	c, err := v.Vend(ctx, files.SessionRequest{SessionName: "todo-files-a", Policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`,
		Tags: map[string]string{"sub": "a"}, Duration: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" || c.Expiration.Before(time.Now().Add(14*time.Minute)) {
		t.Errorf("credentials %+v", c)
	}
}

// TestURLsEndWithTheirCredentials: a URL signed with temporary credentials that expire
// before FILES_URL_TTL is signed for the time they have left, and says so in
// expiresAt (S3 would refuse it after the session expired anyway); credentials about to
// be replaced give a retryable 503 rather than a URL that dies at once.
func TestURLsEndWithTheirCredentials(t *testing.T) {
	now := time.Now()
	bucketExpiringIn := func(left time.Duration) *Bucket {
		cfg := aws.Config{Region: "us-east-1", Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "s", SessionToken: "t", CanExpire: true, Expires: now.Add(left)}, nil
		})}
		b := NewBucket(NewS3(cfg, false), "files")
		b.now = func() time.Time { return now }
		return b
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		left time.Duration
		want int
	}{
		{"credentials outlive the TTL", time.Hour, 300},
		{"credentials end first", 2*time.Minute + 500*time.Millisecond, 120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bucketExpiringIn(tc.left)
			up, err := b.PresignUpload(ctx, files.Upload{Key: "users/a/x.txt", ContentType: "text/plain", Size: 1, MaxBytes: 10, Expires: 5 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			down, err := b.PresignDownload(ctx, "users/a/x.txt", 5*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range []struct {
				raw string
				at  time.Time
			}{{up.URL, up.ExpiresAt}, {down.URL, down.ExpiresAt}} {
				q, _ := url.Parse(u.raw)
				if got := q.Query().Get("X-Amz-Expires"); got != strconv.Itoa(tc.want) {
					t.Errorf("X-Amz-Expires = %s, want %d", got, tc.want)
				}
				if want := now.Add(time.Duration(tc.want) * time.Second).UTC(); !u.at.Equal(want) {
					t.Errorf("expiresAt = %s, want %s", u.at, want)
				}
			}
			raw, _ := base64.StdEncoding.DecodeString(up.Post.Fields["policy"])
			var pol struct {
				Expiration time.Time `json:"expiration"`
			}
			if err := json.Unmarshal(raw, &pol); err != nil || pol.Expiration.After(now.Add(time.Duration(tc.want)*time.Second+time.Second)) {
				t.Errorf("POST policy expiration %s (%v): want by %s", pol.Expiration, err, now.Add(time.Duration(tc.want)*time.Second))
			}
		})
	}
	if _, err := bucketExpiringIn(300*time.Millisecond).PresignDownload(ctx, "users/a/x.txt", 5*time.Minute); apperr.CodeOf(err) != apperr.Unavailable {
		t.Errorf("credentials about to expire: err = %v, want %s", err, apperr.Unavailable)
	}
}

// TestDescribeSigner asks moto's STS who the credentials belong to: long-term keys are
// not a role session (no STS call is needed); credentials from AssumeRole are (an
// assumed-role ARN), which is what IRSA and Pod Identity hand a pod; an STS that cannot
// be reached gives the safe answer and the error.
func TestDescribeSigner(t *testing.T) {
	ep := mototest.Endpoint(t)
	cfg := mototest.AWSConfig(t, ep)
	ctx := context.Background()
	api := sts.NewFromConfig(cfg)
	s, err := DescribeSigner(ctx, cfg.Credentials, api)
	if err != nil || s.RoleSession {
		t.Errorf("long-term keys: %+v, %v; want no role session", s, err)
	}
	out, err := api.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/sa-todo-api"), RoleSessionName: aws.String("pod")})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	role := cfg.Copy()
	role.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)))
	s, err = DescribeSigner(ctx, role.Credentials, sts.NewFromConfig(role))
	if err != nil || !s.RoleSession || !strings.Contains(s.Identity, ":assumed-role/sa-todo-api/pod") {
		t.Errorf("role credentials: %+v, %v; want a role session of sa-todo-api", s, err)
	}
	down := sts.NewFromConfig(role, func(o *sts.Options) { o.BaseEndpoint, o.RetryMaxAttempts = aws.String("http://127.0.0.1:1"), 1 })
	if s, err = DescribeSigner(ctx, role.Credentials, down); err == nil || !s.RoleSession {
		t.Errorf("STS unreachable: %+v, %v; want a role session and the error", s, err)
	}
}

// TestDeleteAllAgainstMoto: DeleteAll empties one folder (more than one
// DeleteObjects page, and an unfinished multipart upload), leaves a neighbour whose
// name starts the same way alone, and a second call finds nothing to do.
func TestDeleteAllAgainstMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	ctx := context.Background()
	client := NewS3(mototest.AWSConfig(t, ep), true)
	name := mototest.Name("files")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	put := func(key string) {
		t.Helper()
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String(key), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	const n = 1003 // two ListObjectsV2 pages, two DeleteObjects
	for i := range n {
		put(fmt.Sprintf("users/a/f%04d", i))
	}
	put("users/ab/keep.txt")
	put("users/b/keep.txt")
	if _, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(name), Key: aws.String("users/a/big.bin")}); err != nil {
		t.Fatal(err)
	}
	b := NewBucket(client, name)
	if got, err := b.DeleteAll(ctx, "users/a/"); err != nil || got != n {
		t.Fatalf("DeleteAll = %d, %v; want %d", got, err, n)
	}
	if got, err := b.DeleteAll(ctx, "users/a/"); err != nil || got != 0 {
		t.Fatalf("second DeleteAll = %d, %v; want 0", got, err)
	}
	left, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range left.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	if diff := cmp.Diff([]string{"users/ab/keep.txt", "users/b/keep.txt"}, keys); diff != "" {
		t.Errorf("objects left (-want +got):\n%s", diff)
	}
	ups, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(name), Prefix: aws.String("users/a/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads left under users/a/", len(ups.Uploads))
	}
	if _, err := b.DeleteAll(ctx, ""); err == nil {
		t.Error("DeleteAll with an empty prefix (the whole bucket) did not fail")
	}
}
