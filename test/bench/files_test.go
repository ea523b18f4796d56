package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"github.com/serverless-architect/serverless-architect/internal/auth/authtest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
	"github.com/serverless-architect/serverless-architect/internal/provision"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// BenchmarkFilesCredentials: p50 and p99 of POST /v1/files/credentials (JWT check,
// the account's mark read from the to-dos table, session policy, STS AssumeRole
// against moto), todo-api run as its own binary.
func BenchmarkFilesCredentials(b *testing.B) {
	ep := mototest.Endpoint(b)
	pool := authtest.NewPool(b)
	cfg := pool.Config()
	table := mototest.Name("bench-todos")
	if _, err := provision.Ensure(context.Background(), provision.NewClients(mototest.AWSConfig(b, ep)), []provision.Resource{provision.TodosTable{TableName: table}}, nil); err != nil {
		b.Fatal(err)
	}
	base := startTodoAPI(b, ep, "COGNITO_ISSUER="+cfg.Issuer, "COGNITO_JWKS_URL="+cfg.JWKSURL, "COGNITO_CLIENT_IDS="+strings.Join(cfg.ClientIDs, ","),
		"FILES_BUCKET="+mototest.Name("bench-files"), "FILES_VENDING_ROLE_ARN=arn:aws:iam::123456789012:role/bench-vending", "TODOS_TABLE="+table)
	url := base + "/v1/files/credentials"
	token := pool.IDToken(b, "bench-user", nil)
	call := func() (time.Duration, int) {
		req, _ := http.NewRequest(http.MethodPost, url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start), resp.StatusCode
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, code := call(); code == http.StatusOK {
			break
		} else if time.Now().After(deadline) {
			b.Fatalf("credentials endpoint not answering 200 (last %d)", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		d, code := call()
		if code != http.StatusOK {
			b.Fatalf("status %d", code)
		}
		lat = append(lat, d)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkFilesUpload100MB: the todo CLI's upload of a 100 MB file (identity-pool
// credentials, multipart with concurrent parts) against `aws s3 cp` of the same file to
// the same moto, interleaved in one run. Target: ratio (CLI throughput / aws) >= 0.8.
func BenchmarkFilesUpload100MB(b *testing.B) {
	ep := mototest.Endpoint(b)
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		b.Skip("aws CLI not installed")
	}
	ctx := context.Background()
	dir := b.TempDir()
	todo := build(b, dir, "./cmd/todo", "todo")
	prefix := strings.ReplaceAll(mototest.Name("bench"), "-", "") + "-"
	c := provision.NewClients(mototest.AWSConfig(b, ep))
	var rs []provision.Resource
	for _, r := range provision.Definitions(prefix) {
		switch r.(type) {
		case provision.UserPool, provision.AppClient, provision.FilesBucket, provision.IdentityPool, provision.AuthenticatedRole, provision.IdentityPoolAccess:
			rs = append(rs, r)
		}
	}
	res, err := provision.Ensure(ctx, c, rs, nil)
	if err != nil {
		b.Fatal(err)
	}
	// The CLI asks todo-api for the user's folder (GET /v1/files states it): a todo-api
	// on the same pool and bucket, no vending role.
	api := startTodoAPI(b, ep, "COGNITO_ISSUER="+res.Issuer, "COGNITO_JWKS_URL="+res.JWKSURL, "COGNITO_CLIENT_IDS="+res.UserPoolClientID,
		"FILES_BUCKET="+res.FilesBucket)
	stackFile := filepath.Join(dir, "stack.json")
	if err := stack.Write(stackFile, &stack.Stack{Region: mototest.Region, AWSEndpoint: ep, APIURL: api, Resources: res}); err != nil {
		b.Fatal(err)
	}
	email, password := "bench@example.com", "Passw0rd1x!"
	if _, err := c.Cognito.AdminCreateUser(ctx, &cip.AdminCreateUserInput{UserPoolId: aws.String(res.UserPoolID), Username: aws.String(email), MessageAction: "SUPPRESS"}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Cognito.AdminSetUserPassword(ctx, &cip.AdminSetUserPasswordInput{UserPoolId: aws.String(res.UserPoolID), Username: aws.String(email), Password: aws.String(password), Permanent: true}); err != nil {
		b.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	env := append(os.Environ(), "XDG_CONFIG_HOME="+home, "HOME="+home, "TODO_PASSWORD="+password,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_DEFAULT_REGION=us-east-1")
	run := func(name string, args ...string) time.Duration {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return time.Since(start)
	}
	run(todo, "--stack", stackFile, "login", "--email", email)
	file := filepath.Join(dir, "big.bin")
	f, _ := os.Create(file)
	if _, err := io.CopyN(f, rand.Reader, 100<<20); err != nil {
		b.Fatal(err)
	}
	f.Close()
	// Warm up both (credentials cache, page cache).
	run(todo, "--stack", stackFile, "files", "put", file, "warm.bin")
	run(awsBin, "--endpoint-url", ep, "s3", "cp", file, "s3://"+res.FilesBucket+"/aws/warm.bin", "--only-show-errors")
	var sumCLI, sumAWS time.Duration
	b.ResetTimer()
	for i := range b.N {
		sumCLI += run(todo, "--stack", stackFile, "files", "put", file, fmt.Sprintf("big-%d.bin", i))
		sumAWS += run(awsBin, "--endpoint-url", ep, "s3", "cp", file, fmt.Sprintf("s3://%s/aws/big-%d.bin", res.FilesBucket, i), "--only-show-errors")
	}
	b.StopTimer()
	mb := float64(100*b.N) * 1.048576
	b.ReportMetric(mb/sumCLI.Seconds(), "todo-MB/s")
	b.ReportMetric(mb/sumAWS.Seconds(), "aws-MB/s")
	b.ReportMetric(sumAWS.Seconds()/sumCLI.Seconds(), "ratio")
}

// startTodoAPI builds todo-api and runs it against moto at ep, with env added to the
// common settings, until the benchmark ends; it returns its base URL.
func startTodoAPI(b *testing.B, ep string, env ...string) string {
	b.Helper()
	bin := build(b, b.TempDir(), "./services/todo-api", "todo-api")
	port := porttest.Free(b)
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), fmt.Sprintf("PORT=%d", port), fmt.Sprintf("METRICS_PORT=%d", porttest.Free(b)), "HOST=127.0.0.1", "LOG_LEVEL=error",
		"AWS_REGION=us-east-1", "AWS_ENDPOINT_URL="+ep, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "S3_FORCE_PATH_STYLE=true"), env...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("todo-api was not ready within 10 s")
		}
	}
}
