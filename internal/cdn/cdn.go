// Package cdn is the project's one model of MyBlog's CloudFront distribution: its
// origins, cache behaviours, functions and the cache, origin request and response
// headers policies they name. `sa provision` turns it into CloudFront's API types and
// sends it (internal/provision); the local edge (services/gateway in edge mode) runs the
// very same document, so the two cannot drift apart: which headers, cookies and query
// strings reach each origin, which Host the origin sees, what the cache key is, which
// methods are allowed and cached, how long answers are kept and which headers viewers
// get back are all computed here, from the policies.
//
// AWS-managed policies come from a table of their documented settings (managed.go);
// the project's own policies are defined in code by internal/provision and travel in
// the document. Validate applies the rules CloudFront itself enforces when a
// distribution or policy is created, so a configuration AWS would refuse, or one that
// cannot work (Host forwarded to an S3 origin, Authorization dropped on the way to the
// API), fails locally first.
package cdn

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// HTTP methods as CloudFront names them in AllowedMethods and CachedMethods.
const (
	MethodGet     = "GET"
	MethodHead    = "HEAD"
	MethodOptions = "OPTIONS"
	MethodPut     = "PUT"
	MethodPost    = "POST"
	MethodPatch   = "PATCH"
	MethodDelete  = "DELETE"
)

// The method sets CloudFront accepts for a behaviour's AllowedMethods.
var (
	// ReadMethods are GET and HEAD.
	ReadMethods = []string{MethodGet, MethodHead}
	// ReadOptionsMethods are GET, HEAD and OPTIONS.
	ReadOptionsMethods = []string{MethodGet, MethodHead, MethodOptions}
	// AllMethods are the seven methods CloudFront can forward.
	AllMethods = []string{MethodGet, MethodHead, MethodOptions, MethodPut, MethodPost, MethodPatch, MethodDelete}
)

// Origin protocol policies of a custom origin.
const (
	HTTPSOnly   = "https-only"
	HTTPOnly    = "http-only"
	MatchViewer = "match-viewer"
)

// EventViewerRequest is the only function event type the model knows: a CloudFront
// Function run on the viewer's request, before the cache.
const EventViewerRequest = "viewer-request"

// Distribution is one CloudFront distribution as the project defines it, with the
// project's own policies. Managed policies are named by id and resolved from the
// table in managed.go.
type Distribution struct {
	// Name is the distribution's caller reference and comment: how provisioning finds
	// it again.
	Name string `json:"name"`
	// Aliases are the custom domain names viewers use (CNAMEs); they need
	// CertificateARN.
	Aliases []string `json:"aliases,omitempty"`
	// CertificateARN is an ACM certificate in us-east-1 covering Aliases; empty means
	// CloudFront's own *.cloudfront.net certificate.
	CertificateARN string `json:"certificateArn,omitempty"`
	// DefaultRootObject is the object served for a request for the root, "/".
	DefaultRootObject string `json:"defaultRootObject,omitempty"`
	// Origins are where requests go.
	Origins []Origin `json:"origins"`
	// OriginGroups pair two origins for failover.
	OriginGroups []OriginGroup `json:"originGroups,omitempty"`
	// DefaultBehavior serves every path no behaviour in Behaviors matches.
	DefaultBehavior Behavior `json:"defaultBehavior"`
	// Behaviors are tried in order; the first whose PathPattern matches serves.
	Behaviors []Behavior `json:"behaviors,omitempty"`
	// CachePolicies, OriginRequestPolicies and ResponseHeadersPolicies are the
	// project's own policies the behaviours name (managed ones are not listed).
	CachePolicies           []CachePolicy           `json:"cachePolicies,omitempty"`
	OriginRequestPolicies   []OriginRequestPolicy   `json:"originRequestPolicies,omitempty"`
	ResponseHeadersPolicies []ResponseHeadersPolicy `json:"responseHeadersPolicies,omitempty"`
}

// Origin is one origin of a distribution.
type Origin struct {
	// ID names the origin in behaviours and groups.
	ID string `json:"id"`
	// DomainName is the origin's host: <bucket>.s3.<region>.amazonaws.com for a bucket.
	DomainName string `json:"domainName"`
	// Path is prepended to every request path (CloudFront's OriginPath).
	Path string `json:"path,omitempty"`
	// S3 marks a bucket origin, read through OriginAccessControlID.
	S3 bool `json:"s3,omitempty"`
	// OriginAccessControlID signs the requests to an S3 origin.
	OriginAccessControlID string `json:"originAccessControlId,omitempty"`
	// HTTPPort and HTTPSPort are a custom origin's ports (80 and 443 when zero).
	HTTPPort  int `json:"httpPort,omitempty"`
	HTTPSPort int `json:"httpsPort,omitempty"`
	// ProtocolPolicy is a custom origin's HTTPSOnly, HTTPOnly or MatchViewer.
	ProtocolPolicy string `json:"protocolPolicy,omitempty"`
	// CustomHeaders are added to every request to the origin.
	CustomHeaders []CustomHeader `json:"customHeaders,omitempty"`
}

