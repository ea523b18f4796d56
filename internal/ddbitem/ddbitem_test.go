package ddbitem

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestEqual(t *testing.T) {
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	n := func(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
	base := func() map[string]types.AttributeValue {
		return map[string]types.AttributeValue{
			"pk": s("PHOTO#1"), "n": n("3"), "ok": &types.AttributeValueMemberBOOL{Value: true},
			"tags": &types.AttributeValueMemberSS{Value: []string{"a", "b", "c"}},
			"list": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("x"), n("1")}},
			"m":    &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": s("v")}},
			"null": &types.AttributeValueMemberNULL{Value: true},
			"b":    &types.AttributeValueMemberB{Value: []byte{1, 2}},
		}
	}
	same := base()
	same["tags"] = &types.AttributeValueMemberSS{Value: []string{"c", "a", "b"}} // a set's order is not kept
	if !Equal(base(), same) {
		t.Error("the same item with its set in another order is not Equal")
	}
	for name, change := range map[string]func(m map[string]types.AttributeValue){
		"a string":         func(m map[string]types.AttributeValue) { m["pk"] = s("PHOTO#2") },
		"a number as text": func(m map[string]types.AttributeValue) { m["n"] = s("3") },
		"a set member": func(m map[string]types.AttributeValue) {
			m["tags"] = &types.AttributeValueMemberSS{Value: []string{"a", "b", "d"}}
		},
		"a list's order": func(m map[string]types.AttributeValue) {
			m["list"] = &types.AttributeValueMemberL{Value: []types.AttributeValue{n("1"), s("x")}}
		},
		"a map value": func(m map[string]types.AttributeValue) {
			m["m"] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": s("w")}}
		},
		"bytes":           func(m map[string]types.AttributeValue) { m["b"] = &types.AttributeValueMemberB{Value: []byte{1}} },
		"a missing field": func(m map[string]types.AttributeValue) { delete(m, "ok") },
		"an extra field":  func(m map[string]types.AttributeValue) { m["extra"] = s("") },
	} {
		other := base()
		change(other)
		if Equal(base(), other) || Equal(other, base()) {
			t.Errorf("items differing in %s are Equal", name)
		}
	}
}
