package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// tableActiveTimeout bounds the wait for a new table to become ACTIVE.
const tableActiveTimeout = 5 * time.Minute

// TodosTable is the DynamoDB table of to-dos: on-demand, encrypted, keyed by the string
// attributes pk (partition) and sk (sort).
type TodosTable struct {
	// TableName is the table's name, prefix included.
	TableName string
}

var _ Resource = TodosTable{}

// Kind implements Resource.
func (TodosTable) Kind() string { return "dynamodb table" }

// Name implements Resource.
func (t TodosTable) Name() string { return t.TableName }

// keys is the key schema the table must have, in the order DynamoDB reports it.
func (TodosTable) keys() []keyAttr {
	return []keyAttr{
		{Name: "pk", Type: types.ScalarAttributeTypeS, Role: types.KeyTypeHash},
		{Name: "sk", Type: types.ScalarAttributeTypeS, Role: types.KeyTypeRange},
	}
}

// Ensure implements Resource. A table of that name with another key schema is an error:
// it was made by something else, and using it would corrupt it.
func (t TodosTable) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	want := t.keys()
	desc, err := c.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.TableName)})
	var notFound *types.ResourceNotFoundException
	created := false
	switch {
	case errors.As(err, &notFound):
		if err := t.create(ctx, c, want); err != nil {
			return Outcome{}, err
		}
		created = true
	case err != nil:
		return Outcome{}, fmt.Errorf("describe table: %w", err)
	default:
		got := keySchema(desc.Table)
		if !slices.Equal(got, want) {
			return Outcome{}, fmt.Errorf("table %q exists with key schema %s, but the project needs %s: "+
				"it was not made by this tool; delete it or choose another --prefix",
				t.TableName, formatKeys(got), formatKeys(want))
		}
		if desc.Table.TableStatus == types.TableStatusDeleting {
			return Outcome{}, fmt.Errorf("table %q is being deleted; wait until it is gone and run again", t.TableName)
		}
	}
	waiter := dynamodb.NewTableExistsWaiter(c.DynamoDB, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 200 * time.Millisecond
		o.MaxDelay = 5 * time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.TableName)}, tableActiveTimeout); err != nil {
		return Outcome{}, fmt.Errorf("wait for table to become ACTIVE: %w", err)
	}
	// todo-api sets TTLAttribute on a deleted account's mark only, which DynamoDB
	// then removes.
	if _, err := ensureTTL(ctx, c, t.TableName); err != nil {
		return Outcome{}, err
	}
	out.TodosTable = t.TableName
	return Outcome{Created: created}, nil
}

func (t TodosTable) create(ctx context.Context, c *Clients, keys []keyAttr) error {
	in := &dynamodb.CreateTableInput{
		TableName:        aws.String(t.TableName),
		BillingMode:      types.BillingModePayPerRequest,
		SSESpecification: &types.SSESpecification{Enabled: aws.Bool(true), SSEType: types.SSETypeKms},
		Tags:             []types.Tag{{Key: aws.String("project"), Value: aws.String("serverless-architect")}},
	}
	for _, k := range keys {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(k.Name), AttributeType: k.Type,
		})
		in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String(k.Name), KeyType: k.Role})
	}
	_, err := c.DynamoDB.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	if errors.As(err, &inUse) {
		// Made by a concurrent run between DescribeTable and CreateTable; the caller
		// waits for it like for any other.
		return nil
	}
	if err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	return nil
}

// keyAttr is one attribute of a key schema with its type.
type keyAttr struct {
	Name string
	Type types.ScalarAttributeType
	Role types.KeyType
}

// keySchema reads a table description's key schema, HASH first.
func keySchema(t *types.TableDescription) []keyAttr {
	if t == nil {
		return nil
	}
	typeOf := map[string]types.ScalarAttributeType{}
	for _, d := range t.AttributeDefinitions {
		typeOf[aws.ToString(d.AttributeName)] = d.AttributeType
	}
	var ks []keyAttr
	for _, k := range t.KeySchema {
		name := aws.ToString(k.AttributeName)
		ks = append(ks, keyAttr{Name: name, Type: typeOf[name], Role: k.KeyType})
	}
	slices.SortStableFunc(ks, func(a, b keyAttr) int {
		if a.Role == b.Role {
			return 0
		}
		if a.Role == types.KeyTypeHash {
			return -1
		}
		return 1
	})
	return ks
}

