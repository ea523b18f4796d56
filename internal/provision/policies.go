package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	smithy "github.com/aws/smithy-go"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// The project's own CloudFront policies as provisioning resources. Each is found by
// name, created when missing and updated (with its ETag) when its configuration
// drifted from the definition in code. moto has no policy API: there the resource
// says so in one line, gives the policy a stable local id, and the policy travels in
// the distribution document recorded in the stack file (stack.Resources.BlogEdge),
// which is what the local edge runs. Against AWS any failure is an error.

// policyKind is what differs between the three kinds of policy.
type policyKind[C any] struct {
	kind string
	// page returns one page of the custom policies' names and ids, and the marker of
	// the next page ("" after the last).
	page func(ctx context.Context, api *cloudfront.Client, marker *string) (names map[string]string, next *string, err error)
	// get returns a policy's configuration and ETag.
	get func(ctx context.Context, api *cloudfront.Client, id string) (C, string, error)
	// create returns the new policy's id.
	create func(ctx context.Context, api *cloudfront.Client, cfg C) (string, error)
	update func(ctx context.Context, api *cloudfront.Client, id, etag string, cfg C) error
	// del deletes the policy id whose ETag is etag.
	del func(ctx context.Context, api *cloudfront.Client, id, etag string) error
	// same reports whether two configurations say the same.
	same func(a, b C) bool
}

// ensurePolicy finds, creates or updates the policy named name with configuration cfg
// and returns its id.
func ensurePolicy[C any](ctx context.Context, c *Clients, k policyKind[C], name string, cfg C) (Outcome, string, error) {
	names, err := listPolicies(ctx, c.CloudFront, k.page)
	if c.policiesUnsupported(ctx, err) {
		id := LocalPolicyID(k.kind, name)
		return Outcome{Skipped: true, ID: "moto has no CloudFront " + k.kind + " API: recorded in the stack file as " + id}, id, nil
	}
	if err != nil {
		return Outcome{}, "", fmt.Errorf("list the %s: %w", strings.TrimSuffix(k.kind, "policy")+"policies", err)
	}
	id, found := names[name]
	if !found {
		id, err := k.create(ctx, c.CloudFront, cfg)
		if err != nil {
			return Outcome{}, "", fmt.Errorf("create %s: %w", k.kind, err)
		}
		return Outcome{Created: true, ID: id}, id, nil
	}
	cur, etag, err := k.get(ctx, c.CloudFront, id)
	if err != nil {
		return Outcome{}, "", fmt.Errorf("get %s %s: %w", k.kind, id, err)
	}
	if k.same(cur, cfg) {
		return Outcome{ID: id}, id, nil
	}
	if err := k.update(ctx, c.CloudFront, id, etag, cfg); err != nil {
		return Outcome{}, "", fmt.Errorf("update %s %s: %w", k.kind, id, err)
	}
	return Outcome{Applied: true, ID: id}, id, nil
}

// listPolicies gathers every page's names and ids.
func listPolicies(ctx context.Context, api *cloudfront.Client, page func(context.Context, *cloudfront.Client, *string) (map[string]string, *string, error)) (map[string]string, error) {
	out := map[string]string{}
	var marker *string
	for {
		names, next, err := page(ctx, api, marker)
		if err != nil {
			return nil, err
		}
		maps.Copy(out, names)
		if aws.ToString(next) == "" {
			return out, nil
		}
		marker = next
	}
}

// policiesUnsupported reports whether err says the endpoint lacks CloudFront's policy
// API: moto (moto.go decides) answering with a bare 404 that is no CloudFront error.
// Anything else, AWS above all, fails the run.
func (c *Clients) policiesUnsupported(ctx context.Context, err error) bool {
	var api smithy.APIError
	if err == nil || httpStatus(err) != http.StatusNotFound || errors.As(err, &api) && api.ErrorCode() != "" && api.ErrorCode() != "NotFound" {
		return false
	}
	return c.isMoto(ctx, cloudFrontEndpoint(c))
}

// cloudFrontEndpoint is the CloudFront client's endpoint override, "" for AWS.
func cloudFrontEndpoint(c *Clients) string { return aws.ToString(c.CloudFront.Options().BaseEndpoint) }

