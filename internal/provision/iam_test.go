package provision

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/iampolicy"
	"github.com/serverless-architect/serverless-architect/internal/iampolicy/policytest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// testOIDCProvider is an EKS cluster's IAM OIDC provider.
const testOIDCProvider = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"

// testResources are what `sa provision` records with an empty prefix in us-east-1.
func testResources() stack.Resources {
	return stack.Resources{
		TodosTable:             "todos",
		PostsTable:             "posts",
		SubscribersTable:       "subscribers",
		CheckpointTable:        "stream-checkpoints",
		IdempotencyTable:       "welcome-idempotency",
		SubscribeLimitsTable:   "subscribe-limits",
		FilesBucket:            "user-files",
		MediaBucket:            "myblog-media",
		FilesVendingRoleARN:    "arn:aws:iam::123456789012:role/mytodolist-files-vending",
		MediaEventsQueueURL:    "https://sqs.us-east-1.amazonaws.com/123456789012/media-events",
		MediaEventsQueueARN:    "arn:aws:sqs:us-east-1:123456789012:media-events",
		SubscriberEventsDLQURL: "https://sqs.us-east-1.amazonaws.com/123456789012/subscriber-events-dlq",
		SubscribersStreamARN:   "arn:aws:dynamodb:us-east-1:123456789012:table/subscribers/stream/2024-01-01T00:00:00.000",
		SenderEmail:            "welcome@blog.example.com",
		SenderIdentity:         "blog.example.com",
		SESConfigurationSet:    "welcome",
		BlogDistributionARN:    "arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE",
		BlogOriginSecret:       "myblog-origin-verify",
	}
}

var testAccount = Account{ID: "123456789012", Regions: []string{"us-east-1"}}

