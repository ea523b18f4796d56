package provision

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// The provisioner decides "is this moto?" here and nowhere else. moto 5.2 lacks a few
// calls the project makes (Cognito Identity's SetIdentityPoolRoles and
// SetPrincipalTagAttributeMap, most of DAX's control plane) and answers them with a
// 500. A resource that meets such an answer from moto says so on its one line
// (Outcome.Skipped) and provisioning goes on; the same answer from anything else, AWS
// above all, fails the run.

// unimplemented reports whether err is how the endpoint at endpoint (a client's
// endpoint override, "" for AWS) says it does not implement a call: a 500 from moto.
func (c *Clients) unimplemented(ctx context.Context, endpoint string, err error) bool {
	return err != nil && httpStatus(err) == http.StatusInternalServerError && c.isMoto(ctx, endpoint)
}

// isMoto reports whether endpoint is a moto_server: it answers moto's own
// configuration API (GET /moto-api/config, a small JSON object, answered 201). Only endpoint
// overrides are asked, once each; AWS's endpoints never are.
func (c *Clients) isMoto(ctx context.Context, endpoint string) bool {
	endpoint = strings.TrimRight(endpoint, "/")
	if endpoint == "" {
		return false
	}
	if v, ok := c.motoEndpoints.Load(endpoint); ok {
		return v.(bool)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	yes := false
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/moto-api/config", nil)
	if err == nil {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			var cfg map[string]json.RawMessage
			yes = resp.StatusCode/100 == 2 && json.NewDecoder(resp.Body).Decode(&cfg) == nil && cfg["batch"] != nil
			resp.Body.Close()
		}
	}
	c.motoEndpoints.Store(endpoint, yes)
	return yes
}

// httpStatus is the HTTP status of an AWS call's failed response, 0 when none.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
