package provision

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dax"
	daxtypes "github.com/aws/aws-sdk-go-v2/service/dax/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/serverless-architect/serverless-architect/internal/iampolicy"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// A DAX cluster in front of the to-dos table (sa provision --dax): DAX runs in the
// cluster's VPC, so it needs a subnet group over the VPC's private subnets, a security
// group whose only ingress is the DAX ports from the Kubernetes cluster's security
// group, a parameter group with the cache TTLs todo-api expects, and a service role
// with which DAX calls DynamoDB on the clients' behalf.
//
// moto implements only part of DAX's control plane (clusters, not subnet or parameter
// groups; it ignores those settings on CreateCluster) and EC2's security groups; the
// lines say what it skipped.

// The TTLs of the parameter group, in its two parameters (record-ttl-millis and
// query-ttl-millis, the only ones DAX has). DAXQueryTTL must not exceed todo-api's
// DAX_QUERY_CACHE_TTL (read-your-writes: services/todo-api/README.md); the packaging
// and configuration tests check every place that sets it.
const (
	DAXItemTTL  = 5 * time.Minute
	DAXQueryTTL = 5 * time.Minute
)

// The DAX ports: 8111 unencrypted (dax://), 9111 with TLS (daxs://).
const (
	DAXPort    = 8111
	DAXTLSPort = 9111
)

// DAXOptions ask for the DAX cluster; Enabled is sa provision's --dax.
type DAXOptions struct {
	Enabled bool
	// VPCID is the Kubernetes cluster's VPC (vpc-...).
	VPCID string
	// SubnetIDs are the subnets of the DAX nodes (private ones, in several zones).
	SubnetIDs []string
	// ClusterSecurityGroup is the security group the pods' network interfaces carry
	// (the EKS cluster security group, or the nodes' or the pods' own group): the only
	// source DAX accepts connections from.
	ClusterSecurityGroup string
	// NodeType is the node size (dax.t3.small when empty).
	NodeType string
	// Nodes is the replication factor (3 when 0: one per zone, as AWS recommends).
	Nodes int
}

// Validate reports options that cannot make a cluster.
func (o DAXOptions) Validate() error {
	if !o.Enabled {
		if o.VPCID != "" || len(o.SubnetIDs) > 0 || o.ClusterSecurityGroup != "" {
			return errors.New("--vpc-id, --subnet-ids and --cluster-security-group only go with --dax")
		}
		return nil
	}
	switch {
	case !strings.HasPrefix(o.VPCID, "vpc-"):
		return fmt.Errorf("--dax needs --vpc-id vpc-...: the Kubernetes cluster's VPC (got %q)", o.VPCID)
	case len(o.SubnetIDs) == 0:
		return errors.New("--dax needs --subnet-ids subnet-a,subnet-b,...: the VPC's private subnets for the DAX nodes")
	case !strings.HasPrefix(o.ClusterSecurityGroup, "sg-"):
		return fmt.Errorf("--dax needs --cluster-security-group sg-...: the group the pods' network interfaces carry (got %q)", o.ClusterSecurityGroup)
	case o.Nodes < 0 || o.Nodes > 11:
		return fmt.Errorf("--dax-nodes %d: a DAX cluster has 1 to 11 nodes", o.Nodes)
	}
	for _, s := range o.SubnetIDs {
		if !strings.HasPrefix(s, "subnet-") {
			return fmt.Errorf("--subnet-ids: %q is not a subnet id (subnet-...)", s)
		}
	}
	return nil
}

func (o DAXOptions) nodeType() string {
	if o.NodeType == "" {
		return "dax.t3.small"
	}
	return o.NodeType
}

func (o DAXOptions) nodes() int32 {
	if o.Nodes == 0 {
		return 3
	}
	return int32(o.Nodes)
}

// DAXResources are the DAX cluster's resources, in order; they need the to-dos table.
func DAXResources(prefix string, o DAXOptions) []Resource {
	name := prefix + "todos-dax"
	return []Resource{
		DAXRole{RoleName: prefix + "mytodolist-dax"},
		DAXSecurityGroup{GroupName: name, Options: o},
		DAXSubnetGroup{GroupName: name, SubnetIDs: o.SubnetIDs},
		DAXParameterGroup{GroupName: name},
		DAXCluster{ClusterName: name, Options: o},
	}
}

