package provision

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// Conversions between the project's distribution model (internal/cdn) and CloudFront's
// API types. DistributionConfig is what provisioning sends; DistributionFromAPI reads
// back what CloudFront holds, so the two can be compared (cdn.Diff).

// DistributionConfig is d as CloudFront's API takes it. Functions without an ARN (not
// published: moto has no Functions API) are left out.
func DistributionConfig(d *cdn.Distribution) *cftypes.DistributionConfig {
	cfg := &cftypes.DistributionConfig{
		CallerReference:   aws.String(d.Name),
		Comment:           aws.String(d.Name),
		Enabled:           aws.Bool(true),
		DefaultRootObject: aws.String(d.DefaultRootObject),
		HttpVersion:       cftypes.HttpVersionHttp2and3,
		IsIPV6Enabled:     aws.Bool(true),
		PriceClass:        cftypes.PriceClassPriceClassAll,
		Aliases:           &cftypes.Aliases{Quantity: aws.Int32(int32(len(d.Aliases))), Items: slices.Clone(d.Aliases)},
		Origins:           &cftypes.Origins{Quantity: aws.Int32(int32(len(d.Origins)))},
		OriginGroups:      &cftypes.OriginGroups{Quantity: aws.Int32(int32(len(d.OriginGroups)))},
		ViewerCertificate: &cftypes.ViewerCertificate{CloudFrontDefaultCertificate: aws.Bool(true), MinimumProtocolVersion: cftypes.MinimumProtocolVersionTLSv122021},
	}
	if d.CertificateARN != "" {
		cfg.ViewerCertificate = &cftypes.ViewerCertificate{
			ACMCertificateArn:      aws.String(d.CertificateARN),
			SSLSupportMethod:       cftypes.SSLSupportMethodSniOnly,
			MinimumProtocolVersion: cftypes.MinimumProtocolVersionTLSv122021,
		}
	}
	for _, o := range d.Origins {
		cfg.Origins.Items = append(cfg.Origins.Items, originToAPI(o))
	}
	for _, g := range d.OriginGroups {
		codes := make([]int32, len(g.FailoverStatusCodes))
		for i, c := range g.FailoverStatusCodes {
			codes[i] = int32(c)
		}
		members := make([]cftypes.OriginGroupMember, len(g.Members))
		for i, m := range g.Members {
			members[i] = cftypes.OriginGroupMember{OriginId: aws.String(m)}
		}
		cfg.OriginGroups.Items = append(cfg.OriginGroups.Items, cftypes.OriginGroup{
			Id:               aws.String(g.ID),
			FailoverCriteria: &cftypes.OriginGroupFailoverCriteria{StatusCodes: &cftypes.StatusCodes{Quantity: aws.Int32(int32(len(codes))), Items: codes}},
			Members:          &cftypes.OriginGroupMembers{Quantity: aws.Int32(int32(len(members))), Items: members},
		})
	}
	def := behaviorToAPI(d.DefaultBehavior)
	cfg.DefaultCacheBehavior = &cftypes.DefaultCacheBehavior{
		TargetOriginId: def.TargetOriginId, ViewerProtocolPolicy: def.ViewerProtocolPolicy, AllowedMethods: def.AllowedMethods,
		Compress: def.Compress, CachePolicyId: def.CachePolicyId, OriginRequestPolicyId: def.OriginRequestPolicyId,
		ResponseHeadersPolicyId: def.ResponseHeadersPolicyId, FunctionAssociations: def.FunctionAssociations,
	}
	cfg.CacheBehaviors = &cftypes.CacheBehaviors{Quantity: aws.Int32(int32(len(d.Behaviors)))}
	for _, b := range d.Behaviors {
		cfg.CacheBehaviors.Items = append(cfg.CacheBehaviors.Items, behaviorToAPI(b))
	}
	return cfg
}

