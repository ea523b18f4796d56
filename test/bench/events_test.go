package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/serverless-architect/serverless-architect/internal/childproc"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// devStack runs `sa dev` (the local stack, with args added) against the benchmark's
// moto with a unique resource prefix, as test/e2e does, and returns its stack file's
// content and an HTTPS client trusting its CA. The stack stops when the benchmark ends.
func devStack(b *testing.B, args ...string) (*stack.Stack, *http.Client) {
	b.Helper()
	ep := mototest.Endpoint(b)
	sa := build(b, b.TempDir(), "./cmd/sa", "sa")
	dir := filepath.Join(b.TempDir(), ".dev")
	prefix := strings.ReplaceAll(mototest.Name("bench"), "-", "") + "-"
	// Ports from one free block below the ephemeral range, so the stack runs beside a
	// developer's `make dev`: 0..11 internal services, 12 the API, 13 the edge.
	base := porttest.Block(b, 16)
	flags := []string{"dev", "--dir", dir, "--moto-endpoint", ep, "--prefix", prefix,
		"--port-base", fmt.Sprint(base), "--api-port", fmt.Sprint(base + 12), "--edge-port", fmt.Sprint(base + 13)}
	cmd := exec.Command(sa, append(flags, args...)...)
	cmd.Dir = repoRoot(b)
	childproc.Prepare(cmd, false)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if _, err := childproc.Start(cmd); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(4 * time.Minute)
	for {
		select {
		case <-done:
			b.Fatalf("sa dev exited:\n%s", out.String())
		case <-time.After(200 * time.Millisecond):
		}
		if st, err := stack.Read(filepath.Join(dir, "stack.json")); err == nil && st.APIURL != "" {
			pem, err := os.ReadFile(st.CAFile)
			if err != nil {
				b.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pem)
			return st, &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
		}
		if time.Now().After(deadline) {
			b.Fatalf("the stack was not up within 4 minutes")
		}
	}
}

// percentiles reports p50, p95 and p99 of ds (milliseconds) as benchmark metrics and
// returns p50.
func percentiles(b *testing.B, name string, ds []time.Duration) time.Duration {
	b.Helper()
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	p := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	b.ReportMetric(float64(p(0.50).Microseconds())/1000, name+"-p50-ms")
	b.ReportMetric(float64(p(0.95).Microseconds())/1000, name+"-p95-ms")
	b.ReportMetric(float64(p(0.99).Microseconds())/1000, name+"-p99-ms")
	b.ReportMetric(0, "ns/op")
	return p(0.50)
}