// LocalPolicyID is the id a policy of kind ("cache policy", "origin request policy",
// "response headers policy") gets where CloudFront's policy API is missing (moto):
// stable for a name, shaped like CloudFront's ids.
func LocalPolicyID(kind, name string) string {
	s := sha256.Sum256([]byte("serverless-architect local " + kind + " " + name))
	h := hex.EncodeToString(s[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// CachePolicyResource is one of the project's own cache policies.
type CachePolicyResource struct {
	Policy cdn.CachePolicy
	Record func(out *stack.Resources, id string)
}

var _ Resource = CachePolicyResource{}

// Kind implements Resource.
func (CachePolicyResource) Kind() string { return "cloudfront cache policy" }

// Name implements Resource.
func (p CachePolicyResource) Name() string { return p.Policy.Name }

// Ensure implements Resource.
func (p CachePolicyResource) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	o, id, err := ensurePolicy(ctx, c, cachePolicies, p.Policy.Name, CachePolicyConfig(p.Policy))
	if err != nil {
		return Outcome{}, err
	}
	p.Record(out, id)
	return o, nil
}

// OriginRequestPolicyResource is one of the project's own origin request policies.
type OriginRequestPolicyResource struct {
	Policy cdn.OriginRequestPolicy
	Record func(out *stack.Resources, id string)
}

var _ Resource = OriginRequestPolicyResource{}

// Kind implements Resource.
func (OriginRequestPolicyResource) Kind() string { return "cloudfront origin request policy" }

// Name implements Resource.
func (p OriginRequestPolicyResource) Name() string { return p.Policy.Name }

// Ensure implements Resource.
func (p OriginRequestPolicyResource) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	o, id, err := ensurePolicy(ctx, c, originRequestPolicies, p.Policy.Name, OriginRequestPolicyConfig(p.Policy))
	if err != nil {
		return Outcome{}, err
	}
	p.Record(out, id)
	return o, nil
}

// ResponseHeadersPolicyResource is one of the project's own response headers
// policies. Its definition depends on what was provisioned before it (the Content
// Security Policy names the endpoints the site calls), so it is made by a function
// of the outputs.
type ResponseHeadersPolicyResource struct {
	PolicyName string
	Policy     func(ctx context.Context, c *Clients, out *stack.Resources) (cdn.ResponseHeadersPolicy, error)
	Record     func(out *stack.Resources, id string)
}

var _ Resource = ResponseHeadersPolicyResource{}

// Kind implements Resource.
func (ResponseHeadersPolicyResource) Kind() string { return "cloudfront response headers policy" }

// Name implements Resource.
func (p ResponseHeadersPolicyResource) Name() string { return p.PolicyName }

// Ensure implements Resource.
func (p ResponseHeadersPolicyResource) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	pol, err := p.Policy(ctx, c, out)
	if err != nil {
		return Outcome{}, err
	}
	o, id, err := ensurePolicy(ctx, c, responseHeadersPolicies, p.PolicyName, ResponseHeadersPolicyConfig(pol))
	if err != nil {
		return Outcome{}, err
	}
	p.Record(out, id)
	return o, nil
}

