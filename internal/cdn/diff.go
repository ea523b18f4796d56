package cdn

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Diff lists where got differs from want, one line per differing field, named by its
// JSON path ("behaviors[0].cachePolicyId: want \"a\", got \"b\""); none when they
// agree. Provisioning uses it to decide whether the distribution in CloudFront needs
// an update, and the tests to prove that the local edge runs what CloudFront holds.
func Diff(want, got *Distribution) []string {
	var w, g any
	if err := roundTrip(want, &w); err != nil {
		return []string{err.Error()}
	}
	if err := roundTrip(got, &g); err != nil {
		return []string{err.Error()}
	}
	var out []string
	diffValue("", w, g, &out)
	return out
}

func roundTrip(d *Distribution, v *any) error {
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode distribution: %w", err)
	}
	return json.Unmarshal(b, v)
}

func diffValue(path string, w, g any, out *[]string) {
	switch wv := w.(type) {
	case map[string]any:
		gv, ok := g.(map[string]any)
		if !ok {
			break
		}
		union := maps.Clone(wv)
		maps.Copy(union, gv)
		for _, k := range slices.Sorted(maps.Keys(union)) {
			diffValue(join(path, k), wv[k], gv[k], out)
		}
		return
	case []any:
		gv, ok := g.([]any)
		if !ok || len(gv) != len(wv) {
			break
		}
		for i := range wv {
			diffValue(fmt.Sprintf("%s[%d]", path, i), wv[i], gv[i], out)
		}
		return
	}
	wj, _ := json.Marshal(w)
	gj, _ := json.Marshal(g)
	if string(wj) != string(gj) {
		*out = append(*out, fmt.Sprintf("%s: want %s, got %s", path, wj, gj))
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