func originToAPI(o cdn.Origin) cftypes.Origin {
	out := cftypes.Origin{
		Id:            aws.String(o.ID),
		DomainName:    aws.String(o.DomainName),
		OriginPath:    aws.String(o.Path),
		CustomHeaders: &cftypes.CustomHeaders{Quantity: aws.Int32(int32(len(o.CustomHeaders)))},
	}
	for _, h := range o.CustomHeaders {
		out.CustomHeaders.Items = append(out.CustomHeaders.Items, cftypes.OriginCustomHeader{HeaderName: aws.String(h.Name), HeaderValue: aws.String(h.Value)})
	}
	if o.S3 {
		out.S3OriginConfig = &cftypes.S3OriginConfig{OriginAccessIdentity: aws.String("")}
		out.OriginAccessControlId = aws.String(o.OriginAccessControlID)
		return out
	}
	out.CustomOriginConfig = &cftypes.CustomOriginConfig{
		HTTPPort:             aws.Int32(int32(portOr(o.HTTPPort, 80))),
		HTTPSPort:            aws.Int32(int32(portOr(o.HTTPSPort, 443))),
		OriginProtocolPolicy: cftypes.OriginProtocolPolicy(o.ProtocolPolicy),
		OriginSslProtocols:   &cftypes.OriginSslProtocols{Quantity: aws.Int32(1), Items: []cftypes.SslProtocol{cftypes.SslProtocolTLSv12}},
	}
	return out
}

func portOr(p, def int) int {
	if p == 0 {
		return def
	}
	return p
}

func methodsToAPI(allowed, cached []string) *cftypes.AllowedMethods {
	conv := func(ms []string) []cftypes.Method {
		out := make([]cftypes.Method, len(ms))
		for i, m := range ms {
			out[i] = cftypes.Method(m)
		}
		return out
	}
	return &cftypes.AllowedMethods{
		Quantity: aws.Int32(int32(len(allowed))), Items: conv(allowed),
		CachedMethods: &cftypes.CachedMethods{Quantity: aws.Int32(int32(len(cached))), Items: conv(cached)},
	}
}

func behaviorToAPI(b cdn.Behavior) cftypes.CacheBehavior {
	out := cftypes.CacheBehavior{
		PathPattern:          aws.String(b.PathPattern),
		TargetOriginId:       aws.String(b.TargetOriginID),
		ViewerProtocolPolicy: cftypes.ViewerProtocolPolicy(b.ViewerProtocolPolicy),
		AllowedMethods:       methodsToAPI(b.AllowedMethods, b.CachedMethods),
		Compress:             aws.Bool(b.Compress),
		CachePolicyId:        aws.String(b.CachePolicyID),
		FunctionAssociations: &cftypes.FunctionAssociations{Quantity: aws.Int32(0)},
	}
	if b.OriginRequestPolicyID != "" {
		out.OriginRequestPolicyId = aws.String(b.OriginRequestPolicyID)
	}
	if b.ResponseHeadersPolicyID != "" {
		out.ResponseHeadersPolicyId = aws.String(b.ResponseHeadersPolicyID)
	}
	for _, f := range b.Functions {
		if f.ARN == "" {
			continue
		}
		out.FunctionAssociations.Items = append(out.FunctionAssociations.Items,
			cftypes.FunctionAssociation{EventType: cftypes.EventType(f.EventType), FunctionARN: aws.String(f.ARN)})
	}
	out.FunctionAssociations.Quantity = aws.Int32(int32(len(out.FunctionAssociations.Items)))
	return out
}

