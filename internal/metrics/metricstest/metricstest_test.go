package metricstest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// exposition serves one scrape after another from pages, then the last one again: a
// counter that moves first and a gauge that follows it a scrape later.
func exposition(t *testing.T, pages ...string) string {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := min(int(n.Add(1))-1, len(pages)-1)
		fmt.Fprint(w, pages[i])
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

const (
	movedFirst = "# TYPE done_total counter\ndone_total{outcome=\"ok\"} 2\n# TYPE queue gauge\nqueue{state=\"visible\"} 3\n"
	settled    = "# TYPE done_total counter\ndone_total{outcome=\"ok\"} 2\n# TYPE queue gauge\nqueue{state=\"visible\"} 0\n"
)

func TestWaitAllWaitsForEverySeriesInOneScrape(t *testing.T) {
	url := exposition(t, movedFirst, movedFirst, settled)
	fams := WaitAll(t, url,
		Want{Name: "done_total", Labels: map[string]string{"outcome": "ok"}, Value: 2},
		Want{Name: "queue", Labels: map[string]string{"state": "visible"}, Value: 0})
	if got, _ := fams.Value("queue", map[string]string{"state": "visible"}); got != 0 {
		t.Errorf("WaitAll returned a scrape with queue{visible} = %v, want 0", got)
	}
}

// WaitValue alone returns the first scrape that has its one series: the race WaitAll is
// for.
func TestWaitValueReturnsTheFirstScrapeWithItsSeries(t *testing.T) {
	url := exposition(t, movedFirst, settled)
	fams := WaitValue(t, url, "done_total", map[string]string{"outcome": "ok"}, 2)
	if got, _ := fams.Value("queue", map[string]string{"state": "visible"}); got != 3 {
		t.Errorf("queue{visible} = %v, want the first scrape's 3", got)
	}
}

func TestUnmetNamesEachWantThatDoesNotHold(t *testing.T) {
	fams := Scrape(t, exposition(t, movedFirst))
	got := fams.unmet([]Want{
		{Name: "done_total", Labels: map[string]string{"outcome": "ok"}, Value: 2},
		{Name: "queue", Labels: map[string]string{"state": "visible"}, Value: 0},
		{Name: "absent", Value: 1},
	})
	if len(got) != 2 || !strings.HasPrefix(got[0], "queue{state=visible} = 3, want 0; series: [state=visible]") ||
		!strings.HasPrefix(got[1], "absent{} = 0, want 1") {
		t.Errorf("unmet = %q", got)
	}
}
