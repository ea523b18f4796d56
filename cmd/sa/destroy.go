package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/provision"
)

func newDestroyCmd(stdout, stderr io.Writer) *cobra.Command {
	var region, prefix string
	var yes bool
	var o provision.Options
	cmd := &cobra.Command{
		Use:   "destroy [--region REGION | --regions R1,R2] [--prefix PREFIX] [--sender-email ADDR | --sender-domain DOMAIN] [--ses-configuration-set NAME] [--vpc-id VPC] [--yes]",
		Short: "Delete what sa provision created (asks first unless --yes)",
		Long: `Delete what sa provision created, from the same definitions it creates them from,
in reverse order: the service roles, the DAX cluster (and its groups and security
group), the SES identity and configuration set, the queues, the state tables, both
CloudFront distributions (disabled first, deleted once that is deployed: on AWS some
5 to 15 minutes each) with their policies, function and origin access controls, the
buckets (emptied first, every object version too), the tables, the identity pool and
its roles, the user pool with every user in it. What is not there is "absent", not
an error: run it again after a failure and it carries on; a second run finds nothing.

It lists what it will delete and asks y/N on the terminal. Without a terminal
(scripts, CI) it refuses unless --yes is given.

Regions: with --regions R1,R2 (the list sa provision had) it runs in each region in
turn, home (the first) last. Global tables are deleted everywhere by the first run
that meets them (their replicas in other regions first, then the table); the
distributions and IAM roles are global too. Each region's buckets and queues go with
that region's run.

The SES identity is deleted only when named (--sender-email or --sender-domain, as
given to sa provision), the configuration set only with --ses-configuration-set. The
DAX security group is found by name; --vpc-id picks the VPC when several have one.

Like sa provision it talks to REAL AWS unless AWS_ENDPOINT_URL points elsewhere
(moto). This cannot be undone: users, to-dos, posts, photos and files are lost.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Sender.Validate(); err != nil && o.Sender.Identity() != "" {
				return fmt.Errorf("--sender-email/--sender-domain: %w", err)
			}
			regions := o.Blog.Regions
			if len(regions) == 0 {
				regions = []string{region}
			}
			o.Prefix = prefix
			rs := provision.TeardownDefinitions(o)
			type target struct {
				clients *provision.Clients
				where   string
			}
			var targets []target
			// Home (the first of --regions) last: the other regions' runs leave the
			// home-only resources to it.
			for i := len(regions) - 1; i >= 0; i-- {
				cfg, err := awsconf.Load(cmd.Context(), awsconf.Options{Region: regions[i]})
				if err != nil {
					return fmt.Errorf("%w (or pass --region)", err)
				}
				where := "real AWS"
				if ep := cognitoidentityprovider.NewFromConfig(cfg).Options().BaseEndpoint; ep != nil {
					where = "endpoint override " + *ep
				}
				targets = append(targets, target{provision.NewClients(cfg), cfg.Region + " (" + where + ")"})
			}
			fmt.Fprintf(stdout, "sa destroy deletes, where they exist, name prefix %q:\n", prefix)
			for _, l := range provision.Plan(rs) {
				fmt.Fprintln(stdout, "  "+l)
			}
			for _, t := range targets {
				fmt.Fprintln(stdout, "in "+t.where)
			}
			if !yes {
				if err := confirm(cmd.InOrStdin(), stdout); err != nil {
					return err
				}
			}
			total := 0
			for _, t := range targets {
				fmt.Fprintln(stderr, "destroying in "+t.where)
				n, err := provision.Destroy(cmd.Context(), t.clients, rs, stdout)
				total += n
				if err != nil {
					return fmt.Errorf("%w\n%d deleted before this; run sa destroy again to carry on", err, total)
				}
			}
			if total == 0 {
				fmt.Fprintf(stdout, "nothing to delete: none of the resources with prefix %q exist there\n", prefix)
				return nil
			}
			fmt.Fprintf(stdout, "deleted %d resources\n", total)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&region, "region", "", "AWS region (default: AWS_REGION or your profile's region)")
	f.StringVar(&prefix, "prefix", "", "the prefix sa provision was given")
	f.StringSliceVar(&o.Blog.Regions, "regions", nil, "every region sa provision ran in (home first): destroy runs in each")
	f.StringVar(&o.Sender.Email, "sender-email", "", "the SES email identity sa provision verified (deleted)")
	f.StringVar(&o.Sender.Domain, "sender-domain", "", "the SES domain identity sa provision verified (deleted)")
	f.StringVar(&o.Sender.ConfigurationSet, "ses-configuration-set", "", "the SES configuration set sa provision made (deleted)")
	f.StringVar(&o.DAX.VPCID, "vpc-id", "", "the VPC of the DAX security group, when several VPCs have one of that name")
	f.BoolVar(&yes, "yes", false, "delete without asking (needed without a terminal)")
	return cmd
}

// errNotConfirmed is the answer to anything but y or yes.
var errNotConfirmed = errors.New("not confirmed: nothing was deleted")

// confirm asks y/N on in, which must be a terminal: a pipe or a file cannot stand in
// for a person reading the list.
func confirm(in io.Reader, out io.Writer) error {
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return errors.New("sa destroy asks before deleting, and stdin is not a terminal: nothing was deleted; pass --yes to delete without asking")
	}
	fmt.Fprint(out, "Delete all of these? This cannot be undone. [y/N] ")
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return errNotConfirmed
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errNotConfirmed
}
