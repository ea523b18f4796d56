package globaltable

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// item converts an item or key of a stream record to the DynamoDB API's types.
func item(in map[string]types.AttributeValue) map[string]ddbtypes.AttributeValue {
	if in == nil {
		return nil
	}
	out := make(map[string]ddbtypes.AttributeValue, len(in))
	for k, v := range in {
		out[k] = value(v)
	}
	return out
}

// value converts one stream attribute value. A member type newer than this code
// becomes NULL, visibly different from what was written.
func value(v types.AttributeValue) ddbtypes.AttributeValue {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return &ddbtypes.AttributeValueMemberS{Value: v.Value}
	case *types.AttributeValueMemberN:
		return &ddbtypes.AttributeValueMemberN{Value: v.Value}
	case *types.AttributeValueMemberB:
		return &ddbtypes.AttributeValueMemberB{Value: v.Value}
	case *types.AttributeValueMemberSS:
		return &ddbtypes.AttributeValueMemberSS{Value: v.Value}
	case *types.AttributeValueMemberNS:
		return &ddbtypes.AttributeValueMemberNS{Value: v.Value}
	case *types.AttributeValueMemberBS:
		return &ddbtypes.AttributeValueMemberBS{Value: v.Value}
	case *types.AttributeValueMemberBOOL:
		return &ddbtypes.AttributeValueMemberBOOL{Value: v.Value}
	case *types.AttributeValueMemberM:
		return &ddbtypes.AttributeValueMemberM{Value: item(v.Value)}
	case *types.AttributeValueMemberL:
		l := make([]ddbtypes.AttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = value(e)
		}
		return &ddbtypes.AttributeValueMemberL{Value: l}
	default:
		return &ddbtypes.AttributeValueMemberNULL{Value: true}
	}
}

// fingerprint is a canonical rendering of a record's key and image (nil for a
// delete): equal for equal items whatever the order of their attributes.
func fingerprint(keys, image map[string]ddbtypes.AttributeValue) string {
	var b strings.Builder
	writeMap(&b, keys)
	if image == nil {
		b.WriteString("|deleted")
	} else {
		b.WriteString("|")
		writeMap(&b, image)
	}
	return b.String()
}

func writeMap(b *strings.Builder, m map[string]ddbtypes.AttributeValue) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	b.WriteString("{")
	for _, k := range names {
		b.WriteString(strconv.Quote(k))
		b.WriteString(":")
		writeValue(b, m[k])
		b.WriteString(",")
	}
	b.WriteString("}")
}

func writeValue(b *strings.Builder, v ddbtypes.AttributeValue) {
	set := func(tag string, vs []string) {
		vs = slices.Clone(vs)
		slices.Sort(vs)
		b.WriteString(tag + "[")
		for _, s := range vs {
			b.WriteString(strconv.Quote(s) + ",")
		}
		b.WriteString("]")
	}
	switch v := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		b.WriteString("S" + strconv.Quote(v.Value))
	case *ddbtypes.AttributeValueMemberN:
		b.WriteString("N" + strconv.Quote(v.Value))
	case *ddbtypes.AttributeValueMemberB:
		b.WriteString("B" + base64.StdEncoding.EncodeToString(v.Value))
	case *ddbtypes.AttributeValueMemberSS:
		set("SS", v.Value)
	case *ddbtypes.AttributeValueMemberNS:
		set("NS", v.Value)
	case *ddbtypes.AttributeValueMemberBS:
		bs := make([]string, len(v.Value))
		for i, e := range v.Value {
			bs[i] = base64.StdEncoding.EncodeToString(e)
		}
		set("BS", bs)
	case *ddbtypes.AttributeValueMemberBOOL:
		b.WriteString("BOOL" + strconv.FormatBool(v.Value))
	case *ddbtypes.AttributeValueMemberNULL:
		b.WriteString("NULL")
	case *ddbtypes.AttributeValueMemberM:
		b.WriteString("M")
		writeMap(b, v.Value)
	case *ddbtypes.AttributeValueMemberL:
		b.WriteString("L[")
		for _, e := range v.Value {
			writeValue(b, e)
			b.WriteString(",")
		}
		b.WriteString("]")
	}
}
