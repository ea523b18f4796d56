package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/serverless-architect/serverless-architect/internal/originverify"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// OriginSecret is the Secrets Manager secret the blog's distribution sends to blog-api
// in X-Origin-Verify (originverify), so blog-api believes CloudFront-Viewer-Address only
// on requests that came through the distribution. The home region's run creates it with
// a random value and replicates it to the other regions (each region's blog-api reads
// its own replica: no region depends on another to start); a later run keeps the value
// (rotate with PutSecretValue, then provision again and restart blog-api: see
// docs/operations.md). Other regions' runs read their replica and fail, saying so, when
// the home region has not been provisioned yet.
type OriginSecret struct {
	SecretName string
	Options    BlogOptions
}

var _ Resource = OriginSecret{}

// Kind implements Resource.
func (OriginSecret) Kind() string { return "secretsmanager secret" }

// Name implements Resource.
func (s OriginSecret) Name() string { return s.SecretName }

// replicaRegions are the regions besides home that read the secret.
func (s OriginSecret) replicaRegions(home string) []string {
	var out []string
	for _, r := range s.Options.Regions {
		if r != home {
			out = append(out, r)
		}
	}
	return out
}

// Ensure implements Resource.
func (s OriginSecret) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	home := s.Options.homeRegion(c.Region)
	var notFound *smtypes.ResourceNotFoundException
	found, err := c.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.SecretName)})
	switch {
	case errors.As(err, &notFound) && home != c.Region:
		return Outcome{}, fmt.Errorf("the origin secret %s is created by the home region's run (%s) and replicated here: provision %s first", s.SecretName, home, home)
	case errors.As(err, &notFound):
		value, err := originverify.NewValue()
		if err != nil {
			return Outcome{}, err
		}
		in := &secretsmanager.CreateSecretInput{
			Name:         aws.String(s.SecretName),
			Description:  aws.String("MyBlog: the value CloudFront sends blog-api in " + originverify.Header + " (sa provision)"),
			SecretString: aws.String(value),
		}
		for _, r := range s.replicaRegions(home) {
			in.AddReplicaRegions = append(in.AddReplicaRegions, smtypes.ReplicaRegionType{Region: aws.String(r)})
		}
		res, err := c.SecretsManager.CreateSecret(ctx, in)
		if err != nil {
			return Outcome{}, fmt.Errorf("create secret %s: %w", s.SecretName, err)
		}
		out.BlogOriginSecret, out.BlogOriginSecretARN = s.SecretName, aws.ToString(res.ARN)
		return Outcome{Created: true, ID: aws.ToString(res.ARN)}, nil
	case err != nil:
		return Outcome{}, fmt.Errorf("describe secret %s: %w", s.SecretName, err)
	}
	if home == c.Region {
		// A region added to --regions later gets its replica now.
		var missing []smtypes.ReplicaRegionType
		for _, r := range s.replicaRegions(home) {
			if !slices.ContainsFunc(found.ReplicationStatus, func(st smtypes.ReplicationStatusType) bool { return aws.ToString(st.Region) == r }) {
				missing = append(missing, smtypes.ReplicaRegionType{Region: aws.String(r)})
			}
		}
		if len(missing) > 0 {
			if _, err := c.SecretsManager.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
				SecretId: aws.String(s.SecretName), AddReplicaRegions: missing,
			}); err != nil {
				return Outcome{}, fmt.Errorf("replicate secret %s: %w", s.SecretName, err)
			}
		}
	}
	out.BlogOriginSecret, out.BlogOriginSecretARN = s.SecretName, aws.ToString(found.ARN)
	return Outcome{ID: aws.ToString(found.ARN)}, nil
}

// Delete implements Resource: the home region's run deletes the secret, its replicas
// first (Secrets Manager refuses to delete a primary that has replicas), at once rather
// than after the recovery window, so a new provision can create it again.
func (s OriginSecret) Delete(ctx context.Context, c *Clients) (Removal, error) {
	if home := s.Options.homeRegion(c.Region); home != c.Region {
		return Removal{Skipped: true, ID: "a replica of the home region " + home + "'s secret: that region's run deletes it"}, nil
	}
	var notFound *smtypes.ResourceNotFoundException
	found, err := c.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.SecretName)})
	switch {
	case errors.As(err, &notFound):
		return Removal{}, nil
	case err != nil:
		return Removal{}, fmt.Errorf("describe secret %s: %w", s.SecretName, err)
	}
	var replicas []string
	for _, st := range found.ReplicationStatus {
		replicas = append(replicas, aws.ToString(st.Region))
	}
	if len(replicas) > 0 {
		if _, err := c.SecretsManager.RemoveRegionsFromReplication(ctx, &secretsmanager.RemoveRegionsFromReplicationInput{
			SecretId: aws.String(s.SecretName), RemoveReplicaRegions: replicas,
		}); err != nil {
			return Removal{}, fmt.Errorf("remove the replicas %v of secret %s: %w", replicas, s.SecretName, err)
		}
	}
	if _, err := c.SecretsManager.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId: aws.String(s.SecretName), ForceDeleteWithoutRecovery: aws.Bool(true),
	}); err != nil && !errors.As(err, &notFound) {
		return Removal{}, fmt.Errorf("delete secret %s: %w", s.SecretName, err)
	}
	return Removal{Deleted: true, ID: aws.ToString(found.ARN)}, nil
}

// originSecretValue is the current value of the origin secret recorded in out, read
// in this run's region (the primary or its replica).
func originSecretValue(ctx context.Context, c *Clients, out *stack.Resources) (string, error) {
	if out.BlogOriginSecret == "" {
		return "", errors.New("the origin secret must be provisioned before the distribution")
	}
	res, err := c.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(out.BlogOriginSecret)})
	if err != nil {
		return "", fmt.Errorf("read the origin secret %s: %w", out.BlogOriginSecret, err)
	}
	return aws.ToString(res.SecretString), nil
}
