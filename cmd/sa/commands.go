package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/spf13/cobra"

	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/devstack"
	"github.com/serverless-architect/serverless-architect/internal/provision"
)

// modulePath identifies the repository's go.mod when `sa dev` looks for the root.
const modulePath = "github.com/serverless-architect/serverless-architect"

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "sa",
		Short: "Operator CLI of serverless-architect: provision AWS resources, run the local stack",
		Long: `sa is the operator CLI of serverless-architect.

  sa provision   create the AWS resources (DynamoDB table, Cognito user pool, app client,
                 admins group) in the account and region of your AWS configuration, or in
                 moto when AWS_ENDPOINT_URL points at it. Safe to run again.
  sa dev         run the whole local stack: moto_server, provisioning, a dev CA, every
                 service over HTTPS on localhost. This is what make dev runs.
  sa site deploy publish the blog's static site: hashed assets, changed files only,
                 a CloudFront invalidation of the pages.
  sa logs        show (and follow) the local stack's logs: .dev/logs/<service>.log.
  sa status      list the local stack's processes: URL, pid, restarts, ready, last error.
  sa invoke      send a CloudEvent (a sample from hack/events/ or a file) to a consumer.
  sa seed        fill the local stack with demo data: users, a to-do, posts, a photo.
  sa destroy     delete what sa provision created (lists it and asks first, unless --yes).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newProvisionCmd(stdout, stderr), newDevCmd(stdout), newSiteCmd(stdout, stderr), newLogsCmd(stdout), newStatusCmd(stdout), newInvokeCmd(stdout), newSeedCmd(stdout), newDestroyCmd(stdout, stderr), newTraceCmd(stdout))
	return root
}

func newProvisionCmd(stdout, stderr io.Writer) *cobra.Command {
	var region, prefix, output string
	var blog provision.BlogOptions
	var app provision.AppOptions
	var roles provision.RoleOptions
	var daxOpts provision.DAXOptions
	var sender provision.SenderOptions
	cmd := &cobra.Command{
		Use: "provision [--region REGION] [--prefix PREFIX] [--regions R1,R2] [--blog-api-host HOST] [--blog-domain NAME --blog-certificate-arn ARN] " +
			"[--app-api-host HOST] [--app-domain NAME --app-certificate-arn ARN] " +
			"[--sender-email ADDR | --sender-domain DOMAIN] [--cluster-oidc-provider ARN... [--namespace NS] | --pod-identity] " +
			"[--dax --vpc-id VPC --subnet-ids S1,S2 --cluster-security-group SG] [--output text|json]",
		Short: "Create the project's AWS resources, or find them if they exist",
		Long: `Create the project's AWS resources, or find them if they already exist: the
