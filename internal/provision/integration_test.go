package provision

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

func TestRunCreatesThenFinds(t *testing.T) {
	ep := mototest.Endpoint(t)
	cfg := mototest.AWSConfig(t, ep)
	ctx := context.Background()
	prefix := mototest.Name("prov") + "-"

	var log1 bytes.Buffer
	first, err := Run(ctx, cfg, Options{Prefix: prefix, Log: &log1})
	if err != nil {
		t.Fatalf("first Run: %v", err)
	}
	// The to-do resources come first; later features append theirs. Whatever the first
	// run created, the second finds.
	todoLines := []string{
		"created  dynamodb table " + prefix + "todos",
		"created  cognito user pool " + prefix + "mytodolist (" + first.UserPoolID + ")",
		"created  cognito app client " + prefix + "mobile (" + first.UserPoolClientID + ")",
		"created  cognito group admins",
	}
	firstLines := lines(log1.String())
	if len(firstLines) != len(Definitions(prefix)) {
		t.Errorf("first run printed %d lines for %d resources:\n%s", len(firstLines), len(Definitions(prefix)), log1.String())
	}
	if len(firstLines) < len(todoLines) {
		t.Fatalf("first run's lines:\n%s", log1.String())
	}
	if diff := cmp.Diff(todoLines, firstLines[:len(todoLines)]); diff != "" {
		t.Errorf("first run's to-do lines (-want +got):\n%s", diff)
	}
	todo := func(r stack.Resources) stack.Resources {
		return stack.Resources{TodosTable: r.TodosTable, AdminsGroup: r.AdminsGroup, Issuer: r.Issuer, JWKSURL: r.JWKSURL}
	}
	want := stack.Resources{
		TodosTable:  prefix + "todos",
		AdminsGroup: "admins",
		Issuer:      "https://cognito-idp.us-east-1.amazonaws.com/" + first.UserPoolID,
		JWKSURL:     ep + "/" + first.UserPoolID + "/.well-known/jwks.json",
	}
	if diff := cmp.Diff(want, todo(first)); diff != "" {
		t.Errorf("first run's outputs (-want +got):\n%s", diff)
	}
	if first.UserPoolID == "" || first.UserPoolClientID == "" {
		t.Fatalf("ids missing: %+v", first)
	}

	var log2 bytes.Buffer
	second, err := Run(ctx, cfg, Options{Prefix: prefix, Log: &log2})
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("second run's outputs differ (-first +second):\n%s", diff)
	}
	wantSecond := make([]string, len(firstLines))
	for i, l := range firstLines {
		wantSecond[i] = strings.Replace(l, "created  ", "exists   ", 1)
	}
	if diff := cmp.Diff(wantSecond, lines(log2.String())); diff != "" {
		t.Errorf("second run's lines (-want +got):\n%s", diff)
	}

	c := NewClients(cfg)
	t.Run("one pool and one client", func(t *testing.T) {
		pools, err := findUserPools(ctx, c.Cognito, prefix+"mytodolist")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{first.UserPoolID}, pools); diff != "" {
			t.Errorf("pools named %smytodolist (-want +got):\n%s", prefix, diff)
		}
		clients, err := findAppClients(ctx, c.Cognito, first.UserPoolID, prefix+"mobile")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{first.UserPoolClientID}, clients); diff != "" {
			t.Errorf("clients named %smobile (-want +got):\n%s", prefix, diff)
		}
	})

	t.Run("table settings", func(t *testing.T) {
		d, err := c.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(first.TodosTable)})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Table.TableStatus; got != types.TableStatusActive {
			t.Errorf("status = %s, want ACTIVE", got)
		}
		ttl, err := c.DynamoDB.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(first.TodosTable)})
		if err != nil {
			t.Fatal(err)
		}
		if d := ttl.TimeToLiveDescription; d == nil || aws.ToString(d.AttributeName) != TTLAttribute || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
			t.Errorf("time to live = %+v, want %s ENABLED (a deleted account's mark must expire)", d, TTLAttribute)
		}
		if d.Table.BillingModeSummary == nil || d.Table.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
			t.Errorf("billing mode = %+v, want PAY_PER_REQUEST", d.Table.BillingModeSummary)
		}
		if diff := cmp.Diff("[pk (S) HASH, sk (S) RANGE]", formatKeys(keySchema(d.Table))); diff != "" {
			t.Errorf("key schema (-want +got):\n%s", diff)
		}
		if d.Table.SSEDescription == nil || d.Table.SSEDescription.Status != types.SSEStatusEnabled {
			t.Errorf("SSE = %+v, want ENABLED", d.Table.SSEDescription)
		}
	})

	t.Run("pool settings", func(t *testing.T) {
		d, err := c.Cognito.DescribeUserPool(ctx, &cip.DescribeUserPoolInput{UserPoolId: aws.String(first.UserPoolID)})
		if err != nil {
			t.Fatal(err)
		}
		p := d.UserPool
		if diff := cmp.Diff([]ciptypes.UsernameAttributeType{"email"}, p.UsernameAttributes); diff != "" {
			t.Errorf("UsernameAttributes (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]ciptypes.VerifiedAttributeType{"email"}, p.AutoVerifiedAttributes); diff != "" {
			t.Errorf("AutoVerifiedAttributes (-want +got):\n%s", diff)
		}
		pp := p.Policies.PasswordPolicy
		if aws.ToInt32(pp.MinimumLength) != 8 || !pp.RequireUppercase || !pp.RequireLowercase || !pp.RequireNumbers || !pp.RequireSymbols {
			t.Errorf("password policy = %+v, want min 8 with upper, lower, digit and symbol", pp)
		}
		if p.AccountRecoverySetting == nil || len(p.AccountRecoverySetting.RecoveryMechanisms) != 1 ||
			p.AccountRecoverySetting.RecoveryMechanisms[0].Name != ciptypes.RecoveryOptionNameTypeVerifiedEmail {
			t.Errorf("account recovery = %+v, want verified_email", p.AccountRecoverySetting)
		}
	})

	t.Run("client settings", func(t *testing.T) {
		d, err := c.Cognito.DescribeUserPoolClient(ctx, &cip.DescribeUserPoolClientInput{
			UserPoolId: aws.String(first.UserPoolID), ClientId: aws.String(first.UserPoolClientID),
		})
		if err != nil {
			t.Fatal(err)
		}
		uc := d.UserPoolClient
		if uc.ClientSecret != nil {
			t.Errorf("client has a secret; a mobile app cannot keep one")
		}
		wantFlows := []ciptypes.ExplicitAuthFlowsType{"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"}
		if diff := cmp.Diff(wantFlows, uc.ExplicitAuthFlows, cmpopts.SortSlices(func(a, b ciptypes.ExplicitAuthFlowsType) bool { return a < b })); diff != "" {
			t.Errorf("ExplicitAuthFlows (-want +got):\n%s", diff)
		}
		if !contains(uc.ReadAttributes, "email") {
			t.Errorf("ReadAttributes = %v, want email among them", uc.ReadAttributes)
		}
		if aws.ToInt32(uc.AccessTokenValidity) != 1 || aws.ToInt32(uc.IdTokenValidity) != 1 || uc.RefreshTokenValidity != 30 {
			t.Errorf("validity access=%d id=%d refresh=%d, want 1, 1, 30",
				aws.ToInt32(uc.AccessTokenValidity), aws.ToInt32(uc.IdTokenValidity), uc.RefreshTokenValidity)
		}
		if uc.PreventUserExistenceErrors != ciptypes.PreventUserExistenceErrorTypesEnabled {
			t.Errorf("PreventUserExistenceErrors = %q, want ENABLED", uc.PreventUserExistenceErrors)
		}
	})

	t.Run("jwks url answers", func(t *testing.T) {
		resp, err := http.Get(first.JWKSURL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", first.JWKSURL, resp.Status)
		}
	})
}

func TestRunRejectsTableWithOtherKeySchema(t *testing.T) {
	ep := mototest.Endpoint(t)
	cfg := mototest.AWSConfig(t, ep)
	ctx := context.Background()
	prefix := mototest.Name("prov") + "-"
	mototest.CreateTable(t, dynamodb.NewFromConfig(cfg), &dynamodb.CreateTableInput{
		TableName:            aws.String(prefix + "todos"),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	})
	_, err := Run(ctx, cfg, Options{Prefix: prefix})
	if err == nil {
		t.Fatal("Run succeeded on a table with another key schema")
	}
	for _, want := range []string{`"` + prefix + `todos"`, "[id (S) HASH]", "[pk (S) HASH, sk (S) RANGE]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func lines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
