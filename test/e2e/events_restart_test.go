package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/serverless-architect/serverless-architect/internal/childproc"
	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/logtest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
	"github.com/serverless-architect/serverless-architect/internal/provision"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// proc is a source run as a separate process, so the test can SIGKILL it (a child of
// sa dev that dies stops the whole stack, by design).
type proc struct {
	t    *testing.T
	name string
	bin  string
	env  []string
	cmd  *exec.Cmd
	out  *logtest.Buffer
}

func (p *proc) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin)
	p.cmd.Env = append(os.Environ(), append(p.env, "PORT="+strconv.Itoa(porttest.Free(p.t)), "METRICS_PORT="+strconv.Itoa(porttest.Free(p.t)), "HOST=127.0.0.1", "DRAIN_DELAY=0s", "LOG_LEVEL=info")...)
	childproc.Prepare(p.cmd, false)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if _, err := childproc.Start(p.cmd); err != nil {
		p.t.Fatal(err)
	}
}

// kill SIGKILLs the process: no drain, no lease release, nothing flushed.
func (p *proc) kill() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

func newProc(t *testing.T, name, bin string, env []string) *proc {
	p := &proc{t: t, name: name, bin: bin, env: env, out: &logtest.Buffer{}}
	t.Cleanup(func() {
		if p.cmd != nil && p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = p.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
			}
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", p.name, p.out.String())
		}
	})
	return p
}

// ensure provisions resources with the project's own definitions.
func ensure(t *testing.T, c *provision.Clients, out *stack.Resources, rs ...provision.Resource) {
	t.Helper()
	for _, r := range rs {
		if _, err := r.Ensure(context.Background(), c, out); err != nil {
			t.Fatalf("provision %s %s: %v", r.Kind(), r.Name(), err)
		}
	}
}

