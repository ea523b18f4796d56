package provision

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/serverless-architect/serverless-architect/internal/iampolicy"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// The least-privilege AWS identities of the services in a cluster: one IAM role per
// service, whose permissions allow exactly the AWS calls that service's code makes,
// on exactly the resources provisioned for it, and whose trust admits only that
// service's Kubernetes ServiceAccount (IRSA) or EKS Pod Identity.
//
// The charts' ServiceAccounts name these roles by convention:
// arn:<partition>:iam::<account>:role/<prefix>sa-<service> (iam.rolePrefix "sa-" with
// an empty --prefix).

// DefaultNamespace is the namespace config/ and the docs install the services into.
const DefaultNamespace = "serverless-architect"

// ServiceRolePrefix goes between the resource prefix and the service's name in a
// service role's name: <prefix>sa-<service>.
const ServiceRolePrefix = "sa-"

// Services that call AWS, in the order their roles are provisioned. gateway is not
// among them: it calls no AWS API (it fetches the user pool's public keys over HTTPS),
// so it gets no role.
var roleServices = []string{"todo-api", "blog-api", "welcome-mailer", "thumbnailer", "dynamodb-source", "s3-source"}

// RoleServices returns the services that get an IAM role, in order.
func RoleServices() []string { return slices.Clone(roleServices) }

// ServiceRole is one service's AWS identity: the permissions its code needs and who may
// assume it.
type ServiceRole struct {
	// Service is the service's name under services/ (and its ServiceAccount's name).
	Service string
	// Policy is the role's inline permissions policy.
	Policy iampolicy.Document
	// Trust is the role's trust policy.
	Trust iampolicy.Document
}

// Account locates the resources a policy names: the ARN partition, the account id, and
// the regions the services run in (a service's role is global and serves every
// region's release, so regional resources are granted in each region; pass the same
// regions on every run).
type Account struct {
	// Partition is the ARN partition ("aws" when empty).
	Partition string
	// ID is the 12-digit account id.
	ID string
	// Regions are the regions of the installs; the first is the home region.
	Regions []string
	// DAXClusterARN, when set, lets todo-api read and write through that DAX cluster.
	DAXClusterARN string
}

func (a Account) partition() string {
	if a.Partition == "" {
		return "aws"
	}
	return a.Partition
}

// validate reports an account that cannot name resources.
func (a Account) validate() error {
	if len(a.ID) != 12 || strings.Trim(a.ID, "0123456789") != "" {
		return fmt.Errorf("account id %q: want 12 digits", a.ID)
	}
	if len(a.Regions) == 0 {
		return errors.New("no regions")
	}
	return nil
}

// arns returns one ARN per region: arn:<partition>:<service>:<region>:<account>:<resource>.
func (a Account) arns(service, resource string) iampolicy.Values {
	out := make(iampolicy.Values, 0, len(a.Regions))
	for _, r := range a.Regions {
		out = append(out, "arn:"+a.partition()+":"+service+":"+r+":"+a.ID+":"+resource)
	}
	return out
}

// table returns the ARNs of a DynamoDB table in every region.
func (a Account) table(name string) iampolicy.Values { return a.arns("dynamodb", "table/"+name) }

// s3 returns the ARN of a bucket, or of objects under a key pattern in it.
func (a Account) s3(bucket, keys string) string {
	arn := "arn:" + a.partition() + ":s3:::" + bucket
	if keys != "" {
		arn += "/" + keys
	}
	return arn
}

// queueName is the name of an SQS queue from its URL or ARN (the last segment).
func queueName(urlOrARN string) string {
	if i := strings.LastIndexAny(urlOrARN, "/:"); i >= 0 {
		return urlOrARN[i+1:]
	}
	return urlOrARN
}

// allow is an Allow statement.
func allow(sid string, actions []string, resources ...string) iampolicy.Statement {
	return iampolicy.Statement{Sid: sid, Effect: iampolicy.Allow, Action: iampolicy.Values(actions), Resource: iampolicy.Values(resources)}
}

// need reports the first empty field of what a service's policy needs.
func need(service string, fields ...[2]string) error {
	for _, f := range fields {
		if f[1] == "" {
			return fmt.Errorf("%s's policy needs %s: provision it first", service, f[0])
		}
	}
	return nil
}

