package provision

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	ci "github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
)

// TestPlanListsWholeResourcesBackwards: the plan is the definitions, last first, without
// the parts that go with another resource; the teardown set has the DAX cluster and the
// service roles whether or not the options ask for them.
func TestPlanListsWholeResourcesBackwards(t *testing.T) {
	rs := TeardownDefinitions(Options{Prefix: "p-"})
	plan := Plan(rs)
	if plan[0] != "iam role (service) p-sa-"+roleServices[len(roleServices)-1] {
		t.Errorf("plan starts with %q, want the last service role", plan[0])
	}
	if plan[len(plan)-1] != "dynamodb table p-todos" {
		t.Errorf("plan ends with %q, want the to-dos table (defined first)", plan[len(plan)-1])
	}
	for _, want := range []string{"dax cluster p-todos-dax", "cognito user pool p-mytodolist", "cloudfront distribution p-myblog", "s3 bucket p-myblog-media"} {
		if !slices.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, strings.Join(plan, "\n"))
		}
	}
	for _, part := range []string{"cognito app client p-mobile", "cognito group admins", "dynamodb stream subscribers (NEW_IMAGE)"} {
		if slices.Contains(plan, part) {
			t.Errorf("plan lists %q, which goes with its parent", part)
		}
	}
	if n := len(plan); n >= len(rs) || n == 0 {
		t.Errorf("plan has %d lines for %d definitions", n, len(rs))
	}
}

// TestDestroyAgainstMoto: everything sa provision makes (with a sender, a configuration
// set and service roles) is gone after Destroy, as the SDK sees it, buckets with
// objects and object versions included; a second Destroy deletes nothing and succeeds.
func TestDestroyAgainstMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	c := NewClients(mototest.AWSConfig(t, ep))
	ctx := context.Background()
	prefix := mototest.Name("gone") + "-"
	o := Options{
		Prefix: prefix,
		Sender: SenderOptions{Email: "welcome@" + strings.ToLower(prefix) + "example.com", ConfigurationSet: prefix + "mail"},
		Roles:  RoleOptions{PodIdentity: true},
	}
	out, err := Ensure(ctx, c, DefinitionsFor(o), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Objects, and a versioned bucket with two versions and a delete marker: emptying
	// must remove every version, or DeleteBucket fails.
	if _, err := c.S3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(out.FilesBucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{out.FilesBucket, out.FilesBucket, out.MediaBucket, out.SiteBucket, out.AppBucket} {
		if _, err := c.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("users/x/a.txt"), Body: strings.NewReader("a")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(out.FilesBucket), Key: aws.String("users/x/a.txt")}); err != nil {
		t.Fatal(err)
	}

	rs := TeardownDefinitions(o)
	var log bytes.Buffer
	n, err := Destroy(ctx, c, rs, &log)
	if err != nil {
		t.Fatalf("Destroy: %v\n%s", err, log.String())
	}
	t.Logf("first destroy:\n%s", log.String())
	if n == 0 {
		t.Fatal("Destroy deleted nothing")
	}
	for _, want := range []string{
		"deleted  cognito user pool " + prefix + "mytodolist (" + out.UserPoolID + ")",
		"deleted  cloudfront distribution " + prefix + "myblog (" + out.BlogDistributionID + ")",
		"deleted  cloudfront distribution " + prefix + "mytodolist-app (" + out.AppDistributionID + ")",
		"with     cognito app client " + prefix + "mobile: deleted with its user pool",
		"deleted  ses email identity " + o.Sender.Email,
	} {
		if !strings.Contains(log.String(), want+"\n") {
			t.Errorf("destroy's lines lack %q", want)
		}
	}

	for _, table := range []string{out.TodosTable, out.PostsTable, out.SubscribersTable, out.SubscribeLimitsTable, out.CheckpointTable, out.IdempotencyTable} {
		_, err := c.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Errorf("table %s: DescribeTable = %v, want ResourceNotFoundException", table, err)
		}
	}
	for _, b := range []string{out.FilesBucket, out.MediaBucket, out.SiteBucket, out.AppBucket} {
		if _, err := c.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b)}); httpStatus(err) != 404 {
			t.Errorf("bucket %s: HeadBucket = %v, want 404", b, err)
		}
	}
	for _, q := range []string{prefix + "media-events", prefix + "media-events-dlq", prefix + "subscriber-events-dlq"} {
		if _, err := c.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q)}); err == nil {
			t.Errorf("queue %s still has a URL", q)
		}
	}
	if _, err := c.Cognito.DescribeUserPool(ctx, &cip.DescribeUserPoolInput{UserPoolId: aws.String(out.UserPoolID)}); err == nil {
		t.Errorf("user pool %s still described", out.UserPoolID)
	}
	if _, err := c.CognitoIdentity.DescribeIdentityPool(ctx, &ci.DescribeIdentityPoolInput{IdentityPoolId: aws.String(out.IdentityPoolID)}); err == nil {
		t.Errorf("identity pool %s still described", out.IdentityPoolID)
	}
	roles := []string{prefix + "mytodolist-files-authenticated", prefix + "mytodolist-files-vending"}
	for _, svc := range roleServices {
		roles = append(roles, prefix+ServiceRolePrefix+svc)
	}
	for _, r := range roles {
		_, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(r)})
		var nse *iamtypes.NoSuchEntityException
		if !errors.As(err, &nse) {
			t.Errorf("role %s: GetRole = %v, want NoSuchEntity", r, err)
		}
	}
	if _, err := c.SESv2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(o.Sender.Email)}); err == nil {
		t.Errorf("SES identity %s still there", o.Sender.Email)
	}
	if _, err := c.SESv2.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String(o.Sender.ConfigurationSet)}); err == nil {
		t.Errorf("SES configuration set %s still there", o.Sender.ConfigurationSet)
	}
	for _, id := range []string{out.BlogDistributionID, out.AppDistributionID} {
		if _, err := c.CloudFront.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: aws.String(id)}); err == nil {
			t.Errorf("distribution %s still there", id)
		}
	}
	for _, id := range []string{out.BlogOACID, out.AppOACID} {
		if _, err := c.CloudFront.GetOriginAccessControl(ctx, &cloudfront.GetOriginAccessControlInput{Id: aws.String(id)}); err == nil {
			t.Errorf("origin access control %s still there", id)
		}
	}

	log.Reset()
	n, err = Destroy(ctx, c, rs, &log)
	if err != nil {
		t.Fatalf("second Destroy: %v\n%s", err, log.String())
	}
	if n != 0 || strings.Contains(log.String(), "deleted  ") {
		t.Errorf("second Destroy deleted %d:\n%s", n, log.String())
	}
}

// TestEveryResourceSaysHowItGoes: each definition is deleted on its own or names the
// resource it goes with; a part must name something the definitions delete.
func TestEveryResourceSaysHowItGoes(t *testing.T) {
	rs := TeardownDefinitions(Options{Prefix: "p-", Sender: SenderOptions{Email: "a@example.com", ConfigurationSet: "s"}})
	for _, r := range rs {
		if h, ok := r.(homeOnly); ok {
			r = h.Resource
		}
		p, ok := r.(component)
		if !ok {
			continue
		}
		rm, err := r.Delete(context.Background(), nil) // a part calls nothing
		if err != nil || rm.With != p.partOf() || rm.Deleted {
			t.Errorf("%s %s: Delete = %+v, %v; want With %q and no call", reflect.TypeOf(r).Name(), r.Name(), rm, err, p.partOf())
		}
	}
}
