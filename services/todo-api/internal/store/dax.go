package store

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-dax-go-v2/dax"
	"github.com/aws/aws-sdk-go-v2/aws"
)

var _ API = (*dax.Dax)(nil)

// NewDAX returns a DAX client for the cluster endpoint (dax://host[:port] for an
// unencrypted cluster, daxs://host[:port] for one with TLS), signing with cfg's
// credentials in cfg's region. It does not fail when the cluster cannot be reached:
// calls do, and the store turns that into 503s until the cluster answers.
func NewDAX(cfg aws.Config, endpoint string) (*dax.Dax, error) {
	if _, err := ParseDAXEndpoint(endpoint); err != nil {
		return nil, err
	}
	dc := dax.NewConfig(cfg, endpoint)
	client, err := dax.New(dc)
	if err != nil {
		return nil, fmt.Errorf("DAX client for %s: %w", endpoint, err)
	}
	return client, nil
}

// ParseDAXEndpoint checks the shape of a DAX cluster endpoint, so a typo fails at start
// with a message rather than as 503s later.
func ParseDAXEndpoint(endpoint string) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "dax" && u.Scheme != "daxs") || u.Hostname() == "" {
		return nil, fmt.Errorf("DAX_ENDPOINT %q: want dax://<cluster endpoint>[:8111] or daxs://<cluster endpoint>[:9111]", endpoint)
	}
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		return nil, fmt.Errorf("DAX_ENDPOINT %q: the endpoint has no path or query", endpoint)
	}
	return u, nil
}
