package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/session"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// TestCognitoLifecycle runs signup -> confirm -> login -> refresh -> logout against a
// user pool in moto, with the to-do API played by the fake.
func TestCognitoLifecycle(t *testing.T) {
	ep := mototest.Endpoint(t)
	ctx := context.Background()
	admin := cip.NewFromConfig(mototest.AWSConfig(t, ep))
	pool, err := admin.CreateUserPool(ctx, &cip.CreateUserPoolInput{
		PoolName:           aws.String(mototest.Name("todo-cli")),
		UsernameAttributes: []types.UsernameAttributeType{types.UsernameAttributeTypeEmail},
	})
	if err != nil {
		t.Fatalf("create user pool: %v", err)
	}
	poolID := aws.ToString(pool.UserPool.Id)
	client, err := admin.CreateUserPoolClient(ctx, &cip.CreateUserPoolClientInput{
		UserPoolId: aws.String(poolID),
		ClientName: aws.String("todo-cli"),
		ExplicitAuthFlows: []types.ExplicitAuthFlowsType{
			types.ExplicitAuthFlowsTypeAllowUserPasswordAuth,
			types.ExplicitAuthFlowsTypeAllowRefreshTokenAuth,
		},
		ReadAttributes: []string{"email"},
	})
	if err != nil {
		t.Fatalf("create user pool client: %v", err)
	}
	clientID := aws.ToString(client.UserPoolClient.ClientId)

	w := newWorld(t)
	if err := stack.Write(w.stackFile, &stack.Stack{
		Region: mototest.Region, AWSEndpoint: ep, CAFile: w.caFile, APIURL: w.apiURL,
		Resources: stack.Resources{UserPoolID: poolID, UserPoolClientID: clientID},
	}); err != nil {
		t.Fatal(err)
	}
	email := mototest.Name("alice") + "@example.com"
	const password = "Passw0rd!Strong"

	expect := func(t *testing.T, code int, out, errOut string, wantCode int, wantOut, wantErr string) {
		t.Helper()
		if code != wantCode || !strings.Contains(out, wantOut) || !strings.Contains(errOut, wantErr) {
			t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				code, out, errOut, wantCode, wantOut, wantErr)
		}
	}

	t.Run("signup and confirm", func(t *testing.T) {
		code, out, errOut := w.run(t, "", "signup", "--email", email, "--password", password)
		expect(t, code, out, errOut, 0, "signed up "+email, "")
		code, out, errOut = w.run(t, "", "signup", "--email", email, "--password", password)
		expect(t, code, out, errOut, 1, "", "error: an account with this email already exists")
		code, out, errOut = w.run(t, "", "login", "--email", email, "--password", password)
		expect(t, code, out, errOut, 1, "", "error: account not confirmed: run todo confirm")
		code, out, errOut = w.run(t, "", "confirm", "--email", email, "--code", "123456")
		expect(t, code, out, errOut, 0, "confirmed "+email, "")
	})

	var first *session.Session
	t.Run("login", func(t *testing.T) {
		code, out, errOut := w.run(t, "", "login", "--email", email, "--password", "wrong-Passw0rd!")
		expect(t, code, out, errOut, 1, "", "error: wrong email or password")
		w.env["TODO_PASSWORD"] = password
		code, out, errOut = w.run(t, "", "login", "--email", email)
		delete(w.env, "TODO_PASSWORD")
		expect(t, code, out, errOut, 0, "logged in as "+email, "")

		st := w.store()
		fi, err := os.Stat(st.Path)
		if err != nil {
			t.Fatal(err)
		}
		di, err := os.Stat(filepath.Dir(st.Path))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
			t.Errorf("modes: file %o, directory %o; want 600 and 700", fi.Mode().Perm(), di.Mode().Perm())
		}
		first, err = st.Load()
		if err != nil {
			t.Fatal(err)
		}
		user, err := admin.AdminGetUser(ctx, &cip.AdminGetUserInput{UserPoolId: aws.String(poolID), Username: aws.String(email)})
		if err != nil {
			t.Fatalf("admin get user: %v", err)
		}
		var sub string
		for _, a := range user.UserAttributes {
			if aws.ToString(a.Name) == "sub" {
				sub = aws.ToString(a.Value)
			}
		}
		if first.Email != email || first.Sub == "" || first.Sub != sub || first.ClientID != clientID ||
			first.IDToken == "" || first.AccessToken == "" || first.RefreshToken == "" {
			t.Errorf("session = %+v; want email %s, sub %s, client %s and all three tokens", first, email, sub, clientID)
		}
		if left := time.Until(first.Expiry); left < 50*time.Minute || left > 61*time.Minute {
			t.Errorf("session expires in %v, want about an hour", left)
		}
		code, out, errOut = w.run(t, "", "ls")
		expect(t, code, out, errOut, 0, "no to-dos", "")
		reqs := w.api.requests()
		if got := reqs[len(reqs)-1].Auth; got != "Bearer "+first.IDToken {
			t.Errorf("API bearer %q, want the session's id token", got)
		}
	})
	if first == nil {
		t.Fatal("no session after login")
	}

	t.Run("forced expiry is refreshed", func(t *testing.T) {
		st := w.store()
		expired := *first
		expired.Expiry = time.Now().Add(-time.Minute)
		if err := st.Save(&expired); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := w.run(t, "", "ls")
		expect(t, code, out, errOut, 0, "no to-dos", "")
		now, err := st.Load()
		if err != nil {
			t.Fatal(err)
		}
		if now.IDToken == first.IDToken || now.RefreshToken != first.RefreshToken || now.Sub != first.Sub || time.Until(now.Expiry) < 50*time.Minute {
			t.Errorf("session after refresh = %+v; want a new id token valid for about an hour, the same refresh token and sub", now)
		}
		reqs := w.api.requests()
		if got := reqs[len(reqs)-1].Auth; got != "Bearer "+now.IDToken {
			t.Errorf("API bearer %q, want the refreshed id token", got)
		}
	})

	t.Run("logout everywhere revokes the refresh token", func(t *testing.T) {
		st := w.store()
		kept, err := st.Load()
		if err != nil {
			t.Fatal(err)
		}
		code, out, errOut := w.run(t, "", "logout", "--everywhere")
		expect(t, code, out, errOut, 0, "logged out "+email+" everywhere", "")
		if errOut != "" {
			t.Errorf("logout stderr %q, want nothing (GlobalSignOut should succeed)", errOut)
		}
		if _, err := os.Stat(st.Path); !os.IsNotExist(err) {
			t.Errorf("session file after logout: %v, want it gone", err)
		}
		// Put the old session back, expired: its refresh token must no longer work.
		kept.Expiry = time.Now().Add(-time.Minute)
		if err := st.Save(kept); err != nil {
			t.Fatal(err)
		}
		before := len(w.api.requests())
		code, out, errOut = w.run(t, "", "ls")
		expect(t, code, out, errOut, 1, "", "error: session expired: run todo login")
		if n := len(w.api.requests()) - before; n != 0 {
			t.Errorf("the API got %d requests with a revoked session, want none", n)
		}
	})
}
