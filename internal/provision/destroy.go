package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	ci "github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dax"
	daxtypes "github.com/aws/aws-sdk-go-v2/service/dax/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	smithy "github.com/aws/smithy-go"
)

// Tearing down: every Resource has a Delete method next to Ensure (it is part of the
// interface, so a resource cannot be added without saying how it goes away), and
// Destroy runs the same definitions backwards. Deleting what is not there is no error:
// its line says "absent", and a second Destroy finds nothing.

// Removal says what Delete did.
type Removal struct {
	// Deleted is true when the resource existed and was deleted.
	Deleted bool
	// Skipped is true when nothing was done here: another region's run owns the
	// resource, the endpoint lacks the API (moto), or no name was given; ID says which.
	Skipped bool
	// With names the resource this one is part of and is deleted with (a bucket
	// policy with its bucket); Delete then calls nothing.
	With string
	// ID is the identifier of what was deleted, or why nothing was.
	ID string
}

// component is a resource deleted with another (its partOf), not on its own.
type component interface{ partOf() string }

// with is the Removal of the component r.
func with(r component) (Removal, error) { return Removal{With: r.partOf()}, nil }

// TeardownDefinitions are the resources Destroy considers for o: DefinitionsFor(o),
// with the DAX cluster and the service roles included even when o does not ask for
// them (they are deleted where they exist, and are absent otherwise).
func TeardownDefinitions(o Options) []Resource {
	o.DAX.Enabled = true
	rs := DefinitionsFor(o)
	if !o.Roles.Enabled() {
		rs = append(rs, ServiceRoleResources(o.Prefix, o.Blog.Regions, o.Roles)...)
	}
	return rs
}

// Plan is what Destroy would delete, in its order: one "kind name" line per resource
// that is deleted on its own (not the parts deleted with it).
func Plan(rs []Resource) []string {
	var lines []string
	for _, r := range slices.Backward(rs) {
		if isComponent(r) {
			continue
		}
		lines = append(lines, r.Kind()+" "+r.Name())
	}
	return lines
}

// isComponent reports whether r is deleted with another resource.
func isComponent(r Resource) bool {
	if h, ok := r.(homeOnly); ok {
		r = h.Resource
	}
	_, ok := r.(component)
	return ok
}

// Destroy deletes rs in reverse order (what depends on a resource goes before it),
// writing one line per resource to log (nil discards), and returns how many it
// deleted. It stops at the first error; running it again carries on where it stopped.
func Destroy(ctx context.Context, c *Clients, rs []Resource, log io.Writer) (int, error) {
	if log == nil {
		log = io.Discard
	}
	deleted := 0
	for _, r := range slices.Backward(rs) {
		rm, err := r.Delete(ctx, c)
		if err != nil {
			return deleted, fmt.Errorf("delete %s %s: %w", r.Kind(), r.Name(), err)
		}
		if rm.Deleted {
			deleted++
		}
		fmt.Fprintln(log, RemovalLine(r, rm))
	}
	return deleted, nil
}

// RemovalLine is the report line for r: "deleted  dynamodb table todos",
// "absent   sqs queue media-events" or "with     s3 bucket policy ...: deleted with
// its bucket".
func RemovalLine(r Resource, rm Removal) string {
	switch {
	case rm.With != "":
		return reportLine("with", r, "") + ": deleted with its " + rm.With
	case rm.Deleted:
		return reportLine("deleted", r, rm.ID)
	case rm.Skipped:
		return reportLine("skipped", r, rm.ID)
	}
	return reportLine("absent", r, rm.ID)
}

// deleteWait bounds each wait for a deletion to finish (a table, a disabled
// distribution, a DAX cluster).
const deleteWait = 30 * time.Minute

// pollEvery is how often a wait for a deletion asks again.
const pollEvery = 2 * time.Second

// Delete implements Resource.
func (t TodosTable) Delete(ctx context.Context, c *Clients) (Removal, error) {
	return deleteTable(ctx, c, t.TableName)
}

// Delete implements Resource.
func (t StateTable) Delete(ctx context.Context, c *Clients) (Removal, error) {
	return deleteTable(ctx, c, t.TableName)
}

