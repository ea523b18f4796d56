package auth

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// motoPool is a user pool in moto with one confirmed user signed in through two app
// clients.
type motoPool struct {
	id, client, client2 string
	sub, username       string
	// tokens of the user through client.
	idToken, accessToken string
	// tokens of the user through client2 (same pool).
	idToken2, accessToken2 string
}

func newMotoPool(t *testing.T, ctx context.Context, c *cip.Client) motoPool {
	t.Helper()
	pool, err := c.CreateUserPool(ctx, &cip.CreateUserPoolInput{PoolName: aws.String(mototest.Name("auth-it"))})
	if err != nil {
		t.Fatalf("CreateUserPool: %v", err)
	}
	p := motoPool{id: aws.ToString(pool.UserPool.Id), username: "alice-" + mototest.Name("u")}
	newClient := func() string {
		out, err := c.CreateUserPoolClient(ctx, &cip.CreateUserPoolClientInput{
			UserPoolId: aws.String(p.id),
			ClientName: aws.String(mototest.Name("app")),
			ExplicitAuthFlows: []types.ExplicitAuthFlowsType{
				types.ExplicitAuthFlowsTypeAllowUserPasswordAuth,
				types.ExplicitAuthFlowsTypeAllowRefreshTokenAuth,
			},
			ReadAttributes: []string{"email"},
		})
		if err != nil {
			t.Fatalf("CreateUserPoolClient: %v", err)
		}
		return aws.ToString(out.UserPoolClient.ClientId)
	}
	p.client, p.client2 = newClient(), newClient()

	const password = "Corr3ct-Horse-Battery!"
	if _, err := c.SignUp(ctx, &cip.SignUpInput{
		ClientId: aws.String(p.client),
		Username: aws.String(p.username),
		Password: aws.String(password),
		UserAttributes: []types.AttributeType{
			{Name: aws.String("email"), Value: aws.String(p.username + "@example.com")},
		},
	}); err != nil {
		t.Fatalf("SignUp: %v", err)
	}
	if _, err := c.AdminConfirmSignUp(ctx, &cip.AdminConfirmSignUpInput{UserPoolId: aws.String(p.id), Username: aws.String(p.username)}); err != nil {
		t.Fatalf("AdminConfirmSignUp: %v", err)
	}
	if _, err := c.CreateGroup(ctx, &cip.CreateGroupInput{UserPoolId: aws.String(p.id), GroupName: aws.String("admins")}); err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	if _, err := c.AdminAddUserToGroup(ctx, &cip.AdminAddUserToGroupInput{UserPoolId: aws.String(p.id), Username: aws.String(p.username), GroupName: aws.String("admins")}); err != nil {
		t.Fatalf("AdminAddUserToGroup: %v", err)
	}
	user, err := c.AdminGetUser(ctx, &cip.AdminGetUserInput{UserPoolId: aws.String(p.id), Username: aws.String(p.username)})
	if err != nil {
		t.Fatalf("AdminGetUser: %v", err)
	}
	for _, a := range user.UserAttributes {
		if aws.ToString(a.Name) == "sub" {
			p.sub = aws.ToString(a.Value)
		}
	}
	if p.sub == "" {
		t.Fatal("AdminGetUser returned no sub")
	}

	signIn := func(client string) (string, string) {
		out, err := c.InitiateAuth(ctx, &cip.InitiateAuthInput{
			AuthFlow:       types.AuthFlowTypeUserPasswordAuth,
			ClientId:       aws.String(client),
			AuthParameters: map[string]string{"USERNAME": p.username, "PASSWORD": password},
		})
		if err != nil {
			t.Fatalf("InitiateAuth: %v", err)
		}
		if out.AuthenticationResult == nil {
			t.Fatalf("InitiateAuth returned a challenge (%s), not tokens", out.ChallengeName)
		}
		return aws.ToString(out.AuthenticationResult.IdToken), aws.ToString(out.AuthenticationResult.AccessToken)
	}
	p.idToken, p.accessToken = signIn(p.client)
	p.idToken2, p.accessToken2 = signIn(p.client2)
	return p
}

func TestCognitoTokensFromMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	ctx := context.Background()
	c := cip.NewFromConfig(mototest.AWSConfig(t, ep))
	a := newMotoPool(t, ctx, c)
	b := newMotoPool(t, ctx, c)

	verifierFor := func(p motoPool, clients ...string) *Verifier {
		v, err := NewVerifier(Config{
			Issuer:             "https://cognito-idp." + mototest.Region + ".amazonaws.com/" + p.id,
			JWKSURL:            ep + "/" + p.id + "/.well-known/jwks.json",
			ClientIDs:          clients,
			TokenUses:          []string{TokenUseID, TokenUseAccess},
			Leeway:             5 * time.Second,
			MinRefreshInterval: time.Minute,
			JWKSTimeout:        5 * time.Second,
		}, nil)
		if err != nil {
			t.Fatalf("NewVerifier: %v", err)
		}
		return v
	}
	va := verifierFor(a, a.client)

	tests := []struct {
		name    string
		v       *Verifier
		token   string
		want    Identity
		wantMsg string // for a refusal
	}{
		{
			name: "id token", v: va, token: a.idToken,
			want: Identity{Subject: a.sub, Username: a.username, Email: a.username + "@example.com", Groups: []string{"admins"}, TokenUse: "id", ClientID: a.client},
		},
		{
			name: "access token", v: va, token: a.accessToken,
			want: Identity{Subject: a.sub, Username: a.username, Groups: []string{"admins"}, TokenUse: "access", ClientID: a.client},
		},
		{name: "id token of another pool", v: va, token: b.idToken, wantMsg: "issuer is not accepted"},
		{name: "access token of another pool", v: va, token: b.accessToken, wantMsg: "issuer is not accepted"},
		{name: "id token of another client of the pool", v: va, token: a.idToken2, wantMsg: "audience is not an accepted app client"},
		{name: "access token of another client of the pool", v: va, token: a.accessToken2, wantMsg: "client_id is not an accepted app client"},
		{
			name: "second client once accepted", v: verifierFor(a, a.client, a.client2), token: a.accessToken2,
			want: Identity{Subject: a.sub, Username: a.username, Groups: []string{"admins"}, TokenUse: "access", ClientID: a.client2},
		},
		{
			name: "the other pool's own verifier", v: verifierFor(b, b.client), token: b.idToken,
			want: Identity{Subject: b.sub, Username: b.username, Email: b.username + "@example.com", Groups: []string{"admins"}, TokenUse: "id", ClientID: b.client},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.v.Verify(ctx, tt.token)
			if tt.wantMsg != "" {
				e := apperr.As(err)
				if e == nil || e.Code != apperr.Unauthenticated || !strings.Contains(e.Message, tt.wantMsg) {
					t.Fatalf("Verify: %v; want unauthenticated, %q", err, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Identity{}, "Expiry", "Issuer")); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
			if until := time.Until(got.Expiry); until < 50*time.Minute || until > 70*time.Minute {
				t.Errorf("expiry %s is %s away, want about an hour", got.Expiry, until)
			}
		})
	}
}
