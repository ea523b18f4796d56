package cognito

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/session"
)

// fakeCognito answers Cognito's JSON protocol: for each operation (the X-Amz-Target
// suffix) either an error type or a JSON body. It records the requests.
type fakeCognito struct {
	mu       sync.Mutex
	errType  map[string]string // operation -> __type
	errMsg   string
	answer   map[string]any // operation -> body
	requests []request
}

type request struct {
	Op            string
	Authorization string
	Body          map[string]any
}

func (f *fakeCognito) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AWSCognitoIdentityProviderService.")
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	f.mu.Lock()
	f.requests = append(f.requests, request{Op: op, Authorization: r.Header.Get("Authorization"), Body: body})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if t, ok := f.errType[op]; ok {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": t, "message": f.errMsg})
		return
	}
	_ = json.NewEncoder(w).Encode(f.answer[op])
}

func newClient(t *testing.T, f *fakeCognito) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(context.Background(), Options{Region: "us-east-1", Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCalls(t *testing.T) {
	f := &fakeCognito{answer: map[string]any{
		"SignUp": map[string]any{"UserConfirmed": false, "UserSub": "s", "CodeDeliveryDetails": map[string]any{"Destination": "a***@e***", "DeliveryMedium": "EMAIL"}},
		"InitiateAuth": map[string]any{"AuthenticationResult": map[string]any{
			"IdToken": "id", "AccessToken": "acc", "RefreshToken": "ref", "ExpiresIn": 3600, "TokenType": "Bearer",
		}},
		"ConfirmSignUp": map[string]any{},
		"GlobalSignOut": map[string]any{},
	}}
	c := newClient(t, f)
	ctx := context.Background()

	su, err := c.SignUp(ctx, "client", "a@example.com", "Passw0rd!")
	if err != nil {
		t.Fatalf("SignUp: %v", err)
	}
	if diff := cmp.Diff(SignUpResult{Destination: "a***@e***"}, su); diff != "" {
		t.Errorf("SignUp (-want +got):\n%s", diff)
	}
	if err := c.Confirm(ctx, "client", "a@example.com", "123456"); err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	tok, err := c.Login(ctx, "client", "a@example.com", "Passw0rd!")
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	wantTok := session.Tokens{IDToken: "id", AccessToken: "acc", RefreshToken: "ref", ExpiresIn: time.Hour}
	if diff := cmp.Diff(wantTok, tok); diff != "" {
		t.Errorf("Login (-want +got):\n%s", diff)
	}
	if _, err := c.Refresh(ctx, "client", "ref"); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if err := c.SignOut(ctx, "acc"); err != nil {
		t.Fatalf("SignOut: %v", err)
	}

	want := []request{
		{Op: "SignUp", Body: map[string]any{
			"ClientId": "client", "Username": "a@example.com", "Password": "Passw0rd!",
			"UserAttributes": []any{map[string]any{"Name": "email", "Value": "a@example.com"}},
		}},
		{Op: "ConfirmSignUp", Body: map[string]any{"ClientId": "client", "Username": "a@example.com", "ConfirmationCode": "123456"}},
		{Op: "InitiateAuth", Body: map[string]any{
			"ClientId": "client", "AuthFlow": "USER_PASSWORD_AUTH",
			"AuthParameters": map[string]any{"USERNAME": "a@example.com", "PASSWORD": "Passw0rd!"},
		}},
		{Op: "InitiateAuth", Body: map[string]any{
			"ClientId": "client", "AuthFlow": "REFRESH_TOKEN_AUTH",
			"AuthParameters": map[string]any{"REFRESH_TOKEN": "ref"},
		}},
		{Op: "GlobalSignOut", Body: map[string]any{"AccessToken": "acc"}},
	}
	// Authorization is empty in want: the app has no AWS keys, so nothing is signed.
	if diff := cmp.Diff(want, f.requests); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestChallenge(t *testing.T) {
	f := &fakeCognito{answer: map[string]any{
		"InitiateAuth": map[string]any{"ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": "s"},
	}}
	_, err := newClient(t, f).Login(context.Background(), "client", "a@example.com", "pw")
	if err == nil || !strings.Contains(err.Error(), "NEW_PASSWORD_REQUIRED") {
		t.Errorf("Login with a challenge: err = %v, want one naming the challenge", err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		errType string
		errMsg  string
		call    func(*Client) error
		want    string
	}{
		{
			name: "sign up twice", errType: "UsernameExistsException", errMsg: "User already exists",
			call: signUp, want: "an account with this email already exists",
		},
		{
			name: "weak password", errType: "InvalidPasswordException", errMsg: "Password did not conform with policy: Password not long enough",
			call: signUp, want: "password rejected: Password did not conform with policy: Password not long enough",
		},
		{
			name: "bad email", errType: "InvalidParameterException", errMsg: "Username should be either an email or a phone number.",
			call: signUp, want: "sign up: Username should be either an email or a phone number.",
		},
		{
			name: "wrong password", errType: "NotAuthorizedException", errMsg: "Incorrect username or password.",
			call: login, want: "wrong email or password",
		},
		{
			name: "unknown user at login", errType: "UserNotFoundException", errMsg: "User does not exist.",
			call: login, want: "wrong email or password",
		},
		{
			name: "not confirmed", errType: "UserNotConfirmedException", errMsg: "User is not confirmed.",
			call: login, want: "account not confirmed: run todo confirm",
		},
		{
			name: "wrong code", errType: "CodeMismatchException", errMsg: "Invalid verification code provided.",
			call: confirm, want: "wrong confirmation code",
		},
		{
			name: "unknown user at confirm", errType: "UserNotFoundException", errMsg: "User does not exist.",
			call: confirm, want: "no account with this email: run todo signup",
		},
		{
			name: "unknown client", errType: "ResourceNotFoundException", errMsg: "client",
			call: login, want: `log in: the app client "client" does not exist (is the stack file current?)`,
		},
		{
			name: "anything else", errType: "InternalErrorException", errMsg: "boom",
			call: login, want: "log in: InternalErrorException: boom",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeCognito{
				errType: map[string]string{"SignUp": tt.errType, "InitiateAuth": tt.errType, "ConfirmSignUp": tt.errType},
				errMsg:  tt.errMsg,
			}
			err := tt.call(newClient(t, f))
			if err == nil {
				t.Fatal("err = nil, want an error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Err == nil {
				t.Errorf("err = %#v, want an *Error keeping the SDK's error", err)
			}
		})
	}
}

func TestRefreshRejected(t *testing.T) {
	f := &fakeCognito{errType: map[string]string{"InitiateAuth": "NotAuthorizedException"}, errMsg: "Refresh Token has been revoked"}
	_, err := newClient(t, f).Refresh(context.Background(), "client", "ref")
	if !errors.Is(err, session.ErrExpired) {
		t.Errorf("Refresh with a revoked token: err = %v, want session.ErrExpired", err)
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	c, err := New(context.Background(), Options{Region: "us-east-1", Endpoint: url})
	if err != nil {
		t.Fatal(err)
	}
	err = login(c)
	if err == nil {
		t.Fatal("Login against a closed port: err = nil")
	}
	for _, want := range []string{url, "is make dev running?"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	_, err = c.Refresh(context.Background(), "client", "ref")
	if err == nil || errors.Is(err, session.ErrExpired) {
		t.Errorf("Refresh against a closed port: err = %v, want a network error, not ErrExpired", err)
	}
}

func signUp(c *Client) error {
	_, err := c.SignUp(context.Background(), "client", "a@example.com", "pw")
	return err
}

func login(c *Client) error {
	_, err := c.Login(context.Background(), "client", "a@example.com", "pw")
	return err
}

func confirm(c *Client) error {
	return c.Confirm(context.Background(), "client", "a@example.com", "000000")
}