// Delete implements Resource. A global table is deleted everywhere: its replicas in
// other regions first (one UpdateTable each, as they were added), then the table in
// this run's region. A later run in another region finds it absent.
func (t GlobalTable) Delete(ctx context.Context, c *Clients) (Removal, error) {
	for {
		desc, err := c.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.TableName)})
		var notFound *types.ResourceNotFoundException
		if errors.As(err, &notFound) {
			return Removal{}, nil
		}
		if err != nil {
			return Removal{}, fmt.Errorf("describe table: %w", err)
		}
		var other string
		for _, r := range desc.Table.Replicas {
			if region := aws.ToString(r.RegionName); region != c.Region {
				other = region
				break
			}
		}
		if other == "" {
			rm, err := deleteTable(ctx, c, t.TableName)
			if rm.Deleted && len(desc.Table.Replicas) > 0 {
				rm.ID = "and its replicas"
			}
			return rm, err
		}
		if _, err := t.waitActive(ctx, c); err != nil {
			return Removal{}, err
		}
		if _, err := c.DynamoDB.UpdateTable(ctx, &dynamodb.UpdateTableInput{
			TableName:      aws.String(t.TableName),
			ReplicaUpdates: []types.ReplicationGroupUpdate{{Delete: &types.DeleteReplicationGroupMemberAction{RegionName: aws.String(other)}}},
		}); err != nil {
			return Removal{}, fmt.Errorf("delete replica in %s: %w", other, err)
		}
		if _, err := t.waitActive(ctx, c); err != nil {
			return Removal{}, err
		}
	}
}

