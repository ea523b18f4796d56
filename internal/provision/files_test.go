package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// TestFilesPolicyGolden pins every policy document the files resources install.
func TestFilesPolicyGolden(t *testing.T) {
	folder, err := UserFolderPolicy("user-files", "")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]iampolicy.Document{
		"authenticated-trust":     AuthenticatedTrustPolicy("us-east-1:11111111-2222-3333-4444-555555555555"),
		"user-folder-permissions": folder,
		"vending-trust":           VendingTrustPolicy("arn:aws:iam::123456789012:root"),
	}
	for name, d := range docs {
		t.Run(name, func(t *testing.T) { policytest.Golden(t, "testdata/files-"+name+".json", d) })
	}
	// The variable sits only where it belongs: in the folder, never in the bucket ARN.
	b, _ := folder.JSON()
	if n := strings.Count(string(b), "users/${aws:PrincipalTag/sub}/"); n != 3 {
		t.Errorf("tag variable appears %d times in the folder policy, want 3", n)
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
		case UserPool, AppClient, FilesBucket, IdentityPool, AuthenticatedRole, VendingRole, IdentityPoolAccess:
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
	if first.FilesBucket != prefix+"user-files-123456789012-us-east-1" || first.IdentityPoolID == "" || first.FilesAuthenticatedRoleARN == "" || first.FilesVendingRoleARN == "" {
		t.Fatalf("outputs %+v", first)
	}
	wantLines := []string{
		"created  s3 files bucket " + prefix + "user-files (" + first.FilesBucket + ")",
		"created  cognito identity pool " + prefix + "mytodolist-files (" + first.IdentityPoolID + ")",
		"created  iam role (identity pool, authenticated) " + prefix + "mytodolist-files-authenticated (" + first.FilesAuthenticatedRoleARN + ")",
		"created  iam role (token vending) " + prefix + "mytodolist-files-vending (" + first.FilesVendingRoleARN + ")",
		"skipped  cognito identity pool access authenticated role, principal tag sub (" + NotSetOnMoto([]string{"SetIdentityPoolRoles", "SetPrincipalTagAttributeMap"}) + ")",
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
		folder, _ := UserFolderPolicy(first.FilesBucket, "")
		for _, r := range []struct {
			arn          string
			trust, perms iampolicy.Document
		}{
			{first.FilesAuthenticatedRoleARN, AuthenticatedTrustPolicy(first.IdentityPoolID), folder},
			{first.FilesVendingRoleARN, VendingTrustPolicy("arn:aws:iam::123456789012:root"), folder},
		} {
			name := r.arn[strings.LastIndex(r.arn, "/")+1:]
			trust, perms := storedRole(t, c, name)
			comparePolicy(t, name+" trust", r.trust, trust)
			comparePolicy(t, name+" permissions", r.perms, perms)
		}
	})

	// What IAM holds for the identity pool's role, read back and checked for what it
	// means, not only against the golden file: the folder is the principal tag sub
	// (the user pool sub, the folder the API states), and the trust lets Cognito tag
	// the session.
	t.Run("authenticated role: scope and sts:TagSession", func(t *testing.T) {
		name := first.FilesAuthenticatedRoleARN[strings.LastIndex(first.FilesAuthenticatedRoleARN, "/")+1:]
		trustJSON, permsJSON := storedRole(t, c, name)
		trust, err := iampolicy.Parse([]byte(trustJSON))
		if err != nil || len(trust.Statement) != 1 {
			t.Fatalf("trust %s: %v", trustJSON, err)
		}
		st := trust.Statement[0]
		if !contains(st.Action, "sts:AssumeRoleWithWebIdentity") || !contains(st.Action, "sts:TagSession") || len(st.Action) != 2 {
			t.Errorf("trust actions %v, want sts:AssumeRoleWithWebIdentity and sts:TagSession", st.Action)
		}
		if aud := st.Condition["StringEquals"]["cognito-identity.amazonaws.com:aud"]; len(aud) != 1 || aud[0] != first.IdentityPoolID {
			t.Errorf("trust aud %v, want only the pool %s", aud, first.IdentityPoolID)
		}
		perms, err := iampolicy.Parse([]byte(permsJSON))
		if err != nil {
			t.Fatalf("permissions %s: %v", permsJSON, err)
		}
		bucketARN := "arn:aws:s3:::" + first.FilesBucket
		for _, st := range perms.Statement {
			if st.Effect != iampolicy.Allow {
				t.Errorf("statement %s: effect %s", st.Sid, st.Effect)
			}
			for _, a := range st.Action {
				switch {
				case a == "s3:ListBucket":
					prefixes := st.Condition["StringLike"]["s3:prefix"]
					if len(st.Resource) != 1 || st.Resource[0] != bucketARN || !cmp.Equal([]string(prefixes), []string{"users/${aws:PrincipalTag/sub}/", "users/${aws:PrincipalTag/sub}/*"}) {
						t.Errorf("ListBucket on %v with s3:prefix %v: want only the bucket, only under users/${aws:PrincipalTag/sub}/", st.Resource, prefixes)
					}
				case strings.HasPrefix(a, "s3:") && strings.HasSuffix(a, "Object") || a == "s3:AbortMultipartUpload":
					if len(st.Resource) != 1 || st.Resource[0] != bucketARN+"/users/${aws:PrincipalTag/sub}/*" {
						t.Errorf("%s on %v: want only %s/users/${aws:PrincipalTag/sub}/*", a, st.Resource, bucketARN)
					}
				default:
					t.Errorf("unexpected action %s in the authenticated role's policy", a)
				}
			}
		}
	})
}

