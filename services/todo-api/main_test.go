package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/serverless-architect/serverless-architect/internal/auth/authtest"
	"github.com/serverless-architect/serverless-architect/internal/logtest"
	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
	"github.com/serverless-architect/serverless-architect/internal/provision"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

func createTable(t *testing.T, ep, name string) {
	t.Helper()
	c := provision.NewClients(mototest.AWSConfig(t, ep))
	if _, err := provision.Ensure(context.Background(), c, []provision.Resource{provision.TodosTable{TableName: name}}, nil); err != nil {
		t.Fatalf("create table: %v", err)
	}
}

// TestRecoversWhenDatabaseReturns runs the whole service (run, as main does) against a
// moto of its own, stops moto, expects prompt 503s with a clear message and a healthy
// process, restarts moto and expects the service to work again by itself.
func TestRecoversWhenDatabaseReturns(t *testing.T) {
	moto := mototest.Private(t)
	createTable(t, moto.Endpoint, "todos")
	pool := authtest.NewPool(t)

	// The AWS SDK reads its standard variables from the process environment itself.
	t.Setenv("AWS_ENDPOINT_URL", moto.Endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	svc := startService(t, pool)
	logs := svc.logs
	token := pool.IDToken(t, "alice", nil)
	call := func(method, path, body string) (int, string, http.Header) {
		t.Helper()
		return svc.call(t, token, method, path, body)
	}

	status, body, hdr := call("POST", "/v1/todos", `{"title":"before the outage"}`)
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	if status, body, _ := call("GET", hdr.Get("Location"), ""); status != 200 {
		t.Fatalf("get %s: %d %s", hdr.Get("Location"), status, body)
	}

	moto.Stop()
	start := time.Now()
	status, body, hdr = call("GET", "/v1/todos", "")
	if status != 503 || hdr.Get("Retry-After") == "" {
		t.Fatalf("with moto down: %d %s (Retry-After %q), want 503", status, body, hdr.Get("Retry-After"))
	}
	var env struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &env)
	if env.Error.Code != "dependency_unavailable" || strings.Contains(body, "127.0.0.1") {
		t.Errorf("outage body = %s, want code dependency_unavailable and no internal detail", body)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the 503 took %s; it must come promptly", took)
	}
	if status, _, _ := call("POST", "/v1/todos", `{"title":"during the outage"}`); status != 503 {
		t.Errorf("write during outage: %d, want 503", status)
	}
	if resp, err := http.Get(svc.base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz during outage: %v", err)
	}
	if !strings.Contains(logs.String(), "dependency unavailable") {
		t.Errorf("the outage was not logged for the operator:\n%s", logs.String())
	}

	if err := moto.Start(); err != nil {
		t.Fatal(err)
	}
	createTable(t, moto.Endpoint, "todos")
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, body, _ = call("POST", "/v1/todos", `{"title":"after the outage"}`)
		if status == 201 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service did not recover after moto came back: %d %s", status, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	status, body, _ = call("GET", "/v1/todos", "")
	if status != 200 || !strings.Contains(body, "after the outage") || strings.Contains(body, "during the outage") {
		t.Errorf("after recovery: %d %s", status, body)
	}

	// The outage is on /metrics, by route template (never the to-do's id) and code.
	fams := metricstest.Scrape(t, svc.metrics)
	for _, c := range []struct {
		route, method, code string
		atLeast             float64
	}{
		{"/v1/todos", "POST", "201", 2},
		{"/v1/todos/:id", "GET", "200", 1},
		{"/v1/todos", "GET", "503", 1},
		{"/v1/todos", "POST", "503", 1},
	} {
		v, _ := fams.Value("http_server_requests_total", map[string]string{"route": c.route, "method": c.method, "code": c.code})
		if v < c.atLeast {
			t.Errorf("http_server_requests_total{route=%q,method=%s,code=%s} = %v, want at least %v; series: %v",
				c.route, c.method, c.code, v, c.atLeast, fams.Series("http_server_requests_total"))
		}
	}
}

// service is todo-api started by run, as main does, on a free port, with /metrics on
// another.
type service struct {
	base    string
	metrics string
	logs    *logtest.Buffer
}

