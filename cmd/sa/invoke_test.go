package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/s3event"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// fakeConsumer records the binary-mode events it gets and answers status.
type fakeConsumer struct {
	mu      sync.Mutex
	status  int
	headers []http.Header
	bodies  [][]byte
}

func (f *fakeConsumer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	_, _ = b.ReadFrom(r.Body)
	f.mu.Lock()
	f.headers = append(f.headers, r.Header.Clone())
	f.bodies = append(f.bodies, b.Bytes())
	status := f.status
	f.mu.Unlock()
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":{"code":"invalid"}}`))
}

// invokeStack writes a stack directory whose thumbnailer and welcome-mailer are c.
func invokeStack(t *testing.T, c *fakeConsumer) string {
	t.Helper()
	srv := httptest.NewTLSServer(c)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	st := &stack.Stack{Region: "us-east-1", CAFile: ca, Services: map[string]stack.Service{
		"thumbnailer": {URL: srv.URL}, "welcome-mailer": {URL: srv.URL},
	}, Resources: stack.Resources{MediaBucket: "dev-media", SubscribersTable: "dev-subscribers"}}
	if err := stack.Write(filepath.Join(dir, "stack.json"), st); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestInvokeSamples(t *testing.T) {
	c := &fakeConsumer{status: 200}
	dir := invokeStack(t, c)
	for _, tt := range []struct{ consumer, event, ceType, source string }{
		{"thumbnailer", "s3-put", "com.amazonaws.s3.ObjectCreated:Put", "aws:s3.us-east-1.dev-media"},
		{"welcome-mailer", "dynamodb-insert", "com.amazonaws.dynamodb.INSERT", "aws:dynamodb.us-east-1.dev-subscribers"},
	} {
		t.Run(tt.event, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), []string{"invoke", tt.consumer, "--event", tt.event, "--dir", dir}, &out, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			c.mu.Lock()
			h, body := c.headers[len(c.headers)-1], c.bodies[len(c.bodies)-1]
			c.mu.Unlock()
			// Binary mode, as a Knative Broker delivers: attributes in ce- headers, data as the body.
			if h.Get("Ce-Specversion") != "1.0" || h.Get("Ce-Type") != tt.ceType || h.Get("Ce-Source") != tt.source || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
				t.Errorf("headers = %v, want binary mode with type %s and source %s", h, tt.ceType, tt.source)
			}
			if !strings.Contains(out.String(), "accepted") {
				t.Errorf("output = %q", out.String())
			}
			if tt.event == "s3-put" {
				// The consumers' own parser reads the record, now naming the stack's bucket.
				var rec s3event.Record
				if err := json.Unmarshal(body, &rec); err != nil {
					t.Fatal(err)
				}
				if rec.S3.Bucket.Name != "dev-media" || !strings.HasPrefix(rec.S3.Object.Key, "uploads/") {
					t.Errorf("record names bucket %q key %q", rec.S3.Bucket.Name, rec.S3.Object.Key)
				}
			} else {
				var rec cloudevent.DynamoDBRecord
				if err := json.Unmarshal(body, &rec); err != nil {
					t.Fatal(err)
				}
				if rec.EventName != "INSERT" || len(rec.DynamoDB.NewImage) == 0 {
					t.Errorf("record = %+v, want an INSERT with a new image", rec)
				}
			}
		})
	}
}

func TestInvokeErrors(t *testing.T) {
	c := &fakeConsumer{status: 400}
	dir := invokeStack(t, c)
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"id":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"invoke", "thumbnailer", "--event", "s3-put", "--dir", dir}, "refused the event for good (400"},
		{[]string{"invoke", "thumbnailer", "--dir", dir}, "--event is required"},
		{[]string{"invoke", "nobody", "--event", "s3-put", "--dir", dir}, `no service "nobody"`},
		{[]string{"invoke", "thumbnailer", "--event", bad, "--dir", dir}, "bad.json"},
		{[]string{"invoke", "thumbnailer", "--event", "s3-put", "--dir", filepath.Join(dir, "none")}, "no local stack is running"},
	} {
		t.Run(strings.Join(tt.args[1:4], " "), func(t *testing.T) {
			err := run(context.Background(), tt.args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