// DistributionFromAPI reads a distribution's configuration as CloudFront returns it
// into the model. Policies are not part of a distribution's configuration (only their
// ids), and a function association carries only its event and ARN.
func DistributionFromAPI(cfg *cftypes.DistributionConfig) *cdn.Distribution {
	d := &cdn.Distribution{Name: aws.ToString(cfg.CallerReference), DefaultRootObject: aws.ToString(cfg.DefaultRootObject)}
	if cfg.Aliases != nil && len(cfg.Aliases.Items) > 0 {
		d.Aliases = slices.Clone(cfg.Aliases.Items)
	}
	if vc := cfg.ViewerCertificate; vc != nil && aws.ToString(vc.ACMCertificateArn) != "" {
		d.CertificateARN = aws.ToString(vc.ACMCertificateArn)
	}
	if cfg.Origins != nil {
		for _, o := range cfg.Origins.Items {
			d.Origins = append(d.Origins, originFromAPI(o))
		}
	}
	if cfg.OriginGroups != nil {
		for _, g := range cfg.OriginGroups.Items {
			og := cdn.OriginGroup{ID: aws.ToString(g.Id)}
			if g.Members != nil {
				for _, m := range g.Members.Items {
					og.Members = append(og.Members, aws.ToString(m.OriginId))
				}
			}
			if g.FailoverCriteria != nil && g.FailoverCriteria.StatusCodes != nil {
				for _, c := range g.FailoverCriteria.StatusCodes.Items {
					og.FailoverStatusCodes = append(og.FailoverStatusCodes, int(c))
				}
			}
			d.OriginGroups = append(d.OriginGroups, og)
		}
	}
	if b := cfg.DefaultCacheBehavior; b != nil {
		d.DefaultBehavior = behaviorFromAPI(cftypes.CacheBehavior{
			TargetOriginId: b.TargetOriginId, ViewerProtocolPolicy: b.ViewerProtocolPolicy, AllowedMethods: b.AllowedMethods,
			Compress: b.Compress, CachePolicyId: b.CachePolicyId, OriginRequestPolicyId: b.OriginRequestPolicyId,
			ResponseHeadersPolicyId: b.ResponseHeadersPolicyId, FunctionAssociations: b.FunctionAssociations,
		})
	}
	if cfg.CacheBehaviors != nil {
		for _, b := range cfg.CacheBehaviors.Items {
			d.Behaviors = append(d.Behaviors, behaviorFromAPI(b))
		}
	}
	return d
}

func originFromAPI(o cftypes.Origin) cdn.Origin {
	out := cdn.Origin{ID: aws.ToString(o.Id), DomainName: aws.ToString(o.DomainName), Path: aws.ToString(o.OriginPath)}
	if o.CustomHeaders != nil {
		for _, h := range o.CustomHeaders.Items {
			out.CustomHeaders = append(out.CustomHeaders, cdn.CustomHeader{Name: aws.ToString(h.HeaderName), Value: aws.ToString(h.HeaderValue)})
		}
	}
	if o.S3OriginConfig != nil {
		out.S3 = true
		out.OriginAccessControlID = aws.ToString(o.OriginAccessControlId)
	}
	if c := o.CustomOriginConfig; c != nil {
		out.ProtocolPolicy = string(c.OriginProtocolPolicy)
		if p := int(aws.ToInt32(c.HTTPPort)); p != 80 {
			out.HTTPPort = p
		}
		if p := int(aws.ToInt32(c.HTTPSPort)); p != 443 {
			out.HTTPSPort = p
		}
	}
	return out
}

func behaviorFromAPI(b cftypes.CacheBehavior) cdn.Behavior {
	out := cdn.Behavior{
		PathPattern:             aws.ToString(b.PathPattern),
		TargetOriginID:          aws.ToString(b.TargetOriginId),
		ViewerProtocolPolicy:    string(b.ViewerProtocolPolicy),
		Compress:                aws.ToBool(b.Compress),
		CachePolicyID:           aws.ToString(b.CachePolicyId),
		OriginRequestPolicyID:   aws.ToString(b.OriginRequestPolicyId),
		ResponseHeadersPolicyID: aws.ToString(b.ResponseHeadersPolicyId),
	}
	if m := b.AllowedMethods; m != nil {
		for _, x := range m.Items {
			out.AllowedMethods = append(out.AllowedMethods, string(x))
		}
		if m.CachedMethods != nil {
			for _, x := range m.CachedMethods.Items {
				out.CachedMethods = append(out.CachedMethods, string(x))
			}
		}
	}
	if f := b.FunctionAssociations; f != nil {
		for _, a := range f.Items {
			out.Functions = append(out.Functions, cdn.FunctionAssociation{EventType: string(a.EventType), ARN: aws.ToString(a.FunctionARN)})
		}
	}
	return out
}

// APIView is the part of d that CloudFront's distribution configuration holds: d
// without its policies (only their ids are in the configuration), and with each
// published function reduced to its event and ARN (unpublished ones dropped).
// DistributionFromAPI(DistributionConfig(d)) is APIView(d).
func APIView(d *cdn.Distribution) *cdn.Distribution {
	v := *d
	v.CachePolicies, v.OriginRequestPolicies, v.ResponseHeadersPolicies = nil, nil, nil
	v.Origins = slices.Clone(d.Origins)
	v.Behaviors = slices.Clone(d.Behaviors)
	fns := func(b *cdn.Behavior) {
		var keep []cdn.FunctionAssociation
		for _, f := range b.Functions {
			if f.ARN != "" {
				keep = append(keep, cdn.FunctionAssociation{EventType: f.EventType, ARN: f.ARN})
			}
		}
		b.Functions = keep
	}
	fns(&v.DefaultBehavior)
	for i := range v.Behaviors {
		fns(&v.Behaviors[i])
	}
	return &v
}

