package provision

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	smithy "github.com/aws/smithy-go"

	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// SenderOptions say who the welcome emails come from, and how SES knows it may send
// as them.
type SenderOptions struct {
	// Email is the From address. With Domain it defaults to welcome@<Domain> and must
	// be at that domain.
	Email string
	// Domain, when set, is verified as a whole (Easy DKIM): SES then sends as any
	// address at it. Without it, Email alone is verified (SES emails its owner a link).
	Domain string
	// ConfigurationSet is an SES configuration set the mailer sends through (event
	// publishing, suppression); created when missing.
	ConfigurationSet string
}

// Address is the From address.
func (s SenderOptions) Address() string {
	if s.Email == "" && s.Domain != "" {
		return "welcome@" + s.Domain
	}
	return s.Email
}

// Identity is the SES identity the mailer sends as: the domain, else the address.
func (s SenderOptions) Identity() string {
	if s.Domain != "" {
		return s.Domain
	}
	return s.Email
}

// Validate reports a sender SES could not send as.
func (s SenderOptions) Validate() error {
	if s.Email == "" && s.Domain == "" {
		return nil
	}
	a, err := mail.ParseAddress(s.Address())
	if err != nil || a.Name != "" || a.Address != s.Address() {
		return fmt.Errorf("sender %q is not a plain email address (welcome@blog.example.com)", s.Address())
	}
	if s.Domain != "" {
		if strings.ContainsAny(s.Domain, "@/: ") || !strings.Contains(s.Domain, ".") {
			return fmt.Errorf("sender domain %q is not a domain name (blog.example.com)", s.Domain)
		}
		if _, at, _ := strings.Cut(s.Address(), "@"); !strings.EqualFold(at, s.Domain) {
			return fmt.Errorf("sender %s is not at the verified domain %s", s.Address(), s.Domain)
		}
	}
	return nil
}

// TTLAttribute is the attribute DynamoDB's time to live reads on the tables that
// expire items: pending subscribers, rate-limit counters, confirmation-email ledger
// records, a deleted MyTodoList account's mark (Unix seconds).
const TTLAttribute = "expiresAt"

// EventResources are the resources of the subscriber-event flow (blog-api ->
// dynamodb-source -> welcome-mailer): the subscribers stream (verified, enabled when
// missing) and the expiry of pending subscribers, blog-api's rate-limit counters, the
// source's checkpoint table and dead-letter queue, the mailer's idempotency table, its
// SES configuration set (when one is asked for) and its SES sender identity. They come
// after BlogResources, which make the subscribers table.
func EventResources(prefix string, sender SenderOptions) []Resource {
	rs := []Resource{
		TableStream{Record: func(out *stack.Resources, arn string) { out.SubscribersStreamARN = arn }},
		SubscribersTTL{},
		StateTable{TableName: prefix + "subscribe-limits", TTL: true, Record: func(out *stack.Resources, name string) { out.SubscribeLimitsTable = name }},
		StateTable{TableName: prefix + "stream-checkpoints", Record: func(out *stack.Resources, name string) { out.CheckpointTable = name }},
		StateTable{TableName: prefix + "welcome-idempotency", TTL: true, Record: func(out *stack.Resources, name string) { out.IdempotencyTable = name }},
		DeadLetterQueue{QueueName: prefix + "subscriber-events-dlq", Record: func(out *stack.Resources, url string) { out.SubscriberEventsDLQURL = url }},
	}
	if sender.ConfigurationSet != "" {
		rs = append(rs, ConfigurationSet{SetName: sender.ConfigurationSet})
	}
	return append(rs, SenderIdentity{Sender: sender})
}

// TableStream makes sure the subscribers table (out.SubscribersTable) has a stream that
// carries new images, enabling a NEW_IMAGE stream when it has none, and records the
// stream's ARN.
type TableStream struct {
	Record func(out *stack.Resources, arn string)
}

var _ Resource = TableStream{}

// Kind implements Resource.
func (TableStream) Kind() string { return "dynamodb stream" }

