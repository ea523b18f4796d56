package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ci "github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	citypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentity/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/serverless-architect/serverless-architect/internal/filekey"
	"github.com/serverless-architect/serverless-architect/internal/iampolicy"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// filesUsersPrefix is where the users' folders are in the files bucket,
// users/<user pool sub>/.
const filesUsersPrefix = filekey.UsersPrefix

// folderPolicyName is the name of the inline policy granting folder access.
const folderPolicyName = "user-folder"

// FilesBucket is the bucket of the users' own folders (users/<id>/): public access
// blocked, encrypted by default (SSE-S3), CORS for browser clients using presigned
// URLs, and incomplete multipart uploads aborted after a day.
type FilesBucket struct {
	// BucketName is the bucket's name before the account and region (Clients.BucketName),
	// prefix included.
	BucketName string
	// CORSOrigins are the origins browsers may use the bucket from (["*"] when empty:
	// presigned URLs and temporary credentials, not CORS, are what protect it).
	CORSOrigins []string
}

var _ Resource = FilesBucket{}

// Kind implements Resource.
func (FilesBucket) Kind() string { return "s3 files bucket" }

// Name implements Resource.
func (b FilesBucket) Name() string { return b.BucketName }

// Ensure implements Resource. The bucket's settings are applied on every run, so a
// bucket changed by hand is put back.
func (b FilesBucket) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	name, err := c.BucketName(ctx, b.BucketName, c.Region)
	if err != nil {
		return Outcome{}, err
	}
	created, err := ensureBucket(ctx, c, name, "")
	if err != nil {
		return Outcome{}, err
	}
	for _, step := range b.settings() {
		if err := step.apply(ctx, c.S3, name); err != nil {
			return Outcome{}, fmt.Errorf("%s: %w", step.what, err)
		}
	}
	out.FilesBucket = name
	return Outcome{Created: created, ID: name}, nil
}

type bucketSetting struct {
	what  string
	apply func(ctx context.Context, api *s3.Client, bucket string) error
}

// settings are the bucket's configuration calls, each idempotent.
func (b FilesBucket) settings() []bucketSetting {
	origins := b.CORSOrigins
	if len(origins) == 0 {
		origins = []string{"*"}
	}
	return []bucketSetting{
		{"block public access", func(ctx context.Context, api *s3.Client, bucket string) error {
			_, err := api.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
				Bucket: aws.String(bucket), PublicAccessBlockConfiguration: PrivateBucketAccessBlock(),
			})
			return err
		}},
		{"default encryption", func(ctx context.Context, api *s3.Client, bucket string) error {
			_, err := api.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
				Bucket: aws.String(bucket),
				ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{
					ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAes256},
					BucketKeyEnabled:                   aws.Bool(true),
				}}},
			})
			return err
		}},
		{"cors", func(ctx context.Context, api *s3.Client, bucket string) error {
			_, err := api.PutBucketCors(ctx, &s3.PutBucketCorsInput{
				Bucket: aws.String(bucket),
				CORSConfiguration: &s3types.CORSConfiguration{CORSRules: []s3types.CORSRule{{
					ID:             aws.String("browser-clients"),
					AllowedMethods: []string{"GET", "PUT", "POST", "HEAD", "DELETE"},
					AllowedOrigins: origins,
					AllowedHeaders: []string{"*"},
					ExposeHeaders:  []string{"ETag", "x-amz-request-id"},
					MaxAgeSeconds:  aws.Int32(3000),
				}}},
			})
			return err
		}},
		{"lifecycle", func(ctx context.Context, api *s3.Client, bucket string) error {
			_, err := api.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{
				Bucket: aws.String(bucket),
				LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{{
					ID:                             aws.String("abort-incomplete-multipart-uploads"),
					Status:                         s3types.ExpirationStatusEnabled,
					Filter:                         &s3types.LifecycleRuleFilter{Prefix: aws.String("")},
					AbortIncompleteMultipartUpload: &s3types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(1)},
				}}},
			})
			return err
		}},
	}
}

// IdentityPool is the Cognito Identity Pool that exchanges the user pool's id tokens
// for temporary AWS credentials (the mobile app's direct access to its folder). Only
// authenticated identities are allowed, and the user pool's tokens are checked by
// Cognito on every exchange (ServerSideTokenCheck).
type IdentityPool struct {
	// PoolName is the identity pool's name, prefix included. Pools are found by name.
	PoolName string
}

