package cdn

import (
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strings"
)

// Resolved is one behaviour with everything it names looked up: its policies and the
// origins it sends to (one, or an origin group's two in failover order).
type Resolved struct {
	Behavior
	// Index is the behaviour's position in AllBehaviors.
	Index int
	// Cache is the behaviour's cache policy.
	Cache CachePolicy
	// OriginRequest and ResponseHeaders are nil when the behaviour names none.
	OriginRequest   *OriginRequestPolicy
	ResponseHeaders *ResponseHeadersPolicy
	// Origins are the target origin, or the group's members, primary first.
	Origins []Origin
	// FailoverStatusCodes are the group's failover codes (nil without a group).
	FailoverStatusCodes []int
}

// groupFailoverCodes are the status codes an origin group may fail over on.
var groupFailoverCodes = []int{400, 403, 404, 416, 500, 502, 503, 504}

// Validate reports the first rule of CloudFront's (or of a working blog) the
// distribution breaks, naming the field at fault.
func (d *Distribution) Validate() error {
	_, err := d.Resolve()
	return err
}

// Resolve validates the distribution and returns its behaviours, resolved, in the
// order CloudFront tries them (the default last).
func (d *Distribution) Resolve() ([]*Resolved, error) {
	if d.Name == "" {
		return nil, errors.New("distribution: name is required")
	}
	if err := d.validateCertificate(); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, o := range d.Origins {
		if err := o.validate(); err != nil {
			return nil, fmt.Errorf("origins[%d] %q: %w", i, o.ID, err)
		}
		if seen[o.ID] {
			return nil, fmt.Errorf("origins[%d]: id %q is used twice", i, o.ID)
		}
		seen[o.ID] = true
	}
	for i, g := range d.OriginGroups {
		if seen[g.ID] {
			return nil, fmt.Errorf("originGroups[%d]: id %q is used twice", i, g.ID)
		}
		seen[g.ID] = true
		if len(g.Members) != 2 || d.Origin(g.Members[0]) == nil || d.Origin(g.Members[1]) == nil || g.Members[0] == g.Members[1] {
			return nil, fmt.Errorf("originGroups[%d] %q: needs exactly two different origins of the distribution, has %v", i, g.ID, g.Members)
		}
		if len(g.FailoverStatusCodes) == 0 {
			return nil, fmt.Errorf("originGroups[%d] %q: no failover status codes", i, g.ID)
		}
		for _, c := range g.FailoverStatusCodes {
			if !slices.Contains(groupFailoverCodes, c) {
				return nil, fmt.Errorf("originGroups[%d] %q: CloudFront cannot fail over on %d (only %v)", i, g.ID, c, groupFailoverCodes)
			}
		}
	}
	if err := d.validatePolicies(); err != nil {
		return nil, err
	}
	var out []*Resolved
	patterns := map[string]bool{}
	for i, b := range d.AllBehaviors() {
		field := fmt.Sprintf("behaviors[%d] %s", i, b.Pattern())
		if i == len(d.Behaviors) {
			field = "defaultBehavior"
			if b.PathPattern != "" {
				return nil, fmt.Errorf("%s: has path pattern %q; the default behaviour matches every path", field, b.PathPattern)
			}
		} else if b.PathPattern == "" || patterns[b.PathPattern] {
			return nil, fmt.Errorf("%s: needs a path pattern of its own", field)
		}
		patterns[b.PathPattern] = true
		r, err := d.resolve(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		r.Index = i
		out = append(out, r)
	}
	return out, nil
}

func (d *Distribution) validateCertificate() error {
	if d.CertificateARN == "" {
		if len(d.Aliases) > 0 {
			return fmt.Errorf("aliases %v need an ACM certificate (certificateArn) in us-east-1 that covers them", d.Aliases)
		}
		return nil
	}
	p := strings.Split(d.CertificateARN, ":")
	if len(p) < 6 || p[0] != "arn" || p[2] != "acm" || !strings.HasPrefix(p[5], "certificate/") {
		return fmt.Errorf("certificateArn %q is not an ACM certificate ARN (arn:aws:acm:us-east-1:<account>:certificate/<id>)", d.CertificateARN)
	}
	if p[3] != "us-east-1" {
		return fmt.Errorf("certificateArn %q is in %s: CloudFront only uses ACM certificates from us-east-1", d.CertificateARN, p[3])
	}
	for _, a := range d.Aliases {
		if a == "" || strings.ContainsAny(a, "/: ") {
			return fmt.Errorf("alias %q is not a host name", a)
		}
	}
	return nil
}

func (o Origin) validate() error {
	switch {
	case o.ID == "":
		return errors.New("id is required")
	case o.DomainName == "":
		return errors.New("domainName is required")
	case o.S3:
		if o.Bucket() == "" || !strings.HasSuffix(o.DomainName, ".amazonaws.com") {
			return fmt.Errorf("domainName %q is not a bucket's <bucket>.s3.<region>.amazonaws.com", o.DomainName)
		}
		if o.HTTPPort != 0 || o.HTTPSPort != 0 || o.ProtocolPolicy != "" {
			return errors.New("an S3 origin has no ports or protocol policy")
		}
		return nil
	}
	switch o.ProtocolPolicy {
	case HTTPSOnly, HTTPOnly, MatchViewer:
	default:
		return fmt.Errorf("protocolPolicy %q is not %s, %s or %s", o.ProtocolPolicy, HTTPSOnly, HTTPOnly, MatchViewer)
	}
	for _, p := range []struct {
		name   string
		v, std int
	}{{"httpPort", o.HTTPPort, 80}, {"httpsPort", o.HTTPSPort, 443}} {
		if p.v != 0 && p.v != p.std && (p.v < 1024 || p.v > 65535) {
			return fmt.Errorf("%s %d: CloudFront allows %d or 1024-65535", p.name, p.v, p.std)
		}
	}
	if strings.ContainsAny(o.DomainName, "/: ") {
		return fmt.Errorf("domainName %q must be a host name, without scheme, port or path", o.DomainName)
	}
	return o.validateCustomHeaders()
}

// reservedOriginHeaders are headers CloudFront refuses as origin custom headers (it sets
// or controls them itself), in canonical form; X-Amz-* and X-Edge-* are refused too.
var reservedOriginHeaders = map[string]bool{
	"Cache-Control": true, "Connection": true, "Content-Length": true, "Cookie": true, "Host": true,
	"If-Match": true, "If-Modified-Since": true, "If-None-Match": true, "If-Range": true, "If-Unmodified-Since": true,
	"Max-Forwards": true, "Pragma": true, "Proxy-Authorization": true, "Proxy-Connection": true, "Range": true,
	"Request-Range": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Via": true,
	"X-Real-Ip": true,
}

// validateCustomHeaders checks the origin's custom headers: named, valued (an empty
// value is a secret or setting that was never filled in), each once, none CloudFront
// reserves.
func (o Origin) validateCustomHeaders() error {
	seen := map[string]bool{}
	for i, h := range o.CustomHeaders {
		name := textproto.CanonicalMIMEHeaderKey(h.Name)
		switch {
		case h.Name == "" || strings.ContainsAny(h.Name, " :\r\n"):
			return fmt.Errorf("customHeaders[%d]: %q is not a header name", i, h.Name)
		case h.Value == "":
			return fmt.Errorf("customHeaders[%d] %s: the value is empty", i, name)
		case reservedOriginHeaders[name] || strings.HasPrefix(name, "X-Amz-") || strings.HasPrefix(name, "X-Edge-"):
			return fmt.Errorf("customHeaders[%d]: CloudFront does not add %s to origin requests", i, name)
		case seen[name]:
			return fmt.Errorf("customHeaders[%d]: %s is set twice", i, name)
		}
		seen[name] = true
	}
	return nil
}

func (d *Distribution) validatePolicies() error {
	ids := map[string]bool{}
	names := map[string]bool{}
	unique := func(kind, id, name string) error {
		if id == "" || name == "" {
			return fmt.Errorf("%s %q: id and name are required", kind, name)
		}
		if ids[id] || names[kind+name] {
			return fmt.Errorf("%s %q (%s): id or name used twice", kind, name, id)
		}
		if _, managed := managedCachePolicies[id]; managed {
			return fmt.Errorf("%s %q: id %s is a managed policy's", kind, name, id)
		}
		ids[id], names[kind+name] = true, true
		return nil
	}
	for _, p := range d.CachePolicies {
		if err := unique("cache policy", p.ID, p.Name); err != nil {
			return err
		}
		if err := p.validate(); err != nil {
			return fmt.Errorf("cache policy %q: %w", p.Name, err)
		}
	}
	for _, p := range d.OriginRequestPolicies {
		if err := unique("origin request policy", p.ID, p.Name); err != nil {
			return err
		}
		if err := p.validate(); err != nil {
			return fmt.Errorf("origin request policy %q: %w", p.Name, err)
		}
	}
	for _, p := range d.ResponseHeadersPolicies {
		if err := unique("response headers policy", p.ID, p.Name); err != nil {
			return err
		}
		if len(p.Headers()) == 0 {
			return fmt.Errorf("response headers policy %q: sets no header", p.Name)
		}
	}
	return nil
}

func (p *CachePolicy) validate() error {
	if p.MinTTL < 0 || p.MinTTL > p.DefaultTTL || p.DefaultTTL > p.MaxTTL {
		return fmt.Errorf("TTLs min %d, default %d, max %d: CloudFront needs 0 <= min <= default <= max", p.MinTTL, p.DefaultTTL, p.MaxTTL)
	}
	if err := validateCookiesAndQueries(p.Cookies, p.QueryStrings); err != nil {
		return err
	}
	if !p.Caches() && (len(p.Headers) > 0 || p.Cookies.Behavior != None || p.QueryStrings.Behavior != None || p.Gzip || p.Brotli) {
		return errors.New("caching is disabled (max TTL 0), so CloudFront allows nothing in the cache key: forward values with an origin request policy")
	}
	return nil
}

func (p *OriginRequestPolicy) validate() error {
	if err := p.Headers.validate(true); err != nil {
		return fmt.Errorf("headers: %w", err)
	}
	if p.Headers.Behavior == Whitelist && p.Headers.has("Authorization", true) {
		return errors.New("headers: CloudFront refuses Authorization in an origin request policy (HTTP 400): put it in the cache policy's key")
	}
	return validateCookiesAndQueries(p.Cookies, p.QueryStrings)
}

// validateCookiesAndQueries checks a policy's cookie and query string selections.
func validateCookiesAndQueries(cookies, queries Selection) error {
	if err := cookies.validate(false); err != nil {
		return fmt.Errorf("cookies: %w", err)
	}
	if err := queries.validate(false); err != nil {
		return fmt.Errorf("queryStrings: %w", err)
	}
	return nil
}

func (s Selection) validate(originHeaders bool) error {
	switch s.Behavior {
	case None, All:
		if len(s.Items) > 0 {
			return fmt.Errorf("behavior %s lists no items, got %v", s.Behavior, s.Items)
		}
		if originHeaders && s.Behavior == All {
			return fmt.Errorf("behavior %s: an origin request policy's headers are %s, %s, %s, %s or %s", All, None, Whitelist, AllViewer, AllViewerAndWhitelistCloudFront, AllExcept)
		}
	case AllViewer:
		if !originHeaders || len(s.Items) > 0 {
			return fmt.Errorf("behavior %s applies to an origin request policy's headers, without items", AllViewer)
		}
	case AllViewerAndWhitelistCloudFront:
		if !originHeaders {
			return fmt.Errorf("behavior %s applies to an origin request policy's headers", AllViewerAndWhitelistCloudFront)
		}
		for _, it := range s.Items {
			if !isCloudFrontHeader(it) {
				return fmt.Errorf("behavior %s lists CloudFront-* headers only, not %q", AllViewerAndWhitelistCloudFront, it)
			}
		}
	case Whitelist, AllExcept:
		if len(s.Items) == 0 {
			return fmt.Errorf("behavior %s needs items", s.Behavior)
		}
	default:
		return fmt.Errorf("behavior %q is unknown", s.Behavior)
	}
	return nil
}

// resolve looks up what b names and checks the rules that involve several parts.
func (d *Distribution) resolve(b Behavior) (*Resolved, error) {
	r := &Resolved{Behavior: b}
	switch b.ViewerProtocolPolicy {
	case "redirect-to-https", "https-only", "allow-all":
	default:
		return nil, fmt.Errorf("viewerProtocolPolicy %q is not redirect-to-https, https-only or allow-all", b.ViewerProtocolPolicy)
	}
	if !slices.Equal(b.AllowedMethods, ReadMethods) && !slices.Equal(b.AllowedMethods, ReadOptionsMethods) && !slices.Equal(b.AllowedMethods, AllMethods) {
		return nil, fmt.Errorf("allowedMethods %v: CloudFront allows %v, %v or %v", b.AllowedMethods, ReadMethods, ReadOptionsMethods, AllMethods)
	}
	if !slices.Equal(b.CachedMethods, ReadMethods) && !slices.Equal(b.CachedMethods, ReadOptionsMethods) {
		return nil, fmt.Errorf("cachedMethods %v: CloudFront caches %v or %v", b.CachedMethods, ReadMethods, ReadOptionsMethods)
	}
	for _, m := range b.CachedMethods {
		if !slices.Contains(b.AllowedMethods, m) {
			return nil, fmt.Errorf("cachedMethods: %s is not allowed", m)
		}
	}
	if o := d.Origin(b.TargetOriginID); o != nil {
		r.Origins = []Origin{*o}
	} else if g := d.OriginGroup(b.TargetOriginID); g != nil {
		if slices.Equal(b.AllowedMethods, AllMethods) {
			return nil, errors.New("targets origin group " + g.ID + ", but CloudFront refuses POST, PUT, PATCH or DELETE in the allowed methods of a behaviour associated with an origin group")
		}
		r.Origins = []Origin{*d.Origin(g.Members[0]), *d.Origin(g.Members[1])}
		r.FailoverStatusCodes = g.FailoverStatusCodes
	} else {
		return nil, fmt.Errorf("targetOriginId %q names no origin or origin group", b.TargetOriginID)
	}
	cp, ok := d.cachePolicy(b.CachePolicyID)
	if !ok {
		return nil, fmt.Errorf("cachePolicyId %q is neither a managed policy this project knows nor one of the distribution's own", b.CachePolicyID)
	}
	r.Cache = cp
	if b.OriginRequestPolicyID != "" {
		op, ok := d.originRequestPolicy(b.OriginRequestPolicyID)
		if !ok {
			return nil, fmt.Errorf("originRequestPolicyId %q is neither a managed policy this project knows nor one of the distribution's own", b.OriginRequestPolicyID)
		}
		r.OriginRequest = &op
	}
	if b.ResponseHeadersPolicyID != "" {
		i := slices.IndexFunc(d.ResponseHeadersPolicies, func(p ResponseHeadersPolicy) bool { return p.ID == b.ResponseHeadersPolicyID })
		if i < 0 {
			return nil, fmt.Errorf("responseHeadersPolicyId %q is not one of the distribution's own", b.ResponseHeadersPolicyID)
		}
		p := d.ResponseHeadersPolicies[i]
		r.ResponseHeaders = &p
	}
	for j, f := range b.Functions {
		if f.EventType != EventViewerRequest || f.Name == "" || len(f.CodeSHA256) != 64 {
			return nil, fmt.Errorf("functions[%d]: want a %s function with a name and the SHA-256 of its code, got %+v", j, EventViewerRequest, f)
		}
	}
	for _, o := range r.Origins {
		if !o.S3 {
			continue
		}
		if r.forwardsViewerHeader("Host") {
			return nil, fmt.Errorf("sends the viewer's Host to S3 origin %q (cache policy %s or origin request policy): S3 then looks for a bucket of that name; AWS does not support forwarding Host to S3 origins",
				o.ID, r.Cache.Name)
		}
		if r.Cache.keysHeader("Authorization") {
			return nil, fmt.Errorf("cache policy %s keys on Authorization, which CloudFront does not support for S3 origin %q", r.Cache.Name, o.ID)
		}
	}
	return r, nil
}

func (d *Distribution) cachePolicy(id string) (CachePolicy, bool) {
	return policy(managedCachePolicies, d.CachePolicies, id, func(p CachePolicy) string { return p.ID })
}

func (d *Distribution) originRequestPolicy(id string) (OriginRequestPolicy, bool) {
	return policy(managedOriginRequestPolicies, d.OriginRequestPolicies, id, func(p OriginRequestPolicy) string { return p.ID })
}

// policy finds the policy with id among the managed ones, then the distribution's own.
func policy[P any](managed map[string]P, own []P, id string, idOf func(P) string) (P, bool) {
	if p, ok := managed[id]; ok {
		return p, true
	}
	if i := slices.IndexFunc(own, func(p P) bool { return idOf(p) == id }); i >= 0 {
		return own[i], true
	}
	var zero P
	return zero, false
}

// isCloudFrontHeader reports whether a header name is one CloudFront adds itself
// (CloudFront-Viewer-Address, CloudFront-Forwarded-Proto, ...).
func isCloudFrontHeader(name string) bool {
	return len(name) > len("CloudFront-") && strings.EqualFold(name[:len("CloudFront-")], "CloudFront-")
}
