// Package provision creates the AWS resources the project needs, idempotently: each
// resource is defined once, as a value with an Ensure method that finds it or creates
// it, so running provisioning twice (locally against moto, or against a real account)
// changes nothing the second time. Each also has a Delete method: Destroy (sa destroy)
// runs the same definitions backwards and deletes what exists (destroy.go).
//
// Resources are provisioned in order; a later one may use what an earlier one recorded
// in the stack.Resources they share (the app client needs the user pool id). New
// resources are added by appending one definition to Definitions.
package provision

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/dax"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// Clients are the AWS API clients the resource definitions use.
type Clients struct {
	// Region is the region every client talks to.
	Region string
	// DynamoDB manages tables.
	DynamoDB *dynamodb.Client
	// Cognito manages user pools, app clients and groups.
	Cognito *cognitoidentityprovider.Client
	// S3 manages buckets (path-style addressing when the endpoint is overridden, as
	// moto needs).
	S3 *s3.Client
	// CloudFront manages the blog's distribution, origin access control and invalidations.
	CloudFront *cloudfront.Client
	// IAM manages the roles of the users' folders.
	IAM *iam.Client
	// CognitoIdentity manages the identity pool.
	CognitoIdentity *cognitoidentity.Client
	// STS finds the account the roles trust.
	STS *sts.Client
	// SQS manages the media bucket's notification queues.
	SQS *sqs.Client
	// SESv2 manages the welcome mailer's sender identity.
	SESv2 *sesv2.Client
	// DAX manages the DAX cluster of the to-dos table (sa provision --dax).
	DAX *dax.Client
	// EC2 checks the VPC and manages the DAX security group.
	EC2 *ec2.Client
	// SecretsManager keeps the blog's origin secret (originsecret.go).
	SecretsManager *secretsmanager.Client

	// motoEndpoints remembers which endpoint overrides are moto (moto.go).
	motoEndpoints sync.Map
	// ACM reads the blog's certificate, in us-east-1 (the only region CloudFront takes
	// certificates from).
	ACM *acm.Client

	accountOnce sync.Once
	account     string
	accountErr  error
}

// NewClients builds the clients from cfg (awsconf.Load in the tools,
// mototest.AWSConfig in tests).
func NewClients(cfg aws.Config) *Clients {
	return &Clients{
		Region:   cfg.Region,
		DynamoDB: dynamodb.NewFromConfig(cfg),
		Cognito:  cognitoidentityprovider.NewFromConfig(cfg),
		S3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.UsePathStyle = cfg.BaseEndpoint != nil
		}),
		CloudFront:      cloudfront.NewFromConfig(cfg),
		IAM:             iam.NewFromConfig(cfg),
		CognitoIdentity: cognitoidentity.NewFromConfig(cfg),
		STS:             sts.NewFromConfig(cfg),
		SQS:             sqs.NewFromConfig(cfg),
		SESv2:           sesv2.NewFromConfig(cfg),
		DAX:             dax.NewFromConfig(cfg),
		EC2:             ec2.NewFromConfig(cfg),
		SecretsManager:  secretsmanager.NewFromConfig(cfg),
		ACM:             acm.NewFromConfig(cfg, func(o *acm.Options) { o.Region = "us-east-1" }),
	}
}

// Account is the id of the account the clients act in (STS GetCallerIdentity, asked
// once).
func (c *Clients) Account(ctx context.Context) (string, error) {
	c.accountOnce.Do(func() {
		id, err := c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			c.accountErr = fmt.Errorf("find the account: %w", err)
			return
		}
		c.account = aws.ToString(id.Account)
	})
	return c.account, c.accountErr
}

// BucketName is the name of one of the project's buckets in region: base (the prefix
// and the bucket's role, e.g. "prod-myblog-media"), the account id and the region,
// lower-cased, with anything S3 does not allow made a hyphen. Bucket names are global
// across accounts and regions; this makes each account's every region own its
// buckets. Every bucket the project makes is named here.
func (c *Clients) BucketName(ctx context.Context, base, region string) (string, error) {
	account, err := c.Account(ctx)
	if err != nil {
		return "", err
	}
	name := bucketName(base + "-" + account + "-" + region)
	if len(name) > 63 {
		return "", fmt.Errorf("bucket name %s is %d characters, over S3's 63: choose a shorter --prefix", name, len(name))
	}
	return name, nil
}

