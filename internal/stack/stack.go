// Package stack describes a running deployment of the project — the local stack that
// `make dev` starts, or a cluster — as the JSON file .dev/stack.json, so that every tool
// (the client CLI, tests, scripts) finds URLs, ids and names in one place.
package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
)

// DefaultPath is where `make dev` writes the file, relative to the repository root.
const DefaultPath = ".dev/stack.json"

// Stack is the content of stack.json.
type Stack struct {
	// Region is the AWS region every service uses.
	Region string `json:"region"`
	// AWSEndpoint is the endpoint override (moto), empty against real AWS.
	AWSEndpoint string `json:"awsEndpoint,omitempty"`
	// CognitoEndpoint is the user pools' endpoint for clients, when it is not
	// AWSEndpoint: locally the stand-in in front of moto that adds the calls moto
	// lacks (internal/cognitolocal). Empty means AWSEndpoint (or AWS's own).
	CognitoEndpoint string `json:"cognitoEndpoint,omitempty"`
	// CAFile is the PEM file of the CA that signed the local TLS certificates.
	CAFile string `json:"caFile,omitempty"`
	// APIURL is the public HTTPS base URL of the to-do API.
	APIURL string `json:"apiUrl"`
	// BlogURL is the public HTTPS origin of the blog (the local edge, or CloudFront).
	BlogURL string `json:"blogUrl,omitempty"`
	// AppURL is the public HTTPS origin of the MyTodoList app (the local edge, or
	// CloudFront).
	AppURL string `json:"appUrl,omitempty"`
	// Services maps a service name to where it runs.
	Services map[string]Service `json:"services"`
	// GatewayReplicas are the gateway's processes, each on its own URL, when the
	// to-do API runs several (sa dev --gateway-replicas); APIURL is then a
	// round-robin balancer in front of them.
	GatewayReplicas []Service `json:"gatewayReplicas,omitempty"`
	// Resources are the AWS resources provisioned for the stack.
	Resources Resources `json:"resources"`
	// MetricsURL is where `sa dev` serves its own Prometheus metrics (cold starts,
	// restarts, reloads per service): GET /metrics on its trace receiver, a loopback
	// port of its own. Empty when the stack was not started by sa dev.
	MetricsURL string `json:"metricsUrl,omitempty"`
	// Regions lists, when MyBlog runs in several regions (`sa dev --regions`), every
	// one of them, the stack's own Region first.
	Regions []Region `json:"regions,omitempty"`
}

// Region is one region MyBlog runs in: its own blog-api, sources, consumers and edge
// over its replicas of the global tables and its own buckets.
type Region struct {
	// Region is the AWS region.
	Region string `json:"region"`
	// BlogURL is the public HTTPS origin of the blog in this region (its edge).
	BlogURL string `json:"blogUrl"`
	// Tables maps a role (posts, subscribers, subscribeLimits, checkpoints,
	// idempotency) to the table's name.
	Tables map[string]string `json:"tables"`
	// Buckets maps a role (site, media) to the bucket's name.
	Buckets map[string]string `json:"buckets"`
	// Queues maps a role (mediaEvents, subscriberEventsDlq) to the queue's URL.
	Queues map[string]string `json:"queues,omitempty"`
	// Services maps a service to where it runs in this region.
	Services map[string]Service `json:"services,omitempty"`
}

// RegionEntry returns the Region of res, the resources provisioned in region, whose
// blog is served at blogURL by services.
func RegionEntry(region, blogURL string, res Resources, services map[string]Service) Region {
	return Region{
		Region: region, BlogURL: blogURL, Services: services,
		Tables: map[string]string{
			"posts": res.PostsTable, "subscribers": res.SubscribersTable, "subscribeLimits": res.SubscribeLimitsTable,
			"checkpoints": res.CheckpointTable, "idempotency": res.IdempotencyTable,
		},
		Buckets: map[string]string{"site": res.SiteBucket, "media": res.MediaBucket},
		Queues:  map[string]string{"mediaEvents": res.MediaEventsQueueURL, "subscriberEventsDlq": res.SubscriberEventsDLQURL},
	}
}

// Service is one running service.
type Service struct {
	URL  string `json:"url"`
	Port int    `json:"port"`
	PID  int    `json:"pid,omitempty"`
}

