package provision

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

func TestStreamHasNewImage(t *testing.T) {
	for v, want := range map[types.StreamViewType]bool{
		types.StreamViewTypeNewImage: true, types.StreamViewTypeNewAndOldImages: true,
		types.StreamViewTypeKeysOnly: false, types.StreamViewTypeOldImage: false,
	} {
		if got := StreamHasNewImage(v); got != want {
			t.Errorf("StreamHasNewImage(%s) = %v, want %v", v, got, want)
		}
	}
}

// TestEventResourcesAgainstMoto provisions the event flow's resources twice: the
// first run creates them (and enables the stream of a table made without one), the
// second finds them all.
func TestEventResourcesAgainstMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	c := NewClients(mototest.AWSConfig(t, ep))
	ctx := context.Background()
	prefix := mototest.Name("ev") + "-"
	subs := prefix + "subscribers"
	mototest.CreateTable(t, c.DynamoDB, &dynamodb.CreateTableInput{
		TableName:            aws.String(subs),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("email"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("email"), KeyType: types.KeyTypeHash}},
	})
	rs := append([]Resource{recordSubscribers{subs}}, EventResources(prefix, SenderOptions{Email: prefix + "hello@example.com"})...)
	for run := 1; run <= 2; run++ {
		var log strings.Builder
		out, err := Ensure(ctx, c, rs, &log)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if out.SubscribersStreamARN == "" || out.CheckpointTable != prefix+"stream-checkpoints" || out.IdempotencyTable != prefix+"welcome-idempotency" ||
			out.SubscribeLimitsTable != prefix+"subscribe-limits" ||
			!strings.HasSuffix(out.SubscriberEventsDLQURL, prefix+"subscriber-events-dlq") || out.SenderEmail != prefix+"hello@example.com" {
			t.Errorf("run %d: resources = %+v", run, out)
		}
		created := strings.Count(log.String(), "created")
		if run == 1 && created != 7 || run == 2 && created != 0 {
			t.Errorf("run %d created %d resources:\n%s", run, created, log.String())
		}
	}
	desc, err := c.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(subs)})
	if err != nil {
		t.Fatal(err)
	}
	if spec := desc.Table.StreamSpecification; spec == nil || !aws.ToBool(spec.StreamEnabled) || spec.StreamViewType != types.StreamViewTypeNewImage {
		t.Errorf("stream = %+v, want NEW_IMAGE enabled", spec)
	}
	// Pending subscribers, rate-limit counters and confirmation records expire.
	for _, table := range []string{subs, prefix + "subscribe-limits", prefix + "welcome-idempotency"} {
		ttl, err := c.DynamoDB.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
		if err != nil {
			t.Fatal(err)
		}
		if d := ttl.TimeToLiveDescription; d == nil || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != TTLAttribute {
			t.Errorf("time to live of %s = %+v, want enabled on %s", table, d, TTLAttribute)
		}
	}
	if _, err := c.DynamoDB.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(prefix + "stream-checkpoints")}); err != nil {
		t.Fatal(err)
	}
}

// recordSubscribers stands in for the blog's table definition: it records the name.
type recordSubscribers struct{ name string }

func (recordSubscribers) Kind() string   { return "test" }
func (r recordSubscribers) Name() string { return r.name }
func (r recordSubscribers) Ensure(_ context.Context, _ *Clients, out *stack.Resources) (Outcome, error) {
	out.SubscribersTable = r.name
	return Outcome{}, nil
}
func (recordSubscribers) Delete(context.Context, *Clients) (Removal, error) { return Removal{}, nil }

// TestSenderIdentityAgainstMoto: a domain identity with a configuration set. The
// sender address defaults to welcome@<domain>, the configuration set is created, and
// the records say what the mailer's role may send as.
func TestSenderIdentityAgainstMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	c := NewClients(mototest.AWSConfig(t, ep))
	ctx := context.Background()
	domain := strings.ToLower(mototest.Name("mail")) + ".example.com"
	set := mototest.Name("welcome")
	rs := EventResources("", SenderOptions{Domain: domain, ConfigurationSet: set})
	rs = rs[len(rs)-2:] // the configuration set and the identity
	var log strings.Builder
	out, err := Ensure(ctx, c, rs, &log)
	if err != nil {
		t.Fatal(err)
	}
	if out.SenderEmail != "welcome@"+domain || out.SenderIdentity != domain || out.SESConfigurationSet != set {
		t.Errorf("outputs: sender %q identity %q set %q", out.SenderEmail, out.SenderIdentity, out.SESConfigurationSet)
	}
	for _, want := range []string{"created  ses configuration set " + set, "created  ses domain identity " + domain, "gave no DKIM tokens"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	log.Reset()
	if _, err := Ensure(ctx, c, rs, &log); err != nil || !strings.Contains(log.String(), "exists   ses configuration set "+set) {
		t.Errorf("second run: %v\n%s", err, log.String())
	}
	// No sender: said, not silently defaulted.
	log.Reset()
	none := EventResources("", SenderOptions{})
	if _, err := Ensure(ctx, c, none[len(none)-1:], &log); err != nil || !strings.Contains(log.String(), "skipped  ses email identity (no sender) (no --sender-email or --sender-domain") {
		t.Errorf("no sender: %v\n%s", err, log.String())
	}
}

func TestSenderOptions(t *testing.T) {
	for _, tc := range []struct {
		s        SenderOptions
		from, id string
		err      string
	}{
		{SenderOptions{Email: "welcome@blog.example.com"}, "welcome@blog.example.com", "welcome@blog.example.com", ""},
		{SenderOptions{Domain: "blog.example.com"}, "welcome@blog.example.com", "blog.example.com", ""},
		{SenderOptions{Domain: "blog.example.com", Email: "news@blog.example.com"}, "news@blog.example.com", "blog.example.com", ""},
		{SenderOptions{Domain: "blog.example.com", Email: "news@other.example.com"}, "", "", "not at the verified domain"},
		{SenderOptions{Email: "MyBlog <welcome@blog.example.com>"}, "", "", "not a plain email address"},
		{SenderOptions{Domain: "localhost"}, "", "", "not a domain name"},
		{SenderOptions{}, "", "", ""},
	} {
		err := tc.s.Validate()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: Validate = %v, want %q", tc.s, err, tc.err)
			}
			continue
		}
		if err != nil || tc.s.Address() != tc.from || tc.s.Identity() != tc.id {
			t.Errorf("%+v: %v, from %q identity %q", tc.s, err, tc.s.Address(), tc.s.Identity())
		}
	}
	got := DKIMRecords("blog.example.com", []string{"abc", "def"})
	want := []string{"abc._domainkey.blog.example.com CNAME abc.dkim.amazonses.com", "def._domainkey.blog.example.com CNAME def.dkim.amazonses.com"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("DKIM records = %q", got)
	}
}