to-dos table, the Cognito user pool (app client, admins group), the files bucket with
its identity pool and roles, the MyTodoList app's bucket and CloudFront distribution
(/v1/* to --app-api-host, the to-do API), MyBlog's global tables, buckets and CloudFront
distribution, the event queues, stream checkpoints, idempotency table and SES sender,
and (when asked) one least-privilege IAM role per service and a DAX cluster in front of
the to-dos table (--dax: in the Kubernetes cluster's VPC, reachable on 8111/9111 from
its security group only, with the cache TTLs todo-api expects).
Running it again changes nothing and prints "exists" for each resource; what drifted
(the distribution, a policy, a trust policy) is put back and printed "applied".

Several regions: run it once per region, with the same --prefix and the same --regions
list (home region first) and --blog-api-host (one latency-routed name for the API in
all regions). Each region gets its own buckets; the one distribution is computed the
same way by every run. With IRSA, pass the region's own cluster's OIDC provider: the
service roles (global) keep trusting the clusters earlier runs added.

It uses your normal AWS configuration (AWS_PROFILE, AWS_REGION, SSO, instance roles),
so it talks to REAL AWS unless AWS_ENDPOINT_URL points somewhere else, e.g. moto:

  AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    sa provision --region us-east-1

Resource lines go to stdout; with --output json they go to stderr and stdout holds the
resource ids as JSON (the "resources" object of .dev/stack.json).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output must be text or json, not %q", output)
			}
			if err := daxOpts.Validate(); err != nil {
				return err
			}
			cfg, err := awsconf.Load(cmd.Context(), awsconf.Options{Region: region})
			if err != nil {
				return fmt.Errorf("%w (or pass --region)", err)
			}
			log := stdout
			if output == "json" {
				log = stderr
			}
			target := "real AWS"
			if ep := cognitoidentityprovider.NewFromConfig(cfg).Options().BaseEndpoint; ep != nil {
				target = "endpoint override " + *ep
			}
			fmt.Fprintf(stderr, "provisioning in %s (%s), name prefix %q\n", cfg.Region, target, prefix)
			if roles.Enabled() {
				if err := roles.Validate(); err != nil {
					return err
				}
			}
			if err := sender.Validate(); err != nil {
				return fmt.Errorf("--sender-email/--sender-domain: %w", err)
			}
			res, err := provision.Run(cmd.Context(), cfg, provision.Options{Prefix: prefix, Log: log, Blog: blog, App: app, Roles: roles, DAX: daxOpts, Sender: sender})
			if err != nil {
				if strings.Contains(err.Error(), "credential") {
					return fmt.Errorf("%w\nhint: no usable AWS credentials; log in (aws sso login, AWS_PROFILE) or point AWS_ENDPOINT_URL at moto", err)
				}
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&region, "region", "", "AWS region (default: AWS_REGION or your profile's region)")
	f.StringVar(&prefix, "prefix", "", "put this before every resource name, to keep several stacks apart in one account")
	f.StringVar(&output, "output", "text", "text, or json to print the resource ids as JSON on stdout")
	f.StringSliceVar(&blog.Regions, "regions", nil, "every region MyBlog runs in: its tables get a replica in each (default: --region only)")
	f.StringVar(&blog.APIHost, "blog-api-host", "", "public host name of blog-api, CloudFront's origin for /v1/*: with several regions a latency-routed name resolving to each region's ingress")
	f.StringSliceVar(&blog.Aliases, "blog-domain", nil, "the blog's own domain name(s) (CloudFront aliases); needs --blog-certificate-arn")
	f.StringVar(&blog.CertificateARN, "blog-certificate-arn", "", "ACM certificate in us-east-1 covering --blog-domain")
	f.StringVar(&app.APIHost, "app-api-host", "", "public host name of the to-do API (the gateway), the MyTodoList app distribution's origin for /v1/*")
	f.StringSliceVar(&app.Aliases, "app-domain", nil, "the app's own domain name(s) (CloudFront aliases); needs --app-certificate-arn")
	f.StringVar(&app.CertificateARN, "app-certificate-arn", "", "ACM certificate in us-east-1 covering --app-domain")
	f.StringVar(&sender.Email, "sender-email", "", "the welcome emails' From address; alone, SES verifies this address (it emails its owner a link)")
	f.StringVar(&sender.Domain, "sender-domain", "", "verify this whole domain with Easy DKIM (prints the DNS records); the From address defaults to welcome@<domain>")
	f.StringVar(&sender.ConfigurationSet, "ses-configuration-set", "", "SES configuration set the welcome mailer sends through (created when missing)")
	f.StringSliceVar(&roles.OIDCProviderARNs, "cluster-oidc-provider", nil, "also create one IAM role per service (<prefix>sa-<service>) trusted through this EKS cluster's OIDC provider ARN (IRSA); repeat for several clusters; roles keep the clusters they already trust")
	f.StringVar(&roles.Namespace, "namespace", provision.DefaultNamespace, "namespace of the services' ServiceAccounts (IRSA trust)")
	f.BoolVar(&roles.PodIdentity, "pod-identity", false, "also create one IAM role per service trusted by EKS Pod Identity (associate them with aws eks create-pod-identity-association)")
	f.StringVar(&roles.DAXClusterARN, "dax-cluster-arn", "", "with service roles: let todo-api use this DAX cluster (with --dax, the one provisioned)")
	f.BoolVar(&daxOpts.Enabled, "dax", false, "also create a DAX cluster in front of the to-dos table (needs --vpc-id, --subnet-ids, --cluster-security-group)")
	f.StringVar(&daxOpts.VPCID, "vpc-id", "", "with --dax: the Kubernetes cluster's VPC")
	f.StringSliceVar(&daxOpts.SubnetIDs, "subnet-ids", nil, "with --dax: the VPC's private subnets for the DAX nodes, one per zone")
	f.StringVar(&daxOpts.ClusterSecurityGroup, "cluster-security-group", "", "with --dax: the security group of the pods' network interfaces (EKS: the cluster security group); DAX accepts 8111/9111 from it only")
	f.StringVar(&daxOpts.NodeType, "dax-node-type", "", "with --dax: node type (default dax.t3.small)")
	f.IntVar(&daxOpts.Nodes, "dax-nodes", 0, "with --dax: number of nodes, 1 to 11 (default 3, one per zone)")
	return cmd
}

func newDevCmd(stdout io.Writer) *cobra.Command {
	var o devstack.Options
	cmd := &cobra.Command{
		Use:   "dev [flags]",
		Short: "Run the local stack (moto, provisioning, TLS, every service) until Ctrl-C",
		Long: `Run the whole local stack until Ctrl-C (this is what make dev runs):

  1. moto_server: the one at --moto-endpoint, or one already answering on
     127.0.0.1:--moto-port, or a new one started there (stopped again on exit).
     A moto sa dev starts keeps its state: it loads <dir>/moto-state.pickle on start
     and saves it on exit (and every 10s while it changes), so users, to-dos, posts,
     subscribers, photos and files survive stopping and starting make dev; --fresh
     starts empty (the old state is moved to moto-state.pickle.old).
  2. AWS resources provisioned in moto (idempotent; dummy credentials, your own AWS
     environment is neither used nor changed).
  3. A dev CA and a certificate for localhost under <dir>/tls (clients trust ca.pem).
  4. Every service built into <dir>/bin as ko.yaml builds the images (its flags,
     and -ldflags=-s -w: no symbol table or DWARF, for a fast link; --debug keeps
     them and turns off optimisation and inlining, for dlv attach PID), all in one
     go build, and run over HTTPS; the to-do API (gateway) on
     https://localhost:--api-port, the blog edge on
     https://localhost:--edge-port, the MyTodoList app's edge (its own distribution,
     the app built from web/todo and published to its bucket) on
     https://localhost:--app-port. With --gateway-replicas N, N gateway processes on
     ports of their own (listed in stack.json under gatewayReplicas), each other's
     peers, behind a round-robin balancer on --api-port.
     Each service's lines are shown human-readable (time, level, message,
     attributes) after its name, coloured on a terminal unless NO_COLOR is set;
     --log-format json shows them as the services write them. Every process's
     output is also appended as it is to <dir>/logs/<name>.log (sa logs reads
     them); moto's goes there only, never to the terminal.
  5. <dir>/stack.json with every URL, port, pid and resource id; the client CLI reads it.

With --regions us-east-1,eu-west-1 MyBlog runs in each region: the first is --region,
where everything runs as above; each further region is provisioned in the same moto and
runs its own blog-api, edge, dynamodb-source, welcome-mailer, s3-source and thumbnailer
on 16 ports from --region-port-base (its edge on the last), and a replicator copies
every write of the posts and subscribers tables between the regions as DynamoDB Global
Tables do (moto has none). stack.json then lists regions[] (region, blogUrl, tables,
buckets, queues, services).

With --watch (make dev passes it; --watch=false turns it off) a saved .go file
rebuilds, in one go build, only the services whose build graph holds its
package (go list -deps, taken again when go.mod or go.sum change) and starts them
again: a reload, not a restart (sa status counts it apart, no backoff); the line
"reloaded NAME" says how long from the save, and where the time went. A build that
fails leaves the running process serving and prints the compiler's error once. A
change under web/blog or web/todo publishes the site or the app to its bucket again
and starts its edge again, so the next browser reload gets the new files.

With --scale-to-zero the services whose Knative Service in config/ has min-scale 0
(todo-api, blog-api, welcome-mailer, thumbnailer) scale to zero as in Knative: sa dev
keeps each one's port open itself (an activator; the service listens on an inner
port), stops the service after --idle (60s) without a request, and starts it on the
next request, which it holds, with any that come meanwhile, until the service answers
/readyz; a start that fails answers 503 with Retry-After. The gateway (min-scale 1),
the sources (they poll), the edges (CloudFront) and moto stay up. sa status shows each
cold start's time. Only the first region's services scale.

Ctrl-C (or SIGTERM) stops every process it started and removes stack.json. A
service that dies once the stack is up is reported with its last lines and restarted
after 1s, then 2s, 4s ... up to 30s (from 1s again after a minute of running); the
rest keeps running, and sa status shows its restarts and last error. A moto_server sa
dev started is restarted the same way, with the state it saved last, and provisioned
again; were that state lost, the services follow the new user pool through
<dir>/cognito-pool.json (COGNITO_POOL_FILE) without a restart. A service that dies while the stack starts stops the stack (exit status 1).
Run it again to reuse what exists. It must run inside the repository.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := repoRoot()
			if err != nil {
				return err
			}
			o.SourceDir = root
			if !filepath.IsAbs(o.Dir) {
				o.Dir = filepath.Join(root, o.Dir)
			}
			o.Stdout = stdout
			o.Colour = colourful(stdout)
			if len(o.Regions) > 0 && !cmd.Flags().Changed("region") {
				o.Region = o.Regions[0]
			}
			return devstack.Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", ".dev", "directory for the stack's files, relative to the repository root")
	f.StringVar(&o.Region, "region", "us-east-1", "AWS region the stack uses")
	f.StringVar(&o.MotoEndpoint, "moto-endpoint", "", "URL of a running moto_server to use instead of finding or starting one")
	f.IntVar(&o.MotoPort, "moto-port", 4566, "port on 127.0.0.1 where moto_server is found or started")
	f.IntVar(&o.APIPort, "api-port", 8443, "HTTPS port of the to-do API on localhost")
	f.IntVar(&o.EdgePort, "edge-port", 8444, "HTTPS port of the blog edge (site, /v1, /media) on localhost")
	f.IntVar(&o.AppPort, "app-port", 8445, "HTTPS port of the MyTodoList app's edge (the app, /v1 to the to-do API) on localhost")
	f.IntVar(&o.PortBase, "port-base", 8081, "first of the 16 loopback ports the internal services use (gateway replicas use 3 each after them)")
	f.IntVar(&o.GatewayReplicas, "gateway-replicas", 1, fmt.Sprintf("gateway processes behind a round-robin balancer on --api-port, peers of each other (1 to %d)", devstack.MaxGatewayReplicas))
	f.StringVar(&o.Prefix, "prefix", "", "put this before every AWS resource name")
	f.StringSliceVar(&o.Regions, "regions", nil, "run MyBlog in each of these regions, the first being --region (e.g. us-east-1,eu-west-1), with a local Global Tables replicator")
	f.BoolVar(&o.Fresh, "fresh", false, "start with an empty moto: move its saved state (<dir>/moto-state.pickle) aside to moto-state.pickle.old")
	f.StringVar(&o.LogFormat, "log-format", devstack.LogText, "how the services' lines are shown: text (human-readable) or json (as written)")
	f.BoolVar(&o.Watch, "watch", false, "rebuild and restart the services a saved .go file is part of, publish web/ again when it changes (make dev turns it on; --watch=false turns it off)")
	f.BoolVar(&o.Debug, "debug", false, "build the services for a debugger (dlv attach PID): keep the symbol table and DWARF that ko.yaml's -s -w strip, no optimisation or inlining; builds and links are slower")
	f.BoolVar(&o.ScaleToZero, "scale-to-zero", false, "stop each service whose Knative Service in config/ has min-scale 0 after --idle without a request, start it on the next (held until ready)")
	f.DurationVar(&o.Idle, "idle", 60*time.Second, "with --scale-to-zero: how long a service runs without a request before it is stopped")
	f.IntVar(&o.RegionPortBase, "region-port-base", 0, "first of the loopback ports of the further regions, 16 each (default: --port-base + 200)")
	return cmd
}

// stackDir resolves a --dir flag: relative to the repository root unless absolute.
func stackDir(dir string) (string, error) {
	if filepath.IsAbs(dir) {
		return dir, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, dir), nil
}

// repoRoot finds the repository root: the nearest directory at or above the working
// directory whose go.mod declares this module.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the repository: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && declaresModule(string(b)) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("sa dev builds the services from source: run it inside the serverless-architect repository (make dev does)")
		}
		dir = parent
	}
}

func declaresModule(gomod string) bool {
	for line := range strings.Lines(gomod) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" && f[1] == modulePath {
			return true
		}
	}
	return false
}
