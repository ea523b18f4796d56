// Package metricstest reads a service's /metrics in tests: Wait waits for the endpoint,
// Scrape fetches and parses the text exposition, Families.Value finds one series,
// WaitValue waits for a series to reach a value, WaitAll for several series at once.
package metricstest

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are the metric families of one scrape, by name.
type Families map[string]*dto.MetricFamily

// Scrape fetches url (a /metrics endpoint) and parses it; any failure fails the test.
func Scrape(t testing.TB, url string) Families {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return fams
}

// Wait waits up to 15 s for url to answer 200 (a service's /metrics coming up).
func Wait(t testing.TB, url string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 15s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitValue scrapes url until the series of name matching labels has the value want
// (see Value), for up to 15 s, and returns that scrape; otherwise it fails the test. A
// counter moves a moment after the answer its client saw.
func WaitValue(t testing.TB, url, name string, labels map[string]string, want float64) Families {
	t.Helper()
	return WaitAll(t, url, Want{Name: name, Labels: labels, Value: want})
}

// Want is one series' expected value: the series of family Name whose labels include
// Labels (see Value).
type Want struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// WaitAll scrapes url until every want holds in the same scrape, for up to 15 s, and
// returns that scrape; otherwise it fails the test, naming each want that did not hold.
// Waiting for one series and then checking others in that scrape races whatever moves
// them a moment later (a gauge polled on an interval, a request counted after its
// answer was written): wait for all of them at once.
func WaitAll(t testing.TB, url string, wants ...Want) Families {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		fams := Scrape(t, url)
		unmet := fams.unmet(wants)
		if len(unmet) == 0 {
			return fams
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s after 15s:\n%s", url, strings.Join(unmet, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unmet describes each want f does not hold, with the value it has and the family's
// series.
func (f Families) unmet(wants []Want) []string {
	var out []string
	for _, w := range wants {
		if got, _ := f.Value(w.Name, w.Labels); got != w.Value {
			out = append(out, fmt.Sprintf("%s{%s} = %v, want %v; series: %v", w.Name, labelString(w.Labels), got, w.Value, f.Series(w.Name)))
		}
	}
	return out
}

// Value is the value of the series of family name whose labels include labels (a
// counter's or gauge's value, a histogram's sample count), and whether there is one.
// More than one matching series is summed.
func (f Families) Value(name string, labels map[string]string) (float64, bool) {
	fam, ok := f[name]
	if !ok {
		return 0, false
	}
	var sum float64
	found := false
	for _, m := range fam.GetMetric() {
		if !matches(m, labels) {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum, found
}

// Series lists family name's series as label sets ("code=200,route=/v1/x"), sorted,
// for failure messages.
func (f Families) Series(name string) []string {
	var out []string
	for _, m := range f[name].GetMetric() {
		var kv []string
		for _, l := range m.GetLabel() {
			kv = append(kv, fmt.Sprintf("%s=%s", l.GetName(), l.GetValue()))
		}
		out = append(out, strings.Join(kv, ","))
	}
	sort.Strings(out)
	return out
}

// labelString writes labels as Series does, sorted: "code=200,route=/v1/x".
func labelString(labels map[string]string) string {
	kv := make([]string, 0, len(labels))
	for k, v := range labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func matches(m *dto.Metric, labels map[string]string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range labels {
		if have[k] != v {
			return false
		}
	}
	return true
}
