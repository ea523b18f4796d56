package welcome_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/server"
	"github.com/serverless-architect/serverless-architect/services/welcome-mailer/internal/api"
	"github.com/serverless-architect/serverless-architect/services/welcome-mailer/internal/welcome"
)

// goldenFor reads a golden event and puts address where the golden one is, and the
// test's region where the golden one is (the mailer acts on its own region's
// subscribers); a pending subscriber's expiry moves a day into the future.
func goldenFor(t *testing.T, name, address string) cloudevents.Event {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte("ada@example.com"), []byte(address))
	b = bytes.ReplaceAll(b, []byte("eu-west-1"), []byte(mototest.Region))
	b = bytes.ReplaceAll(b, []byte("1714737600"), []byte(strconv.FormatInt(time.Now().Add(24*time.Hour).Unix(), 10)))
	var e cloudevents.Event
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// post delivers e to url in binary or structured mode, as a Knative channel or
// IntegrationSource does, and returns the status code.
func post(t *testing.T, url string, e cloudevents.Event, structured bool) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := binding.WithForceBinary(context.Background())
	if structured {
		ctx = binding.WithForceStructured(context.Background())
	}
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&e), req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestHTTPHandlerAgainstMoto runs welcome-mailer's whole HTTP handler (Build, as main
// does, AWS clients from the environment) against moto and delivers the golden events
// of both producers — dynamodb-source's Lambda-shaped records and Knative's
// IntegrationSource events — in binary and structured mode: each pending subscriber
// gets exactly one confirmation email with one link to the confirmation page, each
// confirmed one exactly one welcome email with both parts and its unsubscribe link,
// however often the event is delivered. The metrics count each email sent once and
// every redelivery as a duplicate, and each request under the receiver's route.
func TestHTTPHandlerAgainstMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	cfg := mototest.AWSConfig(t, ep)
	ctx := context.Background()
	table := mototest.Name("welcome-http")
	db := dynamodb.NewFromConfig(cfg)
	mototest.CreateTable(t, db, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
	from := mototest.Name("hello") + "@example.com"
	if _, err := sesv2.NewFromConfig(cfg).CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(from)}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL", ep)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	reg := metrics.New()
	h, err := api.Build(metrics.NewContext(ctx, reg), api.Config{
		Config: server.Config{}, Region: mototest.Region, IdempotencyTable: table, SenderEmail: from,
		UnsubscribeKey: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", UnsubscribeBaseURL: "https://blog.example",
		EmailAttribute: "email", BlogName: "MyBlog", ClaimLease: 30 * time.Second, SESTimeout: 10 * time.Second,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Instrument(h))
	defer srv.Close()
	msrv := httptest.NewServer(reg.Handler())
	defer msrv.Close()

	for _, tc := range []struct {
		name, golden string
		structured   bool
		welcome      bool
	}{
		{"dynamodb-source pending binary", "dynamodb-insert.json", false, false},
		{"dynamodb-source confirmed binary", "dynamodb-modify.json", false, true},
		{"knative integrationsource pending binary", "knative-ddb-streams.json", false, false},
		{"knative integrationsource confirmed structured", "knative-ddb-streams-modify.json", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			to := mototest.Name("sub") + "@example.com"
			e := goldenFor(t, tc.golden, to)
			for i := range 3 {
				if got := post(t, srv.URL, e, tc.structured); got != http.StatusNoContent {
					t.Fatalf("delivery %d answered %d, want 204", i+1, got)
				}
			}
			msgs := motoMessages(t, ep, to)
			if len(msgs) != 1 {
				t.Fatalf("moto holds %d emails to %s, want 1", len(msgs), to)
			}
			m := msgs[0]
			if !tc.welcome {
				links := welcome.LinksWith(m.Parts["text/plain"], "/confirm")
				if len(links) != 1 || !strings.HasPrefix(links[0], "https://blog.example/v1/subscribers/confirm?token=") ||
					len(welcome.LinksWith(m.Parts["text/plain"], "/")) != 1 || m.ListUnsubscribe != "" {
					t.Errorf("confirmation = %+v, want one link, to the confirmation page, and no List-Unsubscribe", m)
				}
				return
			}
			if !strings.Contains(m.Parts["text/plain"], to) || !strings.Contains(m.Parts["text/html"], "https://blog.example/v1/subscribers/unsubscribe?token=") {
				t.Errorf("email = %+v, want both parts, the address and the unsubscribe link", m)
			}
		})
	}

	t.Run("poison and ignored events", func(t *testing.T) {
		garbled := goldenFor(t, "knative-ddb-streams.json", "x@example.com")
		_ = garbled.SetData(cloudevents.ApplicationJSON, []byte(`{"eventName":"INSERT","dynamodb":{"newImage":{"email":{"s":"not an address"},"status":{"s":"confirmed"},"region":{"s":"`+mototest.Region+`"}}}}`))
		if got := post(t, srv.URL, garbled, false); got != http.StatusBadRequest {
			t.Errorf("an invalid address answered %d, want 400", got)
		}
		other := goldenFor(t, "dynamodb-insert.json", "y@example.com")
		other.SetType("com.example.something.else")
		if got := post(t, srv.URL, other, false); got != http.StatusNoContent {
			t.Errorf("an unrelated type answered %d, want 204", got)
		}
		if n := len(motoMessages(t, ep, "y@example.com")); n != 0 {
			t.Errorf("an unrelated type sent %d emails", n)
		}
	})

	fams := metricstest.Scrape(t, msrv.URL)
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"kind": welcome.KindConfirmation, "outcome": welcome.OutcomeSent, "reason": ""}, 2},
		{map[string]string{"kind": welcome.KindConfirmation, "outcome": welcome.OutcomeDuplicate}, 4},
		{map[string]string{"kind": welcome.KindWelcome, "outcome": welcome.OutcomeSent, "reason": ""}, 2},
		{map[string]string{"kind": welcome.KindWelcome, "outcome": welcome.OutcomeDuplicate}, 4},
		{map[string]string{"outcome": welcome.OutcomeFailed}, 0},
	} {
		if got, _ := fams.Value("welcome_mailer_emails_total", c.labels); got != c.want {
			t.Errorf("welcome_mailer_emails_total%v = %v, want %v; series %v", c.labels, got, c.want, fams.Series("welcome_mailer_emails_total"))
		}
	}
	for code, want := range map[string]float64{"204": 13, "400": 1} {
		if got, _ := fams.Value("http_server_requests_total", map[string]string{"route": cloudevent.ReceiverRoute, "method": "POST", "code": code}); got != want {
			t.Errorf("requests answered %s = %v, want %v; series %v", code, got, want, fams.Series("http_server_requests_total"))
		}
	}
}