// checkCertificate makes sure the ACM certificate arn exists in us-east-1, is issued
// and covers every alias, as CloudFront will insist.
func (c *Clients) checkCertificate(ctx context.Context, arn string, aliases []string) error {
	if arn == "" {
		return nil
	}
	res, err := c.ACM.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)})
	if err != nil {
		return fmt.Errorf("certificate %s (CloudFront reads it from ACM in us-east-1): %w", arn, err)
	}
	cert := res.Certificate
	if cert == nil {
		return fmt.Errorf("certificate %s: ACM described nothing", arn)
	}
	if cert.Status != "ISSUED" {
		return fmt.Errorf("certificate %s is %s, not ISSUED: finish its validation (DNS records) first", arn, cert.Status)
	}
	names := append([]string{aws.ToString(cert.DomainName)}, cert.SubjectAlternativeNames...)
	for _, a := range aliases {
		if !certificateCovers(names, a) {
			return fmt.Errorf("certificate %s covers %v, not %s", arn, names, a)
		}
	}
	return nil
}

// certificateCovers reports whether a certificate for names is valid for host (a
// wildcard covers one label).
func certificateCovers(names []string, host string) bool {
	host = strings.ToLower(host)
	for _, n := range names {
		n = strings.ToLower(n)
		if n == host {
			return true
		}
		if rest, ok := strings.CutPrefix(n, "*."); ok {
			if _, parent, found := strings.Cut(host, "."); found && parent == rest {
				return true
			}
		}
	}
	return false
}

// cognitoEndpoint is the endpoint override the Cognito client uses (moto), or "" for
// real AWS. It is the client's resolved setting, so it honours AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER alike.
func (c *Clients) cognitoEndpoint() string {
	return aws.ToString(c.Cognito.Options().BaseEndpoint)
}

// Outcome says what Ensure did.
type Outcome struct {
	// Created is true when the resource did not exist and was made.
	Created bool
	// Applied is true for settings that are put on every run (a bucket policy): they
	// neither exist nor are created, they are enforced, which also repairs drift.
	Applied bool
	// Skipped is true when the endpoint cannot do what the resource needs (moto lacks
	// some APIs); ID then says what was not done.
	Skipped bool
	// ID is the resource's identifier when it differs from its name (a user pool id).
	ID string
	// Notes are what the operator must do next (DNS records to add, a link to open),
	// printed under the resource's line.
	Notes []string
}

// Resource is one provisioned AWS resource.
type Resource interface {
	// Kind names the type of resource for people, e.g. "dynamodb table".
	Kind() string
	// Name is the resource's name, prefix included.
	Name() string
	// Ensure finds the resource or creates it, and records its identifiers in out.
	Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error)
	// Delete deletes the resource where it exists (sa destroy, destroy.go); one that
	// is not there is no error.
	Delete(ctx context.Context, c *Clients) (Removal, error)
}

// Options tune Run.
type Options struct {
	// Prefix is put before every resource name, so several stacks can share an account
	// (or a moto). Empty by default.
	Prefix string
	// Log receives one line per resource ("created  dynamodb table todos"); nil
	// discards them.
	Log io.Writer
	// Blog tunes MyBlog's resources (regions of the Global Tables, the API origin).
	Blog BlogOptions
	// App tunes the MyTodoList app's distribution (the API origin, a custom domain).
	App AppOptions
	// Roles, when enabled, adds one IAM role per service for a cluster (iam.go).
	Roles RoleOptions
	// DAX, when enabled, adds a DAX cluster in front of the to-dos table (dax.go).
	DAX DAXOptions
	// Sender is the welcome mailer's SES identity (events.go).
	Sender SenderOptions
}