// Bucket is the bucket of an S3 origin: the first label of its domain name.
func (o Origin) Bucket() string {
	if !o.S3 {
		return ""
	}
	b, _, _ := strings.Cut(o.DomainName, ".s3.")
	return b
}

// OriginGroup is two origins: requests go to the first, and to the second when the
// first answers one of FailoverStatusCodes or cannot be reached.
type OriginGroup struct {
	ID                  string   `json:"id"`
	Members             []string `json:"members"`
	FailoverStatusCodes []int    `json:"failoverStatusCodes"`
}

// Behavior is a cache behaviour: which origin serves a path pattern, and with which
// policies.
type Behavior struct {
	// PathPattern is empty for the default behaviour.
	PathPattern string `json:"pathPattern,omitempty"`
	// TargetOriginID is an origin's or an origin group's id.
	TargetOriginID string `json:"targetOriginId"`
	// ViewerProtocolPolicy is redirect-to-https, https-only or allow-all.
	ViewerProtocolPolicy string `json:"viewerProtocolPolicy"`
	// AllowedMethods is ReadMethods, ReadOptionsMethods or AllMethods.
	AllowedMethods []string `json:"allowedMethods"`
	// CachedMethods is GET and HEAD, optionally OPTIONS.
	CachedMethods []string `json:"cachedMethods"`
	// Compress lets CloudFront compress answers the cache policy allows it to.
	Compress bool `json:"compress"`
	// CachePolicyID, OriginRequestPolicyID and ResponseHeadersPolicyID name the
	// behaviour's policies (the last two are optional).
	CachePolicyID           string `json:"cachePolicyId"`
	OriginRequestPolicyID   string `json:"originRequestPolicyId,omitempty"`
	ResponseHeadersPolicyID string `json:"responseHeadersPolicyId,omitempty"`
	// Functions run on the viewer's request.
	Functions []FunctionAssociation `json:"functions,omitempty"`
}

// Pattern is the behaviour's path pattern, "*" for the default behaviour.
func (b Behavior) Pattern() string {
	if b.PathPattern == "" {
		return "*"
	}
	return b.PathPattern
}

// FunctionAssociation is a CloudFront Function on a behaviour.
type FunctionAssociation struct {
	// EventType is EventViewerRequest.
	EventType string `json:"eventType"`
	// Name is the function's name.
	Name string `json:"name"`
	// ARN is the published function's ARN; empty where the function could not be
	// published (moto has no Functions API).
	ARN string `json:"arn,omitempty"`
	// CodeSHA256 is the hex SHA-256 of the function's code: the local edge runs the Go
	// twin of the code with that hash (functions.go).
	CodeSHA256 string `json:"codeSha256"`
}

// CustomHeader is a header with a value: an origin's custom header, or one a
// response headers policy adds.
type CustomHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// Override replaces a value the origin sent (response headers only).
	Override bool `json:"override,omitempty"`
}

// Origin returns the origin with id, or nil.
func (d *Distribution) Origin(id string) *Origin {
	if i := slices.IndexFunc(d.Origins, func(o Origin) bool { return o.ID == id }); i >= 0 {
		return &d.Origins[i]
	}
	return nil
}

// OriginGroup returns the origin group with id, or nil.
func (d *Distribution) OriginGroup(id string) *OriginGroup {
	if i := slices.IndexFunc(d.OriginGroups, func(g OriginGroup) bool { return g.ID == id }); i >= 0 {
		return &d.OriginGroups[i]
	}
	return nil
}

// AllBehaviors returns the behaviours in the order CloudFront tries them: Behaviors,
// then the default.
func (d *Distribution) AllBehaviors() []Behavior {
	return append(slices.Clone(d.Behaviors), d.DefaultBehavior)
}

// Read loads a distribution document written by Write.
func Read(path string) (*Distribution, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read distribution: %w", err)
	}
	var d Distribution
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("parse distribution %s: %w", path, err)
	}
	return &d, nil
}

// Write stores d at path as indented JSON.
func Write(path string, d *Distribution) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("encode distribution: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write distribution: %w", err)
	}
	return nil
}
