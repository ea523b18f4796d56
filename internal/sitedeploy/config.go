package sitedeploy

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// ConfigKey is the key of the generated configuration file in the site.
const ConfigKey = "config.json"

// SiteConfig is config.json, what the site's scripts learn from the stack at deploy
// time: where the admin page signs in. It holds no secret (the app client has none).
type SiteConfig struct {
	// Region is the user pool's region.
	Region string `json:"region"`
	// UserPoolID and ClientID identify the pool and its public app client.
	UserPoolID string `json:"userPoolId"`
	ClientID   string `json:"clientId"`
	// CognitoEndpoint is the URL the browser posts Cognito's JSON API calls to
	// (InitiateAuth): https://cognito-idp.<region>.amazonaws.com/ in AWS, moto locally.
	CognitoEndpoint string `json:"cognitoEndpoint"`
}

// ConfigFromStack derives the site's configuration from a stack file: the Cognito
// endpoint is the stack's endpoint override (moto) when it has one, else AWS's.
func ConfigFromStack(st *stack.Stack) SiteConfig {
	c := SiteConfig{Region: st.Region, UserPoolID: st.Resources.UserPoolID, ClientID: st.Resources.UserPoolClientID}
	if st.AWSEndpoint != "" {
		c.CognitoEndpoint = strings.TrimSuffix(st.AWSEndpoint, "/") + "/"
	} else {
		c.CognitoEndpoint = CognitoEndpoint(st.Region)
	}
	return c
}

// CognitoEndpoint is Cognito's public endpoint in region.
func CognitoEndpoint(region string) string {
	return "https://cognito-idp." + region + ".amazonaws.com/"
}

// JSON is the content of config.json.
func (c SiteConfig) JSON() ([]byte, error) {
	if c.Region == "" || c.ClientID == "" || c.CognitoEndpoint == "" {
		return nil, fmt.Errorf("site configuration needs a region, an app client id and a Cognito endpoint, got %+v", c)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode site configuration: %w", err)
	}
	return append(b, '\n'), nil
}