// Definitions returns every resource the project provisions, in dependency order,
// with MyBlog's default options.
func Definitions(prefix string) []Resource { return DefinitionsFor(Options{Prefix: prefix}) }

// DefinitionsFor is Definitions with o's prefix and MyBlog options.
func DefinitionsFor(o Options) []Resource {
	prefix := o.Prefix
	rs := []Resource{
		TodosTable{TableName: prefix + "todos"},
		UserPool{PoolName: prefix + "mytodolist"},
		AppClient{ClientName: prefix + "mobile"},
		Group{
			GroupName:   "admins",
			Description: "Administrators: may write blog posts and upload photos.",
			Record:      func(out *stack.Resources, name string) { out.AdminsGroup = name },
		},
		// The users' own folders (files.go): bucket, identity pool, roles.
		FilesBucket{BucketName: bucketName(prefix + "user-files")},
		IdentityPool{PoolName: prefix + "mytodolist-files"},
		AuthenticatedRole{RoleName: prefix + "mytodolist-files-authenticated"},
		VendingRole{RoleName: prefix + "mytodolist-files-vending"},
		IdentityPoolAccess{},
	}
	// The MyTodoList app (app.go): its bucket and distribution, after the files bucket.
	app := o.App
	if app.HomeRegion == "" && len(o.Blog.Regions) > 0 {
		app.HomeRegion = o.Blog.Regions[0]
	}
	rs = append(rs, AppResources(prefix, app)...)
	// MyBlog (blog.go): tables, buckets, CloudFront.
	rs = append(rs, BlogResources(prefix, o.Blog)...)
	// Photo thumbnails (thumbnails.go): the media bucket's notification queue and DLQ.
	rs = append(rs, ThumbnailResources(prefix)...)
	// Subscriber events (events.go): stream, checkpoints, DLQ, idempotency, SES identity.
	rs = append(rs, EventResources(prefix, o.Sender)...)
	// The to-dos table's DAX cluster (dax.go), before the roles: todo-api's may use it.
	if o.DAX.Enabled {
		rs = append(rs, DAXResources(prefix, o.DAX)...)
	}
	// The services' own roles in a cluster (iam.go), last: they name the resources above.
	if o.Roles.Enabled() {
		rs = append(rs, ServiceRoleResources(prefix, o.Blog.Regions, o.Roles)...)
	}
	return rs
}

// Run provisions every resource in Definitions with clients built from cfg and returns
// their identifiers.
func Run(ctx context.Context, cfg aws.Config, o Options) (stack.Resources, error) {
	return Ensure(ctx, NewClients(cfg), DefinitionsFor(o), o.Log)
}

// Ensure provisions rs in order, writing one line per resource to log (nil discards).
func Ensure(ctx context.Context, c *Clients, rs []Resource, log io.Writer) (stack.Resources, error) {
	if log == nil {
		log = io.Discard
	}
	var out stack.Resources
	for _, r := range rs {
		o, err := r.Ensure(ctx, c, &out)
		if err != nil {
			return stack.Resources{}, fmt.Errorf("provision %s %s: %w", r.Kind(), r.Name(), err)
		}
		fmt.Fprintln(log, Line(r, o))
		for _, n := range o.Notes {
			fmt.Fprintln(log, "         "+n)
		}
	}
	return out, nil
}

// Line is the report line for r: "created  dynamodb table todos" or
// "exists   cognito user pool mytodolist (us-east-1_abc)".
func Line(r Resource, o Outcome) string {
	status := "exists"
	switch {
	case o.Created:
		status = "created"
	case o.Applied:
		status = "applied"
	case o.Skipped:
		status = "skipped"
	}
	return reportLine(status, r, o.ID)
}

// reportLine is one line of provision's or destroy's report: the status in a column,
// the resource, and id when it says more than the name.
func reportLine(status string, r Resource, id string) string {
	s := fmt.Sprintf("%-9s%s %s", status, r.Kind(), r.Name())
	if id != "" && id != r.Name() {
		s += " (" + id + ")"
	}
	return s
}
