package cognitolocal

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/smithy-go"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// TestStandInAgainstMoto drives the stand-in with the AWS SDK as a client would
// (anonymous calls to its endpoint): RevokeToken ends one session's refresh token and
// not another's; DeleteUser refuses a bad access token and deletes the token's user,
// after which the same email signs up anew; everything else reaches moto.
func TestStandInAgainstMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	ctx := context.Background()
	cfg := mototest.AWSConfig(t, ep)
	admin := cip.NewFromConfig(cfg)
	pool, err := admin.CreateUserPool(ctx, &cip.CreateUserPoolInput{PoolName: aws.String(mototest.Name("pool"))})
	if err != nil {
		t.Fatal(err)
	}
	poolID := aws.ToString(pool.UserPool.Id)
	client, err := admin.CreateUserPoolClient(ctx, &cip.CreateUserPoolClientInput{
		UserPoolId: aws.String(poolID), ClientName: aws.String("app"),
		ExplicitAuthFlows: []types.ExplicitAuthFlowsType{types.ExplicitAuthFlowsTypeAllowUserPasswordAuth, types.ExplicitAuthFlowsTypeAllowRefreshTokenAuth},
	})
	if err != nil {
		t.Fatal(err)
	}
	clientID := aws.ToString(client.UserPoolClient.ClientId)
	s, err := New(ep, admin, poolID)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	user := cip.NewFromConfig(cfg, func(o *cip.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.Credentials = aws.AnonymousCredentials{}
	})
	const email, password = "someone@example.com", "Corr3ct-Horse-Battery"
	signUp := func() {
		t.Helper()
		if _, err := user.SignUp(ctx, &cip.SignUpInput{ClientId: aws.String(clientID), Username: aws.String(email), Password: aws.String(password)}); err != nil {
			t.Fatalf("sign up through the stand-in: %v", err)
		}
		if _, err := user.ConfirmSignUp(ctx, &cip.ConfirmSignUpInput{ClientId: aws.String(clientID), Username: aws.String(email), ConfirmationCode: aws.String("123456")}); err != nil {
			t.Fatal(err)
		}
	}
	login := func() *types.AuthenticationResultType {
		t.Helper()
		out, err := user.InitiateAuth(ctx, &cip.InitiateAuthInput{ClientId: aws.String(clientID), AuthFlow: types.AuthFlowTypeUserPasswordAuth,
			AuthParameters: map[string]string{"USERNAME": email, "PASSWORD": password}})
		if err != nil {
			t.Fatalf("log in through the stand-in: %v", err)
		}
		return out.AuthenticationResult
	}
	refresh := func(tok string) error {
		_, err := user.InitiateAuth(ctx, &cip.InitiateAuthInput{ClientId: aws.String(clientID), AuthFlow: types.AuthFlowTypeRefreshTokenAuth,
			AuthParameters: map[string]string{"REFRESH_TOKEN": tok}})
		return err
	}
	code := func(err error) string {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		return ""
	}

	signUp()
	phone, laptop := login(), login()
	if _, err := user.RevokeToken(ctx, &cip.RevokeTokenInput{ClientId: aws.String(clientID), Token: phone.RefreshToken}); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	if err := refresh(aws.ToString(phone.RefreshToken)); code(err) != "NotAuthorizedException" {
		t.Errorf("refresh with the revoked token: %v, want NotAuthorizedException", err)
	}
	if err := refresh(aws.ToString(laptop.RefreshToken)); err != nil {
		t.Errorf("refresh of the other session: %v", err)
	}

	if _, err := user.DeleteUser(ctx, &cip.DeleteUserInput{AccessToken: aws.String("not-a-token")}); code(err) != "NotAuthorizedException" {
		t.Errorf("DeleteUser with a bad token: %v, want NotAuthorizedException", err)
	}
	if _, err := user.DeleteUser(ctx, &cip.DeleteUserInput{AccessToken: laptop.AccessToken}); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := admin.AdminGetUser(ctx, &cip.AdminGetUserInput{UserPoolId: aws.String(poolID), Username: aws.String(email)}); code(err) != "UserNotFoundException" {
		t.Errorf("the user after DeleteUser: %v, want UserNotFoundException", err)
	}
	signUp() // the same email is free again
	login()
}