// The policy kinds' API calls.
var (
	cachePolicies = policyKind[*cftypes.CachePolicyConfig]{
		kind: "cache policy",
		page: func(ctx context.Context, api *cloudfront.Client, marker *string) (map[string]string, *string, error) {
			res, err := api.ListCachePolicies(ctx, &cloudfront.ListCachePoliciesInput{Type: cftypes.CachePolicyTypeCustom, Marker: marker})
			if err != nil || res.CachePolicyList == nil {
				return nil, nil, err
			}
			out := map[string]string{}
			for _, s := range res.CachePolicyList.Items {
				if p := s.CachePolicy; p != nil && p.CachePolicyConfig != nil {
					out[aws.ToString(p.CachePolicyConfig.Name)] = aws.ToString(p.Id)
				}
			}
			return out, res.CachePolicyList.NextMarker, nil
		},
		get: func(ctx context.Context, api *cloudfront.Client, id string) (*cftypes.CachePolicyConfig, string, error) {
			res, err := api.GetCachePolicyConfig(ctx, &cloudfront.GetCachePolicyConfigInput{Id: aws.String(id)})
			if err != nil {
				return nil, "", err
			}
			return res.CachePolicyConfig, aws.ToString(res.ETag), nil
		},
		create: func(ctx context.Context, api *cloudfront.Client, cfg *cftypes.CachePolicyConfig) (string, error) {
			res, err := api.CreateCachePolicy(ctx, &cloudfront.CreateCachePolicyInput{CachePolicyConfig: cfg})
			if err != nil {
				return "", err
			}
			return aws.ToString(res.CachePolicy.Id), nil
		},
		update: func(ctx context.Context, api *cloudfront.Client, id, etag string, cfg *cftypes.CachePolicyConfig) error {
			_, err := api.UpdateCachePolicy(ctx, &cloudfront.UpdateCachePolicyInput{Id: aws.String(id), IfMatch: aws.String(etag), CachePolicyConfig: cfg})
			return err
		},
		del: func(ctx context.Context, api *cloudfront.Client, id, etag string) error {
			_, err := api.DeleteCachePolicy(ctx, &cloudfront.DeleteCachePolicyInput{Id: aws.String(id), IfMatch: aws.String(etag)})
			return err
		},
		same: func(a, b *cftypes.CachePolicyConfig) bool {
			return sameJSON(CachePolicyFromAPI(a), CachePolicyFromAPI(b))
		},
	}
	originRequestPolicies = policyKind[*cftypes.OriginRequestPolicyConfig]{
		kind: "origin request policy",
		page: func(ctx context.Context, api *cloudfront.Client, marker *string) (map[string]string, *string, error) {
			res, err := api.ListOriginRequestPolicies(ctx, &cloudfront.ListOriginRequestPoliciesInput{Type: cftypes.OriginRequestPolicyTypeCustom, Marker: marker})
			if err != nil || res.OriginRequestPolicyList == nil {
				return nil, nil, err
			}
			out := map[string]string{}
			for _, s := range res.OriginRequestPolicyList.Items {
				if p := s.OriginRequestPolicy; p != nil && p.OriginRequestPolicyConfig != nil {
					out[aws.ToString(p.OriginRequestPolicyConfig.Name)] = aws.ToString(p.Id)
				}
			}
			return out, res.OriginRequestPolicyList.NextMarker, nil
		},
		get: func(ctx context.Context, api *cloudfront.Client, id string) (*cftypes.OriginRequestPolicyConfig, string, error) {
			res, err := api.GetOriginRequestPolicyConfig(ctx, &cloudfront.GetOriginRequestPolicyConfigInput{Id: aws.String(id)})
			if err != nil {
				return nil, "", err
			}
			return res.OriginRequestPolicyConfig, aws.ToString(res.ETag), nil
		},
		create: func(ctx context.Context, api *cloudfront.Client, cfg *cftypes.OriginRequestPolicyConfig) (string, error) {
			res, err := api.CreateOriginRequestPolicy(ctx, &cloudfront.CreateOriginRequestPolicyInput{OriginRequestPolicyConfig: cfg})
			if err != nil {
				return "", err
			}
			return aws.ToString(res.OriginRequestPolicy.Id), nil
		},
		update: func(ctx context.Context, api *cloudfront.Client, id, etag string, cfg *cftypes.OriginRequestPolicyConfig) error {
			_, err := api.UpdateOriginRequestPolicy(ctx, &cloudfront.UpdateOriginRequestPolicyInput{Id: aws.String(id), IfMatch: aws.String(etag), OriginRequestPolicyConfig: cfg})
			return err
		},
		del: func(ctx context.Context, api *cloudfront.Client, id, etag string) error {
			_, err := api.DeleteOriginRequestPolicy(ctx, &cloudfront.DeleteOriginRequestPolicyInput{Id: aws.String(id), IfMatch: aws.String(etag)})
			return err
		},
		same: func(a, b *cftypes.OriginRequestPolicyConfig) bool {
			return sameJSON(OriginRequestPolicyFromAPI(a), OriginRequestPolicyFromAPI(b))
		},
	}
	responseHeadersPolicies = policyKind[*cftypes.ResponseHeadersPolicyConfig]{
		kind: "response headers policy",
		page: func(ctx context.Context, api *cloudfront.Client, marker *string) (map[string]string, *string, error) {
			res, err := api.ListResponseHeadersPolicies(ctx, &cloudfront.ListResponseHeadersPoliciesInput{Type: cftypes.ResponseHeadersPolicyTypeCustom, Marker: marker})
			if err != nil || res.ResponseHeadersPolicyList == nil {
				return nil, nil, err
			}
			out := map[string]string{}
			for _, s := range res.ResponseHeadersPolicyList.Items {
				if p := s.ResponseHeadersPolicy; p != nil && p.ResponseHeadersPolicyConfig != nil {
					out[aws.ToString(p.ResponseHeadersPolicyConfig.Name)] = aws.ToString(p.Id)
				}
			}
			return out, res.ResponseHeadersPolicyList.NextMarker, nil
		},
		get: func(ctx context.Context, api *cloudfront.Client, id string) (*cftypes.ResponseHeadersPolicyConfig, string, error) {
			res, err := api.GetResponseHeadersPolicyConfig(ctx, &cloudfront.GetResponseHeadersPolicyConfigInput{Id: aws.String(id)})
			if err != nil {
				return nil, "", err
			}
			return res.ResponseHeadersPolicyConfig, aws.ToString(res.ETag), nil
		},
		create: func(ctx context.Context, api *cloudfront.Client, cfg *cftypes.ResponseHeadersPolicyConfig) (string, error) {
			res, err := api.CreateResponseHeadersPolicy(ctx, &cloudfront.CreateResponseHeadersPolicyInput{ResponseHeadersPolicyConfig: cfg})
			if err != nil {
				return "", err
			}
			return aws.ToString(res.ResponseHeadersPolicy.Id), nil
		},
		update: func(ctx context.Context, api *cloudfront.Client, id, etag string, cfg *cftypes.ResponseHeadersPolicyConfig) error {
			_, err := api.UpdateResponseHeadersPolicy(ctx, &cloudfront.UpdateResponseHeadersPolicyInput{Id: aws.String(id), IfMatch: aws.String(etag), ResponseHeadersPolicyConfig: cfg})
			return err
		},
		del: func(ctx context.Context, api *cloudfront.Client, id, etag string) error {
			_, err := api.DeleteResponseHeadersPolicy(ctx, &cloudfront.DeleteResponseHeadersPolicyInput{Id: aws.String(id), IfMatch: aws.String(etag)})
			return err
		},
		same: func(a, b *cftypes.ResponseHeadersPolicyConfig) bool {
			return sameJSON(ResponseHeadersPolicyFromAPI(a), ResponseHeadersPolicyFromAPI(b))
		},
	}
)