var _ Resource = IdentityPool{}

// Kind implements Resource.
func (IdentityPool) Kind() string { return "cognito identity pool" }

// Name implements Resource.
func (p IdentityPool) Name() string { return p.PoolName }

// Ensure implements Resource. It needs the user pool and its app client in out, and
// puts the link to them back when it was changed.
func (p IdentityPool) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	if out.UserPoolID == "" || out.UserPoolClientID == "" {
		return Outcome{}, errors.New("no user pool or app client: they must be provisioned first")
	}
	providers := []citypes.CognitoIdentityProvider{{
		ProviderName:         aws.String(ProviderName(c.Region, out.UserPoolID)),
		ClientId:             aws.String(out.UserPoolClientID),
		ServerSideTokenCheck: aws.Bool(true),
	}}
	ids, err := findIdentityPools(ctx, c.CognitoIdentity, p.PoolName)
	if err != nil {
		return Outcome{}, err
	}
	var o Outcome
	switch len(ids) {
	case 0:
		res, err := c.CognitoIdentity.CreateIdentityPool(ctx, &ci.CreateIdentityPoolInput{
			IdentityPoolName:               aws.String(p.PoolName),
			AllowUnauthenticatedIdentities: false,
			AllowClassicFlow:               aws.Bool(false),
			CognitoIdentityProviders:       providers,
			IdentityPoolTags:               map[string]string{"project": "serverless-architect"},
		})
		if err != nil {
			return Outcome{}, fmt.Errorf("create identity pool: %w", err)
		}
		o = Outcome{Created: true, ID: aws.ToString(res.IdentityPoolId)}
	case 1:
		o = Outcome{ID: ids[0]}
		d, err := c.CognitoIdentity.DescribeIdentityPool(ctx, &ci.DescribeIdentityPoolInput{IdentityPoolId: aws.String(o.ID)})
		if err != nil {
			return Outcome{}, fmt.Errorf("describe identity pool: %w", err)
		}
		if d.AllowUnauthenticatedIdentities || !sameProviders(d.CognitoIdentityProviders, providers) {
			_, err := c.CognitoIdentity.UpdateIdentityPool(ctx, &ci.UpdateIdentityPoolInput{
				IdentityPoolId: aws.String(o.ID), IdentityPoolName: aws.String(p.PoolName),
				AllowUnauthenticatedIdentities: false, AllowClassicFlow: aws.Bool(false),
				CognitoIdentityProviders: providers,
			})
			if err != nil {
				return Outcome{}, fmt.Errorf("update identity pool: %w", err)
			}
		}
	default:
		return Outcome{}, fmt.Errorf("%d identity pools are named %q (%s): delete the extra ones", len(ids), p.PoolName, strings.Join(ids, ", "))
	}
	out.IdentityPoolID = o.ID
	return o, nil
}

func sameProviders(a, b []citypes.CognitoIdentityProvider) bool {
	key := func(p citypes.CognitoIdentityProvider) string {
		return aws.ToString(p.ProviderName) + "|" + aws.ToString(p.ClientId) + "|" + fmt.Sprint(aws.ToBool(p.ServerSideTokenCheck))
	}
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		ka[i] = key(a[i])
	}
	for i := range b {
		kb[i] = key(b[i])
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

// ProviderName is the identity provider name of a user pool, the key of the Logins map
// in GetId and GetCredentialsForIdentity: "cognito-idp.<region>.amazonaws.com/<poolId>".
func ProviderName(region, userPoolID string) string {
	return "cognito-idp." + region + ".amazonaws.com/" + userPoolID
}

func findIdentityPools(ctx context.Context, api ci.ListIdentityPoolsAPIClient, name string) ([]string, error) {
	var ids []string
	pages := ci.NewListIdentityPoolsPaginator(api, &ci.ListIdentityPoolsInput{MaxResults: aws.Int32(60)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list identity pools: %w", err)
		}
		for _, p := range page.IdentityPools {
			if aws.ToString(p.IdentityPoolName) == name {
				ids = append(ids, aws.ToString(p.IdentityPoolId))
			}
		}
	}
	return ids, nil
}

// AuthenticatedTrustPolicy is the trust policy of the identity pool's authenticated
// role: only Cognito Identity, only for identities of this pool (aud), only once
// authenticated (amr). Cognito tags the session with the principal tags the pool maps
// from the id token (attributes for access control), so the role must also allow
// sts:TagSession: without it AWS refuses the credentials of a pool that maps any.
func AuthenticatedTrustPolicy(identityPoolID string) iampolicy.Document {
	return iampolicy.New(iampolicy.Statement{
		Sid:       "CognitoAuthenticatedIdentities",
		Effect:    iampolicy.Allow,
		Principal: iampolicy.Principal{"Federated": {"cognito-identity.amazonaws.com"}},
		Action:    iampolicy.Values{"sts:AssumeRoleWithWebIdentity", "sts:TagSession"},
		Condition: iampolicy.Condition{
			"StringEquals":           {"cognito-identity.amazonaws.com:aud": {identityPoolID}},
			"ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": {"authenticated"}},
		},
	})
}