// Name implements Resource.
func (TableStream) Name() string { return "subscribers (NEW_IMAGE)" }

// Ensure implements Resource.
func (s TableStream) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	table := out.SubscribersTable
	if table == "" {
		return Outcome{}, errors.New("the subscribers table must be provisioned first")
	}
	desc, err := c.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return Outcome{}, fmt.Errorf("describe table %s: %w", table, err)
	}
	spec := desc.Table.StreamSpecification
	created := false
	switch {
	case spec == nil || !aws.ToBool(spec.StreamEnabled):
		if _, err := c.DynamoDB.UpdateTable(ctx, &dynamodb.UpdateTableInput{
			TableName:           aws.String(table),
			StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage},
		}); err != nil {
			return Outcome{}, fmt.Errorf("enable the stream of %s: %w", table, err)
		}
		created = true
		if desc, err = c.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err != nil {
			return Outcome{}, fmt.Errorf("describe table %s: %w", table, err)
		}
	case !StreamHasNewImage(spec.StreamViewType):
		return Outcome{}, fmt.Errorf("table %s streams %s, but the welcome mailer needs new images (NEW_IMAGE or NEW_AND_OLD_IMAGES); "+
			"a table's view type cannot change in place: disable its stream and run again", table, spec.StreamViewType)
	}
	arn := aws.ToString(desc.Table.LatestStreamArn)
	if arn == "" {
		return Outcome{}, fmt.Errorf("table %s reports no stream ARN", table)
	}
	s.Record(out, arn)
	return Outcome{Created: created, ID: arn}, nil
}

// StreamHasNewImage reports whether a stream of view type v carries new images.
func StreamHasNewImage(v types.StreamViewType) bool {
	return v == types.StreamViewTypeNewImage || v == types.StreamViewTypeNewAndOldImages
}

// StateTable is a small on-demand table keyed by the string attribute pk: the
// source's shard checkpoints and leases, the mailer's idempotency records, blog-api's
// rate-limit counters.
type StateTable struct {
	TableName string
	// TTL turns on DynamoDB's time to live on TTLAttribute.
	TTL    bool
	Record func(out *stack.Resources, name string)
}

var _ Resource = StateTable{}

// Kind implements Resource.
func (StateTable) Kind() string { return "dynamodb table" }

// Name implements Resource.
func (t StateTable) Name() string { return t.TableName }

// Ensure implements Resource. A table of that name with another key schema is an error.
func (t StateTable) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	want := []keyAttr{{Name: "pk", Type: types.ScalarAttributeTypeS, Role: types.KeyTypeHash}}
	desc, err := c.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.TableName)})
	var notFound *types.ResourceNotFoundException
	created := false
	switch {
	case errors.As(err, &notFound):
		_, err := c.DynamoDB.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:            aws.String(t.TableName),
			BillingMode:          types.BillingModePayPerRequest,
			SSESpecification:     &types.SSESpecification{Enabled: aws.Bool(true), SSEType: types.SSETypeKms},
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
			Tags:                 []types.Tag{{Key: aws.String("project"), Value: aws.String("serverless-architect")}},
		})
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return Outcome{}, fmt.Errorf("create table: %w", err)
		}
		created = true
	case err != nil:
		return Outcome{}, fmt.Errorf("describe table: %w", err)
	default:
		if got := keySchema(desc.Table); !slices.Equal(got, want) {
			return Outcome{}, fmt.Errorf("table %q exists with key schema %s, but the project needs %s: delete it or choose another --prefix",
				t.TableName, formatKeys(got), formatKeys(want))
		}
	}
	waiter := dynamodb.NewTableExistsWaiter(c.DynamoDB, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 200 * time.Millisecond
		o.MaxDelay = 5 * time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.TableName)}, tableActiveTimeout); err != nil {
		return Outcome{}, fmt.Errorf("wait for table to become ACTIVE: %w", err)
	}
	if t.TTL {
		if _, err := ensureTTL(ctx, c, t.TableName); err != nil {
			return Outcome{}, err
		}
	}
	t.Record(out, t.TableName)
	return Outcome{Created: created}, nil
}