// DAXRolePolicy is the DAX service role's permissions: the calls todo-api makes
// through DAX, which DAX makes to DynamoDB, on the to-dos table only.
func DAXRolePolicy(tableARN string) iampolicy.Document {
	return iampolicy.New(allow("TodosTableOnBehalfOfClients",
		prefixed("dynamodb:", []string{"DescribeTable", "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "BatchWriteItem"}), tableARN))
}

// DAXRoleTrust lets the DAX service assume the role.
func DAXRoleTrust() iampolicy.Document {
	return iampolicy.New(iampolicy.Statement{
		Sid: "DAXService", Effect: iampolicy.Allow, Principal: iampolicy.Principal{"Service": {"dax.amazonaws.com"}},
		Action: iampolicy.Values{"sts:AssumeRole"},
	})
}

// DAXRole is the role DAX uses to reach the to-dos table.
type DAXRole struct {
	// RoleName is the role's name, prefix included.
	RoleName string
}

var _ Resource = DAXRole{}

// Kind implements Resource.
func (DAXRole) Kind() string { return "iam role (dax service)" }

// Name implements Resource.
func (r DAXRole) Name() string { return r.RoleName }

// Ensure implements Resource. It needs the to-dos table in out.
func (r DAXRole) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	if out.TodosTable == "" {
		return Outcome{}, errors.New("no to-dos table: it must be provisioned first")
	}
	d, err := c.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(out.TodosTable)})
	if err != nil {
		return Outcome{}, fmt.Errorf("find the to-dos table: %w", err)
	}
	o, arn, err := ensureRole(ctx, c.IAM, roleSpec{
		Name: r.RoleName, Description: "DAX reads and writes the to-dos table for todo-api",
		Trust: DAXRoleTrust(), Perms: DAXRolePolicy(aws.ToString(d.Table.TableArn)), PolicyName: "todos-table",
	})
	if err != nil {
		return Outcome{}, err
	}
	out.DAXRoleARN = arn
	return o, nil
}

// DAXSecurityGroup is the DAX nodes' security group in the VPC: ingress on the DAX
// ports from the Kubernetes cluster's security group, nothing else. It first checks
// that the VPC, the subnets and the cluster's group exist and belong together, so a
// typo fails here and not, ten minutes later, in CreateCluster.
type DAXSecurityGroup struct {
	// GroupName is the group's name, prefix included.
	GroupName string
	Options   DAXOptions
}

var _ Resource = DAXSecurityGroup{}

// Kind implements Resource.
func (DAXSecurityGroup) Kind() string { return "ec2 security group (dax)" }

// Name implements Resource.
func (g DAXSecurityGroup) Name() string { return g.GroupName }

// DAXIngress is the group's ingress: TCP 8111 and 9111 from the cluster's group.
func DAXIngress(clusterGroup string) []ec2types.IpPermission {
	var ps []ec2types.IpPermission
	for _, port := range []int32{DAXPort, DAXTLSPort} {
		ps = append(ps, ec2types.IpPermission{
			IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
			UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String(clusterGroup), Description: aws.String("todo-api pods to DAX")}},
		})
	}
	return ps
}

// Ensure implements Resource.
func (g DAXSecurityGroup) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	o := g.Options
	if _, err := c.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{o.VPCID}}); err != nil {
		return Outcome{}, fmt.Errorf("VPC %s: %w", o.VPCID, err)
	}
	subnets, err := c.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: o.SubnetIDs})
	if err != nil {
		return Outcome{}, fmt.Errorf("subnets %s: %w", strings.Join(o.SubnetIDs, ","), err)
	}
	for _, s := range subnets.Subnets {
		if aws.ToString(s.VpcId) != o.VPCID {
			return Outcome{}, fmt.Errorf("subnet %s is in %s, not in the cluster's VPC %s", aws.ToString(s.SubnetId), aws.ToString(s.VpcId), o.VPCID)
		}
	}
	src, err := c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{o.ClusterSecurityGroup}})
	if err != nil || len(src.SecurityGroups) != 1 {
		return Outcome{}, fmt.Errorf("the cluster's security group %s: %v", o.ClusterSecurityGroup, err)
	}
	if vpc := aws.ToString(src.SecurityGroups[0].VpcId); vpc != o.VPCID {
		return Outcome{}, fmt.Errorf("the cluster's security group %s is in %s, not in %s", o.ClusterSecurityGroup, vpc, o.VPCID)
	}
	found, err := c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("group-name"), Values: []string{g.GroupName}}, {Name: aws.String("vpc-id"), Values: []string{o.VPCID}},
	}})
	if err != nil {
		return Outcome{}, fmt.Errorf("find security group: %w", err)
	}
	var res Outcome
	var sg ec2types.SecurityGroup
	switch len(found.SecurityGroups) {
	case 0:
		created, err := c.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName: aws.String(g.GroupName), VpcId: aws.String(o.VPCID),
			Description: aws.String("DAX nodes of the to-dos table: the DAX ports from the Kubernetes cluster only"),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup,
				Tags: []ec2types.Tag{{Key: aws.String("project"), Value: aws.String("serverless-architect")}}}},
		})
		if err != nil {
			return Outcome{}, fmt.Errorf("create security group: %w", err)
		}
		sg = ec2types.SecurityGroup{GroupId: created.GroupId}
		res.Created = true
	case 1:
		sg = found.SecurityGroups[0]
	default:
		return Outcome{}, fmt.Errorf("%d security groups are named %q in %s: delete the extra ones", len(found.SecurityGroups), g.GroupName, o.VPCID)
	}
	var missing []ec2types.IpPermission
	for _, want := range DAXIngress(o.ClusterSecurityGroup) {
		if !hasIngress(sg.IpPermissions, want) {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		if _, err := c.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: missing}); err != nil {
			return Outcome{}, fmt.Errorf("allow the DAX ports from %s: %w", o.ClusterSecurityGroup, err)
		}
		res.Applied = !res.Created
	}
	out.DAXSecurityGroupID = aws.ToString(sg.GroupId)
	res.ID = out.DAXSecurityGroupID
	return res, nil
}