// UserFolderPolicy is the permissions of both folder roles, the identity pool's
// authenticated role and the token-vending role: the project's folder definition
// (iampolicy.Folder) with the folder the session's sub tag names,
// users/${aws:PrincipalTag/sub}/. The identity pool sets that tag from the id token's
// sub claim (IdentityPoolAccess); todo-api sets it on each vended session, and also
// passes a session policy naming the folder literally (a session gets the
// intersection). Either way the folder is users/<user pool sub>/, the one the API
// states as prefix.
func UserFolderPolicy(bucket, partition string) (iampolicy.Document, error) {
	return iampolicy.Folder{Bucket: bucket, Partition: partition, Prefix: iampolicy.UserFolder()}.Document()
}

// VendingTrustPolicy is the trust policy of the token-vending role: principal (the
// account root, or todo-api's own role in a cluster) may assume it and tag the
// session, and only with a "sub" session tag, which the role's permissions use.
func VendingTrustPolicy(principal string) iampolicy.Document {
	return iampolicy.New(iampolicy.Statement{
		Sid:       "TodoAPIVendsTaggedSessions",
		Effect:    iampolicy.Allow,
		Principal: iampolicy.Principal{"AWS": {principal}},
		Action:    iampolicy.Values{"sts:AssumeRole", "sts:TagSession"},
		Condition: iampolicy.Condition{"Null": {"aws:RequestTag/" + iampolicy.UserTag: {"false"}}},
	})
}

// AuthenticatedRole is the IAM role the identity pool gives authenticated users.
type AuthenticatedRole struct {
	// RoleName is the role's name, prefix included.
	RoleName string
}

var _ Resource = AuthenticatedRole{}

// Kind implements Resource.
func (AuthenticatedRole) Kind() string { return "iam role (identity pool, authenticated)" }

// Name implements Resource.
func (r AuthenticatedRole) Name() string { return r.RoleName }

// Ensure implements Resource. It needs the files bucket and the identity pool in out.
func (r AuthenticatedRole) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	if out.FilesBucket == "" || out.IdentityPoolID == "" {
		return Outcome{}, errors.New("no files bucket or identity pool: they must be provisioned first")
	}
	perms, err := UserFolderPolicy(out.FilesBucket, "")
	if err != nil {
		return Outcome{}, err
	}
	o, arn, err := folderRole(ctx, c.IAM, r.RoleName, "MyTodoList users' own folder, through the Cognito Identity Pool",
		AuthenticatedTrustPolicy(out.IdentityPoolID), perms)
	if err != nil {
		return Outcome{}, err
	}
	out.FilesAuthenticatedRoleARN = arn
	return o, nil
}

// VendingRole is the IAM role todo-api assumes to vend credentials for one user's
// folder (POST /v1/files/credentials).
type VendingRole struct {
	// RoleName is the role's name, prefix included.
	RoleName string
	// TrustedPrincipal may assume the role: todo-api's own role ARN in a cluster; the
	// account root (any principal of the account allowed by its own policy) when empty.
	TrustedPrincipal string
}

var _ Resource = VendingRole{}

// Kind implements Resource.
func (VendingRole) Kind() string { return "iam role (token vending)" }

// Name implements Resource.
func (r VendingRole) Name() string { return r.RoleName }