// formatKeys renders a key schema as "[pk (S) HASH, sk (S) RANGE]".
func formatKeys(ks []keyAttr) string {
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%s (%s) %s", k.Name, k.Type, k.Role)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// GlobalTable is an on-demand, encrypted DynamoDB table made global (version
// 2019.11.21): after it is ACTIVE, each configured region without a replica gets one
// through UpdateTable ReplicaUpdates, one region per call.
type GlobalTable struct {
	TableName string
	Keys      []keyAttr
	// Index is an optional global secondary index.
	Index *gsi
	// Stream, when set, enables a stream of that view type at creation.
	Stream types.StreamViewType
	// Regions are every region the table must be in.
	Regions []string
	// Record stores the name in the outputs.
	Record func(out *stack.Resources, name string)
}

var _ Resource = GlobalTable{}

// Kind implements Resource.
func (GlobalTable) Kind() string { return "dynamodb global table" }

// Name implements Resource.
func (t GlobalTable) Name() string { return t.TableName }

// Ensure implements Resource.
func (t GlobalTable) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	desc, err := c.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.TableName)})
	var notFound *types.ResourceNotFoundException
	created := false
	switch {
	case errors.As(err, &notFound):
		if _, err := c.DynamoDB.CreateTable(ctx, t.createInput()); err != nil {
			var inUse *types.ResourceInUseException
			if !errors.As(err, &inUse) {
				return Outcome{}, fmt.Errorf("create table: %w", err)
			}
		}
		created = true
	case err != nil:
		return Outcome{}, fmt.Errorf("describe table: %w", err)
	default:
		if got := keySchema(desc.Table); !slices.Equal(got, t.Keys) {
			return Outcome{}, fmt.Errorf("table %q exists with key schema %s, but the project needs %s: "+
				"it was not made by this tool; delete it or choose another --prefix",
				t.TableName, formatKeys(got), formatKeys(t.Keys))
		}
	}
	desc, err = t.waitActive(ctx, c)
	if err != nil {
		return Outcome{}, err
	}
	for _, u := range t.replicaUpdates(c.Region, desc.Table) {
		if _, err := c.DynamoDB.UpdateTable(ctx, &dynamodb.UpdateTableInput{
			TableName: aws.String(t.TableName), ReplicaUpdates: []types.ReplicationGroupUpdate{u},
		}); err != nil {
			return Outcome{}, fmt.Errorf("add replica in %s: %w", aws.ToString(u.Create.RegionName), err)
		}
		if _, err := t.waitActive(ctx, c); err != nil {
			return Outcome{}, err
		}
	}
	t.Record(out, t.TableName)
	return Outcome{Created: created}, nil
}

func (t GlobalTable) waitActive(ctx context.Context, c *Clients) (*dynamodb.DescribeTableOutput, error) {
	waiter := dynamodb.NewTableExistsWaiter(c.DynamoDB, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 200 * time.Millisecond
		o.MaxDelay = 5 * time.Second
	})
	desc, err := waiter.WaitForOutput(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.TableName)}, tableActiveTimeout)
	if err != nil {
		return nil, fmt.Errorf("wait for table to become ACTIVE: %w", err)
	}
	return desc, nil
}

func (t GlobalTable) createInput() *dynamodb.CreateTableInput {
	in := &dynamodb.CreateTableInput{
		TableName:        aws.String(t.TableName),
		BillingMode:      types.BillingModePayPerRequest,
		SSESpecification: &types.SSESpecification{Enabled: aws.Bool(true), SSEType: types.SSETypeKms},
		Tags:             []types.Tag{{Key: aws.String("project"), Value: aws.String("serverless-architect")}},
	}
	defined := map[string]bool{}
	define := func(ks []keyAttr) []types.KeySchemaElement {
		var schema []types.KeySchemaElement
		for _, k := range ks {
			if !defined[k.Name] {
				defined[k.Name] = true
				in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(k.Name), AttributeType: k.Type})
			}
			schema = append(schema, types.KeySchemaElement{AttributeName: aws.String(k.Name), KeyType: k.Role})
		}
		return schema
	}
	in.KeySchema = define(t.Keys)
	if t.Index != nil {
		in.GlobalSecondaryIndexes = []types.GlobalSecondaryIndex{{
			IndexName:  aws.String(t.Index.Name),
			KeySchema:  define(t.Index.Keys),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}}
	}
	if t.Stream != "" {
		in.StreamSpecification = &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: t.Stream}
	}
	return in
}

// replicaUpdates are the replica creations a table described as desc still needs:
// one per configured region other than home that has no replica yet.
func (t GlobalTable) replicaUpdates(home string, desc *types.TableDescription) []types.ReplicationGroupUpdate {
	have := map[string]bool{home: true}
	if desc != nil {
		for _, r := range desc.Replicas {
			have[aws.ToString(r.RegionName)] = true
		}
	}
	var ups []types.ReplicationGroupUpdate
	for _, region := range t.Regions {
		if region == "" || have[region] {
			continue
		}
		have[region] = true
		ups = append(ups, types.ReplicationGroupUpdate{Create: &types.CreateReplicationGroupMemberAction{RegionName: aws.String(region)}})
	}
	return ups
}

// gsi is a global secondary index with an ALL projection.
type gsi struct {
	Name string
	Keys []keyAttr
}