// hasIngress reports whether perms already allow want's protocol and ports from want's
// source group.
func hasIngress(perms []ec2types.IpPermission, want ec2types.IpPermission) bool {
	for _, p := range perms {
		if aws.ToString(p.IpProtocol) != aws.ToString(want.IpProtocol) || aws.ToInt32(p.FromPort) != aws.ToInt32(want.FromPort) || aws.ToInt32(p.ToPort) != aws.ToInt32(want.ToPort) {
			continue
		}
		for _, pair := range p.UserIdGroupPairs {
			if aws.ToString(pair.GroupId) == aws.ToString(want.UserIdGroupPairs[0].GroupId) {
				return true
			}
		}
	}
	return false
}

// DAXSubnetGroup is the subnets the DAX nodes are placed in.
type DAXSubnetGroup struct {
	// GroupName is the group's name, prefix included.
	GroupName string
	SubnetIDs []string
}

var _ Resource = DAXSubnetGroup{}

// Kind implements Resource.
func (DAXSubnetGroup) Kind() string { return "dax subnet group" }

// Name implements Resource.
func (g DAXSubnetGroup) Name() string { return g.GroupName }

// Ensure implements Resource: the group is created, or its subnets put back.
func (g DAXSubnetGroup) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	found, err := c.DAX.DescribeSubnetGroups(ctx, &dax.DescribeSubnetGroupsInput{SubnetGroupNames: []string{g.GroupName}}, daxOnce)
	var notFound *daxtypes.SubnetGroupNotFoundFault
	var res Outcome
	switch {
	case c.unimplemented(ctx, daxEndpoint(c), err):
		return Outcome{Skipped: true, ID: daxNotOnMoto("created", "subnet groups", "AWS places the nodes in "+strings.Join(g.SubnetIDs, ","))}, nil
	case errors.As(err, &notFound):
		if _, err := c.DAX.CreateSubnetGroup(ctx, &dax.CreateSubnetGroupInput{
			SubnetGroupName: aws.String(g.GroupName), SubnetIds: g.SubnetIDs,
			Description: aws.String("DAX nodes of the to-dos table"),
		}); err != nil {
			return Outcome{}, fmt.Errorf("create subnet group: %w", err)
		}
		res.Created = true
	case err != nil:
		return Outcome{}, fmt.Errorf("describe subnet group: %w", err)
	default:
		var have []string
		for _, sg := range found.SubnetGroups {
			for _, s := range sg.Subnets {
				have = append(have, aws.ToString(s.SubnetIdentifier))
			}
		}
		if !sameSet(have, g.SubnetIDs) {
			if _, err := c.DAX.UpdateSubnetGroup(ctx, &dax.UpdateSubnetGroupInput{SubnetGroupName: aws.String(g.GroupName), SubnetIds: g.SubnetIDs}); err != nil {
				return Outcome{}, fmt.Errorf("update subnet group: %w", err)
			}
			res.Applied = true
		}
	}
	out.DAXSubnetGroup = g.GroupName
	return res, nil
}

// DAXParameterGroup holds the cache TTLs todo-api expects (DAXItemTTL, DAXQueryTTL);
// they are put on every run.
type DAXParameterGroup struct {
	// GroupName is the group's name, prefix included.
	GroupName string
}