// ServicePolicy returns the permissions of service's role: exactly the calls its code
// makes (services/<service>), on the resources in r, in every region of a.
func ServicePolicy(service string, a Account, r stack.Resources) (iampolicy.Document, error) {
	if err := a.validate(); err != nil {
		return iampolicy.Document{}, fmt.Errorf("%s's policy: %w", service, err)
	}
	var st []iampolicy.Statement
	switch service {
	case "todo-api":
		// internal/store: conditional PutItem, GetItem, UpdateItem (the META stamp),
		// DeleteItem, Query on the owner's partition, BatchWriteItem (deleting an
		// account's to-dos). No index, no scan.
		if err := need(service, [2]string{"the to-dos table", r.TodosTable}, [2]string{"the files bucket", r.FilesBucket},
			[2]string{"the vending role", r.FilesVendingRoleARN}); err != nil {
			return iampolicy.Document{}, err
		}
		itemActions := []string{"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "BatchWriteItem"}
		st = append(st, allow("TodosTable", prefixed("dynamodb:", itemActions), a.table(r.TodosTable)...))
		if a.DAXClusterARN != "" {
			st = append(st, allow("TodosThroughDAX", prefixed("dax:", itemActions), a.DAXClusterARN))
		}
		// internal/store: ListObjectsV2 under users/, presigned GET, PUT and POST
		// (signed with this role, so the role must allow what the URLs do), and
		// DELETE /v1/me: DeleteObjects, ListMultipartUploads and AbortMultipartUpload
		// in the caller's folder.
		files := iampolicy.Statement{
			Sid: "ListUserFolders", Effect: iampolicy.Allow, Action: iampolicy.Values{"s3:ListBucket"},
			Resource:  iampolicy.Values{a.s3(r.FilesBucket, "")},
			Condition: iampolicy.Condition{"StringLike": {"s3:prefix": {filesUsersPrefix + "*"}}},
		}
		st = append(st, files,
			allow("PresignUserObjects", []string{"s3:GetObject", "s3:PutObject"}, a.s3(r.FilesBucket, filesUsersPrefix+"*")),
			allow("DeleteUserFolders", []string{"s3:DeleteObject", "s3:AbortMultipartUpload"}, a.s3(r.FilesBucket, filesUsersPrefix+"*")),
			allow("FindUnfinishedUploads", []string{"s3:ListBucketMultipartUploads"}, a.s3(r.FilesBucket, "")),
			// POST /v1/files/credentials: AssumeRole with a session policy and a sub tag.
			allow("VendFolderCredentials", []string{"sts:AssumeRole", "sts:TagSession"}, r.FilesVendingRoleARN))
	case "blog-api":
		// internal/store: posts and photos (PutItem, GetItem, DeleteItem, Query on the
		// feed index); subscribers (conditional PutItem, the confirmation's conditional
		// UpdateItem and its consistent GetItem, DeleteItem); the subscribe rate-limit
		// counters (conditional UpdateItem).
		if err := need(service, [2]string{"the posts table", r.PostsTable}, [2]string{"the subscribers table", r.SubscribersTable},
			[2]string{"the subscribe limits table", r.SubscribeLimitsTable}, [2]string{"the media bucket", r.MediaBucket}); err != nil {
			return iampolicy.Document{}, err
		}
		posts := a.table(r.PostsTable)
		st = append(st,
			allow("PostsAndPhotos", []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"}, posts...),
			allow("PostsFeed", []string{"dynamodb:Query"}, a.arns("dynamodb", "table/"+r.PostsTable+"/index/"+feedIndex.Name)...),
			allow("Subscribers", []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:DeleteItem"}, a.table(r.SubscribersTable)...),
			allow("SubscribeLimits", []string{"dynamodb:UpdateItem"}, a.table(r.SubscribeLimitsTable)...),
			// POST /v1/photos: a presigned PUT under uploads/.
			allow("PresignPhotoUploads", []string{"s3:PutObject"}, a.s3(r.MediaBucket, UploadsPrefix+"*")))
		if r.BlogDistributionARN != "" {
			// Post writes invalidate /v1/posts* (CLOUDFRONT_DISTRIBUTION_ID).
			st = append(st, allow("InvalidatePosts", []string{"cloudfront:CreateInvalidation"}, r.BlogDistributionARN))
		}
		if r.BlogOriginSecret != "" {
			// internal/originverify: the origin secret's current and previous values
			// (ORIGIN_VERIFY_SECRET_ID), in each region's replica; Secrets Manager ends a
			// secret's ARN with "-" and six random characters.
			st = append(st, allow("ReadOriginSecret", []string{"secretsmanager:GetSecretValue"}, a.arns("secretsmanager", "secret:"+r.BlogOriginSecret+"-??????")...))
		}
	case "welcome-mailer":
		// internal/store: the ledger (UpdateItem claims and marks, GetItem, DeleteItem)
		// and SES v2 SendEmail as the one verified identity (an address or its domain),
		// through the configuration set when one is configured (SES checks both). The
		// subscriber's address comes in the event: the subscribers table is not read.
		// Without a sender (no --sender-email or --sender-domain) the role may not send
		// at all (ServiceRoleResource says so under its line).
		if err := need(service, [2]string{"the idempotency table", r.IdempotencyTable}); err != nil {
			return iampolicy.Document{}, err
		}
		st = append(st, allow("IdempotencyLedger", []string{"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}, a.table(r.IdempotencyTable)...))
		if r.SenderIdentity != "" {
			send := a.arns("ses", "identity/"+r.SenderIdentity)
			if r.SESConfigurationSet != "" {
				send = append(send, a.arns("ses", "configuration-set/"+r.SESConfigurationSet)...)
			}
			st = append(st, allow("SendFromSenderIdentity", []string{"ses:SendEmail"}, send...))
		}
	case "thumbnailer":
		// internal/store: ranged and whole GetObject under uploads/, PutObject under
		// thumbnails/, the photo item's conditional UpdateItem and GetItem.
		if err := need(service, [2]string{"the posts table", r.PostsTable}, [2]string{"the media bucket", r.MediaBucket}); err != nil {
			return iampolicy.Document{}, err
		}
		st = append(st,
			allow("ReadUploads", []string{"s3:GetObject"}, a.s3(r.MediaBucket, UploadsPrefix+"*")),
			allow("WriteThumbnails", []string{"s3:PutObject"}, a.s3(r.MediaBucket, "thumbnails/*")),
			allow("UpdatePhotos", []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, a.table(r.PostsTable)...))
	case "dynamodb-source":
		// internal/source: DescribeTable (TABLE_NAME -> latest stream), the stream reads,
		// leases and checkpoints (GetItem, UpdateItem), and refused records to SQS.
		if err := need(service, [2]string{"the subscribers table", r.SubscribersTable}, [2]string{"the checkpoint table", r.CheckpointTable},
			[2]string{"the subscriber events dead-letter queue", r.SubscriberEventsDLQURL}); err != nil {
			return iampolicy.Document{}, err
		}
		st = append(st,
			allow("FindStream", []string{"dynamodb:DescribeTable"}, a.table(r.SubscribersTable)...),
			allow("ReadStream", []string{"dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"},
				a.arns("dynamodb", "table/"+r.SubscribersTable+"/stream/*")...),
			allow("LeasesAndCheckpoints", []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, a.table(r.CheckpointTable)...),
			allow("DeadLetters", []string{"sqs:SendMessage"}, a.arns("sqs", queueName(r.SubscriberEventsDLQURL))...))
	case "s3-source":
		// internal/source: receive, renew visibility (heartbeat, poison delay), delete;
		// the queue's message counts for the metrics (QUEUE_METRICS_INTERVAL).
		if err := need(service, [2]string{"the media events queue", r.MediaEventsQueueURL}); err != nil {
			return iampolicy.Document{}, err
		}
		st = append(st, allow("RelayMediaEvents", []string{"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes"},
			a.arns("sqs", queueName(r.MediaEventsQueueURL))...))
	default:
		return iampolicy.Document{}, fmt.Errorf("no policy for service %q: it calls no AWS API or is unknown (services with roles: %s)",
			service, strings.Join(roleServices, ", "))
	}
	d := iampolicy.New(st...)
	if err := d.Validate(); err != nil {
		return iampolicy.Document{}, fmt.Errorf("%s's policy: %w", service, err)
	}
	return d, nil
}

func prefixed(prefix string, actions []string) []string {
	out := make([]string, len(actions))
	for i, a := range actions {
		out[i] = prefix + a
	}
	return out
}

// IRSATrust is the trust policy of a role for IAM Roles for Service Accounts: only
// tokens of the clusters' OIDC providers (one statement each: every region's cluster
// has its own), for ServiceAccount namespace/serviceAccount, with STS as their
// audience.
func IRSATrust(oidcProviderARNs []string, namespace, serviceAccount string) (iampolicy.Document, error) {
	if len(oidcProviderARNs) == 0 {
		return iampolicy.Document{}, errors.New("IRSA trust needs a cluster's OIDC provider")
	}
	if namespace == "" || serviceAccount == "" {
		return iampolicy.Document{}, errors.New("IRSA trust needs a namespace and a ServiceAccount")
	}
	var st []iampolicy.Statement
	for i, arn := range oidcProviderARNs {
		issuer, err := oidcIssuer(arn)
		if err != nil {
			return iampolicy.Document{}, err
		}
		sid := "ServiceAccountWebIdentity"
		if i > 0 {
			sid += strconv.Itoa(i + 1)
		}
		st = append(st, iampolicy.Statement{
			Sid:       sid,
			Effect:    iampolicy.Allow,
			Principal: iampolicy.Principal{"Federated": {arn}},
			Action:    iampolicy.Values{"sts:AssumeRoleWithWebIdentity"},
			Condition: iampolicy.Condition{"StringEquals": {
				issuer + ":sub": {serviceAccountSubject(namespace, serviceAccount)},
				issuer + ":aud": {"sts.amazonaws.com"},
			}},
		})
	}
	return iampolicy.New(st...), nil
}

// oidcIssuer is the issuer (host and path) of an IAM OIDC provider's ARN.
func oidcIssuer(arn string) (string, error) {
	_, issuer, ok := strings.Cut(arn, ":oidc-provider/")
	if !ok || !strings.HasPrefix(arn, "arn:") || issuer == "" || strings.Contains(issuer, "://") {
		return "", fmt.Errorf("OIDC provider %q: want arn:aws:iam::<account>:oidc-provider/<issuer host and path>", arn)
	}
	return issuer, nil
}

func serviceAccountSubject(namespace, serviceAccount string) string {
	return "system:serviceaccount:" + namespace + ":" + serviceAccount
}

// TrustedOIDCProviders are the OIDC providers a trust policy (as IAM returns it,
// possibly URL-encoded) admits for ServiceAccount namespace/serviceAccount: the
// clusters earlier runs trusted, which a run for another cluster keeps.
func TrustedOIDCProviders(trust, namespace, serviceAccount string) []string {
	if dec, err := url.QueryUnescape(trust); err == nil {
		trust = dec
	}
	d, err := iampolicy.Parse([]byte(trust))
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range d.Statement {
		if s.Effect != iampolicy.Allow || !slices.Contains(s.Action, "sts:AssumeRoleWithWebIdentity") {
			continue
		}
		for _, arn := range s.Principal["Federated"] {
			issuer, err := oidcIssuer(arn)
			if err == nil && slices.Contains(s.Condition["StringEquals"][issuer+":sub"], serviceAccountSubject(namespace, serviceAccount)) &&
				!slices.Contains(out, arn) {
				out = append(out, arn)
			}
		}
	}
	return out
}

// PodIdentityTrust is the trust policy of a role for EKS Pod Identity: the Pod
// Identity agent assumes it (and tags the session with the pod's cluster, namespace
// and ServiceAccount); which ServiceAccount gets it is the association's business.
func PodIdentityTrust() iampolicy.Document {
	return iampolicy.New(iampolicy.Statement{
		Sid:       "EKSPodIdentity",
		Effect:    iampolicy.Allow,
		Principal: iampolicy.Principal{"Service": {"pods.eks.amazonaws.com"}},
		Action:    iampolicy.Values{"sts:AssumeRole", "sts:TagSession"},
	})
}

// RoleOptions say which identity mechanism the service roles trust. Exactly one of
// OIDCProviderARNs and PodIdentity is set.
type RoleOptions struct {
	// OIDCProviderARNs are clusters' IAM OIDC providers, for IRSA. A role that already
	// trusts other clusters keeps them: each region's run adds its cluster.
	OIDCProviderARNs []string
	// PodIdentity makes the roles trust EKS Pod Identity instead.
	PodIdentity bool
	// Namespace of the ServiceAccounts (DefaultNamespace when empty); IRSA only.
	Namespace string
	// DAXClusterARN, when set, is added to todo-api's permissions; with --dax the
	// cluster provisioned in the same run is.
	DAXClusterARN string
}

// Enabled reports whether service roles are asked for.
func (o RoleOptions) Enabled() bool { return len(o.OIDCProviderARNs) > 0 || o.PodIdentity }

// Validate reports options that name no mechanism or both.
func (o RoleOptions) Validate() error {
	if len(o.OIDCProviderARNs) > 0 && o.PodIdentity {
		return errors.New("service roles: pass an OIDC provider (IRSA) or Pod Identity, not both")
	}
	if !o.Enabled() {
		return errors.New("service roles: pass an OIDC provider (IRSA) or Pod Identity")
	}
	return nil
}

// ServiceRoles returns every service's role for account a and resources r.
func ServiceRoles(a Account, r stack.Resources, o RoleOptions) ([]ServiceRole, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	ns := o.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	a.DAXClusterARN = o.DAXClusterARN
	roles := make([]ServiceRole, 0, len(roleServices))
	for _, svc := range roleServices {
		policy, err := ServicePolicy(svc, a, r)
		if err != nil {
			return nil, err
		}
		trust := PodIdentityTrust()
		if !o.PodIdentity {
			if trust, err = IRSATrust(o.OIDCProviderARNs, ns, svc); err != nil {
				return nil, err
			}
		}
		roles = append(roles, ServiceRole{Service: svc, Policy: policy, Trust: trust})
	}
	return roles, nil
}

// ServiceRoleResources are the service roles as provisioning resources, one per
// service, named <prefix>sa-<service>; regions are the install regions (the client's
// region when empty). They go last: they name what the others created.
func ServiceRoleResources(prefix string, regions []string, o RoleOptions) []Resource {
	rs := make([]Resource, 0, len(roleServices))
	for _, svc := range roleServices {
		rs = append(rs, ServiceRoleResource{Service: svc, RoleName: prefix + ServiceRolePrefix + svc, Regions: regions, Options: o})
	}
	return rs
}

// ServiceRoleResource is one service's IAM role.
type ServiceRoleResource struct {
	// Service is the service's name (and its ServiceAccount's).
	Service string
	// RoleName is the role's name, prefix included.
	RoleName string
	// Regions are the install regions; the client's region when empty.
	Regions []string
	// Options choose IRSA or Pod Identity.
	Options RoleOptions
}

var _ Resource = ServiceRoleResource{}

// Kind implements Resource.
func (r ServiceRoleResource) Kind() string {
	switch {
	case r.Options.PodIdentity:
		return "iam role (pod identity)"
	case len(r.Options.OIDCProviderARNs) > 0:
		return "iam role (irsa)"
	}
	return "iam role (service)" // sa destroy: whichever trust it has
}

// Name implements Resource.
func (r ServiceRoleResource) Name() string { return r.RoleName }

// Ensure implements Resource: it creates the role or puts its trust policy back, writes
// its inline policy (named after the service), and records its ARN in
// out.ServiceRoleARNs.
func (r ServiceRoleResource) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	if err := r.Options.Validate(); err != nil {
		return Outcome{}, err
	}
	id, err := c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return Outcome{}, fmt.Errorf("find the account: %w", err)
	}
	a := Account{ID: aws.ToString(id.Account), Regions: r.Regions, DAXClusterARN: r.Options.DAXClusterARN}
	if a.DAXClusterARN == "" {
		a.DAXClusterARN = out.DAXClusterARN // provisioned in this run (--dax)
	}
	if p := strings.SplitN(aws.ToString(id.Arn), ":", 3); len(p) == 3 {
		a.Partition = p[1]
	}
	if len(a.Regions) == 0 {
		a.Regions = []string{c.Region}
	}
	policy, err := ServicePolicy(r.Service, a, *out)
	if err != nil {
		return Outcome{}, err
	}
	trust := PodIdentityTrust()
	if !r.Options.PodIdentity {
		ns := r.Options.Namespace
		if ns == "" {
			ns = DefaultNamespace
		}
		providers := r.Options.OIDCProviderARNs
		got, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(r.RoleName)})
		var nse *iamtypes.NoSuchEntityException
		switch {
		case errors.As(err, &nse):
		case err != nil:
			return Outcome{}, fmt.Errorf("get role: %w", err)
		default:
			// Keep the clusters the role already trusts (other regions' runs).
			merged := TrustedOIDCProviders(aws.ToString(got.Role.AssumeRolePolicyDocument), ns, r.Service)
			for _, p := range providers {
				if !slices.Contains(merged, p) {
					merged = append(merged, p)
				}
			}
			providers = merged
		}
		if trust, err = IRSATrust(providers, ns, r.Service); err != nil {
			return Outcome{}, err
		}
	}
	o, arn, err := ensureRole(ctx, c.IAM, roleSpec{
		Name: r.RoleName, Description: "serverless-architect " + r.Service + ": exactly the AWS calls it makes",
		Trust: trust, Perms: policy, PolicyName: r.Service, Tags: map[string]string{"service": r.Service},
	})
	if err != nil {
		return Outcome{}, err
	}
	if out.ServiceRoleARNs == nil {
		out.ServiceRoleARNs = map[string]string{}
	}
	out.ServiceRoleARNs[r.Service] = arn
	if r.Service == "welcome-mailer" && out.SenderIdentity == "" {
		o.Notes = append(o.Notes, "welcome-mailer may not send: no SES sender (run again with --sender-email ADDR or --sender-domain DOMAIN)")
	}
	return o, nil
}

// roleSpec is an IAM role the provisioner owns: its trust policy and one inline
// permissions policy.
type roleSpec struct {
	Name, Description string
	Trust, Perms      iampolicy.Document
	// PolicyName names the inline permissions policy.
	PolicyName string
	// Tags are added to project=serverless-architect.
	Tags map[string]string
	// MaxSession, when set, is the role's maximum session duration.
	MaxSession time.Duration
}

// ensureRole creates the role (or puts its trust policy back where it drifted) and
// writes its inline policy. It returns the role's ARN, also as the Outcome's ID.
func ensureRole(ctx context.Context, api *iam.Client, r roleSpec) (Outcome, string, error) {
	trustJSON, err := r.Trust.Compact()
	if err != nil {
		return Outcome{}, "", fmt.Errorf("trust policy: %w", err)
	}
	permsJSON, err := r.Perms.Compact()
	if err != nil {
		return Outcome{}, "", fmt.Errorf("permissions policy: %w", err)
	}
	var o Outcome
	got, err := api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(r.Name)})
	var nse *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &nse):
		tags := []iamtypes.Tag{{Key: aws.String("project"), Value: aws.String("serverless-architect")}}
		for _, k := range slices.Sorted(maps.Keys(r.Tags)) {
			tags = append(tags, iamtypes.Tag{Key: aws.String(k), Value: aws.String(r.Tags[k])})
		}
		in := &iam.CreateRoleInput{
			RoleName: aws.String(r.Name), AssumeRolePolicyDocument: aws.String(trustJSON),
			Description: aws.String(r.Description), Tags: tags,
		}
		if r.MaxSession > 0 {
			in.MaxSessionDuration = aws.Int32(int32(r.MaxSession / time.Second))
		}
		res, err := api.CreateRole(ctx, in)
		if err != nil {
			return Outcome{}, "", fmt.Errorf("create role: %w", err)
		}
		o.Created = true
		o.ID = aws.ToString(res.Role.Arn)
	case err != nil:
		return Outcome{}, "", fmt.Errorf("get role: %w", err)
	default:
		o.ID = aws.ToString(got.Role.Arn)
		current, _ := url.QueryUnescape(aws.ToString(got.Role.AssumeRolePolicyDocument))
		if !samePolicy(current, trustJSON) {
			if _, err := api.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(r.Name), PolicyDocument: aws.String(trustJSON)}); err != nil {
				return Outcome{}, "", fmt.Errorf("update trust policy: %w", err)
			}
		}
	}
	if _, err := api.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName: aws.String(r.Name), PolicyName: aws.String(r.PolicyName), PolicyDocument: aws.String(permsJSON),
	}); err != nil {
		return Outcome{}, "", fmt.Errorf("put role policy: %w", err)
	}
	return o, o.ID, nil
}

// samePolicy reports whether two policy documents say the same, whatever their
// formatting (IAM returns them URL-encoded and reformatted).
func samePolicy(a, b string) bool {
	da, err := iampolicy.Parse([]byte(a))
	if err != nil {
		return false
	}
	db, err := iampolicy.Parse([]byte(b))
	if err != nil {
		return false
	}
	ja, _ := da.Compact()
	jb, _ := db.Compact()
	return ja == jb
}