// TestServiceRolesGolden pins every service's permissions and IRSA trust policy, and
// the Pod Identity trust, byte for byte (UPDATE_GOLDEN=1 rewrites them; review the diff).
func TestServiceRolesGolden(t *testing.T) {
	roles, err := ServiceRoles(testAccount, testResources(), RoleOptions{OIDCProviderARNs: []string{testOIDCProvider}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range roles {
		got = append(got, r.Service)
		t.Run(r.Service, func(t *testing.T) {
			policytest.Golden(t, "testdata/iam/"+r.Service+"-policy.json", r.Policy)
			policytest.Golden(t, "testdata/iam/"+r.Service+"-trust-irsa.json", r.Trust)
		})
	}
	if diff := cmp.Diff(RoleServices(), got); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	if slices.Contains(got, "gateway") {
		t.Error("gateway got a role, but it calls no AWS API")
	}
	t.Run("pod-identity", func(t *testing.T) {
		pod, err := ServiceRoles(testAccount, testResources(), RoleOptions{PodIdentity: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range pod {
			if diff := cmp.Diff(PodIdentityTrust(), r.Trust); diff != "" {
				t.Errorf("%s trust (-want +got):\n%s", r.Service, diff)
			}
		}
		policytest.Golden(t, "testdata/iam/trust-pod-identity.json", PodIdentityTrust())
	})
	t.Run("two-regions-with-dax", func(t *testing.T) {
		a := Account{ID: "123456789012", Regions: []string{"us-east-1", "eu-west-1"}, DAXClusterARN: "arn:aws:dax:us-east-1:123456789012:cache/todos"}
		d, err := ServicePolicy("todo-api", a, testResources())
		if err != nil {
			t.Fatal(err)
		}
		policytest.Golden(t, "testdata/iam/todo-api-policy-two-regions-dax.json", d)
	})
}

// TestServicePoliciesLeastPrivilege checks properties every policy must have, beyond
// the golden files: no wildcard action or resource outside an object-key pattern or a
// stream label, no write to the objects another service owns, and exactly the actions
// each service's code calls.
func TestServicePoliciesLeastPrivilege(t *testing.T) {
	want := map[string][]string{
		"todo-api": {"dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem",
			"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:PutObject",
			"sts:AssumeRole", "sts:TagSession"},
		"blog-api": {"cloudfront:CreateInvalidation", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem", "s3:PutObject",
			"secretsmanager:GetSecretValue"},
		"welcome-mailer":  {"dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "ses:SendEmail"},
		"thumbnailer":     {"dynamodb:GetItem", "dynamodb:UpdateItem", "s3:GetObject", "s3:PutObject"},
		"dynamodb-source": {"dynamodb:DescribeStream", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:UpdateItem", "sqs:SendMessage"},
		"s3-source":       {"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"},
	}
	for _, svc := range RoleServices() {
		t.Run(svc, func(t *testing.T) {
			d, err := ServicePolicy(svc, testAccount, testResources())
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, s := range d.Statement {
				if s.Effect != iampolicy.Allow {
					t.Errorf("%s: effect %s", s.Sid, s.Effect)
				}
				for _, a := range s.Action {
					if strings.Contains(a, "*") {
						t.Errorf("%s: wildcard action %s", s.Sid, a)
					}
					if !slices.Contains(actions, a) {
						actions = append(actions, a)
					}
				}
				for _, r := range s.Resource {
					if r == "*" || strings.HasSuffix(r, ":*") {
						t.Errorf("%s: resource %s is a wildcard", s.Sid, r)
					}
					if strings.Contains(r, "*") && !strings.HasSuffix(r, "/*") {
						t.Errorf("%s: resource %s has a wildcard not at a key or label's end", s.Sid, r)
					}
				}
			}
			slices.Sort(actions)
			if diff := cmp.Diff(want[svc], actions); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
		})
	}
	// Who may write where in the media bucket: blog-api uploads/, thumbnailer thumbnails/.
	for svc, key := range map[string]string{"blog-api": "uploads/*", "thumbnailer": "thumbnails/*"} {
		d, _ := ServicePolicy(svc, testAccount, testResources())
		for _, s := range d.Statement {
			if slices.Contains(s.Action, "s3:PutObject") && !cmp.Equal([]string(s.Resource), []string{"arn:aws:s3:::myblog-media/" + key}) {
				t.Errorf("%s may put %v, want only %s", svc, s.Resource, key)
			}
		}
	}
}

func TestServicePolicyErrors(t *testing.T) {
	tests := []struct {
		name    string
		service string
		account Account
		edit    func(*stack.Resources)
		wantErr string
	}{
		{"gateway has none", "gateway", testAccount, nil, "calls no AWS API"},
		{"unknown service", "mailer", testAccount, nil, "unknown"},
		{"bad account", "todo-api", Account{ID: "1234", Regions: []string{"us-east-1"}}, nil, "12 digits"},
		{"no regions", "todo-api", Account{ID: "123456789012"}, nil, "no regions"},
		{"no vending role", "todo-api", testAccount, func(r *stack.Resources) { r.FilesVendingRoleARN = "" }, "vending role"},
		{"no media bucket", "thumbnailer", testAccount, func(r *stack.Resources) { r.MediaBucket = "" }, "media bucket"},
		{"no dead-letter queue", "dynamodb-source", testAccount, func(r *stack.Resources) { r.SubscriberEventsDLQURL = "" }, "dead-letter"},
		{"no queue", "s3-source", testAccount, func(r *stack.Resources) { r.MediaEventsQueueURL = "" }, "queue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testResources()
			if tt.edit != nil {
				tt.edit(&r)
			}
			_, err := ServicePolicy(tt.service, tt.account, r)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ServicePolicy = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestIRSATrust(t *testing.T) {
	d, err := IRSATrust([]string{testOIDCProvider}, "blog", "blog-api")
	if err != nil {
		t.Fatal(err)
	}
	want := iampolicy.Condition{"StringEquals": {
		"oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub": {"system:serviceaccount:blog:blog-api"},
		"oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:aud": {"sts.amazonaws.com"},
	}}
	if diff := cmp.Diff(want, d.Statement[0].Condition); diff != "" {
		t.Errorf("condition (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "oidc.eks.us-east-1.amazonaws.com/id/X", "arn:aws:iam::123456789012:role/x",
		"arn:aws:iam::123456789012:oidc-provider/https://oidc.eks.us-east-1.amazonaws.com/id/X"} {
		if _, err := IRSATrust([]string{bad}, "ns", "sa"); err == nil {
			t.Errorf("IRSATrust(%q) accepted", bad)
		}
	}
	if _, err := IRSATrust([]string{testOIDCProvider}, "", "sa"); err == nil {
		t.Error("IRSATrust accepted an empty namespace")
	}
	if _, err := IRSATrust(nil, "ns", "sa"); err == nil {
		t.Error("IRSATrust accepted no provider")
	}
	// Two clusters: one statement each; TrustedOIDCProviders reads them back from the
	// document, URL-encoded as IAM returns it, for this ServiceAccount only.
	two, err := IRSATrust([]string{testOIDCProvider, otherOIDCProvider}, "blog", "blog-api")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := two.Compact()
	if err != nil {
		t.Fatal(err)
	}
	if got := TrustedOIDCProviders(url.QueryEscape(doc), "blog", "blog-api"); !cmp.Equal(got, []string{testOIDCProvider, otherOIDCProvider}) {
		t.Errorf("trusted providers = %v", got)
	}
	if got := TrustedOIDCProviders(doc, "blog", "welcome-mailer"); len(got) != 0 {
		t.Errorf("another ServiceAccount's trust gave %v", got)
	}
}

// otherOIDCProvider is a second region's cluster.
const otherOIDCProvider = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLEOTHERCLUSTER0000000000000"

func TestRoleOptionsValidate(t *testing.T) {
	if err := (RoleOptions{}).Validate(); err == nil {
		t.Error("no mechanism accepted")
	}
	if err := (RoleOptions{OIDCProviderARNs: []string{testOIDCProvider}, PodIdentity: true}).Validate(); err == nil {
		t.Error("both mechanisms accepted")
	}
	if got := len(DefinitionsFor(Options{})); got != len(DefinitionsFor(Options{Roles: RoleOptions{PodIdentity: true}}))-len(RoleServices()) {
		t.Errorf("DefinitionsFor adds roles without RoleOptions, or not one per service with them (%d without)", got)
	}
}

// TestServiceRolesAgainstMoto creates the roles in moto's IAM, checks the trust and
// inline policies IAM holds, and runs again: nothing is created, policies stay.
func TestServiceRolesAgainstMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	c := NewClients(mototest.AWSConfig(t, ep))
	ctx := context.Background()
	prefix := mototest.Name("roles") + "-"
	res := testResources()
	// moto's account is 123456789012, as in testResources.
	for _, mode := range []struct {
		name string
		opts RoleOptions
	}{{"irsa", RoleOptions{OIDCProviderARNs: []string{testOIDCProvider}, Namespace: "sa-test"}}, {"pod-identity", RoleOptions{PodIdentity: true}}} {
		t.Run(mode.name, func(t *testing.T) {
			rs := ServiceRoleResources(prefix+mode.name+"-", nil, mode.opts)
			for run := 1; run <= 2; run++ {
				out := res
				for _, r := range rs {
					o, err := r.Ensure(ctx, c, &out)
					if err != nil {
						t.Fatalf("run %d: %s: %v", run, r.Name(), err)
					}
					if o.Created != (run == 1) {
						t.Errorf("run %d: %s created = %v", run, r.Name(), o.Created)
					}
				}
				if len(out.ServiceRoleARNs) != len(RoleServices()) {
					t.Errorf("run %d: recorded %v", run, out.ServiceRoleARNs)
				}
			}
			roles, err := ServiceRoles(Account{ID: "123456789012", Regions: []string{c.Region}}, res, mode.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range roles {
				name := prefix + mode.name + "-" + ServiceRolePrefix + want.Service
				got, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
				if err != nil {
					t.Fatalf("get role %s: %v", name, err)
				}
				comparePolicy(t, name+" trust", want.Trust, aws.ToString(got.Role.AssumeRolePolicyDocument))
				pol, err := c.IAM.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(want.Service)})
				if err != nil {
					t.Fatalf("get role policy %s: %v", name, err)
				}
				comparePolicy(t, name+" policy", want.Policy, aws.ToString(pol.PolicyDocument))
				list, err := c.IAM.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(name)})
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff([]string{want.Service}, list.PolicyNames); diff != "" {
					t.Errorf("%s inline policies (-want +got):\n%s", name, diff)
				}
			}
		})
	}
}

// TestIRSATrustAcrossClusters: each region's cluster has its own OIDC provider. The
// first region's run makes the roles trust its cluster; the second region's run, with
// its own provider, adds it and keeps the first; running either again changes
// nothing. (The trust used to be replaced, locking the first cluster out.)
func TestIRSATrustAcrossClusters(t *testing.T) {
	ep := mototest.Endpoint(t)
	c := NewClients(mototest.AWSConfig(t, ep))
	ctx := context.Background()
	prefix := mototest.Name("clusters") + "-"
	ensure := func(providers ...string) {
		t.Helper()
		out := testResources()
		for _, r := range ServiceRoleResources(prefix, nil, RoleOptions{OIDCProviderARNs: providers}) {
			if _, err := r.Ensure(ctx, c, &out); err != nil {
				t.Fatalf("%s: %v", r.Name(), err)
			}
		}
	}
	trusted := func(svc string) []string {
		t.Helper()
		got, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(prefix + ServiceRolePrefix + svc)})
		if err != nil {
			t.Fatal(err)
		}
		return TrustedOIDCProviders(aws.ToString(got.Role.AssumeRolePolicyDocument), DefaultNamespace, svc)
	}
	ensure(testOIDCProvider)
	ensure(otherOIDCProvider)
	ensure(testOIDCProvider)
	for _, svc := range RoleServices() {
		if diff := cmp.Diff([]string{testOIDCProvider, otherOIDCProvider}, trusted(svc)); diff != "" {
			t.Errorf("%s trusts (-want +got):\n%s", svc, diff)
		}
	}
}

// TestWelcomeMailerWithoutSender: without an SES sender the mailer's role keeps its
// ledger and may send nothing (its line says why), rather than failing a run made for
// the other services.
func TestWelcomeMailerWithoutSender(t *testing.T) {
	r := testResources()
	r.SenderIdentity, r.SESConfigurationSet = "", ""
	d, err := ServicePolicy("welcome-mailer", testAccount, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range d.Statement {
		if slices.Contains(s.Action, "ses:SendEmail") {
			t.Errorf("without a sender the role may send: %+v", s)
		}
	}
	if len(d.Statement) != 1 {
		t.Errorf("statements = %+v, want the ledger's only", d.Statement)
	}
}