// Resources names the provisioned AWS resources. Later features add fields here.
type Resources struct {
	TodosTable       string `json:"todosTable"`
	UserPoolID       string `json:"userPoolId"`
	UserPoolClientID string `json:"userPoolClientId"`
	AdminsGroup      string `json:"adminsGroup"`
	// Issuer is the `iss` of the pool's tokens (AWS-shaped, also under moto).
	Issuer string `json:"issuer"`
	// JWKSURL is where the pool's signing keys are served (moto serves them locally).
	JWKSURL string `json:"jwksUrl"`
	// PostsTable and SubscribersTable are MyBlog's tables (Global Tables in AWS).
	PostsTable       string `json:"postsTable,omitempty"`
	SubscribersTable string `json:"subscribersTable,omitempty"`
	// SiteBucket holds the blog's static site (in SiteBucketRegion, the home region);
	// MediaBucket this region's uploads and thumbnails.
	SiteBucket       string `json:"siteBucket,omitempty"`
	SiteBucketRegion string `json:"siteBucketRegion,omitempty"`
	MediaBucket      string `json:"mediaBucket,omitempty"`
	// BlogOACID is the CloudFront origin access control the distribution reads the
	// buckets with.
	BlogOACID string `json:"blogOacId,omitempty"`
	// BlogDistributionID, ...ARN and ...Domain identify the blog's CloudFront distribution.
	BlogDistributionID     string `json:"blogDistributionId,omitempty"`
	BlogDistributionARN    string `json:"blogDistributionArn,omitempty"`
	BlogDistributionDomain string `json:"blogDistributionDomain,omitempty"`
	// BlogOriginSecret and ...ARN are the Secrets Manager secret the distribution sends
	// blog-api in X-Origin-Verify (blog-api's ORIGIN_VERIFY_SECRET_ID).
	BlogOriginSecret    string `json:"blogOriginSecret,omitempty"`
	BlogOriginSecretARN string `json:"blogOriginSecretArn,omitempty"`
	// BlogMediaFunctionARN is the published CloudFront Function that strips /media
	// from media requests (empty under moto, which has no Functions API).
	BlogMediaFunctionARN string `json:"blogMediaFunctionArn,omitempty"`
	// BlogAPICachePolicyID, BlogAPIOriginRequestPolicyID and
	// BlogSecurityHeadersPolicyID are the project's own CloudFront policies (local ids
	// under moto, which has no policy API).
	BlogAPICachePolicyID         string `json:"blogApiCachePolicyId,omitempty"`
	BlogAPIOriginRequestPolicyID string `json:"blogApiOriginRequestPolicyId,omitempty"`
	BlogSecurityHeadersPolicyID  string `json:"blogSecurityHeadersPolicyId,omitempty"`
	// BlogEdge is the distribution as provisioned, with the project's own policies in
	// full: what the local edge runs (services/gateway, DISTRIBUTION_FILE).
	BlogEdge *cdn.Distribution `json:"blogEdge,omitempty"`
	// BlogPublicURL is the blog's public origin: https://<first alias>, else
	// https://<distribution domain>. Unsubscribe links and the site's origin follow it.
	BlogPublicURL string `json:"blogPublicUrl,omitempty"`
	// AppBucket holds the MyTodoList app's built files (web/todo), read by the app's
	// own distribution through AppOACID.
	AppBucket string `json:"appBucket,omitempty"`
	AppOACID  string `json:"appOacId,omitempty"`
	// AppDistributionID, ...ARN and ...Domain identify the app's CloudFront
	// distribution: the bucket, and /v1/* to the to-do API.
	AppDistributionID     string `json:"appDistributionId,omitempty"`
	AppDistributionARN    string `json:"appDistributionArn,omitempty"`
	AppDistributionDomain string `json:"appDistributionDomain,omitempty"`
	// AppAPICachePolicyID, AppAPIOriginRequestPolicyID and AppSecurityHeadersPolicyID
	// are the app distribution's own policies (local ids under moto).
	AppAPICachePolicyID         string `json:"appApiCachePolicyId,omitempty"`
	AppAPIOriginRequestPolicyID string `json:"appApiOriginRequestPolicyId,omitempty"`
	AppSecurityHeadersPolicyID  string `json:"appSecurityHeadersPolicyId,omitempty"`
	// AppEdge is the app's distribution as provisioned, with its policies in full: what
	// the local app edge runs (DISTRIBUTION_FILE).
	AppEdge *cdn.Distribution `json:"appEdge,omitempty"`
	// AppPublicURL is the app's public origin: https://<first alias>, else
	// https://<distribution domain>.
	AppPublicURL string `json:"appPublicUrl,omitempty"`
	// FilesBucket holds each MyTodoList user's own folder, users/<id>/.
	FilesBucket string `json:"filesBucket,omitempty"`
	// IdentityPoolID is the Cognito Identity Pool that exchanges user-pool tokens for
	// credentials limited to the caller's folder.
	IdentityPoolID string `json:"identityPoolId,omitempty"`
	// FilesAuthenticatedRoleARN is the identity pool's role for authenticated users.
	FilesAuthenticatedRoleARN string `json:"filesAuthenticatedRoleArn,omitempty"`
	// FilesVendingRoleARN is the role todo-api assumes to vend folder credentials.
	FilesVendingRoleARN string `json:"filesVendingRoleArn,omitempty"`
	// MediaEventsQueueURL/ARN is the SQS queue the media bucket notifies of uploads
	// (s3-source reads it); MediaEventsDLQURL/ARN its dead-letter queue.
	MediaEventsQueueURL string `json:"mediaEventsQueueUrl,omitempty"`
	MediaEventsQueueARN string `json:"mediaEventsQueueArn,omitempty"`
	MediaEventsDLQURL   string `json:"mediaEventsDlqUrl,omitempty"`
	MediaEventsDLQARN   string `json:"mediaEventsDlqArn,omitempty"`
	// SubscribersStreamARN is the subscribers table's stream (dynamodb-source reads it);
	// CheckpointTable holds its shard checkpoints and leases; SubscriberEventsDLQURL
	// is its dead-letter queue.
	SubscribersStreamARN   string `json:"subscribersStreamArn,omitempty"`
	CheckpointTable        string `json:"checkpointTable,omitempty"`
	SubscriberEventsDLQURL string `json:"subscriberEventsDlqUrl,omitempty"`
	// SubscribeLimitsTable holds blog-api's subscribe rate-limit counters.
	SubscribeLimitsTable string `json:"subscribeLimitsTable,omitempty"`
	// IdempotencyTable is the welcome mailer's ledger.
	IdempotencyTable string `json:"idempotencyTable,omitempty"`
	// SenderEmail is the welcome mailer's From address; SenderIdentity the SES
	// identity it sends as (that address, or its domain); SESConfigurationSet the
	// configuration set it sends through, if any; SenderDKIMRecords the DNS records a
	// domain identity needs.
	SenderEmail         string   `json:"senderEmail,omitempty"`
	SenderIdentity      string   `json:"senderIdentity,omitempty"`
	SESConfigurationSet string   `json:"sesConfigurationSet,omitempty"`
	SenderDKIMRecords   []string `json:"senderDkimRecords,omitempty"`
	// DAXClusterARN and DAXEndpoint (todo-api's DAX_ENDPOINT, daxs://...) identify the
	// to-dos table's DAX cluster, with `sa provision --dax`; the endpoint is empty
	// until AWS has made the cluster. DAXRoleARN is the role DAX reaches the table
	// with; DAXSecurityGroupID, DAXSubnetGroup and DAXParameterGroup its network and
	// cache settings.
	DAXClusterARN      string `json:"daxClusterArn,omitempty"`
	DAXEndpoint        string `json:"daxEndpoint,omitempty"`
	DAXRoleARN         string `json:"daxRoleArn,omitempty"`
	DAXSecurityGroupID string `json:"daxSecurityGroupId,omitempty"`
	DAXSubnetGroup     string `json:"daxSubnetGroup,omitempty"`
	DAXParameterGroup  string `json:"daxParameterGroup,omitempty"`
	// ServiceRoleARNs maps a service to its IAM role (IRSA or Pod Identity), when
	// `sa provision` was asked for them.
	ServiceRoleARNs map[string]string `json:"serviceRoleArns,omitempty"`
}

// Read loads a stack file.
func Read(path string) (*Stack, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read stack file: %w (is `make dev` running? it writes %s)", err, DefaultPath)
	}
	var s Stack
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse stack file %s: %w", path, err)
	}
	return &s, nil
}

// Write stores s at path atomically (write to a temporary file, then rename).
func Write(path string, s *Stack) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode stack file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write stack file: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write stack file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write stack file: %w", err)
	}
	return nil
}