// Ensure implements Resource. It needs the files bucket in out.
func (r VendingRole) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	if out.FilesBucket == "" {
		return Outcome{}, errors.New("no files bucket: it must be provisioned first")
	}
	principal := r.TrustedPrincipal
	if principal == "" {
		id, err := c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return Outcome{}, fmt.Errorf("find the account: %w", err)
		}
		principal = "arn:aws:iam::" + aws.ToString(id.Account) + ":root"
	}
	perms, err := UserFolderPolicy(out.FilesBucket, "")
	if err != nil {
		return Outcome{}, err
	}
	o, arn, err := folderRole(ctx, c.IAM, r.RoleName, "todo-api vends per-user folder credentials (session policy + sub tag)",
		VendingTrustPolicy(principal), perms)
	if err != nil {
		return Outcome{}, err
	}
	out.FilesVendingRoleARN = arn
	return o, nil
}

// folderRole is one of the two roles whose policy is a user's folder: sessions up to
// 12 hours, the policy named folderPolicyName.
func folderRole(ctx context.Context, api *iam.Client, name, description string, trust, perms iampolicy.Document) (Outcome, string, error) {
	return ensureRole(ctx, api, roleSpec{Name: name, Description: description, Trust: trust, Perms: perms, PolicyName: folderPolicyName, MaxSession: 12 * time.Hour})
}

// IdentityPoolAccess is the identity pool's access control: its authenticated role
// (SetIdentityPoolRoles) and its attributes for access control
// (SetPrincipalTagAttributeMap), which map the user pool id token's sub claim to the
// principal tag sub that UserFolderPolicy names. Both are put on every run. moto 5.2
// implements neither call: there the resource's one line says so and provisioning
// goes on; against AWS any error fails the run.
type IdentityPoolAccess struct{}

var _ Resource = IdentityPoolAccess{}

// Kind implements Resource.
func (IdentityPoolAccess) Kind() string { return "cognito identity pool access" }

// Name implements Resource.
func (IdentityPoolAccess) Name() string {
	return "authenticated role, principal tag " + iampolicy.UserTag
}

// PrincipalTags is the identity pool's attribute map: principal tag -> id token claim.
func PrincipalTags() map[string]string { return map[string]string{iampolicy.UserTag: "sub"} }

// Ensure implements Resource. It needs the user pool, the identity pool and the
// authenticated role in out.
func (IdentityPoolAccess) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	if out.UserPoolID == "" || out.IdentityPoolID == "" || out.FilesAuthenticatedRoleARN == "" {
		return Outcome{}, errors.New("no user pool, identity pool or authenticated role: they must be provisioned first")
	}
	endpoint := aws.ToString(c.CognitoIdentity.Options().BaseEndpoint)
	once := func(o *ci.Options) { o.RetryMaxAttempts = 1 }
	var lacking []string
	_, err := c.CognitoIdentity.SetIdentityPoolRoles(ctx, &ci.SetIdentityPoolRolesInput{
		IdentityPoolId: aws.String(out.IdentityPoolID),
		Roles:          map[string]string{"authenticated": out.FilesAuthenticatedRoleARN},
	}, once)
	switch {
	case c.unimplemented(ctx, endpoint, err):
		lacking = append(lacking, "SetIdentityPoolRoles")
	case err != nil:
		return Outcome{}, fmt.Errorf("set identity pool roles: %w", err)
	}
	_, err = c.CognitoIdentity.SetPrincipalTagAttributeMap(ctx, &ci.SetPrincipalTagAttributeMapInput{
		IdentityPoolId:       aws.String(out.IdentityPoolID),
		IdentityProviderName: aws.String(ProviderName(c.Region, out.UserPoolID)),
		UseDefaults:          aws.Bool(false),
		PrincipalTags:        PrincipalTags(),
	}, once)
	switch {
	case c.unimplemented(ctx, endpoint, err):
		lacking = append(lacking, "SetPrincipalTagAttributeMap")
	case err != nil:
		return Outcome{}, fmt.Errorf("map the id token's sub claim to the principal tag %s: %w", iampolicy.UserTag, err)
	}
	if len(lacking) > 0 {
		return Outcome{Skipped: true, ID: NotSetOnMoto(lacking)}, nil
	}
	return Outcome{Applied: true, ID: out.FilesAuthenticatedRoleARN}, nil
}

// NotSetOnMoto is the Outcome ID of IdentityPoolAccess when moto lacks calls.
func NotSetOnMoto(calls []string) string {
	return "NOT set: moto does not implement " + strings.Join(calls, " or ") + "; AWS attaches the authenticated role and maps the sub claim to the principal tag"
}

// bucketName lowers a name to S3's rules (lower case; letters, digits, '-', '.').
func bucketName(s string) string {
	s = strings.ToLower(s)
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, s)
}