// storedRole reads a role's trust policy and folder policy back from IAM.
func storedRole(t *testing.T, c *Clients, name string) (trust, perms string) {
	t.Helper()
	ctx := context.Background()
	role, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := c.IAM.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(folderPolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	trust, perms = aws.ToString(role.Role.AssumeRolePolicyDocument), aws.ToString(pol.PolicyDocument)
	if dec, err := url.QueryUnescape(trust); err == nil {
		trust = dec
	}
	if dec, err := url.QueryUnescape(perms); err == nil {
		perms = dec
	}
	return trust, perms
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

// fakeAWS is an endpoint speaking the AWS JSON protocol that is not moto (it has no
// /moto-api/): answer gives the status and body for each call's target (the
// X-Amz-Target header without the service's prefix); every call's target and body
// are recorded.
func fakeAWS(t *testing.T, answer func(target string) (int, string)) (*Clients, *[]string, *[]map[string]any) {
	t.Helper()
	var targets []string
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/moto-api/") {
			http.NotFound(w, r)
			return
		}
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		target := r.Header.Get("X-Amz-Target")
		target = target[strings.LastIndex(target, ".")+1:]
		targets = append(targets, target)
		bodies = append(bodies, body)
		status, out := answer(target)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(out))
	}))
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "eu-west-1", Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String(srv.URL)}
	return NewClients(cfg), &targets, &bodies
}

// fakeCognitoIdentity is fakeAWS answering every call with status.
func fakeCognitoIdentity(t *testing.T, status int) (*Clients, *[]string, *[]map[string]any) {
	return fakeAWS(t, func(string) (int, string) { return status, "{}" })
}

// TestIdentityPoolAccess: where the calls work, the role is attached and the id
// token's sub claim is mapped to the principal tag sub for the user pool's provider,
// without Cognito's default map; a 500 from an endpoint that is not moto fails the
// run (on AWS nothing is skipped).
func TestIdentityPoolAccess(t *testing.T) {
	ctx := context.Background()
	out := &stack.Resources{UserPoolID: "eu-west-1_pool", IdentityPoolID: "eu-west-1:ids", FilesAuthenticatedRoleARN: "arn:aws:iam::123456789012:role/auth"}

	c, targets, bodies := fakeCognitoIdentity(t, http.StatusOK)
	o, err := IdentityPoolAccess{}.Ensure(ctx, c, out)
	if err != nil || !o.Applied || o.Skipped {
		t.Fatalf("Ensure = %+v, %v; want applied", o, err)
	}
	want := []string{"SetIdentityPoolRoles", "SetPrincipalTagAttributeMap"}
	if diff := cmp.Diff(want, *targets); diff != "" {
		t.Fatalf("calls (-want +got):\n%s", diff)
	}
	wantTags := map[string]any{
		"IdentityPoolId": "eu-west-1:ids", "IdentityProviderName": "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool",
		"UseDefaults": false, "PrincipalTags": map[string]any{"sub": "sub"},
	}
	if diff := cmp.Diff(wantTags, (*bodies)[1]); diff != "" {
		t.Errorf("SetPrincipalTagAttributeMap (-want +got):\n%s", diff)
	}
	if roles := (*bodies)[0]["Roles"]; !cmp.Equal(roles, map[string]any{"authenticated": out.FilesAuthenticatedRoleARN}) {
		t.Errorf("SetIdentityPoolRoles roles = %v", roles)
	}

	c, _, _ = fakeCognitoIdentity(t, http.StatusInternalServerError)
	if o, err := (IdentityPoolAccess{}).Ensure(ctx, c, out); err == nil || o.Skipped {
		t.Errorf("a 500 from an endpoint that is not moto: %+v, %v; want the run to fail", o, err)
	}
}

// TestIsMoto: moto is recognised by its own API; an endpoint that is not moto, and AWS
// (no override), are not.
func TestIsMoto(t *testing.T) {
	ctx := context.Background()
	c, _, _ := fakeCognitoIdentity(t, http.StatusOK)
	if c.isMoto(ctx, aws.ToString(c.CognitoIdentity.Options().BaseEndpoint)) || c.isMoto(ctx, "") {
		t.Error("an endpoint that is not moto, or AWS, taken for moto")
	}
	ep := mototest.Endpoint(t)
	if !NewClients(mototest.AWSConfig(t, ep)).isMoto(ctx, ep+"/") {
		t.Errorf("moto at %s not recognised", ep)
	}
}