// deleteTable deletes the table name and waits until it is gone.
func deleteTable(ctx context.Context, c *Clients, name string) (Removal, error) {
	_, err := c.DynamoDB.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	var notFound *types.ResourceNotFoundException
	var inUse *types.ResourceInUseException
	switch {
	case errors.As(err, &notFound):
		return Removal{}, nil
	case err != nil && !errors.As(err, &inUse): // in use: being deleted (or created) already
		return Removal{}, fmt.Errorf("delete table: %w", err)
	}
	waiter := dynamodb.NewTableNotExistsWaiter(c.DynamoDB, func(o *dynamodb.TableNotExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, 5*time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, deleteWait); err != nil {
		return Removal{}, fmt.Errorf("wait for the table to be gone: %w", err)
	}
	return Removal{Deleted: true}, nil
}

func (TableStream) partOf() string    { return "subscribers table" }
func (SubscribersTTL) partOf() string { return "subscribers table" }

// Delete implements Resource: the stream goes with its table.
func (s TableStream) Delete(context.Context, *Clients) (Removal, error) { return with(s) }

// Delete implements Resource: the setting goes with its table.
func (s SubscribersTTL) Delete(context.Context, *Clients) (Removal, error) { return with(s) }

// Delete implements Resource. The pool's users, app clients and groups go with it.
func (p UserPool) Delete(ctx context.Context, c *Clients) (Removal, error) {
	ids, err := findUserPools(ctx, c.Cognito, p.PoolName)
	if err != nil {
		return Removal{}, err
	}
	for _, id := range ids {
		_, err := c.Cognito.DeleteUserPool(ctx, &cip.DeleteUserPoolInput{UserPoolId: aws.String(id)})
		var gone *ciptypes.ResourceNotFoundException
		if err != nil && !errors.As(err, &gone) {
			return Removal{}, fmt.Errorf("delete user pool %s (with deletion protection on, turn it off first): %w", id, err)
		}
	}
	if len(ids) == 0 {
		return Removal{}, nil
	}
	return Removal{Deleted: true, ID: strings.Join(ids, ", ")}, nil
}

func (AppClient) partOf() string { return "user pool" }
func (Group) partOf() string     { return "user pool" }

// Delete implements Resource: the client goes with its user pool.
func (a AppClient) Delete(context.Context, *Clients) (Removal, error) { return with(a) }

// Delete implements Resource: the group goes with its user pool.
func (g Group) Delete(context.Context, *Clients) (Removal, error) { return with(g) }

// Delete implements Resource.
func (p IdentityPool) Delete(ctx context.Context, c *Clients) (Removal, error) {
	ids, err := findIdentityPools(ctx, c.CognitoIdentity, p.PoolName)
	if err != nil {
		return Removal{}, err
	}
	for _, id := range ids {
		if _, err := c.CognitoIdentity.DeleteIdentityPool(ctx, &ci.DeleteIdentityPoolInput{IdentityPoolId: aws.String(id)}); err != nil {
			return Removal{}, fmt.Errorf("delete identity pool %s: %w", id, err)
		}
	}
	if len(ids) == 0 {
		return Removal{}, nil
	}
	return Removal{Deleted: true, ID: strings.Join(ids, ", ")}, nil
}

func (IdentityPoolAccess) partOf() string { return "identity pool" }

// Delete implements Resource: the roles mapping goes with its identity pool.
func (a IdentityPoolAccess) Delete(context.Context, *Clients) (Removal, error) { return with(a) }

// Delete implements Resource.
func (r AuthenticatedRole) Delete(ctx context.Context, c *Clients) (Removal, error) {
	return deleteRole(ctx, c.IAM, r.RoleName)
}

// Delete implements Resource.
func (r VendingRole) Delete(ctx context.Context, c *Clients) (Removal, error) {
	return deleteRole(ctx, c.IAM, r.RoleName)
}

// Delete implements Resource.
func (r DAXRole) Delete(ctx context.Context, c *Clients) (Removal, error) {
	return deleteRole(ctx, c.IAM, r.RoleName)
}

// Delete implements Resource. IAM is global: the first region's run deletes the role.
func (r ServiceRoleResource) Delete(ctx context.Context, c *Clients) (Removal, error) {
	return deleteRole(ctx, c.IAM, r.RoleName)
}

// deleteRole deletes the role name with what IAM makes one remove first: its inline
// policies, attached policies and instance profiles.
func deleteRole(ctx context.Context, api *iam.Client, name string) (Removal, error) {
	var nse *iamtypes.NoSuchEntityException
	if _, err := api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)}); errors.As(err, &nse) {
		return Removal{}, nil
	} else if err != nil {
		return Removal{}, fmt.Errorf("get role: %w", err)
	}
	inline := iam.NewListRolePoliciesPaginator(api, &iam.ListRolePoliciesInput{RoleName: aws.String(name)})
	for inline.HasMorePages() {
		page, err := inline.NextPage(ctx)
		if err != nil {
			return Removal{}, fmt.Errorf("list role policies: %w", err)
		}
		for _, p := range page.PolicyNames {
			if _, err := api.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(p)}); err != nil && !errors.As(err, &nse) {
				return Removal{}, fmt.Errorf("delete role policy %s: %w", p, err)
			}
		}
	}
	attached := iam.NewListAttachedRolePoliciesPaginator(api, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(name)})
	for attached.HasMorePages() {
		page, err := attached.NextPage(ctx)
		if err != nil {
			return Removal{}, fmt.Errorf("list attached role policies: %w", err)
		}
		for _, p := range page.AttachedPolicies {
			if _, err := api.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(name), PolicyArn: p.PolicyArn}); err != nil && !errors.As(err, &nse) {
				return Removal{}, fmt.Errorf("detach role policy %s: %w", aws.ToString(p.PolicyArn), err)
			}
		}
	}
	profiles := iam.NewListInstanceProfilesForRolePaginator(api, &iam.ListInstanceProfilesForRoleInput{RoleName: aws.String(name)})
	for profiles.HasMorePages() {
		page, err := profiles.NextPage(ctx)
		if err != nil {
			return Removal{}, fmt.Errorf("list instance profiles: %w", err)
		}
		for _, p := range page.InstanceProfiles {
			if _, err := api.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{RoleName: aws.String(name), InstanceProfileName: p.InstanceProfileName}); err != nil && !errors.As(err, &nse) {
				return Removal{}, fmt.Errorf("remove from instance profile %s: %w", aws.ToString(p.InstanceProfileName), err)
			}
		}
	}
	if _, err := api.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(name)}); errors.As(err, &nse) {
		return Removal{}, nil
	} else if err != nil {
		return Removal{}, fmt.Errorf("delete role: %w", err)
	}
	return Removal{Deleted: true}, nil
}

// Delete implements Resource.
func (b FilesBucket) Delete(ctx context.Context, c *Clients) (Removal, error) {
	name, err := c.BucketName(ctx, b.BucketName, c.Region)
	if err != nil {
		return Removal{}, err
	}
	return deleteBucket(ctx, c, name)
}

// Delete implements Resource. A home-only bucket (the site) is deleted by the home
// region's run.
func (b Bucket) Delete(ctx context.Context, c *Clients) (Removal, error) {
	if home := b.Options.homeRegion(c.Region); b.HomeOnly && home != c.Region {
		return Removal{Skipped: true, ID: "lives in the home region " + home + ": that region's run deletes it"}, nil
	}
	name, err := c.BucketName(ctx, b.Base, c.Region)
	if err != nil {
		return Removal{}, err
	}
	return deleteBucket(ctx, c, name)
}

