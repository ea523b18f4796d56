package metricstest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// DashboardFile is the Grafana dashboard the chart ships, from the repository root.
const DashboardFile = "charts/serverless-architect/files/grafana-dashboard.json"

// DashboardNames are the metric names the queries of the shipped Grafana dashboard use
// (panel targets and template variables), sorted and without duplicates. Histogram
// names keep their _bucket, _sum or _count (see Missing).
func DashboardNames(t testing.TB) []string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	b, err := os.ReadFile(filepath.Join(dir, DashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", DashboardFile, err)
	}
	var queries []string
	walkQueries(doc, &queries)
	if len(queries) == 0 {
		t.Fatalf("%s has no queries", DashboardFile)
	}
	var names []string
	for _, q := range queries {
		for _, n := range QueryNames(q) {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names
}

// walkQueries collects the values of every "expr" (a panel target) and "definition"
// (a template variable's query) in v.
func walkQueries(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && (k == "expr" || k == "definition") {
				*out = append(*out, s)
				continue
			}
			walkQueries(e, out)
		}
	case []any:
		for _, e := range v {
			walkQueries(e, out)
		}
	}
}

var (
	strings_     = regexp.MustCompile(`"(\\.|[^"\\])*"`)
	matchers     = regexp.MustCompile(`\{[^}]*\}`)
	ranges       = regexp.MustCompile(`\[[^\]]*\]`)
	grouping     = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	labelValues  = regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,[^)]*\)`)
	variables    = regexp.MustCompile(`\$\{?\w+\}?`)
	identifiers  = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promqlWords  = []string{"and", "or", "unless", "bool", "offset", "inf", "nan"}
	histogramEnd = []string{"_bucket", "_sum", "_count"}
)

// QueryNames are the metric names in one PromQL query: its identifiers that are not
// functions, keywords, label names or Grafana variables.
func QueryNames(q string) []string {
	q = labelValues.ReplaceAllString(q, "$1")
	for _, re := range []*regexp.Regexp{strings_, matchers, ranges, grouping, variables} {
		q = re.ReplaceAllString(q, " ")
	}
	var names []string
	for _, m := range identifiers.FindAllString(q, -1) {
		if strings.HasSuffix(m, "(") || slices.Contains(promqlWords, strings.ToLower(m)) {
			continue
		}
		names = append(names, m)
	}
	return names
}

// Missing are the names among names that registered does not hold, a histogram's
// _bucket, _sum and _count counting as its family.
func Missing(names, registered []string) []string {
	var out []string
	for _, n := range names {
		if slices.Contains(registered, n) {
			continue
		}
		found := false
		for _, end := range histogramEnd {
			if base, ok := strings.CutSuffix(n, end); ok && slices.Contains(registered, base) {
				found = true
			}
		}
		if !found {
			out = append(out, n)
		}
	}
	return out
}

// CheckDashboard fails the test unless the shipped dashboard queries at least one
// series starting with prefix and every such series is among registered (a registry's
// Names): the series of one service.
func CheckDashboard(t testing.TB, prefix string, registered []string) {
	t.Helper()
	names := WithPrefix(DashboardNames(t), prefix)
	if len(names) == 0 {
		t.Fatalf("the dashboard has no panel on %s* series", prefix)
	}
	if missing := Missing(names, registered); len(missing) > 0 {
		t.Errorf("the dashboard queries %v, which are not registered (registered: %v)", missing, registered)
	}
}

// WithPrefix are the names among names that start with prefix.
func WithPrefix(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}