// MotoGaps lists what moto 5.2 does not keep of a distribution's configuration: it
// answers an origin's S3OriginConfig and OriginAccessControlId as null and every
// behaviour's FunctionAssociations as empty. WithoutMotoGaps clears exactly those
// fields, so a comparison against moto checks everything else.
const MotoGaps = "S3OriginConfig and OriginAccessControlId of origins, FunctionAssociations of behaviours"

// WithoutMotoGaps is d without the fields MotoGaps names.
func WithoutMotoGaps(d *cdn.Distribution) *cdn.Distribution {
	v := *d
	v.Origins = slices.Clone(d.Origins)
	for i := range v.Origins {
		v.Origins[i].S3, v.Origins[i].OriginAccessControlID = false, ""
	}
	v.Behaviors = slices.Clone(d.Behaviors)
	v.DefaultBehavior.Functions = nil
	for i := range v.Behaviors {
		v.Behaviors[i].Functions = nil
	}
	return &v
}

// OriginAccessControl is the CloudFront OAC that signs the distribution's requests to
// the S3 origins (SigV4, always).
type OriginAccessControl struct {
	OACName string
	// Description says whose buckets it reads; Record stores its id (both MyBlog's
	// when nil or empty).
	Description string
	Record      func(out *stack.Resources, id string)
}

var _ Resource = OriginAccessControl{}

// record stores id as Record says, or as MyBlog's.
func (o OriginAccessControl) record(out *stack.Resources, id string) {
	if o.Record == nil {
		out.BlogOACID = id
		return
	}
	o.Record(out, id)
}

// Kind implements Resource.
func (OriginAccessControl) Kind() string { return "cloudfront origin access control" }

// Name implements Resource.
func (o OriginAccessControl) Name() string { return o.OACName }

// find returns the id of the OAC named OACName, "" when there is none.
func (o OriginAccessControl) find(ctx context.Context, c *Clients) (string, error) {
	var marker *string
	for {
		page, err := c.CloudFront.ListOriginAccessControls(ctx, &cloudfront.ListOriginAccessControlsInput{Marker: marker})
		if err != nil {
			return "", fmt.Errorf("list origin access controls: %w", err)
		}
		if page.OriginAccessControlList == nil {
			return "", nil
		}
		for _, it := range page.OriginAccessControlList.Items {
			if aws.ToString(it.Name) == o.OACName {
				return aws.ToString(it.Id), nil
			}
		}
		if page.OriginAccessControlList.NextMarker == nil || !aws.ToBool(page.OriginAccessControlList.IsTruncated) {
			return "", nil
		}
		marker = page.OriginAccessControlList.NextMarker
	}
}

// Ensure implements Resource.
func (o OriginAccessControl) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	id, err := o.find(ctx, c)
	if err != nil {
		return Outcome{}, err
	}
	if id != "" {
		o.record(out, id)
		return Outcome{ID: id}, nil
	}
	res, err := c.CloudFront.CreateOriginAccessControl(ctx, &cloudfront.CreateOriginAccessControlInput{
		OriginAccessControlConfig: &cftypes.OriginAccessControlConfig{
			Name:                          aws.String(o.OACName),
			Description:                   aws.String(cmp.Or(o.Description, "MyBlog: CloudFront reads the site and media buckets")),
			OriginAccessControlOriginType: cftypes.OriginAccessControlOriginTypesS3,
			SigningBehavior:               cftypes.OriginAccessControlSigningBehaviorsAlways,
			SigningProtocol:               cftypes.OriginAccessControlSigningProtocolsSigv4,
		},
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("create origin access control: %w", err)
	}
	o.record(out, aws.ToString(res.OriginAccessControl.Id))
	return Outcome{Created: true, ID: aws.ToString(res.OriginAccessControl.Id)}, nil
}