// sameJSON reports whether a and b encode to the same JSON.
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// CachePolicyConfig is p as CloudFront's API takes it.
func CachePolicyConfig(p cdn.CachePolicy) *cftypes.CachePolicyConfig {
	headers := &cftypes.CachePolicyHeadersConfig{HeaderBehavior: cftypes.CachePolicyHeaderBehaviorNone}
	if len(p.Headers) > 0 {
		headers = &cftypes.CachePolicyHeadersConfig{HeaderBehavior: cftypes.CachePolicyHeaderBehaviorWhitelist,
			Headers: &cftypes.Headers{Quantity: aws.Int32(int32(len(p.Headers))), Items: slices.Clone(p.Headers)}}
	}
	cfg := &cftypes.CachePolicyConfig{
		Name:       aws.String(p.Name),
		MinTTL:     aws.Int64(p.MinTTL),
		DefaultTTL: aws.Int64(p.DefaultTTL),
		MaxTTL:     aws.Int64(p.MaxTTL),
		ParametersInCacheKeyAndForwardedToOrigin: &cftypes.ParametersInCacheKeyAndForwardedToOrigin{
			EnableAcceptEncodingGzip:   aws.Bool(p.Gzip),
			EnableAcceptEncodingBrotli: aws.Bool(p.Brotli),
			HeadersConfig:              headers,
			CookiesConfig: &cftypes.CachePolicyCookiesConfig{CookieBehavior: cftypes.CachePolicyCookieBehavior(p.Cookies.Behavior),
				Cookies: cookieNames(p.Cookies.Items)},
			QueryStringsConfig: &cftypes.CachePolicyQueryStringsConfig{QueryStringBehavior: cftypes.CachePolicyQueryStringBehavior(p.QueryStrings.Behavior),
				QueryStrings: queryNames(p.QueryStrings.Items)},
		},
	}
	if p.Comment != "" {
		cfg.Comment = aws.String(p.Comment)
	}
	return cfg
}

func cookieNames(items []string) *cftypes.CookieNames {
	if len(items) == 0 {
		return nil
	}
	return &cftypes.CookieNames{Quantity: aws.Int32(int32(len(items))), Items: slices.Clone(items)}
}

func queryNames(items []string) *cftypes.QueryStringNames {
	if len(items) == 0 {
		return nil
	}
	return &cftypes.QueryStringNames{Quantity: aws.Int32(int32(len(items))), Items: slices.Clone(items)}
}