var _ Resource = DAXParameterGroup{}

// Kind implements Resource.
func (DAXParameterGroup) Kind() string { return "dax parameter group" }

// Name implements Resource.
func (g DAXParameterGroup) Name() string { return g.GroupName }

// DAXParameters are the parameter group's values, in milliseconds as DAX wants them.
func DAXParameters() []daxtypes.ParameterNameValue {
	ms := func(d time.Duration) *string { return aws.String(strconv.FormatInt(d.Milliseconds(), 10)) }
	return []daxtypes.ParameterNameValue{
		{ParameterName: aws.String("record-ttl-millis"), ParameterValue: ms(DAXItemTTL)},
		{ParameterName: aws.String("query-ttl-millis"), ParameterValue: ms(DAXQueryTTL)},
	}
}

// Ensure implements Resource.
func (g DAXParameterGroup) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	_, err := c.DAX.DescribeParameterGroups(ctx, &dax.DescribeParameterGroupsInput{ParameterGroupNames: []string{g.GroupName}}, daxOnce)
	var notFound *daxtypes.ParameterGroupNotFoundFault
	res := Outcome{Applied: true}
	switch {
	case c.unimplemented(ctx, daxEndpoint(c), err):
		return Outcome{Skipped: true, ID: daxNotOnMoto("created", "parameter groups", fmt.Sprintf("AWS caches items %s and queries %s", DAXItemTTL, DAXQueryTTL))}, nil
	case errors.As(err, &notFound):
		if _, err := c.DAX.CreateParameterGroup(ctx, &dax.CreateParameterGroupInput{
			ParameterGroupName: aws.String(g.GroupName),
			Description:        aws.String("TTLs todo-api's read-your-writes window expects (DAX_QUERY_CACHE_TTL)"),
		}); err != nil {
			return Outcome{}, fmt.Errorf("create parameter group: %w", err)
		}
		res = Outcome{Created: true}
	case err != nil:
		return Outcome{}, fmt.Errorf("describe parameter group: %w", err)
	}
	if _, err := c.DAX.UpdateParameterGroup(ctx, &dax.UpdateParameterGroupInput{ParameterGroupName: aws.String(g.GroupName), ParameterNameValues: DAXParameters()}); err != nil {
		return Outcome{}, fmt.Errorf("set the TTLs: %w", err)
	}
	out.DAXParameterGroup = g.GroupName
	return res, nil
}

// DAXCluster is the DAX cluster: nodes of Options.NodeType, Options.Nodes of them,
// encrypted at rest and in transit (clients use daxs:// on 9111), in the subnet and
// security groups above, with the parameter group above, acting through the DAX
// role. Creating one takes AWS about ten minutes; the line says its state, and the
// endpoint is recorded once AWS reports it.
type DAXCluster struct {
	// ClusterName is the cluster's name, prefix included (at most 20 characters).
	ClusterName string
	Options     DAXOptions
}

var _ Resource = DAXCluster{}

// Kind implements Resource.
func (DAXCluster) Kind() string { return "dax cluster" }

// Name implements Resource.
func (d DAXCluster) Name() string { return d.ClusterName }

