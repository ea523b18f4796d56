package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/devstack"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
)

// TestTraces: sa dev collects every service's spans (.dev/traces), and one trace holds
// a request's whole path. A GET of a to-do route sent to the gateway with a traceparent
// is answered with that trace's id in X-Trace-Id and the trace holds the gateway's
// server and upstream spans, todo-api's server span and its DynamoDB call, each the
// child of the one before; the cache hit that follows answers its own trace id too. A
// subscriber's confirmation and welcome emails are each one trace from the DynamoDB
// stream: dynamodb-source's span for the record, welcome-mailer's span for the event
// (the CloudEvents traceparent extension) and its SES SendEmail call. An uploaded
// photo is one trace from s3-source's span for the notification through thumbnailer's
// span for the event to its S3 PutObject. sa trace prints the waterfall.
func TestTraces(t *testing.T) {
	s := sharedStack(t)
	client := eventsClient(t, s)
	bin := buildTool(t, "./cmd/todo")
	u := newUser(t, bin, s.stackFile, "tracy")
	u.ok("signup", "--email", u.email)
	u.ok("confirm", "--email", u.email, "--code", "123456")
	u.ok("login", "--email", u.email)
	token := idToken(t, u)

	const callerSpan = "00f067aa0ba902b7"
	get := func(traceID string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.stack.APIURL+"/v1/todos", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Traceparent", "00-"+traceID+"-"+callerSpan+"-01")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/todos: %d", resp.StatusCode)
		}
		if got := resp.Header.Get("X-Trace-Id"); got != traceID {
			t.Errorf("X-Trace-Id = %q (X-Cache %s), want the traceparent's %s", got, resp.Header.Get("X-Cache"), traceID)
		}
		return resp
	}

	missID, hitID := newTraceID(t), newTraceID(t)
	if resp := get(missID); resp.Header.Get("X-Cache") != "Miss" {
		t.Fatalf("first read: X-Cache %q, want Miss", resp.Header.Get("X-Cache"))
	}
	// Each process exports its own spans in batches: wait for all four (the gateway's
	// end after todo-api's, so they can come later), then check how they link.
	spans := waitSpans(t, s.dir, missID, func(spans []devstack.Span) bool {
		return find(spans, "todo-api", "client", "DynamoDB.") != nil && find(spans, "todo-api", "server", "") != nil &&
			find(spans, "gateway", "server", "") != nil && find(spans, "gateway", "client", "") != nil
	})
	gwServer := find(spans, "gateway", "server", "")
	gwClient := find(spans, "gateway", "client", "")
	apiServer := find(spans, "todo-api", "server", "")
	dynamo := find(spans, "todo-api", "client", "DynamoDB.")
	switch {
	case gwServer == nil || gwClient == nil || apiServer == nil:
		t.Fatalf("trace %s lacks the gateway's server or upstream span or todo-api's server span:\n%s", missID, dump(spans))
	case gwServer.ParentSpanID != callerSpan:
		t.Errorf("gateway span's parent %q, want the caller's %s", gwServer.ParentSpanID, callerSpan)
	case gwClient.ParentSpanID != gwServer.SpanID:
		t.Errorf("gateway upstream span's parent %q, want the gateway's server span %s", gwClient.ParentSpanID, gwServer.SpanID)
	case apiServer.ParentSpanID != gwClient.SpanID:
		t.Errorf("todo-api span's parent %q, want the gateway's upstream span %s", apiServer.ParentSpanID, gwClient.SpanID)
	case !descends(spans, dynamo, apiServer.SpanID):
		t.Errorf("the DynamoDB span %s is not under todo-api's server span %s:\n%s", dynamo.SpanID, apiServer.SpanID, dump(spans))
	}
	if apiServer.Name != "GET /v1/todos" || apiServer.Attributes["http.route"] != "/v1/todos" {
		t.Errorf("todo-api span %q with http.route %v, want GET /v1/todos", apiServer.Name, apiServer.Attributes["http.route"])
	}
	if tables, _ := dynamo.Attributes["aws.dynamodb.table_names"].([]any); len(tables) != 1 || tables[0] != s.stack.Resources.TodosTable {
		t.Errorf("DynamoDB span tables %v, want [%s]", dynamo.Attributes["aws.dynamodb.table_names"], s.stack.Resources.TodosTable)
	}

	// The same read again is a cache hit: answered by the gateway alone, in the
	// caller's trace all the same.
	if resp := get(hitID); resp.Header.Get("X-Cache") != "Hit" {
		t.Errorf("second read: X-Cache %q, want Hit", resp.Header.Get("X-Cache"))
	}
	hit := waitSpans(t, s.dir, hitID, func(spans []devstack.Span) bool { return len(spans) > 0 })
	if len(hit) != 1 || hit[0].Service != "gateway" || hit[0].ParentSpanID != callerSpan {
		t.Errorf("the hit's trace:\n%s\nwant one gateway span under the caller's", dump(hit))
	}

	// A subscriber, confirmed: two emails, each the end of a trace from the stream.
	ada := strings.ToLower(mototest.Name("ada")) + "@example.com"
	subscribe(t, client, s.stack.BlogURL, ada)
	got := waitEmails(t, s.stack.AWSEndpoint, 15*time.Second, ada)[ada]
	link := confirmLink(t, got[0], s.stack.BlogURL)
	postConfirm(t, client, link)
	waitEmailCount(t, s.stack.AWSEndpoint, 15*time.Second, ada, 2)
	var chains []string
	deadline := time.Now().Add(30 * time.Second)
	for len(chains) < 2 && time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		chains = streamToSES(t, s.dir, ada)
	}
	if len(chains) != 2 {
		var events []devstack.Span
		for _, x := range readAllSpans(t, s.dir) {
			if x.Service == "welcome-mailer" || x.Kind == "producer" {
				events = append(events, x)
			}
		}
		t.Fatalf("%d traces from the stream to SES about %s, want 2 (confirmation, welcome): %v\nthe spans of the flow:\n%s", len(chains), ada, chains, dump(events))
	}

	// A photo: S3 -> s3-source -> thumbnailer -> S3, one trace.
	p := uploadPhoto(t, client, s.stack.Services["blog-api"].URL, adminToken(t, s.stack), "image/jpeg", "trace.jpg", testJPEG(t, 640, 480))
	if got := waitPhoto(t, client, s.stack.Services["blog-api"].URL, p.ID, 30*time.Second); got.Status != "ready" {
		t.Fatalf("photo %s: %s (%s), want ready", p.ID, got.Status, got.Reason)
	}
	var photoTrace string
	for deadline := time.Now().Add(30 * time.Second); photoTrace == "" && time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		photoTrace = s3ToS3(readAllSpans(t, s.dir), p.ID)
	}
	if photoTrace == "" {
		var events []devstack.Span
		for _, x := range readAllSpans(t, s.dir) {
			if x.Service == "thumbnailer" || x.Service == "s3-source" {
				events = append(events, x)
			}
		}
		t.Errorf("no trace from s3-source's span for photo %s through thumbnailer's consumer span to its S3 call:\n%s", p.ID, dump(events))
	}

	// sa trace prints the to-do read's waterfall.
	sa := buildTool(t, "./cmd/sa")
	out, err := exec.Command(sa, "trace", "--dir", s.dir, missID).CombinedOutput()
	if err != nil {
		t.Fatalf("sa trace: %v\n%s", err, out)
	}
	t.Logf("sa trace %s:\n%s", missID, out)
	for _, want := range []string{"trace " + missID, "gateway", "todo-api", "GET /v1/todos (server)", dynamo.Name + " (client)", "█"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("sa trace output lacks %q:\n%s", want, out)
		}
	}
}

