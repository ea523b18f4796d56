// Package provision creates the AWS resources the project needs, idempotently: each
// resource is defined once, as a value with an Ensure method that finds it or creates
// it, so running provisioning twice (locally against moto, or against a real account)
// changes nothing the second time.
//
// Resources are provisioned in order; a later one may use what an earlier one recorded
// in the stack.Resources they share (the app client needs the user pool id). New
// resources are added by appending one definition to Definitions.
package provision

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

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
}

// NewClients builds the clients from cfg (awsconf.Load in the tools,
// mototest.AWSConfig in tests).
func NewClients(cfg aws.Config) *Clients {
	return &Clients{
		Region:   cfg.Region,
		DynamoDB: dynamodb.NewFromConfig(cfg),
		Cognito:  cognitoidentityprovider.NewFromConfig(cfg),
	}
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
	// ID is the resource's identifier when it differs from its name (a user pool id).
	ID string
}

// Resource is one provisioned AWS resource.
type Resource interface {
	// Kind names the type of resource for people, e.g. "dynamodb table".
	Kind() string
	// Name is the resource's name, prefix included.
	Name() string
	// Ensure finds the resource or creates it, and records its identifiers in out.
	Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error)
}

// Options tune Run.
type Options struct {
	// Prefix is put before every resource name, so several stacks can share an account
	// (or a moto). Empty by default.
	Prefix string
	// Log receives one line per resource ("created  dynamodb table todos"); nil
	// discards them.
	Log io.Writer
}

// Definitions returns every resource the project provisions, in dependency order.
func Definitions(prefix string) []Resource {
	return []Resource{
		TodosTable{TableName: prefix + "todos"},
		UserPool{PoolName: prefix + "mytodolist"},
		AppClient{ClientName: prefix + "mobile"},
		Group{
			GroupName:   "admins",
			Description: "Administrators: may write blog posts and upload photos.",
			Record:      func(out *stack.Resources, name string) { out.AdminsGroup = name },
		},
	}
}

// Run provisions every resource in Definitions with clients built from cfg and returns
// their identifiers.
func Run(ctx context.Context, cfg aws.Config, o Options) (stack.Resources, error) {
	return Ensure(ctx, NewClients(cfg), Definitions(o.Prefix), o.Log)
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
	}
	return out, nil
}

// Line is the report line for r: "created  dynamodb table todos" or
// "exists   cognito user pool mytodolist (us-east-1_abc)".
func Line(r Resource, o Outcome) string {
	status := "exists"
	if o.Created {
		status = "created"
	}
	s := fmt.Sprintf("%-9s%s %s", status, r.Kind(), r.Name())
	if o.ID != "" && o.ID != r.Name() {
		s += " (" + o.ID + ")"
	}
	return s
}