// deleteBucket empties the bucket name (every object version and delete marker) and
// deletes it.
func deleteBucket(ctx context.Context, c *Clients, name string) (Removal, error) {
	var noBucket *s3types.NoSuchBucket
	versions := s3.NewListObjectVersionsPaginator(c.S3, &s3.ListObjectVersionsInput{Bucket: aws.String(name)})
	emptied := 0
	for versions.HasMorePages() {
		page, err := versions.NextPage(ctx)
		if errors.As(err, &noBucket) || isCode(err, "NoSuchBucket") {
			return Removal{}, nil
		}
		if err != nil {
			return Removal{}, fmt.Errorf("list object versions of %s: %w", name, err)
		}
		var ids []s3types.ObjectIdentifier
		for _, v := range page.Versions {
			ids = append(ids, s3types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
		}
		for _, m := range page.DeleteMarkers {
			ids = append(ids, s3types.ObjectIdentifier{Key: m.Key, VersionId: m.VersionId})
		}
		if len(ids) == 0 {
			continue
		}
		res, err := c.S3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(name), Delete: &s3types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return Removal{}, fmt.Errorf("empty %s: %w", name, err)
		}
		if len(res.Errors) > 0 {
			e := res.Errors[0]
			return Removal{}, fmt.Errorf("empty %s: %d objects not deleted, e.g. %s: %s", name, len(res.Errors), aws.ToString(e.Key), aws.ToString(e.Message))
		}
		emptied += len(ids)
	}
	if _, err := c.S3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)}); errors.As(err, &noBucket) || isCode(err, "NoSuchBucket") {
		return Removal{}, nil
	} else if err != nil {
		return Removal{}, fmt.Errorf("delete bucket %s: %w", name, err)
	}
	return Removal{Deleted: true, ID: fmt.Sprintf("%s, %d object versions", name, emptied)}, nil
}

func (SiteBucketPolicy) partOf() string  { return "buckets" }
func (AppBucketPolicy) partOf() string   { return "bucket" }
func (MediaBucketCORS) partOf() string   { return "bucket" }
func (MediaNotification) partOf() string { return "bucket" }

// Delete implements Resource: the policy goes with its buckets.
func (p SiteBucketPolicy) Delete(context.Context, *Clients) (Removal, error) { return with(p) }

// Delete implements Resource: the policy goes with its bucket.
func (p AppBucketPolicy) Delete(context.Context, *Clients) (Removal, error) { return with(p) }

// Delete implements Resource: the rules go with their bucket.
func (m MediaBucketCORS) Delete(context.Context, *Clients) (Removal, error) { return with(m) }

// Delete implements Resource: the notification goes with its bucket.
func (n MediaNotification) Delete(context.Context, *Clients) (Removal, error) { return with(n) }

// Delete implements Resource: only the home region's run deletes the app's resources.
func (h homeOnly) Delete(ctx context.Context, c *Clients) (Removal, error) {
	if h.home != "" && h.home != c.Region {
		return Removal{Skipped: true, ID: "the app is served from the home region " + h.home + ": that region's run deletes it"}, nil
	}
	return h.Resource.Delete(ctx, c)
}

// Delete implements Resource.
func (d Distribution) Delete(ctx context.Context, c *Clients) (Removal, error) {
	return deleteDistribution(ctx, c, d.DistName)
}

// Delete implements Resource.
func (d AppDistribution) Delete(ctx context.Context, c *Clients) (Removal, error) {
	return deleteDistribution(ctx, c, d.DistName)
}

