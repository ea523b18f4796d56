package welcome_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/services/welcome-mailer/internal/api"
	"github.com/serverless-architect/serverless-architect/services/welcome-mailer/internal/store"
	"github.com/serverless-architect/serverless-architect/services/welcome-mailer/internal/welcome"
	"github.com/serverless-architect/serverless-architect/services/welcome-mailer/internal/welcome/welcometest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// motoMessages returns the emails moto's SES holds for to, parsed (the mailer sends
// raw MIME messages, which moto keeps whole under RawMessage).
func motoMessages(t *testing.T, ep, to string) []welcometest.ParsedEmail {
	t.Helper()
	var data struct {
		SES struct {
			Message    []map[string]any `json:"Message"`
			RawMessage []struct {
				Source       string   `json:"source"`
				Destinations []string `json:"destinations"`
				RawData      string   `json:"raw_data"`
			} `json:"RawMessage"`
		} `json:"ses"`
	}
	if err := mototest.ModelData(ep, &data); err != nil {
		t.Fatalf("moto's data.json: %v", err)
	}
	for _, m := range data.SES.Message {
		if b, _ := json.Marshal(m["destinations"]); strings.Contains(string(b), `"`+to+`"`) {
			t.Errorf("a Simple message to %s: the mailer sends raw messages only", to)
		}
	}
	var out []welcometest.ParsedEmail
	for _, m := range data.SES.RawMessage {
		if slices.Contains(m.Destinations, to) {
			out = append(out, welcometest.ParseEmail(t, []byte(m.RawData)))
		}
	}
	return out
}

// TestAgainstMoto runs the handler with the real ledger and SES v2 against moto:
// duplicates, a duplicate while a claim is held and an unverified sender.
func TestAgainstMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	cfg := mototest.AWSConfig(t, ep)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(cfg)
	table := mototest.Name("welcome-idem")
	mototest.CreateTable(t, db, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
	ses := sesv2.NewFromConfig(cfg)
	from := mototest.Name("hello") + "@example.com"
	if _, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(from)}); err != nil {
		t.Fatal(err)
	}
	// Against a moto shared by the whole test run, SES calls take what the production
	// bound allows, not the unit tests' 1s.
	h := welcome.NewTestHandler(&store.DynamoLedger{DB: db, Table: table}, &store.SESMailer{Client: ses, From: from}, nil)
	h.SendTimeout = 10 * time.Second

	to := mototest.Name("ada") + "@example.com"
	for i := range 3 {
		if err := api.Receive(ctx, h.Log, h, welcome.ConfirmedFor(t, to)); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	msgs := motoMessages(t, ep, to)
	if len(msgs) != 1 {
		t.Fatalf("moto holds %d emails to %s, want 1", len(msgs), to)
	}
	if m := msgs[0]; !strings.Contains(m.Parts["text/html"], "unsubscribe?token=") || !strings.Contains(m.Parts["text/plain"], "unsubscribe?token=") ||
		!strings.Contains(m.ListUnsubscribe, "unsubscribe?token=") || m.From != "<"+from+">" {
		t.Errorf("email = %+v, want the welcome from %s with the unsubscribe link in both parts and the header", m, from)
	}

	// Concurrent duplicates are TestConcurrentDuplicatesSendOnce's, on a ledger as
	// atomic as DynamoDB's conditional writes are: moto 5.2 evaluates an UpdateItem's
	// condition and applies the update without a lock, so two of eight concurrent claims
	// of one new key both succeed in about one trial in ten (its PutItem is atomic).
	// Against moto, the claim-in-progress case below turns a duplicate away instead.

	// An unverified sender: SES refuses (MessageRejected): permanent, and the claim is
	// released so a replay after fixing the identity sends the email.
	bad := welcome.NewTestHandler(&store.DynamoLedger{DB: db, Table: table}, &store.SESMailer{Client: ses, From: mototest.Name("nobody") + "@unverified.example"}, nil)
	bad.SendTimeout = h.SendTimeout
	to3 := mototest.Name("eve") + "@example.com"
	err := api.Receive(ctx, bad.Log, bad, welcome.ConfirmedFor(t, to3))
	if !cloudevent.IsPermanent(err) {
		t.Fatalf("unverified sender: %v, want a permanent error", err)
	}
	if err := api.Receive(ctx, h.Log, h, welcome.ConfirmedFor(t, to3)); err != nil {
		t.Fatalf("replay with a verified sender: %v", err)
	}
	if n := len(motoMessages(t, ep, to3)); n != 1 {
		t.Errorf("after the replay: %d emails, want 1", n)
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: ledgerKey(welcome.Key(to3)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(out.Item["state"]); !strings.Contains(got, "sent") {
		t.Errorf("ledger state = %s, want sent", got)
	}

	// A claim in progress carries when it was taken and when its holder expects to be
	// done, for the Retry-After of the deliveries it turns away.
	ledger := &store.DynamoLedger{DB: db, Table: table}
	gus := mototest.Name("gus") + "@example.com"
	k := welcome.Key(gus)
	held, err := ledger.Claim(ctx, welcome.ClaimRequest{Key: k, Lease: 30 * time.Second, Expect: 400 * time.Millisecond, Expires: time.Unix(1_900_000_000, 0)})
	if err != nil || held.State != welcome.Acquired {
		t.Fatalf("claim: %+v, %v", held, err)
	}
	busy, err := ledger.Claim(ctx, welcome.ClaimRequest{Key: k, Lease: 30 * time.Second, Expect: time.Second})
	if err != nil || busy.State != welcome.InProgress {
		t.Fatalf("second claim: %+v, %v; want in progress", busy, err)
	}
	if !busy.ClaimedAt.Equal(held.ClaimedAt.Truncate(time.Millisecond)) || busy.ExpectedBy.Sub(busy.ClaimedAt) != 400*time.Millisecond ||
		busy.Until.Sub(busy.ClaimedAt) != 30*time.Second {
		t.Errorf("claim in progress = %+v; want the holder's claim time, +400ms expected, +30s lease", busy)
	}
	// A duplicate delivery while the claim is held sends nothing and is told to retry.
	if err := api.Receive(ctx, h.Log, h, welcome.ConfirmedFor(t, gus)); err == nil || cloudevent.IsPermanent(err) {
		t.Errorf("a duplicate while the claim is held: %v, want a retryable error", err)
	}
	if n := len(motoMessages(t, ep, gus)); n != 0 {
		t.Errorf("a duplicate while the claim is held sent %d emails, want none", n)
	}
	rec, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: ledgerKey(k), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := rec.Item["expiresAt"].(*types.AttributeValueMemberN); got == nil || got.Value != "1900000000" {
		t.Errorf("a record that may expire has expiresAt %v, want 1900000000 (the table's TTL attribute)", rec.Item["expiresAt"])
	}

	// SES's own refusal of a recipient (moto answers 400 InvalidParameterValue) is final.
	_, err = ses.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(from),
		Destination:      &sestypes.Destination{ToAddresses: []string{"no-domain"}},
		Content:          &sestypes.EmailContent{Simple: &sestypes.Message{Subject: &sestypes.Content{Data: aws.String("x")}, Body: &sestypes.Body{Text: &sestypes.Content{Data: aws.String("x")}}}},
	})
	if got := store.Classify(err); !errors.Is(got, welcome.ErrRefused) {
		t.Errorf("SES refusing a recipient: %v classified as %v, want welcome.ErrRefused", err, got)
	}
}

// ledgerKey is the key of an email's item in the idempotency table: the ledger key as
// the partition key pk, no sort key.
func ledgerKey(k string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: k}}
}