func selection(behavior string, items []string) cdn.Selection {
	s := cdn.Selection{Behavior: behavior}
	if len(items) > 0 {
		s.Items = slices.Clone(items)
	}
	return s
}

// CachePolicyFromAPI reads a cache policy's configuration into the model (without
// id).
func CachePolicyFromAPI(cfg *cftypes.CachePolicyConfig) cdn.CachePolicy {
	p := cdn.CachePolicy{Name: aws.ToString(cfg.Name), Comment: aws.ToString(cfg.Comment),
		MinTTL: aws.ToInt64(cfg.MinTTL), DefaultTTL: aws.ToInt64(cfg.DefaultTTL), MaxTTL: aws.ToInt64(cfg.MaxTTL),
		Cookies: cdn.Nothing, QueryStrings: cdn.Nothing}
	k := cfg.ParametersInCacheKeyAndForwardedToOrigin
	if k == nil {
		return p
	}
	p.Gzip, p.Brotli = aws.ToBool(k.EnableAcceptEncodingGzip), aws.ToBool(k.EnableAcceptEncodingBrotli)
	if h := k.HeadersConfig; h != nil && h.Headers != nil && len(h.Headers.Items) > 0 {
		p.Headers = slices.Clone(h.Headers.Items)
	}
	if c := k.CookiesConfig; c != nil {
		var items []string
		if c.Cookies != nil {
			items = c.Cookies.Items
		}
		p.Cookies = selection(string(c.CookieBehavior), items)
	}
	if q := k.QueryStringsConfig; q != nil {
		var items []string
		if q.QueryStrings != nil {
			items = q.QueryStrings.Items
		}
		p.QueryStrings = selection(string(q.QueryStringBehavior), items)
	}
	return p
}

// OriginRequestPolicyConfig is p as CloudFront's API takes it.
func OriginRequestPolicyConfig(p cdn.OriginRequestPolicy) *cftypes.OriginRequestPolicyConfig {
	cfg := &cftypes.OriginRequestPolicyConfig{
		Name:          aws.String(p.Name),
		HeadersConfig: &cftypes.OriginRequestPolicyHeadersConfig{HeaderBehavior: cftypes.OriginRequestPolicyHeaderBehavior(p.Headers.Behavior)},
		CookiesConfig: &cftypes.OriginRequestPolicyCookiesConfig{CookieBehavior: cftypes.OriginRequestPolicyCookieBehavior(p.Cookies.Behavior),
			Cookies: cookieNames(p.Cookies.Items)},
		QueryStringsConfig: &cftypes.OriginRequestPolicyQueryStringsConfig{QueryStringBehavior: cftypes.OriginRequestPolicyQueryStringBehavior(p.QueryStrings.Behavior),
			QueryStrings: queryNames(p.QueryStrings.Items)},
	}
	if len(p.Headers.Items) > 0 {
		cfg.HeadersConfig.Headers = &cftypes.Headers{Quantity: aws.Int32(int32(len(p.Headers.Items))), Items: slices.Clone(p.Headers.Items)}
	}
	if p.Comment != "" {
		cfg.Comment = aws.String(p.Comment)
	}
	return cfg
}

// OriginRequestPolicyFromAPI reads an origin request policy's configuration into the
// model (without id).
func OriginRequestPolicyFromAPI(cfg *cftypes.OriginRequestPolicyConfig) cdn.OriginRequestPolicy {
	p := cdn.OriginRequestPolicy{Name: aws.ToString(cfg.Name), Comment: aws.ToString(cfg.Comment),
		Headers: cdn.Nothing, Cookies: cdn.Nothing, QueryStrings: cdn.Nothing}
	if h := cfg.HeadersConfig; h != nil {
		var items []string
		if h.Headers != nil {
			items = h.Headers.Items
		}
		p.Headers = selection(string(h.HeaderBehavior), items)
	}
	if c := cfg.CookiesConfig; c != nil {
		var items []string
		if c.Cookies != nil {
			items = c.Cookies.Items
		}
		p.Cookies = selection(string(c.CookieBehavior), items)
	}
	if q := cfg.QueryStringsConfig; q != nil {
		var items []string
		if q.QueryStrings != nil {
			items = q.QueryStrings.Items
		}
		p.QueryStrings = selection(string(q.QueryStringBehavior), items)
	}
	return p
}

