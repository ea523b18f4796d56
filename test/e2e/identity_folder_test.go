package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ci "github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestIdentityPoolFolderIsTheAPIFolder is the mobile app's path with the Go SDK alone
// (no project code on the client side): sign up and sign in against the user pool,
// exchange the id token at the identity pool for credentials, ask the API for the
// folder, put an object under it straight to S3, and see it listed by the API through
// the gateway. One folder per user: what the app writes with identity-pool credentials
// is what the API lists.
func TestIdentityPoolFolderIsTheAPIFolder(t *testing.T) {
	s := sharedStack(t)
	ctx := context.Background()
	r := s.stack.Resources
	anon, err := config.LoadDefaultConfig(ctx, config.WithRegion(s.stack.Region), config.WithCredentialsProvider(aws.AnonymousCredentials{}))
	if err != nil {
		t.Fatal(err)
	}
	idp := cip.NewFromConfig(anon, func(o *cip.Options) { o.BaseEndpoint = aws.String(s.stack.AWSEndpoint) })
	email, password := "sdk-"+time.Now().Format("150405.000000")+"@example.com", "Corr3ct-Horse-Battery"
	if _, err := idp.SignUp(ctx, &cip.SignUpInput{ClientId: aws.String(r.UserPoolClientID), Username: aws.String(email), Password: aws.String(password),
		UserAttributes: []ciptypes.AttributeType{{Name: aws.String("email"), Value: aws.String(email)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := idp.ConfirmSignUp(ctx, &cip.ConfirmSignUpInput{ClientId: aws.String(r.UserPoolClientID), Username: aws.String(email), ConfirmationCode: aws.String("123456")}); err != nil {
		t.Fatal(err)
	}
	auth, err := idp.InitiateAuth(ctx, &cip.InitiateAuthInput{ClientId: aws.String(r.UserPoolClientID), AuthFlow: ciptypes.AuthFlowTypeUserPasswordAuth,
		AuthParameters: map[string]string{"USERNAME": email, "PASSWORD": password}})
	if err != nil {
		t.Fatal(err)
	}
	idToken := aws.ToString(auth.AuthenticationResult.IdToken)

	ids := ci.NewFromConfig(anon, func(o *ci.Options) { o.BaseEndpoint = aws.String(s.stack.AWSEndpoint) })
	logins := map[string]string{strings.TrimPrefix(r.Issuer, "https://"): idToken}
	id, err := ids.GetId(ctx, &ci.GetIdInput{IdentityPoolId: aws.String(r.IdentityPoolID), Logins: logins})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ids.GetCredentialsForIdentity(ctx, &ci.GetCredentialsForIdentityInput{IdentityId: id.IdentityId, Logins: logins})
	if err != nil {
		t.Fatal(err)
	}
	c := got.Credentials

	hc := caClient(t, s)
	list := func() (folder string, keys []string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.stack.APIURL+"/v1/files", nil)
		req.Header.Set("Authorization", "Bearer "+idToken)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var l struct {
			Prefix string `json:"prefix"`
			Items  []struct {
				Key string `json:"key"`
			} `json:"items"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&l); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/files: %d, %v", resp.StatusCode, err)
		}
		for _, it := range l.Items {
			keys = append(keys, it.Key)
		}
		return l.Prefix, keys
	}
	folder, keys := list()
	if !strings.HasPrefix(folder, "users/") || !strings.HasSuffix(folder, "/") || len(keys) != 0 {
		t.Fatalf("before: prefix %q, keys %v", folder, keys)
	}
	if strings.Contains(folder, aws.ToString(id.IdentityId)) {
		t.Fatalf("the API's folder %q is the identity id's, not the user pool sub's", folder)
	}

	s3c := s3.NewFromConfig(anon, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.stack.AWSEndpoint)
		o.UsePathStyle = true
		o.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretKey), aws.ToString(c.SessionToken))
	})
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(r.FilesBucket), Key: aws.String(folder + "from-the-app.txt"),
		Body: strings.NewReader("written with identity-pool credentials"), ContentType: aws.String("text/plain")}); err != nil {
		t.Fatal(err)
	}
	if _, keys = list(); len(keys) != 1 || keys[0] != "from-the-app.txt" {
		t.Errorf("after the app's put: the API lists %v, want [from-the-app.txt]", keys)
	}
}