// deleteDistribution deletes the distribution named name as CloudFront requires: it
// is disabled first, and deleted once that change is deployed (on AWS some 5 to 15
// minutes; moto deploys at once).
func deleteDistribution(ctx context.Context, c *Clients, name string) (Removal, error) {
	found, err := Distribution{DistName: name}.find(ctx, c)
	if err != nil || found == nil {
		return Removal{}, err
	}
	id := found.Id
	cur, err := c.CloudFront.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: id})
	if err != nil {
		return Removal{}, fmt.Errorf("get distribution config %s: %w", aws.ToString(id), err)
	}
	if aws.ToBool(cur.DistributionConfig.Enabled) {
		cfg := cur.DistributionConfig
		cfg.Enabled = aws.Bool(false)
		if _, err := c.CloudFront.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: id, IfMatch: cur.ETag, DistributionConfig: cfg}); err != nil {
			return Removal{}, fmt.Errorf("disable distribution %s: %w", aws.ToString(id), err)
		}
	}
	waiter := cloudfront.NewDistributionDeployedWaiter(c.CloudFront, func(o *cloudfront.DistributionDeployedWaiterOptions) {
		o.MinDelay, o.MaxDelay = pollEvery, 30*time.Second
	})
	got, err := waiter.WaitForOutput(ctx, &cloudfront.GetDistributionInput{Id: id}, deleteWait)
	if err != nil {
		return Removal{}, fmt.Errorf("wait for the disabled distribution %s to be deployed: %w", aws.ToString(id), err)
	}
	_, err = c.CloudFront.DeleteDistribution(ctx, &cloudfront.DeleteDistributionInput{Id: id, IfMatch: got.ETag})
	var gone *cftypes.NoSuchDistribution
	if errors.As(err, &gone) {
		return Removal{}, nil
	}
	if err != nil {
		return Removal{}, fmt.Errorf("delete distribution %s: %w", aws.ToString(id), err)
	}
	return Removal{Deleted: true, ID: aws.ToString(id)}, nil
}

// Delete implements Resource. It runs after the distributions that use it are gone.
func (o OriginAccessControl) Delete(ctx context.Context, c *Clients) (Removal, error) {
	id, err := o.find(ctx, c)
	if err != nil || id == "" {
		return Removal{}, err
	}
	got, err := c.CloudFront.GetOriginAccessControl(ctx, &cloudfront.GetOriginAccessControlInput{Id: aws.String(id)})
	if err != nil {
		return Removal{}, fmt.Errorf("get origin access control %s: %w", id, err)
	}
	if _, err := c.CloudFront.DeleteOriginAccessControl(ctx, &cloudfront.DeleteOriginAccessControlInput{Id: aws.String(id), IfMatch: got.ETag}); err != nil {
		return Removal{}, fmt.Errorf("delete origin access control %s: %w", id, err)
	}
	return Removal{Deleted: true, ID: id}, nil
}

// Delete implements Resource.
func (f MediaFunction) Delete(ctx context.Context, c *Clients) (Removal, error) {
	got, err := c.CloudFront.DescribeFunction(ctx, &cloudfront.DescribeFunctionInput{Name: aws.String(f.FunctionName), Stage: cftypes.FunctionStageDevelopment})
	var missing *cftypes.NoSuchFunctionExists
	switch {
	case c.functionsUnsupported(ctx, err):
		return Removal{Skipped: true, ID: "the endpoint has no CloudFront Functions API (moto): nothing was made"}, nil
	case errors.As(err, &missing):
		return Removal{}, nil
	case err != nil:
		return Removal{}, fmt.Errorf("describe function: %w", err)
	}
	if _, err := c.CloudFront.DeleteFunction(ctx, &cloudfront.DeleteFunctionInput{Name: aws.String(f.FunctionName), IfMatch: got.ETag}); err != nil && !errors.As(err, &missing) {
		return Removal{}, fmt.Errorf("delete function: %w", err)
	}
	return Removal{Deleted: true}, nil
}

// Delete implements Resource.
func (p CachePolicyResource) Delete(ctx context.Context, c *Clients) (Removal, error) {
	return deletePolicy(ctx, c, cachePolicies, p.Policy.Name)
}

// Delete implements Resource.
func (p OriginRequestPolicyResource) Delete(ctx context.Context, c *Clients) (Removal, error) {
	return deletePolicy(ctx, c, originRequestPolicies, p.Policy.Name)
}

// Delete implements Resource.
func (p ResponseHeadersPolicyResource) Delete(ctx context.Context, c *Clients) (Removal, error) {
	return deletePolicy(ctx, c, responseHeadersPolicies, p.PolicyName)
}

