package cluster

import (
	"fmt"
	"reflect"
	"sort"

	"k8s.io/apimachinery/pkg/api/resource"
)

// lostFields compares what was sent with what the API server stored and lists
// every sent field that is missing (pruned by a CRD's structural schema, or
// dropped by a webhook) or whose value changed. Fields the server or a webhook
// added are fine; so are quantities written another way ("1000m" stored as
// "1") and numbers that differ only in JSON type.
func lostFields(sent, stored any) []string {
	var out []string
	diff("", sent, stored, &out)
	sort.Strings(out)
	return out
}

func diff(path string, sent, stored any, out *[]string) {
	switch s := sent.(type) {
	case map[string]any:
		st, ok := stored.(map[string]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: sent an object, stored %s", orRoot(path), describe(stored)))
			return
		}
		for k, v := range s {
			sv, ok := st[k]
			if !ok {
				if v == nil {
					continue // an explicit null is "unset"
				}
				*out = append(*out, fmt.Sprintf("%s.%s: sent, not stored (pruned or dropped)", path, k))
				continue
			}
			diff(path+"."+k, v, sv, out)
		}
	case []any:
		st, ok := stored.([]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: sent a list, stored %s", orRoot(path), describe(stored)))
			return
		}
		if len(st) < len(s) {
			*out = append(*out, fmt.Sprintf("%s: sent %d items, stored %d", path, len(s), len(st)))
			return
		}
		for i := range s {
			diff(fmt.Sprintf("%s[%d]", path, i), s[i], st[i], out)
		}
	default:
		if !sameScalar(sent, stored) {
			*out = append(*out, fmt.Sprintf("%s: sent %v, stored %v", path, sent, describe(stored)))
		}
	}
}

func sameScalar(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	if x, ok := number(a); ok {
		if y, ok := number(b); ok {
			return x == y
		}
	}
	as, aok := a.(string)
	bs, bok := b.(string)
	if aok && bok {
		qa, errA := resource.ParseQuantity(as)
		qb, errB := resource.ParseQuantity(bs)
		return errA == nil && errB == nil && qa.Cmp(qb) == 0
	}
	return false
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	case int32:
		return float64(n), true
	}
	return 0, false
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%v", v)
}

func orRoot(path string) string {
	if path == "" {
		return "."
	}
	return path
}
