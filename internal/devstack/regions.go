package devstack

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/globaltable"
	"github.com/serverless-architect/serverless-architect/internal/provision"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// RegionalServices are the services every region of MyBlog runs on its own (`sa dev
// --regions`): the blog's API, edge, event sources and consumers. The to-do side runs
// in the first region only.
var RegionalServices = []string{"blog-api", "edge", "welcome-mailer", "dynamodb-source", "thumbnailer", "s3-source"}

// RegionPortBlock is how many loopback ports each further region takes from
// Options.RegionPortBase: its services at their usual offsets from DefaultPortBase,
// its edge on the last one.
const RegionPortBlock = 16

// regionPattern is what an AWS region name looks like.
var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// checkRegions reports a region list `sa dev` cannot run: the first must be the
// stack's own region, and no region may repeat.
func (o Options) checkRegions() error {
	if len(o.Regions) == 0 {
		return nil
	}
	if o.Regions[0] != o.Region {
		return fmt.Errorf("--regions %s: the first region is the stack's own, --region %s", strings.Join(o.Regions, ","), o.Region)
	}
	for i, r := range o.Regions {
		if !regionPattern.MatchString(r) {
			return fmt.Errorf("--regions: %q is not a region name such as eu-west-1", r)
		}
		if slices.Index(o.Regions, r) != i {
			return fmt.Errorf("--regions: %s appears twice", r)
		}
	}
	return nil
}

// inRegion returns o for the i-th region of o.Regions (i ≥ 1): that region, and the
// ports of its block, the edge on the block's last port.
func (o Options) inRegion(i int) Options {
	ro := o
	ro.Region = o.Regions[i]
	ro.PortBase = o.RegionPortBase + RegionPortBlock*(i-1)
	ro.EdgePort = ro.PortBase + RegionPortBlock - 1
	return ro
}

// regional reports whether svc runs in every region.
func regional(svc Service) bool { return slices.Contains(RegionalServices, svc.Name) }

// regionalName is how a service of a further region is called in the console, the
// stack file and obituaries.
func regionalName(service, region string) string { return service + "@" + region }