// waitEmails waits until moto's SES has sent n emails to address (polling every
// 10 ms) and returns them.
func waitEmails(b *testing.B, motoURL, address string, n int, within time.Duration) []mototest.Email {
	b.Helper()
	deadline := time.Now().Add(within)
	for {
		all, err := mototest.SentEmails(motoURL)
		if err != nil {
			b.Fatal(err)
		}
		if got := mototest.EmailsTo(all, address); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			b.Fatalf("fewer than %d emails to %s within %s", n, address, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// confirmLinkRE finds the confirmation link in an email's text part.
var confirmLinkRE = regexp.MustCompile(`https://\S+/v1/subscribers/confirm\?token=\S+`)

// subscribeAndConfirm subscribes address through blog-api as a viewer at viewer (the
// CloudFront-Viewer-Address CloudFront would send: each iteration is another viewer,
// so the per-client limit does not throttle the benchmark), waits for the
// confirmation email, POSTs its link to blog-api as the page's button does, and waits
// for the welcome email. It returns subscribe -> confirmation and confirm -> welcome.
func subscribeAndConfirm(b *testing.B, client *http.Client, blogAPI, motoURL, address, viewer string) (confirmation, welcome time.Duration) {
	return subscribeHereConfirmThere(b, client, blogAPI, blogAPI, motoURL, address, viewer)
}

// subscribeHereConfirmThere is subscribeAndConfirm with the subscription taken by the
// blog-api at here and the confirmation posted to the one at there; a 404 (the pending
// subscriber has not reached there's replica yet) is posted again every 10 ms.
func subscribeHereConfirmThere(b *testing.B, client *http.Client, here, there, motoURL, address, viewer string) (confirmation, welcome time.Duration) {
	blogAPI := here
	b.Helper()
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPost, blogAPI+"/v1/subscribers", strings.NewReader(fmt.Sprintf(`{"email":%q}`, address)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("CloudFront-Viewer-Address", viewer)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b.Fatalf("subscribe answered %d", resp.StatusCode)
	}
	got := waitEmails(b, motoURL, address, 1, 20*time.Second)
	confirmation = time.Since(start)
	link := confirmLinkRE.FindString(got[0].Parts["text/plain"])
	u, err := url.Parse(link)
	if link == "" || err != nil {
		b.Fatalf("no confirmation link in %q", got[0].Parts["text/plain"])
	}
	start = time.Now()
	for {
		resp, err = client.Post(there+u.RequestURI(), "application/x-www-form-urlencoded", nil)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || time.Since(start) > 20*time.Second {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("confirm answered %d", resp.StatusCode)
	}
	waitEmails(b, motoURL, address, 2, 20*time.Second)
	return confirmation, time.Since(start)
}

// BenchmarkSubscribeToEmail: double opt-in through the running local stack. From POST
// /v1/subscribers on blog-api to the confirmation email held by SES (moto), and from
// the POST of its link to the welcome email (each: DynamoDB stream -> dynamodb-source
// -> welcome-mailer -> SES). Target: p50 ≤ 1 s each. moto is polled every 10 ms. Run
// with -benchtime=20x for a stable p50.
func BenchmarkSubscribeToEmail(b *testing.B) {
	st, client := devStack(b)
	blogAPI := st.Services["blog-api"].URL
	var toConfirm, toWelcome []time.Duration
	i := 0
	for b.Loop() {
		i++
		address := fmt.Sprintf("%s-%d@example.com", strings.ToLower(mototest.Name("bench")), i)
		c, w := subscribeAndConfirm(b, client, blogAPI, st.AWSEndpoint, address, fmt.Sprintf("198.18.%d.%d:443", i/250, i%250+1))
		toConfirm, toWelcome = append(toConfirm, c), append(toWelcome, w)
	}
	if p50 := percentiles(b, "confirmation", toConfirm); p50 > time.Second {
		b.Errorf("subscribe -> confirmation email p50 %s, over the 1 s target", p50)
	}
	if p50 := percentiles(b, "welcome", toWelcome); p50 > time.Second {
		b.Errorf("confirm -> welcome email p50 %s, over the 1 s target", p50)
	}
}

// BenchmarkUploadToThumbnail: an admin uploads a 12-megapixel JPEG through blog-api's
// presigned URL; measured from the end of the PUT to GET /v1/photos/{id} saying ready
// (S3 -> SQS -> s3-source -> thumbnailer -> S3 + DynamoDB), through the running local
// stack; the photo API is polled every 10 ms. Target (issue 17): p50 ≤ 600 ms. Run
// with -benchtime=10x.
func BenchmarkUploadToThumbnail(b *testing.B) {
	st, client := devStack(b)
	blogAPI := st.Services["blog-api"].URL
	token := benchAdminToken(b, st)
	jpg := photo12MP()
	var lat []time.Duration
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, blogAPI+"/v1/photos", strings.NewReader(`{"contentType":"image/jpeg","filename":"big.jpg"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		var p struct{ ID, UploadURL, Status string }
		doJSON(b, client, req, http.StatusCreated, &p)
		put, _ := http.NewRequest(http.MethodPut, p.UploadURL, bytes.NewReader(jpg))
		put.Header.Set("Content-Type", "image/jpeg")
		resp, err := client.Do(put)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("PUT answered %d", resp.StatusCode)
		}
		uploaded := time.Now()
		for {
			get, _ := http.NewRequest(http.MethodGet, blogAPI+"/v1/photos/"+p.ID, nil)
			doJSON(b, client, get, http.StatusOK, &p)
			if p.Status == "ready" {
				break
			}
			if p.Status != "pending" || time.Since(uploaded) > 30*time.Second {
				b.Fatalf("photo %s: status %s after %s", p.ID, p.Status, time.Since(uploaded))
			}
			time.Sleep(10 * time.Millisecond)
		}
		lat = append(lat, time.Since(uploaded))
	}
	if p50 := percentiles(b, "thumbnail", lat); p50 > 600*time.Millisecond {
		b.Errorf("upload -> thumbnail ready p50 %s, over the 600 ms target", p50)
	}
}

func doJSON(b *testing.B, client *http.Client, req *http.Request, want int, v any) {
	b.Helper()
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		b.Fatalf("%s %s: %d %s, want %d", req.Method, req.URL.Path, resp.StatusCode, body, want)
	}
	if err := json.Unmarshal(body, v); err != nil {
		b.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
}

// benchAdminToken signs up a user in the stack's pool, confirms them, adds them to the
// admins group and returns their id token.
func benchAdminToken(b *testing.B, st *stack.Stack) string {
	b.Helper()
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(st.Region), config.WithBaseEndpoint(st.AWSEndpoint),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	if err != nil {
		b.Fatal(err)
	}
	c := cip.NewFromConfig(cfg)
	r := st.Resources
	name := strings.ToLower(mototest.Name("admin")) + "@example.com"
	const password = "Passw0rd1x!"
	if _, err := c.SignUp(ctx, &cip.SignUpInput{ClientId: aws.String(r.UserPoolClientID), Username: aws.String(name), Password: aws.String(password),
		UserAttributes: []ciptypes.AttributeType{{Name: aws.String("email"), Value: aws.String(name)}}}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.AdminConfirmSignUp(ctx, &cip.AdminConfirmSignUpInput{UserPoolId: aws.String(r.UserPoolID), Username: aws.String(name)}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.AdminAddUserToGroup(ctx, &cip.AdminAddUserToGroupInput{UserPoolId: aws.String(r.UserPoolID), Username: aws.String(name), GroupName: aws.String(r.AdminsGroup)}); err != nil {
		b.Fatal(err)
	}
	out, err := c.InitiateAuth(ctx, &cip.InitiateAuthInput{ClientId: aws.String(r.UserPoolClientID), AuthFlow: ciptypes.AuthFlowTypeUserPasswordAuth,
		AuthParameters: map[string]string{"USERNAME": name, "PASSWORD": password}})
	if err != nil {
		b.Fatal(err)
	}
	return aws.ToString(out.AuthenticationResult.IdToken)
}
