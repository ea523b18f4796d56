package store

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/serverless-architect/serverless-architect/internal/iampolicy"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/files"
)

// TestFolderPolicyUnderIAMEnforcement runs moto with IAM enforcement on (a private
// moto: the switch is global to a server) and shows that credentials of a role whose
// policy is the project's folder definition with a literal prefix can put, get and
// list inside the folder and get AccessDenied outside it. moto evaluates neither policy
// variables nor session policies, so the literal prefix stands for what IAM substitutes
// in AWS; the golden tests pin the variables. Keys avoid ':' (moto mis-signs them).
func TestFolderPolicyUnderIAMEnforcement(t *testing.T) {
	srv := mototest.Private(t)
	ctx := context.Background()
	root := mototest.AWSConfig(t, srv.Endpoint)
	bucket := "enforced-files"

	// Set-up, before enforcement: an administrator with real-looking keys, the
	// bucket, and a role holding the folder policy for users/alice/.
	ia := iam.NewFromConfig(root)
	user, err := ia.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("admin")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ia.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("admin"), PolicyName: aws.String("all"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	key, err := ia.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("admin")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewS3(root, true).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	folder, err := iampolicy.Folder{Bucket: bucket, Prefix: "users/alice/"}.Document()
	if err != nil {
		t.Fatal(err)
	}
	perms, _ := folder.Compact()
	trust, _ := iampolicy.New(iampolicy.Statement{Effect: iampolicy.Allow, Principal: iampolicy.Principal{"AWS": {aws.ToString(user.User.Arn)}},
		Action: iampolicy.Values{"sts:AssumeRole", "sts:TagSession"}}).Compact()
	role, err := ia.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("folder-alice"), AssumeRolePolicyDocument: aws.String(trust)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ia.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("folder-alice"), PolicyName: aws.String("folder"), PolicyDocument: aws.String(perms)}); err != nil {
		t.Fatal(err)
	}

	// Enforcement on, for every later request to this server.
	resp, err := http.Post(srv.Endpoint+"/moto-api/reset-auth", "text/plain", strings.NewReader("0"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reset-auth: %s", resp.Status)
	}

	admin := root.Copy()
	admin.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey), "")
	// The project's own vendor assumes the role (moto ignores the session policy).
	sessionPolicy, _ := files.SessionPolicy(bucket, "", "users/alice/")
	sp, _ := sessionPolicy.Compact()
	c, err := NewVendor(sts.NewFromConfig(admin), aws.ToString(role.Role.Arn)).Vend(ctx, files.SessionRequest{
		SessionName: "todo-files-alice", Policy: sp, Tags: map[string]string{"sub": "alice"}, Duration: 15 * time.Minute,
	})
	if err != nil {
		t.Fatalf("assume the folder role: %v", err)
	}
	scoped := root.Copy()
	scoped.Credentials = credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	s3c := NewS3(scoped, true)

	put := func(k string) error {
		_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader("x")})
		return err
	}
	get := func(k string) error {
		out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		if err == nil {
			out.Body.Close()
		}
		return err
	}
	del := func(k string) error {
		_, err := s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		return err
	}
	// Bob's object, written by the administrator.
	if _, err := NewS3(admin, true).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("users/bob/secret.txt"), Body: strings.NewReader("b")}); err != nil {
		t.Fatalf("admin put: %v", err)
	}

	allowed := []struct {
		name string
		call func() error
	}{
		{"put own", func() error { return put("users/alice/notes/a.txt") }},
		{"get own", func() error { return get("users/alice/notes/a.txt") }},
		{"delete own", func() error { return del("users/alice/notes/a.txt") }},
	}
	for _, a := range allowed {
		if err := a.call(); err != nil {
			t.Errorf("%s: %v", a.name, err)
		}
	}
	denied := []struct {
		name string
		call func() error
	}{
		{"put other's folder", func() error { return put("users/bob/planted.txt") }},
		{"get other's object", func() error { return get("users/bob/secret.txt") }},
		{"delete other's object", func() error { return del("users/bob/secret.txt") }},
		{"put at bucket root", func() error { return put("top.txt") }},
		{"put beside the folder", func() error { return put("users/alice-evil/x.txt") }},
		{"put in users/", func() error { return put("users/x.txt") }},
	}
	for _, d := range denied {
		err := d.call()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
			t.Errorf("%s: %v, want AccessDenied", d.name, err)
		}
	}

	// Control: credentials without the folder policy are refused even inside it, so
	// the allowed calls above were allowed by the policy, not by a switched-off check.
	if _, err := ia.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("nobody")}, func(o *iam.Options) { o.Credentials = admin.Credentials }); err != nil {
		t.Fatal(err)
	}
	nk, err := ia.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("nobody")}, func(o *iam.Options) { o.Credentials = admin.Credentials })
	if err != nil {
		t.Fatal(err)
	}
	nobody := root.Copy()
	nobody.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(nk.AccessKey.AccessKeyId), aws.ToString(nk.AccessKey.SecretAccessKey), "")
	_, err = NewS3(nobody, true).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("users/alice/n.txt"), Body: strings.NewReader("x")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
		t.Errorf("control: a principal without the policy: %v, want AccessDenied", err)
	}
}
