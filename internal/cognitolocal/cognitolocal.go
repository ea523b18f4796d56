// Package cognitolocal stands in front of moto's Cognito user pools in the local stack
// and answers the two calls a user makes that moto 5.2 lacks (it answers them with a
// 500): DeleteUser, with which the app and `todo account delete` delete the signed-in
// user, and RevokeToken, with which they sign out one device. Every other request goes
// to moto unchanged, so clients run the very code they run against AWS, pointed at this
// endpoint instead of moto's.
//
// The two calls keep AWS's contract: DeleteUser takes the user's access token
// (checked by moto's GetUser; a bad one is NotAuthorizedException) and deletes that
// user (AdminDeleteUser in the stack's pool); RevokeToken takes a refresh token and its
// app client, and from then on a REFRESH_TOKEN_AUTH with that token is refused with
// NotAuthorizedException "Refresh Token has been revoked", as Cognito does. Revocations
// live as long as the process (the local stack's run).
package cognitolocal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/smithy-go"
)

// targetPrefix starts the X-Amz-Target of every user pool call.
const targetPrefix = "AWSCognitoIdentityProviderService."

// maxBody bounds a request body the stand-in reads itself.
const maxBody = 1 << 20

// AdminAPI is what the stand-in asks moto with credentials.
type AdminAPI interface {
	GetUser(ctx context.Context, in *cip.GetUserInput, opts ...func(*cip.Options)) (*cip.GetUserOutput, error)
	AdminDeleteUser(ctx context.Context, in *cip.AdminDeleteUserInput, opts ...func(*cip.Options)) (*cip.AdminDeleteUserOutput, error)
}

// StandIn is the http.Handler in front of moto.
type StandIn struct {
	proxy *httputil.ReverseProxy
	admin AdminAPI

	mu      sync.Mutex
	poolID  string
	revoked map[string]bool // refresh tokens
}

// SetPool makes the stand-in act on the user pool poolID from now on (the local
// stack's moto came back with a new pool).
func (s *StandIn) SetPool(poolID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.poolID = poolID
}

// New returns the stand-in for moto at motoURL and the user pool poolID; admin calls
// that moto with any credentials.
func New(motoURL string, admin AdminAPI, poolID string) (*StandIn, error) {
	u, err := url.Parse(motoURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("moto endpoint %q: want a URL such as http://127.0.0.1:4566", motoURL)
	}
	if poolID == "" {
		return nil, errors.New("cognitolocal: the user pool id is empty")
	}
	return &StandIn{proxy: httputil.NewSingleHostReverseProxy(u), admin: admin, poolID: poolID, revoked: map[string]bool{}}, nil
}

// ServeHTTP implements http.Handler.
func (s *StandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := r.Header.Get("X-Amz-Target")
	if r.Method != http.MethodPost || (op != targetPrefix+"DeleteUser" && op != targetPrefix+"RevokeToken" && op != targetPrefix+"InitiateAuth") {
		s.proxy.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "InvalidParameterException", "cannot read the request: "+err.Error())
		return
	}
	var in struct {
		AccessToken    string
		Token          string
		ClientId       string
		AuthFlow       string
		AuthParameters map[string]string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, r, http.StatusBadRequest, "SerializationException", "the request is not JSON: "+err.Error())
		return
	}
	switch op {
	case targetPrefix + "DeleteUser":
		s.deleteUser(w, r, in.AccessToken)
	case targetPrefix + "RevokeToken":
		if in.Token == "" || in.ClientId == "" {
			writeError(w, r, http.StatusBadRequest, "InvalidParameterException", "Token and ClientId are required")
			return
		}
		s.mu.Lock()
		s.revoked[in.Token] = true
		s.mu.Unlock()
		writeJSON(w, r, http.StatusOK, map[string]any{})
	default: // InitiateAuth: refused for a revoked refresh token, else moto's.
		if in.AuthFlow == "REFRESH_TOKEN_AUTH" || in.AuthFlow == "REFRESH_TOKEN" {
			s.mu.Lock()
			revoked := s.revoked[in.AuthParameters["REFRESH_TOKEN"]]
			s.mu.Unlock()
			if revoked {
				writeError(w, r, http.StatusBadRequest, "NotAuthorizedException", "Refresh Token has been revoked")
				return
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		s.proxy.ServeHTTP(w, r)
	}
}

// deleteUser finds the user of the access token with moto's GetUser, which checks the
// token, and deletes them.
func (s *StandIn) deleteUser(w http.ResponseWriter, r *http.Request, accessToken string) {
	if accessToken == "" {
		writeError(w, r, http.StatusBadRequest, "InvalidParameterException", "AccessToken is required")
		return
	}
	ctx := r.Context()
	u, err := s.admin.GetUser(ctx, &cip.GetUserInput{AccessToken: aws.String(accessToken)})
	if err != nil {
		writeAPIError(w, r, err)
		return
	}
	s.mu.Lock()
	pool := s.poolID
	s.mu.Unlock()
	if _, err := s.admin.AdminDeleteUser(ctx, &cip.AdminDeleteUserInput{UserPoolId: aws.String(pool), Username: u.Username}); err != nil {
		writeAPIError(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, map[string]any{})
}

// writeAPIError passes moto's refusal on as Cognito words it; anything else is a 500.
func writeAPIError(w http.ResponseWriter, r *http.Request, err error) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		writeError(w, r, http.StatusBadRequest, ae.ErrorCode(), ae.ErrorMessage())
		return
	}
	writeError(w, r, http.StatusInternalServerError, "InternalErrorException", err.Error())
}

func writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	writeJSON(w, r, status, map[string]string{"__type": code, "message": msg})
}

// writeJSON answers as Cognito's JSON protocol does, with the CORS header moto puts on
// its own answers (browsers call this endpoint from the app's origin).
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	if origin := r.Header.Get("Origin"); origin != "" {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