// daxClusterName is DAX's rule for cluster names.
var daxClusterName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,19}$`)

// Ensure implements Resource. It needs the DAX role and security group in out (and
// uses the subnet and parameter groups by name).
func (d DAXCluster) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	if !daxClusterName.MatchString(d.ClusterName) || strings.HasSuffix(d.ClusterName, "-") || strings.Contains(d.ClusterName, "--") {
		return Outcome{}, fmt.Errorf("DAX cluster name %q: at most 20 lower-case letters, digits and single hyphens, starting with a letter (shorten --prefix)", d.ClusterName)
	}
	if out.DAXRoleARN == "" || out.DAXSecurityGroupID == "" {
		return Outcome{}, errors.New("no DAX role or security group: they must be provisioned first")
	}
	found, err := c.DAX.DescribeClusters(ctx, &dax.DescribeClustersInput{ClusterNames: []string{d.ClusterName}})
	var notFound *daxtypes.ClusterNotFoundFault
	res := Outcome{}
	var cl daxtypes.Cluster
	switch {
	case errors.As(err, &notFound):
		created, err := c.DAX.CreateCluster(ctx, &dax.CreateClusterInput{
			ClusterName: aws.String(d.ClusterName), NodeType: aws.String(d.Options.nodeType()), ReplicationFactor: d.Options.nodes(),
			IamRoleArn: aws.String(out.DAXRoleARN), SecurityGroupIds: []string{out.DAXSecurityGroupID},
			SubnetGroupName: aws.String(d.ClusterName), ParameterGroupName: aws.String(d.ClusterName),
			SSESpecification:              &daxtypes.SSESpecification{Enabled: aws.Bool(true)},
			ClusterEndpointEncryptionType: daxtypes.ClusterEndpointEncryptionTypeTls,
			Description:                   aws.String("MyTodoList: cache of the to-dos table for todo-api"),
			Tags:                          []daxtypes.Tag{{Key: aws.String("project"), Value: aws.String("serverless-architect")}},
		})
		if err != nil {
			return Outcome{}, fmt.Errorf("create cluster: %w", err)
		}
		cl, res.Created = *created.Cluster, true
	case err != nil:
		return Outcome{}, fmt.Errorf("describe cluster: %w", err)
	case len(found.Clusters) != 1:
		return Outcome{}, fmt.Errorf("describe cluster: %d clusters named %s", len(found.Clusters), d.ClusterName)
	default:
		cl = found.Clusters[0]
		if note, err := d.reconcile(ctx, c, cl, out); err != nil {
			return Outcome{}, err
		} else if note != "" {
			res.Applied = note == "updated"
			if note != "updated" {
				res.ID = note
			}
		}
	}
	out.DAXClusterARN = aws.ToString(cl.ClusterArn)
	out.DAXEndpoint = daxURL(cl)
	state := aws.ToString(cl.Status)
	if out.DAXEndpoint == "" {
		state += "; no endpoint yet: run sa provision again once the cluster is available"
	}
	if res.ID == "" {
		res.ID = out.DAXClusterARN + ", " + state
	}
	return res, nil
}

// reconcile puts the settings an existing cluster can change in place back (its
// security groups and parameter group); it returns "updated", a note for the line, or
// "".
func (d DAXCluster) reconcile(ctx context.Context, c *Clients, cl daxtypes.Cluster, out *stack.Resources) (string, error) {
	var groups []string
	for _, g := range cl.SecurityGroups {
		groups = append(groups, aws.ToString(g.SecurityGroupIdentifier))
	}
	params := ""
	if cl.ParameterGroup != nil {
		params = aws.ToString(cl.ParameterGroup.ParameterGroupName)
	}
	if sameSet(groups, []string{out.DAXSecurityGroupID}) && params == d.ClusterName {
		return "", nil
	}
	_, err := c.DAX.UpdateCluster(ctx, &dax.UpdateClusterInput{
		ClusterName: aws.String(d.ClusterName), SecurityGroupIds: []string{out.DAXSecurityGroupID}, ParameterGroupName: aws.String(d.ClusterName),
	}, daxOnce)
	switch {
	case c.unimplemented(ctx, daxEndpoint(c), err):
		return aws.ToString(cl.ClusterArn) + ", " + daxNotOnMoto("reconciled", "UpdateCluster", "AWS would put the security and parameter groups back"), nil
	case err != nil:
		return "", fmt.Errorf("put the cluster's security group %s and parameter group %s back: %w", out.DAXSecurityGroupID, d.ClusterName, err)
	}
	return "updated", nil
}

// daxURL is the cluster's endpoint as todo-api's DAX_ENDPOINT wants it.
func daxURL(cl daxtypes.Cluster) string {
	ep := cl.ClusterDiscoveryEndpoint
	if ep == nil || aws.ToString(ep.Address) == "" {
		return ""
	}
	if u := aws.ToString(ep.URL); u != "" {
		return u
	}
	scheme := "dax"
	if cl.ClusterEndpointEncryptionType == daxtypes.ClusterEndpointEncryptionTypeTls {
		scheme = "daxs"
	}
	return scheme + "://" + aws.ToString(ep.Address) + ":" + strconv.Itoa(int(ep.Port))
}

// daxOnce makes a DAX call once: moto's 500 for a call it lacks is not retried.
func daxOnce(o *dax.Options) { o.RetryMaxAttempts = 1 }

// daxEndpoint is the DAX client's endpoint override ("" for AWS).
func daxEndpoint(c *Clients) string { return aws.ToString(c.DAX.Options().BaseEndpoint) }

// daxNotOnMoto is the line of a DAX resource moto cannot make or change.
func daxNotOnMoto(notDone, what, onAWS string) string {
	return "NOT " + notDone + ": moto does not implement DAX " + what + "; " + onAWS
}

// sameSet reports whether a and b hold the same strings.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