// deletePolicy deletes the policy of kind k named name (after the distributions that
// use it: CloudFront refuses a policy in use).
func deletePolicy[C any](ctx context.Context, c *Clients, k policyKind[C], name string) (Removal, error) {
	names, err := listPolicies(ctx, c.CloudFront, k.page)
	if c.policiesUnsupported(ctx, err) {
		return Removal{Skipped: true, ID: "moto has no CloudFront " + k.kind + " API: nothing was made"}, nil
	}
	if err != nil {
		return Removal{}, fmt.Errorf("list the %ss: %w", k.kind, err)
	}
	id, found := names[name]
	if !found {
		return Removal{}, nil
	}
	_, etag, err := k.get(ctx, c.CloudFront, id)
	if err != nil {
		return Removal{}, fmt.Errorf("get %s %s: %w", k.kind, id, err)
	}
	if err := k.del(ctx, c.CloudFront, id, etag); err != nil {
		return Removal{}, fmt.Errorf("delete %s %s: %w", k.kind, id, err)
	}
	return Removal{Deleted: true, ID: id}, nil
}

// Delete implements Resource.
func (q Queue) Delete(ctx context.Context, c *Clients) (Removal, error) {
	return deleteQueue(ctx, c, q.QueueName)
}

// Delete implements Resource.
func (q DeadLetterQueue) Delete(ctx context.Context, c *Clients) (Removal, error) {
	return deleteQueue(ctx, c, q.QueueName)
}

// deleteQueue deletes the queue name and the messages in it. (AWS lets a queue of the
// same name be created again only after 60 seconds.)
func deleteQueue(ctx context.Context, c *Clients, name string) (Removal, error) {
	got, err := c.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	var missing *sqstypes.QueueDoesNotExist
	if errors.As(err, &missing) || isCode(err, "AWS.SimpleQueueService.NonExistentQueue") {
		return Removal{}, nil
	}
	if err != nil {
		return Removal{}, fmt.Errorf("get queue url: %w", err)
	}
	if _, err := c.SQS.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: got.QueueUrl}); err != nil && !errors.As(err, &missing) {
		return Removal{}, fmt.Errorf("delete queue: %w", err)
	}
	return Removal{Deleted: true, ID: aws.ToString(got.QueueUrl)}, nil
}

// Delete implements Resource. Without the sender provision was given there is nothing
// to name: the line says so. A deleted identity must be verified again if provisioned
// again.
func (i SenderIdentity) Delete(ctx context.Context, c *Clients) (Removal, error) {
	id := i.Sender.Identity()
	if id == "" {
		return Removal{Skipped: true, ID: "no --sender-email or --sender-domain: pass the one sa provision had to delete it"}, nil
	}
	// Asked first: moto's delete answers success for an identity it does not have.
	_, err := c.SESv2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(id)})
	var notFound *sestypes.NotFoundException
	if errors.As(err, &notFound) {
		return Removal{}, nil
	}
	if err != nil {
		return Removal{}, fmt.Errorf("get email identity: %w", err)
	}
	_, err = c.SESv2.DeleteEmailIdentity(ctx, &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String(id)})
	if err != nil && !errors.As(err, &notFound) {
		return Removal{}, fmt.Errorf("delete email identity: %w", err)
	}
	return Removal{Deleted: true}, nil
}

// Delete implements Resource.
func (s ConfigurationSet) Delete(ctx context.Context, c *Clients) (Removal, error) {
	_, err := c.SESv2.DeleteConfigurationSet(ctx, &sesv2.DeleteConfigurationSetInput{ConfigurationSetName: aws.String(s.SetName)})
	var notFound *sestypes.NotFoundException
	switch {
	case errors.As(err, &notFound):
		return Removal{}, nil
	case c.unimplemented(ctx, aws.ToString(c.SESv2.Options().BaseEndpoint), err):
		// moto answers 500 for a set it does not have (and neither lists sets nor
		// describes one in a form the SDK reads): from moto that is "absent".
		return Removal{}, nil
	case err != nil:
		return Removal{}, fmt.Errorf("delete configuration set: %w", err)
	}
	return Removal{Deleted: true}, nil
}