// testSourcesSurviveKill runs each source as its own process against resources of a
// fresh prefix in the stack's moto, SIGKILLs it twice while events stream through,
// restarts it each time, and checks that nothing was lost: every subscriber has exactly
// one email (dynamodb-source -> the stack's welcome-mailer), every upload was delivered
// at least once and the queue ends empty (s3-source -> a recording sink).
func testSourcesSurviveKill(t *testing.T, s *localStack) {
	cfg := stackAWS(t, s.stack)
	clients := provision.NewClients(cfg)
	prefix := strings.ReplaceAll(mototest.Name("rs"), "-", "") + "-"
	common := []string{"AWS_REGION=" + s.stack.Region, "AWS_ENDPOINT_URL=" + s.stack.AWSEndpoint, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test"}

	t.Run("dynamodb-source", func(t *testing.T) {
		var res stack.Resources
		for _, r := range provision.BlogResources(prefix, provision.BlogOptions{}) {
			if r.Name() == prefix+"subscribers" {
				ensure(t, clients, &res, r)
			}
		}
		ensure(t, clients, &res, provision.EventResources(prefix, provision.SenderOptions{Email: s.stack.Resources.SenderEmail})...)
		src := newProc(t, "dynamodb-source", buildTool(t, "./services/dynamodb-source"), append(common,
			"K_SINK="+s.stack.Services["welcome-mailer"].URL, "SSL_CERT_FILE="+s.stack.CAFile,
			"STREAM_ARN="+res.SubscribersStreamARN, "CHECKPOINT_TABLE="+res.CheckpointTable,
			"DEAD_LETTER_QUEUE_URL="+res.SubscriberEventsDLQURL, "POLL_INTERVAL=100ms", "LEASE_DURATION=2s"))
		src.start()

		db := dynamodb.NewFromConfig(cfg)
		const n = 40
		addrs := make([]string, n)
		for i := range addrs {
			addrs[i] = fmt.Sprintf("%ssub%02d@example.com", prefix[:len(prefix)-1], i)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			for _, a := range addrs {
				_, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{
					TableName:           aws.String(res.SubscribersTable),
					Item:                confirmedSubscriber(a, s.stack.Region),
					ConditionExpression: aws.String("attribute_not_exists(email)"),
				})
				if err != nil {
					t.Errorf("subscribe %s: %v", a, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
		// Progress is read from the mailer's ledger (one BatchGetItem: a record turns
		// "sent" once SES accepted the email), not from moto's /moto-api/data.json, which
		// renders the state of every test sharing the moto and grows too slow to poll
		// under a full make test: the kills would no longer land mid-stream. The emails
		// themselves are counted in data.json at the end.
		delivered := func() int { return sentInLedger(t, db, s.stack.Resources.IdempotencyTable, addrs) }
		for kill := 1; kill <= 2; kill++ {
			base := delivered()
			waitFor(t, 20*time.Second, fmt.Sprintf("emails beyond %d before kill %d", base, kill), func() bool { return delivered() >= base+4 })
			at := delivered()
			src.kill()
			t.Logf("kill %d: SIGKILL with %d of %d emails sent", kill, at, n)
			if at >= n {
				t.Fatalf("every email was out before kill %d: the kill was not mid-stream", kill)
			}
			src.start()
		}
		wg.Wait()
		waitEmails(t, s.stack.AWSEndpoint, 30*time.Second, addrs...)
		time.Sleep(time.Second) // let any redelivery after the last restart land
		for a, es := range sentEmails(t, s.stack.AWSEndpoint, addrs...) {
			if len(es) != 1 {
				t.Errorf("%s got %d emails, want exactly 1", a, len(es))
			}
		}
	})

	t.Run("s3-source", func(t *testing.T) {
		var mu sync.Mutex
		seen := map[string]int{}
		sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e, err := cloudevent.Decode(r.Context(), r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			time.Sleep(100 * time.Millisecond) // a consumer does some work: kills catch events in flight
			mu.Lock()
			seen[e.Subject()]++
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}))
		defer sink.Close()
		count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }

		bucket := prefix + "media"
		s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
		if _, err := s3c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatal(err)
		}
		res := stack.Resources{MediaBucket: bucket}
		ensure(t, clients, &res, provision.ThumbnailResources(prefix)...)
		src := newProc(t, "s3-source", buildTool(t, "./services/s3-source"), append(common,
			"K_SINK="+sink.URL, "SQS_QUEUE_URL="+res.MediaEventsQueueURL, "SQS_WAIT_TIME=1s",
			"SQS_VISIBILITY_TIMEOUT=3s", "POISON_DELAY=1s", "SQS_BATCH_SIZE=5"))
		src.start()

		const n = 40
		keys := make([]string, n)
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range keys {
				keys[i] = fmt.Sprintf("uploads/obj %02d+x.jpg", i) // a space and a plus: S3 encodes both
				if _, err := s3c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys[i]), Body: strings.NewReader("x")}); err != nil {
					t.Errorf("upload %s: %v", keys[i], err)
				}
				time.Sleep(75 * time.Millisecond)
			}
		})
		for kill := 1; kill <= 2; kill++ {
			base := count()
			waitFor(t, 20*time.Second, fmt.Sprintf("deliveries beyond %d before kill %d", base, kill), func() bool { return count() >= base+4 })
			at := count()
			src.kill()
			t.Logf("kill %d: SIGKILL with %d of %d uploads delivered", kill, at, n)
			if at >= n {
				t.Fatalf("every upload was delivered before kill %d: the kill was not mid-stream", kill)
			}
			src.start()
		}
		wg.Wait()
		waitFor(t, 30*time.Second, "every upload delivered", func() bool { return count() == n })
		mu.Lock()
		for _, k := range keys {
			if seen[k] < 1 {
				t.Errorf("%q was never delivered", k)
			}
		}
		dups := 0
		for _, c := range seen {
			dups += c - 1
		}
		mu.Unlock()
		t.Logf("%d redeliveries (at least once)", dups)

		sq := sqs.NewFromConfig(cfg)
		for _, q := range []string{res.MediaEventsQueueURL, res.MediaEventsDLQURL} {
			waitFor(t, 15*time.Second, "queue "+q+" empty", func() bool {
				out, err := sq.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q),
					AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
				if err != nil {
					t.Fatal(err)
				}
				return out.Attributes["ApproximateNumberOfMessages"] == "0" && out.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
			})
		}
	})
}

// sentInLedger counts the addresses whose welcome email the mailer's ledger (table)
// records as sent.
func sentInLedger(t *testing.T, db *dynamodb.Client, table string, addrs []string) int {
	t.Helper()
	keys := make([]map[string]ddbtypes.AttributeValue, len(addrs))
	for i, a := range addrs {
		keys[i] = map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "welcome#" + a}}
	}
	n := 0
	req := map[string]ddbtypes.KeysAndAttributes{table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	for len(req) > 0 {
		out, err := db.BatchGetItem(context.Background(), &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Responses[table] {
			if st, ok := it["state"].(*ddbtypes.AttributeValueMemberS); ok && st.Value == "sent" {
				n++
			}
		}
		req = out.UnprocessedKeys
	}
	return n
}

// confirmedSubscriber is a subscriber item as blog-api leaves it once the address has
// confirmed, in region: the item whose stream record makes region's mailer send the
// welcome email.
func confirmedSubscriber(address, region string) map[string]ddbtypes.AttributeValue {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	return map[string]ddbtypes.AttributeValue{
		"email":        &ddbtypes.AttributeValueMemberS{Value: address},
		"status":       &ddbtypes.AttributeValueMemberS{Value: "confirmed"},
		"region":       &ddbtypes.AttributeValueMemberS{Value: region},
		"subscribedAt": &ddbtypes.AttributeValueMemberS{Value: now},
		"confirmedAt":  &ddbtypes.AttributeValueMemberS{Value: now},
	}
}

// waitFor polls cond every 50 ms until it holds, or fails the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