// newTraceID returns a random W3C trace id.
func newTraceID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// waitSpans polls the collected spans of trace id until done accepts them (30 s).
func waitSpans(t *testing.T, dir, id string, done func([]devstack.Span) bool) []devstack.Span {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		spans, err := devstack.ReadTrace(dir, id)
		if err != nil {
			t.Fatal(err)
		}
		if done(spans) {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s, after 30 s:\n%s", id, dump(spans))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// find returns the first span of service of kind whose name starts with prefix.
func find(spans []devstack.Span, service, kind, prefix string) *devstack.Span {
	for i, s := range spans {
		if s.Service == service && s.Kind == kind && strings.HasPrefix(s.Name, prefix) {
			return &spans[i]
		}
	}
	return nil
}

// descends reports whether s is, through its parents within spans, under ancestor.
func descends(spans []devstack.Span, s *devstack.Span, ancestor string) bool {
	byID := map[string]devstack.Span{}
	for _, x := range spans {
		byID[x.SpanID] = x
	}
	for cur, ok := *s, true; ok; cur, ok = byID[cur.ParentSpanID] {
		if cur.ParentSpanID == ancestor {
			return true
		}
	}
	return false
}

// streamToSES returns, for each SES SendEmail span of welcome-mailer whose trace began
// with dynamodb-source's span for a record about address, that trace's id, once it
// checked the chain: the SendEmail span under welcome-mailer's consumer span, whose
// parent is the record's span.
func streamToSES(t *testing.T, dir, address string) []string {
	t.Helper()
	all := readAllSpans(t, dir)
	var out []string
	for _, send := range all {
		if send.Service != "welcome-mailer" || send.Name != "SESv2.SendEmail" {
			continue
		}
		trace := traceOf(all, send.TraceID)
		consumer := find(trace, "welcome-mailer", "consumer", "")
		producer := find(trace, "dynamodb-source", "producer", "")
		if consumer == nil || producer == nil || consumer.ParentSpanID != producer.SpanID || !descends(trace, &send, consumer.SpanID) {
			continue
		}
		// The subject is the item's key, query-escaped (cloudevent.KeySubject).
		if subject, _ := producer.Attributes["cloudevents.event_subject"].(string); strings.Contains(subject, url.QueryEscape(address)) {
			out = append(out, send.TraceID)
		}
	}
	return out
}

// s3ToS3 returns the trace that begins with s3-source's span for an object whose key
// names photo and holds thumbnailer's consumer span (the child of that span) and an S3
// call under it; "" when there is none yet.
func s3ToS3(all []devstack.Span, photo string) string {
	for _, producer := range all {
		subject, _ := producer.Attributes["cloudevents.event_subject"].(string)
		if producer.Service != "s3-source" || producer.Kind != "producer" || !strings.Contains(subject, photo) {
			continue
		}
		trace := traceOf(all, producer.TraceID)
		consumer := find(trace, "thumbnailer", "consumer", "")
		put := find(trace, "thumbnailer", "client", "S3.PutObject")
		if consumer != nil && put != nil && consumer.ParentSpanID == producer.SpanID && descends(trace, put, consumer.SpanID) {
			return producer.TraceID
		}
	}
	return ""
}

// readAllSpans reads every span collected under the stack directory dir.
func readAllSpans(t *testing.T, dir string) []devstack.Span {
	t.Helper()
	spans, err := devstack.AllSpans(dir)
	if err != nil {
		t.Fatal(err)
	}
	return spans
}

// traceOf returns the spans of all that belong to trace id.
func traceOf(all []devstack.Span, id string) []devstack.Span {
	var out []devstack.Span
	for _, x := range all {
		if x.TraceID == id {
			out = append(out, x)
		}
	}
	return out
}

// dump shows spans one a line, for a failure message.
func dump(spans []devstack.Span) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "  %s %s %q (%s) parent=%s %v\n", s.Service, s.SpanID, s.Name, s.Kind, s.ParentSpanID, s.Attributes)
	}
	return b.String()
}