// ResponseHeadersPolicyConfig is p as CloudFront's API takes it.
func ResponseHeadersPolicyConfig(p cdn.ResponseHeadersPolicy) *cftypes.ResponseHeadersPolicyConfig {
	sec := &cftypes.ResponseHeadersPolicySecurityHeadersConfig{}
	if v := p.ContentSecurityPolicy; v != nil {
		sec.ContentSecurityPolicy = &cftypes.ResponseHeadersPolicyContentSecurityPolicy{ContentSecurityPolicy: aws.String(v.Value), Override: aws.Bool(v.Override)}
	}
	if v := p.ContentTypeOptions; v != nil {
		sec.ContentTypeOptions = &cftypes.ResponseHeadersPolicyContentTypeOptions{Override: aws.Bool(v.Override)}
	}
	if v := p.FrameOptions; v != nil {
		sec.FrameOptions = &cftypes.ResponseHeadersPolicyFrameOptions{FrameOption: cftypes.FrameOptionsList(v.Value), Override: aws.Bool(v.Override)}
	}
	if v := p.ReferrerPolicy; v != nil {
		sec.ReferrerPolicy = &cftypes.ResponseHeadersPolicyReferrerPolicy{ReferrerPolicy: cftypes.ReferrerPolicyList(v.Value), Override: aws.Bool(v.Override)}
	}
	if v := p.StrictTransportSecurity; v != nil {
		sec.StrictTransportSecurity = &cftypes.ResponseHeadersPolicyStrictTransportSecurity{
			AccessControlMaxAgeSec: aws.Int32(int32(v.MaxAge)), IncludeSubdomains: aws.Bool(v.IncludeSubdomains), Preload: aws.Bool(v.Preload), Override: aws.Bool(v.Override)}
	}
	cfg := &cftypes.ResponseHeadersPolicyConfig{Name: aws.String(p.Name), SecurityHeadersConfig: sec}
	if len(p.CustomHeaders) > 0 {
		cfg.CustomHeadersConfig = &cftypes.ResponseHeadersPolicyCustomHeadersConfig{Quantity: aws.Int32(int32(len(p.CustomHeaders)))}
		for _, h := range p.CustomHeaders {
			cfg.CustomHeadersConfig.Items = append(cfg.CustomHeadersConfig.Items,
				cftypes.ResponseHeadersPolicyCustomHeader{Header: aws.String(h.Name), Value: aws.String(h.Value), Override: aws.Bool(h.Override)})
		}
	}
	if p.Comment != "" {
		cfg.Comment = aws.String(p.Comment)
	}
	return cfg
}

// ResponseHeadersPolicyFromAPI reads a response headers policy's configuration into
// the model (without id).
func ResponseHeadersPolicyFromAPI(cfg *cftypes.ResponseHeadersPolicyConfig) cdn.ResponseHeadersPolicy {
	p := cdn.ResponseHeadersPolicy{Name: aws.ToString(cfg.Name), Comment: aws.ToString(cfg.Comment)}
	if s := cfg.SecurityHeadersConfig; s != nil {
		if v := s.ContentSecurityPolicy; v != nil {
			p.ContentSecurityPolicy = &cdn.HeaderValue{Value: aws.ToString(v.ContentSecurityPolicy), Override: aws.ToBool(v.Override)}
		}
		if v := s.ContentTypeOptions; v != nil {
			p.ContentTypeOptions = &cdn.Flag{Override: aws.ToBool(v.Override)}
		}
		if v := s.FrameOptions; v != nil {
			p.FrameOptions = &cdn.HeaderValue{Value: string(v.FrameOption), Override: aws.ToBool(v.Override)}
		}
		if v := s.ReferrerPolicy; v != nil {
			p.ReferrerPolicy = &cdn.HeaderValue{Value: string(v.ReferrerPolicy), Override: aws.ToBool(v.Override)}
		}
		if v := s.StrictTransportSecurity; v != nil {
			p.StrictTransportSecurity = &cdn.HSTS{MaxAge: int64(aws.ToInt32(v.AccessControlMaxAgeSec)), IncludeSubdomains: aws.ToBool(v.IncludeSubdomains),
				Preload: aws.ToBool(v.Preload), Override: aws.ToBool(v.Override)}
		}
	}
	if c := cfg.CustomHeadersConfig; c != nil {
		for _, h := range c.Items {
			p.CustomHeaders = append(p.CustomHeaders, cdn.CustomHeader{Name: aws.ToString(h.Header), Value: aws.ToString(h.Value), Override: aws.ToBool(h.Override)})
		}
	}
	return p
}