// ensureTTL turns on time to live on TTLAttribute of table unless it is on (or being
// turned on) already, and reports whether it did.
func ensureTTL(ctx context.Context, c *Clients, table string) (bool, error) {
	got, err := c.DynamoDB.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		return false, fmt.Errorf("describe time to live of %s: %w", table, err)
	}
	if d := got.TimeToLiveDescription; d != nil && (d.TimeToLiveStatus == types.TimeToLiveStatusEnabled || d.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
		if name := aws.ToString(d.AttributeName); name != TTLAttribute {
			return false, fmt.Errorf("table %s expires items on %q, but the project writes %q: turn its time to live off and run again", table, name, TTLAttribute)
		}
		return false, nil
	}
	if _, err := c.DynamoDB.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{Enabled: aws.Bool(true), AttributeName: aws.String(TTLAttribute)},
	}); err != nil {
		return false, fmt.Errorf("turn on time to live of %s: %w", table, err)
	}
	return true, nil
}

// SubscribersTTL turns on the subscribers table's time to live, which deletes pending
// subscriptions nobody confirmed (blog-api writes their expiresAt). In each region of
// a global table: run provisioning in every region.
type SubscribersTTL struct{}

var _ Resource = SubscribersTTL{}

// Kind implements Resource.
func (SubscribersTTL) Kind() string { return "dynamodb time to live" }

// Name implements Resource.
func (SubscribersTTL) Name() string { return "subscribers (" + TTLAttribute + ")" }

// Ensure implements Resource.
func (SubscribersTTL) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	if out.SubscribersTable == "" {
		return Outcome{}, errors.New("the subscribers table must be provisioned first")
	}
	created, err := ensureTTL(ctx, c, out.SubscribersTable)
	return Outcome{Created: created}, err
}

// DeadLetterQueue is the SQS queue dynamodb-source puts refused records on, kept 14
// days, encrypted with SQS-managed keys.
type DeadLetterQueue struct {
	QueueName string
	Record    func(out *stack.Resources, url string)
}

var _ Resource = DeadLetterQueue{}

// Kind implements Resource.
func (DeadLetterQueue) Kind() string { return "sqs queue" }

// Name implements Resource.
func (q DeadLetterQueue) Name() string { return q.QueueName }

// Ensure implements Resource: CreateQueue is idempotent for equal attributes; the
// attributes are set again on every run.
func (q DeadLetterQueue) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	attrs := map[string]string{"SqsManagedSseEnabled": "true", "MessageRetentionPeriod": strconv.Itoa(14 * 24 * 3600)}
	created := false
	url := ""
	got, err := c.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q.QueueName)})
	if err == nil {
		url = aws.ToString(got.QueueUrl)
		if _, err := c.SQS.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: attrs}); err != nil {
			return Outcome{}, fmt.Errorf("set queue attributes: %w", err)
		}
	} else {
		made, err := c.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(q.QueueName), Attributes: attrs,
			Tags: map[string]string{"project": "serverless-architect"}})
		if err != nil {
			return Outcome{}, fmt.Errorf("create queue: %w", err)
		}
		url, created = aws.ToString(made.QueueUrl), true
	}
	q.Record(out, url)
	return Outcome{Created: created, ID: url}, nil
}

// SenderIdentity is the SES identity of the welcome mailer: an email address, or a
// whole domain with Easy DKIM. Creating an address identity makes SES email its owner
// a verification link; a domain identity needs the three DKIM CNAME records it prints
// (and records) in the domain's DNS. moto verifies either at once and gives no DKIM
// tokens. Without a sender it is skipped, and the mailer cannot send.
type SenderIdentity struct {
	Sender SenderOptions
}

var _ Resource = SenderIdentity{}

// Kind implements Resource.
func (i SenderIdentity) Kind() string {
	if i.Sender.Domain != "" {
		return "ses domain identity"
	}
	return "ses email identity"
}

