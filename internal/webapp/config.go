package webapp

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// DefaultMaxUploadBytes is the largest file the app uploads unless the config says
// otherwise: 1 GB (uploads are multipart, so S3's limit is far above it; this keeps a
// phone from starting an upload it will not finish).
const DefaultMaxUploadBytes = 1_000_000_000

// Config is the app's config.json: where its user pool, identity pool, API and
// bucket are. The app reads it at start and never guesses any of it.
type Config struct {
	Region         string `json:"region"`
	UserPoolID     string `json:"userPoolId"`
	ClientID       string `json:"clientId"`
	IdentityPoolID string `json:"identityPoolId"`
	// IdentityProvider is the identity pool's login key for the user pool:
	// cognito-idp.<region>.amazonaws.com/<user pool id> (the issuer without https://).
	IdentityProvider string `json:"identityProvider"`
	FilesBucket      string `json:"filesBucket"`
	// APIURL is the to-do API's origin; empty means the app's own origin, whose
	// distribution sends /v1/* to the API.
	APIURL string `json:"apiUrl"`
	// CognitoEndpoint overrides the user pool endpoint (locally the stand-in in front
	// of moto); empty means AWS's.
	CognitoEndpoint string `json:"cognitoEndpoint,omitempty"`
	// AWSEndpoint overrides the identity pool and S3 endpoints (moto); empty means AWS's.
	AWSEndpoint string `json:"awsEndpoint,omitempty"`
	// S3ForcePathStyle addresses the bucket in the path (moto).
	S3ForcePathStyle bool  `json:"s3ForcePathStyle,omitempty"`
	MaxUploadBytes   int64 `json:"maxUploadBytes"`
}

// ConfigFromStack is the config.json of the app served for st, calling the API at
// apiURL ("" for the app's own origin).
func ConfigFromStack(st *stack.Stack, apiURL string) Config {
	r := st.Resources
	c := Config{
		Region: st.Region, UserPoolID: r.UserPoolID, ClientID: r.UserPoolClientID, IdentityPoolID: r.IdentityPoolID,
		IdentityProvider: strings.TrimPrefix(r.Issuer, "https://"), FilesBucket: r.FilesBucket, APIURL: apiURL,
		AWSEndpoint: st.AWSEndpoint, S3ForcePathStyle: st.AWSEndpoint != "", MaxUploadBytes: DefaultMaxUploadBytes,
		CognitoEndpoint: st.CognitoEndpoint,
	}
	if c.CognitoEndpoint == "" {
		c.CognitoEndpoint = st.AWSEndpoint
	}
	return c
}

// Validate names what the app could not work without.
func (c Config) Validate() error {
	var missing []string
	for name, v := range map[string]string{"region": c.Region, "userPoolId": c.UserPoolID, "clientId": c.ClientID, "identityPoolId": c.IdentityPoolID, "identityProvider": c.IdentityProvider, "filesBucket": c.FilesBucket} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return errors.New("the app's config.json lacks " + strings.Join(missing, ", ") + " (is the stack provisioned?)")
	}
	if c.MaxUploadBytes < 1 {
		return errors.New("the app's config.json: maxUploadBytes must be above 0")
	}
	return nil
}

// JSON is the file's content.
func (c Config) JSON() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	return append(b, '\n'), err
}
