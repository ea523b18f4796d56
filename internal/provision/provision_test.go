package provision

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
)

func TestLine(t *testing.T) {
	tests := []struct {
		name string
		r    Resource
		o    Outcome
		want string
	}{
		{"created table", TodosTable{TableName: "todos"}, Outcome{Created: true}, "created  dynamodb table todos"},
		{"existing pool with id", UserPool{PoolName: "mytodolist"}, Outcome{ID: "us-east-1_abc"}, "exists   cognito user pool mytodolist (us-east-1_abc)"},
		{"id equal to name is not repeated", Group{GroupName: "admins"}, Outcome{ID: "admins"}, "exists   cognito group admins"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Line(tt.r, tt.o)); diff != "" {
				t.Errorf("Line (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJWKSURL(t *testing.T) {
	tests := []struct {
		name, endpoint, want string
	}{
		{"real AWS", "", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x/.well-known/jwks.json"},
		{"moto", "http://127.0.0.1:4566", "http://127.0.0.1:4566/eu-west-1_x/.well-known/jwks.json"},
		{"moto with trailing slash", "http://127.0.0.1:4566/", "http://127.0.0.1:4566/eu-west-1_x/.well-known/jwks.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, JWKSURL(tt.endpoint, "eu-west-1", "eu-west-1_x")); diff != "" {
				t.Errorf("JWKSURL (-want +got):\n%s", diff)
			}
		})
	}
	if got, want := Issuer("eu-west-1", "eu-west-1_x"), "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x"; got != want {
		t.Errorf("Issuer = %q, want %q", got, want)
	}
}

func TestKeySchemaOrdersHashFirst(t *testing.T) {
	s := func(v string) *string { return &v }
	desc := &types.TableDescription{
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: s("sk"), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: s("pk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: s("sk"), KeyType: types.KeyTypeRange},
			{AttributeName: s("pk"), KeyType: types.KeyTypeHash},
		},
	}
	got := formatKeys(keySchema(desc))
	if diff := cmp.Diff("[pk (S) HASH, sk (N) RANGE]", got); diff != "" {
		t.Errorf("keySchema (-want +got):\n%s", diff)
	}
}