// Name implements Resource.
func (i SenderIdentity) Name() string {
	if i.Sender.Identity() == "" {
		return "(no sender)"
	}
	return i.Sender.Identity()
}

// Ensure implements Resource.
func (i SenderIdentity) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	id := i.Sender.Identity()
	if id == "" {
		return Outcome{Skipped: true, ID: "no --sender-email or --sender-domain: the welcome mailer has no identity to send as"}, nil
	}
	if err := i.Sender.Validate(); err != nil {
		return Outcome{}, err
	}
	created := false
	got, err := c.SESv2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(id)})
	var notFound *sestypes.NotFoundException
	var dkim *sestypes.DkimAttributes
	switch {
	case errors.As(err, &notFound):
		made, err := c.SESv2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(id),
			Tags: []sestypes.Tag{{Key: aws.String("project"), Value: aws.String("serverless-architect")}}})
		var exists *sestypes.AlreadyExistsException
		if err != nil && !errors.As(err, &exists) {
			return Outcome{}, fmt.Errorf("create email identity: %w", err)
		}
		if made != nil {
			dkim = made.DkimAttributes
		}
		created = true
	case err != nil:
		return Outcome{}, fmt.Errorf("get email identity: %w", err)
	default:
		dkim = got.DkimAttributes
	}
	o := Outcome{Created: created}
	out.SenderEmail, out.SenderIdentity, out.SESConfigurationSet = i.Sender.Address(), id, i.Sender.ConfigurationSet
	switch {
	case i.Sender.Domain != "" && dkim != nil && len(dkim.Tokens) > 0:
		out.SenderDKIMRecords = DKIMRecords(i.Sender.Domain, dkim.Tokens)
		o.Notes = append([]string{"add these CNAME records to " + i.Sender.Domain + "'s DNS (Easy DKIM), then SES verifies the domain:"}, out.SenderDKIMRecords...)
	case i.Sender.Domain != "":
		o.Notes = []string{"the endpoint gave no DKIM tokens (moto does not): nothing to add to DNS here"}
	case created && !c.isMoto(ctx, aws.ToString(c.SESv2.Options().BaseEndpoint)):
		o.Notes = []string{"SES emailed " + id + " a verification link: open it before the mailer can send"}
	}
	return o, nil
}

// DKIMRecords are the DNS records Easy DKIM asks for: one CNAME per token,
// <token>._domainkey.<domain> -> <token>.dkim.amazonses.com.
func DKIMRecords(domain string, tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		out[i] = t + "._domainkey." + domain + " CNAME " + t + ".dkim.amazonses.com"
	}
	return out
}

// ConfigurationSet is the SES configuration set the welcome mailer sends through,
// created when missing (its event destinations are the operator's).
type ConfigurationSet struct {
	SetName string
}

var _ Resource = ConfigurationSet{}

// Kind implements Resource.
func (ConfigurationSet) Kind() string { return "ses configuration set" }

// Name implements Resource.
func (s ConfigurationSet) Name() string { return s.SetName }

// Ensure implements Resource: CreateConfigurationSet, where AlreadyExists means it
// exists (moto answers GetConfigurationSet in a shape the SDK cannot read, and this
// SDK lists sets on a path moto does not serve).
func (s ConfigurationSet) Ensure(ctx context.Context, c *Clients, _ *stack.Resources) (Outcome, error) {
	_, err := c.SESv2.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String(s.SetName),
		Tags: []sestypes.Tag{{Key: aws.String("project"), Value: aws.String("serverless-architect")}}})
	var exists *sestypes.AlreadyExistsException
	var api smithy.APIError
	switch {
	case errors.As(err, &exists), errors.As(err, &api) && api.ErrorCode() == "ConfigurationSetAlreadyExistsException": // moto's (SES v1) name
		return Outcome{}, nil
	case err != nil:
		return Outcome{}, fmt.Errorf("create configuration set: %w", err)
	}
	return Outcome{Created: true}, nil
}
