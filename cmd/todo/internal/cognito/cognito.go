// Package cognito is the todo CLI's side of Amazon Cognito user pools: the public,
// unsigned operations a mobile app calls (SignUp, ConfirmSignUp, InitiateAuth with
// USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH, RevokeToken, GlobalSignOut,
// ForgotPassword, ConfirmForgotPassword, ChangePassword, DeleteUser), with Cognito's
// errors turned into sentences a user can act on.
package cognito

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/session"
	"github.com/serverless-architect/serverless-architect/internal/awsconf"
)

// Options configure New.
type Options struct {
	// Region is the user pool's region.
	Region string
	// Endpoint overrides the Cognito endpoint (moto); empty means the SDK's default,
	// which honours AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER.
	Endpoint string
}

// Client calls a user pool without AWS credentials, as the app does.
type Client struct {
	api *cip.Client
	// where names the endpoint in network error messages.
	where string
}

var _ session.Refresher = (*Client)(nil)

// New builds a Client with anonymous credentials.
func New(ctx context.Context, o Options) (*Client, error) {
	cfg, err := awsconf.Load(ctx, awsconf.Options{Region: o.Region, Anonymous: true})
	if err != nil {
		return nil, err
	}
	api := cip.NewFromConfig(cfg, func(opts *cip.Options) {
		if o.Endpoint != "" {
			opts.BaseEndpoint = aws.String(o.Endpoint)
		}
	})
	where := o.Endpoint
	if where == "" {
		where = "Cognito in " + cfg.Region
	}
	return &Client{api: api, where: where}, nil
}

// SignUpResult says what happened after a sign-up.
type SignUpResult struct {
	// Confirmed is true when the pool confirmed the user at once.
	Confirmed bool
	// Destination is where the confirmation code went (masked by Cognito), if known.
	Destination string
}

// SignUp creates an unconfirmed user whose user name and email are email.
func (c *Client) SignUp(ctx context.Context, clientID, email, password string) (SignUpResult, error) {
	out, err := c.api.SignUp(ctx, &cip.SignUpInput{
		ClientId:       aws.String(clientID),
		Username:       aws.String(email),
		Password:       aws.String(password),
		UserAttributes: []types.AttributeType{{Name: aws.String("email"), Value: aws.String(email)}},
	})
	if err != nil {
		return SignUpResult{}, c.translate("sign up", clientID, err)
	}
	res := SignUpResult{Confirmed: out.UserConfirmed}
	if d := out.CodeDeliveryDetails; d != nil {
		res.Destination = aws.ToString(d.Destination)
	}
	return res, nil
}

// Confirm confirms a sign-up with the code Cognito sent.
func (c *Client) Confirm(ctx context.Context, clientID, email, code string) error {
	_, err := c.api.ConfirmSignUp(ctx, &cip.ConfirmSignUpInput{
		ClientId:         aws.String(clientID),
		Username:         aws.String(email),
		ConfirmationCode: aws.String(code),
	})
	if err != nil {
		return c.translate("confirm", clientID, err)
	}
	return nil
}

// Login signs in with USER_PASSWORD_AUTH.
func (c *Client) Login(ctx context.Context, clientID, email, password string) (session.Tokens, error) {
	out, err := c.api.InitiateAuth(ctx, &cip.InitiateAuthInput{
		ClientId:       aws.String(clientID),
		AuthFlow:       types.AuthFlowTypeUserPasswordAuth,
		AuthParameters: map[string]string{"USERNAME": email, "PASSWORD": password},
	})
	if err != nil {
		return session.Tokens{}, c.translate("log in", clientID, err)
	}
	return tokens(out)
}

// Refresh gets new id and access tokens with REFRESH_TOKEN_AUTH. A rejected refresh
// token gives an error wrapping session.ErrExpired.
func (c *Client) Refresh(ctx context.Context, clientID, refreshToken string) (session.Tokens, error) {
	out, err := c.api.InitiateAuth(ctx, &cip.InitiateAuthInput{
		ClientId:       aws.String(clientID),
		AuthFlow:       types.AuthFlowTypeRefreshTokenAuth,
		AuthParameters: map[string]string{"REFRESH_TOKEN": refreshToken},
	})
	if err != nil {
		if code(err) == "NotAuthorizedException" {
			return session.Tokens{}, fmt.Errorf("%w (%v)", session.ErrExpired, message(err))
		}
		return session.Tokens{}, c.translate("refresh the session", clientID, err)
	}
	return tokens(out)
}

// SignOut revokes every refresh token of the user (GlobalSignOut).
func (c *Client) SignOut(ctx context.Context, accessToken string) error {
	_, err := c.api.GlobalSignOut(ctx, &cip.GlobalSignOutInput{AccessToken: aws.String(accessToken)})
	if err != nil {
		return c.translate("sign out", "", err)
	}
	return nil
}

// Revoke revokes one refresh token (RevokeToken) and the tokens issued from it: a
// sign-out of this device only.
func (c *Client) Revoke(ctx context.Context, clientID, refreshToken string) error {
	_, err := c.api.RevokeToken(ctx, &cip.RevokeTokenInput{ClientId: aws.String(clientID), Token: aws.String(refreshToken)})
	if err != nil {
		return c.translate("sign out", clientID, err)
	}
	return nil
}

