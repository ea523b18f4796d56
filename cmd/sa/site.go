package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/spf13/cobra"

	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/sitedeploy"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

func newSiteCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "site",
		Short: "Publish the blog's static site",
	}
	cmd.AddCommand(newSiteDeployCmd(stdout, stderr))
	return cmd
}

// siteDeployFlags are `sa site deploy`'s flags.
type siteDeployFlags struct {
	dir, stackFile, bucket, distribution, region, userPool, client, cognito string
}

func newSiteDeployCmd(stdout, stderr io.Writer) *cobra.Command {
	var f siteDeployFlags
	cmd := &cobra.Command{
		Use:   "deploy [--dir web/blog] [--stack .dev/stack.json | --bucket B --distribution-id D --region R --user-pool-id P --client-id C]",
		Short: "Fingerprint the site's assets, upload what changed, invalidate the pages",
		Long: `Build the static site in --dir and publish it:

  - CSS, JS and images get a content hash in their name and
    Cache-Control: public, max-age=31536000, immutable; pages (HTML), config.json and
    favicon.ico keep their names and get
    Cache-Control: public, max-age=0, must-revalidate, s-maxage=300;
  - references in HTML and CSS are rewritten to the hashed names;
  - config.json is generated: the region, user pool, app client and Cognito endpoint
    the admin page signs in with;
  - only files whose content (MD5 = ETag) or headers differ are uploaded, assets
    before pages; old hashed assets are kept (cached pages may still name them);
  - a CloudFront invalidation is created for the changed pages.

Where to: by default everything comes from the stack file (what make dev writes; its
moto endpoint is used with dummy credentials). With --bucket the stack file is not read
and your normal AWS configuration is used (real AWS unless AWS_ENDPOINT_URL says
otherwise):

  sa site deploy --bucket myblog-site-123 --distribution-id E2ABC --region us-east-1 \
    --user-pool-id us-east-1_abc --client-id 1example23`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var cfg aws.Config
			var site sitedeploy.SiteConfig
			if f.bucket == "" {
				st, err := stack.Read(f.stackFile)
				if err != nil {
					if errors.Is(err, fs.ErrNotExist) {
						return fmt.Errorf("%w; or name the target with --bucket", err)
					}
					return err
				}
				f.bucket, f.distribution = st.Resources.SiteBucket, orDefault(f.distribution, st.Resources.BlogDistributionID)
				site = sitedeploy.ConfigFromStack(st)
				cfg, err = stackConfig(cmd, st)
				if err != nil {
					return err
				}
			} else {
				var err error
				cfg, err = awsconf.Load(ctx, awsconf.Options{Region: f.region})
				if err != nil {
					return fmt.Errorf("%w (or pass --region)", err)
				}
				site = sitedeploy.SiteConfig{Region: cfg.Region, CognitoEndpoint: sitedeploy.CognitoEndpoint(cfg.Region)}
			}
			site.UserPoolID = orDefault(f.userPool, site.UserPoolID)
			site.ClientID = orDefault(f.client, site.ClientID)
			site.CognitoEndpoint = orDefault(f.cognito, site.CognitoEndpoint)
			if f.distribution == "" {
				fmt.Fprintln(stderr, "no distribution: nothing will be invalidated")
			}
			res, err := sitedeploy.Publish(ctx, f.dir, site, sitedeploy.NewTarget(cfg, f.bucket, f.distribution))
			if err != nil {
				return err
			}
			for _, k := range res.Uploaded {
				fmt.Fprintln(stdout, "uploaded  "+k)
			}
			fmt.Fprintln(stdout, res.Summary(f.bucket))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "dir", "web/blog", "directory of the site's source files")
	fl.StringVar(&f.stackFile, "stack", stack.DefaultPath, "stack file to take the bucket, distribution, Cognito settings and AWS endpoint from")
	fl.StringVar(&f.bucket, "bucket", "", "site bucket (skips the stack file; uses your AWS configuration)")
	fl.StringVar(&f.distribution, "distribution-id", "", "CloudFront distribution whose pages to invalidate")
	fl.StringVar(&f.region, "region", "", "AWS region with --bucket (default: AWS_REGION or your profile's)")
	fl.StringVar(&f.userPool, "user-pool-id", "", "Cognito user pool id for config.json")
	fl.StringVar(&f.client, "client-id", "", "Cognito app client id for config.json")
	fl.StringVar(&f.cognito, "cognito-endpoint", "", "URL the admin page sends Cognito calls to (default: AWS's, or the stack's moto)")
	return cmd
}

// stackConfig is the SDK configuration for a stack: its moto endpoint with dummy
// credentials (the operator's environment is not read), or the normal AWS
// configuration in the stack's region.
func stackConfig(cmd *cobra.Command, st *stack.Stack) (aws.Config, error) {
	if st.AWSEndpoint != "" {
		return aws.Config{
			Region:           st.Region,
			BaseEndpoint:     aws.String(st.AWSEndpoint),
			Credentials:      aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("test", "test", "")),
			RetryMaxAttempts: 3,
		}, nil
	}
	cfg, err := awsconf.Load(cmd.Context(), awsconf.Options{Region: st.Region})
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
	}
	return cfg, nil
}

func orDefault(v, d string) string {
	if v != "" {
		return v
	}
	return d
}
