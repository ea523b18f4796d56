package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ci "github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/iampolicy"
	"github.com/serverless-architect/serverless-architect/internal/iampolicy/policytest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
)

// TestFilesPolicyGolden pins every policy document the files resources install.
func TestFilesPolicyGolden(t *testing.T) {
	auth, err := AuthenticatedFolderPolicy("user-files", "")
	if err != nil {
		t.Fatal(err)
	}
	vend, err := VendingFolderPolicy("user-files", "")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]iampolicy.Document{
		"authenticated-trust":       AuthenticatedTrustPolicy("us-east-1:11111111-2222-3333-4444-555555555555"),
		"authenticated-permissions": auth,
		"vending-trust":             VendingTrustPolicy("arn:aws:iam::123456789012:root"),
		"vending-permissions":       vend,
	}
	for name, d := range docs {
		t.Run(name, func(t *testing.T) { policytest.Golden(t, "testdata/files-"+name+".json", d) })
	}
	// The variables sit only where they belong: in the folder, never in the bucket ARN.
	a, _ := auth.JSON()
	if n := strings.Count(string(a), "users/${cognito-identity.amazonaws.com:sub}/"); n != 3 {
		t.Errorf("identity variable appears %d times in the authenticated role's policy, want 3", n)
	}
	v, _ := vend.JSON()
	if n := strings.Count(string(v), "users/${aws:PrincipalTag/sub}/"); n != 3 {
		t.Errorf("tag variable appears %d times in the vending role's policy, want 3", n)
	}
}

func TestBucketName(t *testing.T) {
	if got := bucketName("E2E_abc-User.Files"); got != "e2e-abc-user.files" {
		t.Errorf("bucketName = %q", got)
	}
}

func filesResources(prefix string) []Resource {
	var rs []Resource
	for _, r := range Definitions(prefix) {
		switch r.(type) {
		case UserPool, AppClient, FilesBucket, IdentityPool, AuthenticatedRole, VendingRole, IdentityPoolRoles:
			rs = append(rs, r)
		}
	}
	return rs
}

func TestFilesResourcesAgainstMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	cfg := mototest.AWSConfig(t, ep)
	ctx := context.Background()
	prefix := mototest.Name("files") + "-"
	c := NewClients(cfg)

	var log1 bytes.Buffer
	first, err := Ensure(ctx, c, filesResources(prefix), &log1)
	if err != nil {
		t.Fatalf("first run: %v\n%s", err, log1.String())
	}
	if first.FilesBucket != prefix+"user-files" || first.IdentityPoolID == "" || first.FilesAuthenticatedRoleARN == "" || first.FilesVendingRoleARN == "" {
		t.Fatalf("outputs %+v", first)
	}
	wantLines := []string{
		"created  s3 files bucket " + prefix + "user-files",
		"created  cognito identity pool " + prefix + "mytodolist-files (" + first.IdentityPoolID + ")",
		"created  iam role (identity pool, authenticated) " + prefix + "mytodolist-files-authenticated (" + first.FilesAuthenticatedRoleARN + ")",
		"created  iam role (token vending) " + prefix + "mytodolist-files-vending (" + first.FilesVendingRoleARN + ")",
		"skipped  cognito identity pool roles authenticated (" + NotAttached + ")",
	}
	if diff := cmp.Diff(wantLines, lines(log1.String())[2:]); diff != "" {
		t.Errorf("first run's lines (-want +got):\n%s", diff)
	}
	var log2 bytes.Buffer
	second, err := Ensure(ctx, c, filesResources(prefix), &log2)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("second run's outputs (-first +second):\n%s", diff)
	}
	for _, l := range lines(log2.String()) {
		if strings.HasPrefix(l, "created") {
			t.Errorf("second run created something: %s", l)
		}
	}

	t.Run("bucket settings", func(t *testing.T) {
		b := aws.String(first.FilesBucket)
		pab, err := c.S3.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: b})
		if err != nil {
			t.Fatal(err)
		}
		p := pab.PublicAccessBlockConfiguration
		if !aws.ToBool(p.BlockPublicAcls) || !aws.ToBool(p.IgnorePublicAcls) || !aws.ToBool(p.BlockPublicPolicy) || !aws.ToBool(p.RestrictPublicBuckets) {
			t.Errorf("public access block %+v", p)
		}
		enc, err := c.S3.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: b})
		if err != nil {
			t.Fatal(err)
		}
		if r := enc.ServerSideEncryptionConfiguration.Rules; len(r) != 1 || r[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm != s3types.ServerSideEncryptionAes256 {
			t.Errorf("encryption %+v", r)
		}
		cors, err := c.S3.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: b})
		if err != nil {
			t.Fatal(err)
		}
		if len(cors.CORSRules) != 1 || !contains(cors.CORSRules[0].AllowedMethods, "PUT") || !contains(cors.CORSRules[0].AllowedMethods, "POST") {
			t.Errorf("cors %+v", cors.CORSRules)
		}
		lc, err := c.S3.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: b})
		if err != nil {
			t.Fatal(err)
		}
		if len(lc.Rules) != 1 || lc.Rules[0].AbortIncompleteMultipartUpload == nil || aws.ToInt32(lc.Rules[0].AbortIncompleteMultipartUpload.DaysAfterInitiation) != 1 {
			t.Errorf("lifecycle %+v", lc.Rules)
		}
	})

	t.Run("identity pool", func(t *testing.T) {
		d, err := c.CognitoIdentity.DescribeIdentityPool(ctx, &ci.DescribeIdentityPoolInput{IdentityPoolId: aws.String(first.IdentityPoolID)})
		if err != nil {
			t.Fatal(err)
		}
		if d.AllowUnauthenticatedIdentities || len(d.CognitoIdentityProviders) != 1 ||
			aws.ToString(d.CognitoIdentityProviders[0].ProviderName) != ProviderName("us-east-1", first.UserPoolID) ||
			aws.ToString(d.CognitoIdentityProviders[0].ClientId) != first.UserPoolClientID {
			t.Errorf("identity pool %+v", d)
		}
	})

	t.Run("roles hold the golden documents", func(t *testing.T) {
		auth, _ := AuthenticatedFolderPolicy(first.FilesBucket, "")
		vend, _ := VendingFolderPolicy(first.FilesBucket, "")
		for _, r := range []struct {
			arn          string
			trust, perms iampolicy.Document
		}{
			{first.FilesAuthenticatedRoleARN, AuthenticatedTrustPolicy(first.IdentityPoolID), auth},
			{first.FilesVendingRoleARN, VendingTrustPolicy("arn:aws:iam::123456789012:root"), vend},
		} {
			name := r.arn[strings.LastIndex(r.arn, "/")+1:]
			role, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
			if err != nil {
				t.Fatal(err)
			}
			comparePolicy(t, name+" trust", r.trust, aws.ToString(role.Role.AssumeRolePolicyDocument))
			pol, err := c.IAM.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(folderPolicyName)})
			if err != nil {
				t.Fatal(err)
			}
			comparePolicy(t, name+" permissions", r.perms, aws.ToString(pol.PolicyDocument))
		}
	})
}

// comparePolicy compares a document with what IAM holds (URL-encoded JSON).
func comparePolicy(t *testing.T, what string, want iampolicy.Document, stored string) {
	t.Helper()
	if dec, err := url.QueryUnescape(stored); err == nil {
		stored = dec
	}
	var got, exp any
	if err := json.Unmarshal([]byte(stored), &got); err != nil {
		t.Fatalf("%s: %v: %s", what, err, stored)
	}
	b, _ := want.Compact()
	_ = json.Unmarshal([]byte(b), &exp)
	if diff := cmp.Diff(exp, got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}
