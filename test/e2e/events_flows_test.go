package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// TestEventFlows runs MyBlog's two event flows on one local stack (`sa dev`): a new
// subscriber gets one confirmation email and, once confirmed, exactly one welcome email
// (blog-api -> DynamoDB stream -> dynamodb-source -> welcome-mailer -> SES), a poisoned
// subscriber among 50 stops nobody else's email, an uploaded photo gets its thumbnail or
// fails cleanly (S3 -> SQS -> s3-source -> thumbnailer -> S3 + photo record), and each
// source, killed mid-stream and restarted, loses nothing.
func TestEventFlows(t *testing.T) {
	s := sharedStack(t)
	client := eventsClient(t, s)
	t.Run("welcome email", func(t *testing.T) { testWelcome(t, s, client) })
	t.Run("thumbnail", func(t *testing.T) { testThumbnail(t, s, client) })
	t.Run("sources survive SIGKILL", func(t *testing.T) { testSourcesSurviveKill(t, s) })
	// Last: its 50 subscribers and emails make moto's state (read whole by the tests'
	// polling of /moto-api/data.json) heavier for everything after it.
	t.Run("poison subscriber among 50", func(t *testing.T) { testPoisonSubscriber(t, s) })
	stackAlive(t, s)
}

// eventsClient is an HTTPS client that trusts only the stack's dev CA.
func eventsClient(t *testing.T, s *localStack) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(s.stack.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.pem holds no certificate")
	}
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// stackAlive fails the test unless sa dev and every process it started still run and
// every service answers /readyz.
func stackAlive(t *testing.T, s *localStack) {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err
		t.Fatalf("sa dev exited: %v", err)
	default:
	}
	client := eventsClient(t, s)
	services := map[string]stack.Service{}
	for name, svc := range s.stack.Services {
		services[name] = svc
	}
	for _, r := range s.stack.Regions[min(1, len(s.stack.Regions)):] {
		for name, svc := range r.Services {
			services[name+"@"+r.Region] = svc
		}
	}
	for name, svc := range services {
		if svc.PID != 0 {
			if err := syscall.Kill(svc.PID, 0); err != nil {
				t.Errorf("%s (pid %d) is not running: %v", name, svc.PID, err)
				continue
			}
		}
		if name == "moto" {
			continue
		}
		resp, err := client.Get(svc.URL + "/readyz")
		if err != nil {
			t.Errorf("%s: readyz: %v", name, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: readyz answered %d", name, resp.StatusCode)
		}
	}
}