// Delete implements Resource. It waits until the cluster is gone (on AWS minutes), as
// its subnet and parameter groups and security group cannot go before.
func (d DAXCluster) Delete(ctx context.Context, c *Clients) (Removal, error) {
	_, err := c.DAX.DeleteCluster(ctx, &dax.DeleteClusterInput{ClusterName: aws.String(d.ClusterName)})
	var notFound *daxtypes.ClusterNotFoundFault
	var invalid *daxtypes.InvalidClusterStateFault // already deleting
	switch {
	case errors.As(err, &notFound):
		return Removal{}, nil
	case c.unimplemented(ctx, daxEndpoint(c), err):
		return Removal{Skipped: true, ID: daxNotOnMoto("deleted", "cluster deletion", "AWS deletes it")}, nil
	case err != nil && !errors.As(err, &invalid):
		return Removal{}, fmt.Errorf("delete cluster: %w", err)
	}
	deadline := time.Now().Add(deleteWait)
	for {
		res, err := c.DAX.DescribeClusters(ctx, &dax.DescribeClustersInput{ClusterNames: []string{d.ClusterName}})
		if errors.As(err, &notFound) || err == nil && len(res.Clusters) == 0 {
			return Removal{Deleted: true}, nil
		}
		if err != nil {
			return Removal{}, fmt.Errorf("wait for the cluster to be gone: %w", err)
		}
		if time.Now().After(deadline) {
			return Removal{}, fmt.Errorf("the cluster is still %s after %s: run sa destroy again later", aws.ToString(res.Clusters[0].Status), deleteWait)
		}
		if err := sleep(ctx, pollEvery); err != nil {
			return Removal{}, err
		}
	}
}

// Delete implements Resource.
func (g DAXParameterGroup) Delete(ctx context.Context, c *Clients) (Removal, error) {
	_, err := c.DAX.DeleteParameterGroup(ctx, &dax.DeleteParameterGroupInput{ParameterGroupName: aws.String(g.GroupName)}, daxOnce)
	var notFound *daxtypes.ParameterGroupNotFoundFault
	switch {
	case errors.As(err, &notFound):
		return Removal{}, nil
	case c.unimplemented(ctx, daxEndpoint(c), err):
		return Removal{Skipped: true, ID: daxNotOnMoto("deleted", "parameter groups", "AWS deletes it")}, nil
	case err != nil:
		return Removal{}, fmt.Errorf("delete parameter group: %w", err)
	}
	return Removal{Deleted: true}, nil
}

// Delete implements Resource.
func (g DAXSubnetGroup) Delete(ctx context.Context, c *Clients) (Removal, error) {
	_, err := c.DAX.DeleteSubnetGroup(ctx, &dax.DeleteSubnetGroupInput{SubnetGroupName: aws.String(g.GroupName)}, daxOnce)
	var notFound *daxtypes.SubnetGroupNotFoundFault
	switch {
	case errors.As(err, &notFound):
		return Removal{}, nil
	case c.unimplemented(ctx, daxEndpoint(c), err):
		return Removal{Skipped: true, ID: daxNotOnMoto("deleted", "subnet groups", "AWS deletes it")}, nil
	case err != nil:
		return Removal{}, fmt.Errorf("delete subnet group: %w", err)
	}
	return Removal{Deleted: true}, nil
}

// Delete implements Resource. The group is found by name (in --vpc-id when given).
// The DAX nodes' network interfaces may hold it for a while after the cluster is
// gone: a DependencyViolation is tried again until deleteWait.
func (g DAXSecurityGroup) Delete(ctx context.Context, c *Clients) (Removal, error) {
	filters := []ec2types.Filter{{Name: aws.String("group-name"), Values: []string{g.GroupName}}}
	if g.Options.VPCID != "" {
		filters = append(filters, ec2types.Filter{Name: aws.String("vpc-id"), Values: []string{g.Options.VPCID}})
	}
	found, err := c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: filters})
	if err != nil {
		return Removal{}, fmt.Errorf("find security group: %w", err)
	}
	switch len(found.SecurityGroups) {
	case 0:
		return Removal{}, nil
	case 1:
	default:
		return Removal{}, fmt.Errorf("%d security groups are named %q: pass --vpc-id to say which", len(found.SecurityGroups), g.GroupName)
	}
	id := found.SecurityGroups[0].GroupId
	deadline := time.Now().Add(deleteWait)
	for {
		_, err := c.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: id})
		switch {
		case err == nil:
			return Removal{Deleted: true, ID: aws.ToString(id)}, nil
		case isCode(err, "InvalidGroup.NotFound"):
			return Removal{}, nil
		case !isCode(err, "DependencyViolation") || time.Now().After(deadline):
			return Removal{}, fmt.Errorf("delete security group %s: %w", aws.ToString(id), err)
		}
		if err := sleep(ctx, pollEvery); err != nil {
			return Removal{}, err
		}
	}
}

// isCode reports whether err is an AWS API error with code.
func isCode(err error, code string) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == code
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
