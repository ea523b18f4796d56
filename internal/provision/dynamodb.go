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
