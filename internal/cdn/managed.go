package cdn

// The AWS-managed policies, with the settings AWS documents for them on the CloudFront
// Developer Guide's pages "Use managed cache policies" and "Use managed origin request
// policies". Their ids are the same in every account. Only policies whose settings are
// listed there in full are here: a behaviour naming any other managed policy fails
// Validate, rather than running with guessed settings.

// Ids of the managed cache policies.
const (
	CachingOptimizedID                       = "658327ea-f89d-4fab-a63d-7e88639e58f6"
	CachingOptimizedForUncompressedObjectsID = "b2884449-e4de-46a7-ac36-70bc7f1ddd6d"
	CachingDisabledID                        = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
	AmplifyID                                = "2e54312d-136d-493c-8eb9-b001f22f67d2"
	ElementalMediaPackageID                  = "08627262-05a9-4f76-9ded-b50ca2e3a84f"
	UseOriginCacheControlHeadersID           = "83da9c7e-98b4-4e11-a168-04f0df8e2c65"
	UseOriginCacheControlHeadersQSID         = "4cc15a8a-d715-48a4-82b8-cc0b614638fe"
)

// Ids of the managed origin request policies.
const (
	UserAgentRefererHeadersID = "acba4595-bd28-49b8-b9fe-13317c0390fa"
	CORSCustomOriginID        = "59781a5b-3903-41f3-afcb-af62929ccde1"
	CORSS3OriginID            = "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf"
	AllViewerID               = "216adef6-5c7f-47e4-b989-5492eafa07d3"
	AllViewerExceptHostID     = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
	MediaTailorManifestsID    = "775133bc-15f2-49f9-abea-afb2e0bf67d2"
)

const year = 31536000

// originCacheControlKeyHeaders are the headers both UseOriginCacheControlHeaders
// policies key on (and so send to the origin, Host included).
var originCacheControlKeyHeaders = []string{"Host", "Origin", "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"}

// managedCachePolicies are the managed cache policies by id.
var managedCachePolicies = map[string]CachePolicy{
	CachingOptimizedID: {ID: CachingOptimizedID, Name: "Managed-CachingOptimized",
		MinTTL: 1, DefaultTTL: 86400, MaxTTL: year, Cookies: Nothing, QueryStrings: Nothing, Gzip: true, Brotli: true},
	CachingOptimizedForUncompressedObjectsID: {ID: CachingOptimizedForUncompressedObjectsID, Name: "Managed-CachingOptimizedForUncompressedObjects",
		MinTTL: 1, DefaultTTL: 86400, MaxTTL: year, Cookies: Nothing, QueryStrings: Nothing},
	CachingDisabledID: {ID: CachingDisabledID, Name: "Managed-CachingDisabled", Cookies: Nothing, QueryStrings: Nothing},
	AmplifyID: {ID: AmplifyID, Name: "Managed-Amplify", MinTTL: 2, DefaultTTL: 2, MaxTTL: 600,
		Headers: []string{"Authorization", "CloudFront-Viewer-Country", "Host"}, Cookies: Everything, QueryStrings: Everything, Gzip: true, Brotli: true},
	ElementalMediaPackageID: {ID: ElementalMediaPackageID, Name: "Managed-Elemental-MediaPackage", MinTTL: 0, DefaultTTL: 86400, MaxTTL: year,
		Headers: []string{"Origin"}, Cookies: Nothing, QueryStrings: Only("aws.manifestfilter", "start", "end", "m"), Gzip: true},
	UseOriginCacheControlHeadersID: {ID: UseOriginCacheControlHeadersID, Name: "Managed-UseOriginCacheControlHeaders",
		MinTTL: 0, DefaultTTL: 0, MaxTTL: year, Headers: originCacheControlKeyHeaders, Cookies: Everything, QueryStrings: Nothing, Gzip: true, Brotli: true},
	UseOriginCacheControlHeadersQSID: {ID: UseOriginCacheControlHeadersQSID, Name: "Managed-UseOriginCacheControlHeaders-QueryStrings",
		MinTTL: 0, DefaultTTL: 0, MaxTTL: year, Headers: originCacheControlKeyHeaders, Cookies: Everything, QueryStrings: Everything, Gzip: true, Brotli: true},
}

// managedOriginRequestPolicies are the managed origin request policies by id.
var managedOriginRequestPolicies = map[string]OriginRequestPolicy{
	UserAgentRefererHeadersID: {ID: UserAgentRefererHeadersID, Name: "Managed-UserAgentRefererHeaders",
		Headers: Only("User-Agent", "Referer"), Cookies: Nothing, QueryStrings: Nothing},
	CORSCustomOriginID: {ID: CORSCustomOriginID, Name: "Managed-CORS-CustomOrigin",
		Headers: Only("Origin"), Cookies: Nothing, QueryStrings: Nothing},
	CORSS3OriginID: {ID: CORSS3OriginID, Name: "Managed-CORS-S3Origin",
		Headers: Only("Origin", "Access-Control-Request-Headers", "Access-Control-Request-Method"), Cookies: Nothing, QueryStrings: Nothing},
	AllViewerID: {ID: AllViewerID, Name: "Managed-AllViewer",
		Headers: Selection{Behavior: AllViewer}, Cookies: Everything, QueryStrings: Everything},
	AllViewerExceptHostID: {ID: AllViewerExceptHostID, Name: "Managed-AllViewerExceptHostHeader",
		Headers: Selection{Behavior: AllExcept, Items: []string{"Host"}}, Cookies: Everything, QueryStrings: Everything},
	MediaTailorManifestsID: {ID: MediaTailorManifestsID, Name: "Managed-Elemental-MediaTailor-PersonalizedManifests",
		Headers: Only("Origin", "Access-Control-Request-Headers", "Access-Control-Request-Method", "User-Agent", "X-Forwarded-For"),
		Cookies: Nothing, QueryStrings: Everything},
}

// ManagedCachePolicy returns the managed cache policy with id.
func ManagedCachePolicy(id string) (CachePolicy, bool) {
	p, ok := managedCachePolicies[id]
	return p, ok
}

// ManagedOriginRequestPolicy returns the managed origin request policy with id.
func ManagedOriginRequestPolicy(id string) (OriginRequestPolicy, bool) {
	p, ok := managedOriginRequestPolicies[id]
	return p, ok
}
