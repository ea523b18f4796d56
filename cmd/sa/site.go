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
	"github.com/serverless-architect/serverless-architect/internal/webapp"
)

func newSiteCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "site",
		Short: "Publish the blog's static site or the MyTodoList app",
	}
	cmd.AddCommand(newSiteDeployCmd(stdout, stderr))
	return cmd
}

// siteDeployFlags are `sa site deploy`'s flags.
type siteDeployFlags struct {
	site, dir, stackFile, bucket, distribution, region, userPool, client, cognito string
	// The app's (--site todo) own settings for config.json.
	identityPool, filesBucket string
}

func newSiteDeployCmd(stdout, stderr io.Writer) *cobra.Command {
	var f siteDeployFlags
	cmd := &cobra.Command{
		Use: "deploy [--site blog|todo] [--dir DIR] [--stack .dev/stack.json | --bucket B --distribution-id D --region R --user-pool-id P --client-id C " +
			"[--identity-pool-id I --files-bucket F]]",
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
    --user-pool-id us-east-1_abc --client-id 1example23

--site todo publishes the MyTodoList app (--dir web/todo) to its own bucket behind its
own distribution (resources.appBucket and appDistributionId of the stack file): the
app is built with its committed lock file (node and npm needed; packages installed
once per lock file into your cache directory), its assets/ (content-hashed by esbuild)
get the immutable Cache-Control, index.html, the service worker, the manifest, icons
and the generated config.json (region, user pool, app client, identity pool, files
bucket; /v1/* on the app's own origin) the revalidating one; what changed is uploaded
and the changed fixed names are invalidated. With --bucket also pass
--identity-pool-id and --files-bucket:

  sa site deploy --site todo --bucket mytodolist-app-123-us-east-1 --distribution-id E3XYZ \
    --region us-east-1 --user-pool-id us-east-1_abc --client-id 1example23 \
    --identity-pool-id us-east-1:0000-... --files-bucket user-files-123-us-east-1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch f.site {
			case "blog":
			case "todo":
				return deployApp(cmd, f, stdout, stderr)
			default:
				return fmt.Errorf("--site must be blog or todo, not %q", f.site)
			}
			ctx := cmd.Context()
			var cfg aws.Config
			var site sitedeploy.SiteConfig
			if f.bucket == "" {
				st, err := readSiteStack(f.stackFile)
				if err != nil {
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
			res, err := sitedeploy.Publish(ctx, orDefault(f.dir, "web/blog"), site, sitedeploy.NewTarget(cfg, f.bucket, f.distribution))
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
	fl.StringVar(&f.site, "site", "blog", "blog (MyBlog's static site) or todo (the MyTodoList app)")
	fl.StringVar(&f.dir, "dir", "", "directory of the site's source files (default web/blog, or web/todo with --site todo)")
	fl.StringVar(&f.identityPool, "identity-pool-id", "", "with --site todo and --bucket: the files' Cognito identity pool for config.json")
	fl.StringVar(&f.filesBucket, "files-bucket", "", "with --site todo and --bucket: the users' files bucket for config.json")
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

// deployApp is `sa site deploy --site todo`: the MyTodoList app built and published to
// its bucket, config.json made from the stack file or the flags.
func deployApp(cmd *cobra.Command, f siteDeployFlags, stdout, stderr io.Writer) error {
	ctx := cmd.Context()
	var cfg aws.Config
	var conf webapp.Config
	if f.bucket == "" {
		st, err := readSiteStack(f.stackFile)
		if err != nil {
			return err
		}
		if st.Resources.AppBucket == "" {
			return fmt.Errorf("%s names no app bucket (resources.appBucket): provision the stack again with this version of sa", f.stackFile)
		}
		f.bucket, f.distribution = st.Resources.AppBucket, orDefault(f.distribution, st.Resources.AppDistributionID)
		conf = webapp.ConfigFromStack(st, "")
		if cfg, err = stackConfig(cmd, st); err != nil {
			return err
		}
	} else {
		var err error
		if cfg, err = awsconf.Load(ctx, awsconf.Options{Region: f.region}); err != nil {
			return fmt.Errorf("%w (or pass --region)", err)
		}
		conf = webapp.Config{Region: cfg.Region, IdentityPoolID: f.identityPool, FilesBucket: f.filesBucket, MaxUploadBytes: webapp.DefaultMaxUploadBytes}
	}
	conf.UserPoolID = orDefault(f.userPool, conf.UserPoolID)
	conf.ClientID = orDefault(f.client, conf.ClientID)
	conf.CognitoEndpoint = orDefault(f.cognito, conf.CognitoEndpoint)
	if conf.IdentityProvider == "" && conf.UserPoolID != "" {
		conf.IdentityProvider = "cognito-idp." + conf.Region + ".amazonaws.com/" + conf.UserPoolID
	}
	if err := conf.Validate(); err != nil {
		return err
	}
	if f.distribution == "" {
		fmt.Fprintln(stderr, "no distribution: nothing will be invalidated")
	}
	tc, err := webapp.InstallSource(ctx, orDefault(f.dir, webapp.SourceDir), func(format string, args ...any) {
		fmt.Fprintf(stderr, format+"\n", args...)
	})
	if err != nil {
		return err
	}
	res, report, err := tc.Publish(ctx, conf, sitedeploy.NewTarget(cfg, f.bucket, f.distribution))
	if err != nil {
		return err
	}
	fmt.Fprint(stderr, report)
	for _, k := range res.Uploaded {
		fmt.Fprintln(stdout, "uploaded  "+k)
	}
	fmt.Fprintln(stdout, res.Summary(f.bucket))
	return nil
}

// readSiteStack reads the stack file a deploy takes its target from.
func readSiteStack(path string) (*stack.Stack, error) {
	st, err := stack.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w; or name the target with --bucket", err)
	}
	return st, err
}
