package mototest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// CreateTable creates a table for a test, whose name comes from Name.
//
// CreateTable is not idempotent, and the SDK retries it after an error it takes for a
// transient one (a connection reset, a 5xx). When the first attempt had taken effect,
// the retry answers ResourceInUseException: real DynamoDB does the same, and a test
// failed on it once on a loaded CI machine. The name is this test's alone, so an
// existing table with the key schema asked for is the one this call created; any
// other ResourceInUseException still fails the test. AWSConfig's clients log the
// retry and the error that caused it.
func CreateTable(t testing.TB, db *dynamodb.Client, in *dynamodb.CreateTableInput) {
	t.Helper()
	ctx := context.Background()
	_, err := db.CreateTable(ctx, in)
	if err == nil {
		return
	}
	if inUse := (*types.ResourceInUseException)(nil); !errors.As(err, &inUse) {
		t.Fatalf("create table %s: %v", aws.ToString(in.TableName), err)
	}
	out, derr := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName})
	if derr != nil {
		t.Fatalf("create table %s: %v; and describing it: %v", aws.ToString(in.TableName), err, derr)
	}
	if !sameKeySchema(out.Table.KeySchema, in.KeySchema) {
		t.Fatalf("create table %s: %v, and the table that exists has another key schema: a test name is not unique", aws.ToString(in.TableName), err)
	}
	t.Logf("create table %s: %v; the table is there with its key schema: taken as a retried create whose first attempt took effect", aws.ToString(in.TableName), err)
}

func sameKeySchema(a, b []types.KeySchemaElement) bool {
	return slices.EqualFunc(a, b, func(x, y types.KeySchemaElement) bool {
		return aws.ToString(x.AttributeName) == aws.ToString(y.AttributeName) && x.KeyType == y.KeyType
	})
}