// startService runs todo-api with pool's Cognito settings and extra variables until the
// test ends; the AWS SDK reads its own variables (endpoint, keys) from the process
// environment, which the test sets with t.Setenv.
func startService(t *testing.T, pool *authtest.Pool, extra ...string) *service {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	mport := porttest.Free(t)
	environ := append([]string{
		fmt.Sprintf("PORT=%d", port), fmt.Sprintf("METRICS_PORT=%d", mport), "HOST=127.0.0.1", "DRAIN_DELAY=0s", "AWS_REGION=us-east-1",
		"COGNITO_ISSUER=" + pool.Issuer, "COGNITO_JWKS_URL=" + pool.JWKSURL, "COGNITO_CLIENT_IDS=" + pool.ClientID,
		"PAGE_TOKEN_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{base: fmt.Sprintf("http://127.0.0.1:%d", port), metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", mport), logs: &logtest.Buffer{}}
	done := make(chan error, 1)
	go func() { done <- run(ctx, environ, s.logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	waitReady(t, s.base)
	return s
}

// call sends one request with token and returns the status, body and headers.
func (s *service) call(t *testing.T, token, method, path, body string) (int, string, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, s.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestRoleChainingLimits runs the whole service on role credentials (what IRSA and Pod
// Identity give a pod; here a session of moto's AssumeRole) with FILES_CREDENTIALS_TTL
// 2h and FILES_URL_TTL 3h: vended credentials last an hour at most (STS refuses more
// to a chained AssumeRole; moto does not, so without the clamp they would last two),
// presigned URLs an hour at most, and each lowering is logged once. On long-term keys
// the same settings are kept.
func TestRoleChainingLimits(t *testing.T) {
	ep := mototest.Endpoint(t)
	cfg := mototest.AWSConfig(t, ep)
	ctx := context.Background()
	bucket := mototest.Name("files")
	if _, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	out, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/sa-todo-api"), RoleSessionName: aws.String("pod"), DurationSeconds: aws.Int32(3600)})
	if err != nil {
		t.Fatal(err)
	}
	pool := authtest.NewPool(t)
	token := pool.IDToken(t, "alice", nil)
	// The files routes that hand out write access check the caller's account first.
	table := mototest.Name("todos")
	createTable(t, ep, table)
	files := []string{"FILES_BUCKET=" + bucket, "FILES_VENDING_ROLE_ARN=arn:aws:iam::123456789012:role/mytodolist-files-vending",
		"FILES_CREDENTIALS_TTL=2h", "FILES_URL_TTL=3h", "S3_FORCE_PATH_STYLE=true", "TODOS_TABLE=" + table}
	t.Setenv("AWS_ENDPOINT_URL", ep)
	for _, tc := range []struct {
		name                     string
		key, secret, session     string
		credentials, url         time.Duration
		credentialsWarn, urlWarn string
	}{
		{"role session", aws.ToString(out.Credentials.AccessKeyId), aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken),
			time.Hour, time.Hour, "FILES_CREDENTIALS_TTL 2h0m0s lowered to 1h0m0s", "FILES_URL_TTL 3h0m0s lowered to 1h0m0s"},
		{"long-term keys", "test", "test", "", 2 * time.Hour, 3 * time.Hour, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_ACCESS_KEY_ID", tc.key)
			t.Setenv("AWS_SECRET_ACCESS_KEY", tc.secret)
			t.Setenv("AWS_SESSION_TOKEN", tc.session)
			svc := startService(t, pool, files...)
			for range 3 {
				start := time.Now()
				status, body, _ := svc.call(t, token, "POST", "/v1/files/credentials", "")
				var g struct {
					Expiration time.Time `json:"expiration"`
				}
				if err := json.Unmarshal([]byte(body), &g); status != 200 || err != nil {
					t.Fatalf("credentials: %d %s", status, body)
				}
				if life := g.Expiration.Sub(start); life > tc.credentials+5*time.Second || life < tc.credentials-time.Minute {
					t.Errorf("vended credentials live %s, want %s", life.Round(time.Second), tc.credentials)
				}
				status, body, _ = svc.call(t, token, "GET", "/v1/files/download-url?key=a.txt", "")
				var d struct {
					URL string `json:"url"`
				}
				if err := json.Unmarshal([]byte(body), &d); status != 200 || err != nil {
					t.Fatalf("download-url: %d %s", status, body)
				}
				u, _ := url.Parse(d.URL)
				if got := u.Query().Get("X-Amz-Expires"); got != fmt.Sprint(int(tc.url.Seconds())) {
					t.Errorf("X-Amz-Expires = %s, want %d", got, int(tc.url.Seconds()))
				}
			}
			for _, w := range []string{tc.credentialsWarn, tc.urlWarn} {
				if w == "" {
					continue
				}
				if n := strings.Count(svc.logs.String(), w); n != 1 {
					t.Errorf("%q logged %d times, want once:\n%s", w, n, svc.logs.String())
				}
			}
			if tc.credentialsWarn == "" && strings.Contains(svc.logs.String(), "lowered") {
				t.Errorf("long-term keys: a lifetime was lowered:\n%s", svc.logs.String())
			}
		})
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("todo-api was not ready within 10 s")
}