// ForgotPassword asks Cognito to send a code to reset the password of email; it
// returns where the code went (masked by Cognito), if known.
func (c *Client) ForgotPassword(ctx context.Context, clientID, email string) (string, error) {
	out, err := c.api.ForgotPassword(ctx, &cip.ForgotPasswordInput{ClientId: aws.String(clientID), Username: aws.String(email)})
	if err != nil {
		return "", c.translate("reset the password", clientID, err)
	}
	if d := out.CodeDeliveryDetails; d != nil {
		return aws.ToString(d.Destination), nil
	}
	return "", nil
}

// ConfirmForgotPassword sets a new password with the code ForgotPassword sent.
func (c *Client) ConfirmForgotPassword(ctx context.Context, clientID, email, code, password string) error {
	_, err := c.api.ConfirmForgotPassword(ctx, &cip.ConfirmForgotPasswordInput{
		ClientId: aws.String(clientID), Username: aws.String(email), ConfirmationCode: aws.String(code), Password: aws.String(password),
	})
	if err != nil {
		return c.translate("set the new password", clientID, err)
	}
	return nil
}

// ChangePassword changes the signed-in user's password.
func (c *Client) ChangePassword(ctx context.Context, accessToken, previous, proposed string) error {
	_, err := c.api.ChangePassword(ctx, &cip.ChangePasswordInput{
		AccessToken: aws.String(accessToken), PreviousPassword: aws.String(previous), ProposedPassword: aws.String(proposed),
	})
	if err != nil {
		return c.translate("change the password", "", err)
	}
	return nil
}

// DeleteUser deletes the signed-in user from the pool (the user's own DeleteUser,
// with the access token).
func (c *Client) DeleteUser(ctx context.Context, accessToken string) error {
	_, err := c.api.DeleteUser(ctx, &cip.DeleteUserInput{AccessToken: aws.String(accessToken)})
	if err != nil {
		return c.translate("delete the account", "", err)
	}
	return nil
}

func tokens(out *cip.InitiateAuthOutput) (session.Tokens, error) {
	if out.ChallengeName != "" {
		return session.Tokens{}, fmt.Errorf("sign-in asks for the %s challenge, which the todo CLI does not support", out.ChallengeName)
	}
	r := out.AuthenticationResult
	if r == nil {
		return session.Tokens{}, errors.New("cognito returned no tokens")
	}
	return session.Tokens{
		IDToken:      aws.ToString(r.IdToken),
		AccessToken:  aws.ToString(r.AccessToken),
		RefreshToken: aws.ToString(r.RefreshToken),
		ExpiresIn:    time.Duration(r.ExpiresIn) * time.Second,
	}, nil
}

// Error is a Cognito failure told in the user's terms. Err is the SDK's error.
type Error struct {
	Message string
	Err     error
}

// Error returns the user-facing message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the SDK's error.
func (e *Error) Unwrap() error { return e.Err }

// translate turns an SDK error from operation op into an *Error.
func (c *Client) translate(op, clientID string, err error) error {
	var send *smithyhttp.RequestSendError
	if errors.As(err, &send) {
		cause := send.Err
		var ue *url.Error
		if errors.As(cause, &ue) {
			cause = ue.Err // its text repeats the URL
		}
		return &Error{Message: fmt.Sprintf("%s: cannot reach %s: %v (is make dev running?)", op, c.where, cause), Err: err}
	}
	msg := message(err)
	var text string
	switch code(err) {
	case "UsernameExistsException":
		text = "an account with this email already exists"
	case "NotAuthorizedException":
		switch op {
		case "log in":
			text = "wrong email or password"
		case "change the password":
			text = "the current password is wrong"
		default:
			text = fmt.Sprintf("%s: not authorized: %s", op, msg)
		}
	case "UserNotFoundException":
		// Pools that reveal whether a user exists answer a bad login with this.
		if op == "confirm" {
			text = "no account with this email: run todo signup"
		} else {
			text = "wrong email or password"
		}
	case "UserNotConfirmedException":
		text = "account not confirmed: run todo confirm"
	case "CodeMismatchException":
		text = "wrong confirmation code"
	case "ExpiredCodeException":
		if op == "set the new password" {
			text = "the code is wrong or has expired: run todo password forgot for a new one"
		} else {
			text = "the confirmation code has expired: sign up again for a new one"
		}
	case "InvalidPasswordException":
		text = "password rejected: " + msg
	case "UnsupportedOperationException", "UnsupportedTokenTypeException":
		text = fmt.Sprintf("%s: %s", op, msg)
	case "InvalidParameterException":
		text = fmt.Sprintf("%s: %s", op, msg)
	case "TooManyRequestsException", "LimitExceededException", "TooManyFailedAttemptsException":
		text = fmt.Sprintf("%s: too many attempts, wait a little and try again", op)
	case "ResourceNotFoundException":
		text = fmt.Sprintf("%s: the app client %q does not exist (is the stack file current?)", op, clientID)
	case "":
		text = fmt.Sprintf("%s: %v", op, err)
	default:
		text = fmt.Sprintf("%s: %s: %s", op, code(err), msg)
	}
	return &Error{Message: text, Err: err}
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func message(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return err.Error()
}