// upRegions brings up the further regions of o.Regions once the first is up: each is
// provisioned in moto like the first (the same names; its own replica of the global
// tables), runs its own RegionalServices on its own ports, and the replicator keeps
// the global tables' replicas in step, as Global Tables would. st gains regions[].
func (s *stackRun) upRegions(ctx context.Context, st *stack.Stack, ep string, certs devtls.Paths, key string, bins map[string]string, client *http.Client) error {
	o := s.o
	first := map[string]stack.Service{}
	for name, svc := range st.Services {
		if slices.Contains(RegionalServices, name) {
			first[name] = svc
		}
	}
	st.Regions = []stack.Region{stack.RegionEntry(o.Region, st.BlogURL, st.Resources, first)}
	resources := []stack.Resources{st.Resources}
	for i := 1; i < len(o.Regions); i++ {
		ro := o.inRegion(i)
		for _, svc := range o.Services {
			if regional(svc) {
				if err := portFree(svc.Port(ro)); err != nil {
					return fmt.Errorf("%s cannot listen: %w; choose another --region-port-base", regionalName(svc.Name, ro.Region), err)
				}
			}
		}
		s.con.Printf("provisioning AWS resources in moto (%s)", ro.Region)
		// As in the first region, the region's edge is where its admin page runs: its
		// media bucket's CORS rule must let it PUT photos to presigned URLs.
		// The API origin stays the first region's host, as in production every region's
		// run passes the same latency-routed --blog-api-host; this region's edge resolves
		// it to its own blog-api (ORIGIN_URLS below), as DNS would.
		blog := BlogOrigin(o.PortBase - DefaultPortBase)
		blog.Regions, blog.SiteOrigins = o.Regions, []string{"https://localhost:" + strconv.Itoa(ro.EdgePort)}
		res, err := provision.Run(ctx, motoConfig(ro.Region, ep), provision.Options{Prefix: o.Prefix, Log: prefixed(s.con, "  "), Blog: blog,
			Sender: provision.SenderOptions{Email: LocalSender}})
		if err != nil {
			return fmt.Errorf("provision %s, a further region of --regions (it needs bucket names of its own, unique per account and region): %w", ro.Region, err)
		}
		if res.MediaBucket == st.Resources.MediaBucket {
			return fmt.Errorf("the provisioner named %s's media bucket %s, as %s's: bucket names are global, so %s would share %s's uploads and take over its upload notifications; "+
				"`sa dev --regions` needs bucket names unique per account and region", ro.Region, res.MediaBucket, o.Region, ro.Region, o.Region)
		}
		if res.SiteBucket != st.Resources.SiteBucket {
			if err := s.deploySite(ctx, ro.Region, ep, res); err != nil {
				return err
			}
		}
		resources = append(resources, res)
	}

	var regions []globaltable.Region
	for _, r := range o.Regions {
		cfg := motoConfig(r, ep)
		regions = append(regions, globaltable.Region{Name: r, DB: dynamodb.NewFromConfig(cfg), Streams: dynamodbstreams.NewFromConfig(cfg)})
	}
	rep, err := globaltable.New(regions, []string{st.Resources.PostsTable, st.Resources.SubscribersTable},
		slog.New(slog.NewTextHandler(prefixed(s.con, "replicator | "), nil)))
	if err != nil {
		return err
	}
	if err := rep.Start(ctx); err != nil {
		return fmt.Errorf("replicate the global tables: %w", err)
	}
	s.replicator = rep

	for i := 1; i < len(o.Regions); i++ {
		ro, res := o.inRegion(i), resources[i]
		services := map[string]stack.Service{}
		for _, svc := range o.Services {
			if !regional(svc) {
				continue
			}
			in := Inputs{Region: ro.Region, AWSEndpoint: ep, Port: svc.Port(ro), PortShift: ro.PortBase - DefaultPortBase, EdgePort: ro.EdgePort,
				TLS: certs, PageTokenKey: key, Resources: res, TracesEndpoint: s.tracesURL}
			if svc.Name == "edge" {
				// The one distribution, as this region's edge location sees it: its
				// latency-routed API host resolves to this region's blog-api.
				if in.DistributionFile, err = WriteDistribution(filepath.Join(o.Dir, ro.Region), res); err != nil {
					return err
				}
				in.OriginURLs = "api=https://localhost:" + strconv.Itoa(BlogAPIPort+in.PortShift)
			}
			env := append(s.inheritedEnv(), CommonEnv(in)...)
			if svc.Env != nil {
				env = append(env, svc.Env(in)...)
			}
			c, err := s.start(regionalName(svc.Name, ro.Region), bins[svc.Name], nil, env, o.SourceDir)
			if err != nil {
				return err
			}
			s.noteURL(regionalName(svc.Name, ro.Region), "https://localhost:"+strconv.Itoa(in.Port))
			services[svc.Name] = stack.Service{URL: "https://localhost:" + strconv.Itoa(in.Port), Port: in.Port, PID: c.PID()}
		}
		for name, svc := range services {
			if err := s.waitReady(ctx, client, regionalName(name, ro.Region), svc.URL); err != nil {
				return err
			}
		}
		st.Regions = append(st.Regions, stack.RegionEntry(ro.Region, "https://localhost:"+strconv.Itoa(ro.EdgePort), res, services))
	}
	return nil
}

// regionServices lists a region's services and their ports, for the summary.
func regionServices(r stack.Region) string {
	names := make([]string, 0, len(r.Services))
	for n := range r.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " " + strconv.Itoa(r.Services[n].Port)
	}
	return strings.Join(parts, ", ")
}

// regionList names the regions of rs.
func regionList(rs []stack.Region) string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.Region
	}
	return strings.Join(names, " and ")
}
