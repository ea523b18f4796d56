package bench

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wrkDuration is how long each wrk run lasts.
const wrkDuration = "4s"

// rounds is how many times each target of a comparison is measured; the median is
// reported. Targets are measured in turns (reference, subject, reference, ...) so that
// a slow phase of the machine weighs on all of them alike.
const rounds = 3

func needWrk(b *testing.B) string {
	b.Helper()
	p, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk is not installed: apt-get install -y wrk (hack/bench.sh installs it)")
	}
	return p
}

// placement says which CPUs the processes of an HTTP benchmark run on.
type placement struct {
	name    string // shared or isolated; the prefix of the metrics measured so
	servers string // taskset CPU list of the processes under test; "" = any CPU
	load    string // taskset CPU list of wrk; "" = any CPU
	threads int    // wrk threads
}

// shared runs wrk and the servers on all CPUs, competing for them.
var shared = placement{name: "shared", threads: 2}

// isolated gives wrk the upper half of the CPUs and the servers the lower half, as a
// load generator on a machine of its own would be. Latency percentiles need it: when
// wrk shares CPUs with the servers, its threads wait behind theirs for CPU time and the
// latency wrk records includes its own waiting (on a 2-CPU machine the bare net/http
// TLS server's p99 reads about 6 ms shared and about 2.5 ms isolated). ok is false
// with fewer than 2 CPUs or without taskset (util-linux).
func isolated() (p placement, ok bool) {
	n := runtime.NumCPU()
	if _, err := exec.LookPath("taskset"); err != nil || n < 2 {
		return placement{}, false
	}
	half := n / 2
	return placement{
		name:    "isolated",
		servers: cpuList(0, half-1),
		load:    cpuList(half, n-1),
		threads: n - half,
	}, true
}

// placements are shared, and isolated where the machine allows.
func placements() []placement {
	if p, ok := isolated(); ok {
		return []placement{shared, p}
	}
	return []placement{shared}
}

func cpuList(first, last int) string {
	if first == last {
		return strconv.Itoa(first)
	}
	return fmt.Sprintf("%d-%d", first, last)
}

// command runs bin with args on cpus ("" = any CPU).
func command(cpus, bin string, args ...string) *exec.Cmd {
	if cpus == "" {
		return exec.Command(bin, args...)
	}
	return exec.Command("taskset", append([]string{"-c", cpus, bin}, args...)...)
}

// wrkResult is what one wrk run measured.
type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
	non2xx   int
	// cpuPerReq is the CPU time the target's processes spent per request (when the
	// target names them): unlike throughput, it does not depend on what else runs on
	// the machine.
	cpuPerReq time.Duration
}

// cpuUs is cpuPerReq in microseconds.
func (r wrkResult) cpuUs() float64 { return float64(r.cpuPerReq.Nanoseconds()) / 1000 }

func (r wrkResult) p50ms() float64 { return float64(r.p50.Microseconds()) / 1000 }
func (r wrkResult) p99ms() float64 { return float64(r.p99.Microseconds()) / 1000 }

var (
	requestsRe = regexp.MustCompile(`(\d+) requests in`)
	rpsRe      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	latRe      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	non2xxRe   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// target is a URL to load, with the request headers to send.
type target struct {
	url     string
	headers []string
	// pids, when set, are the server processes whose CPU time (their threads' and
	// their children's, such as nginx's workers) is measured per request.
	pids []int
	// script, when set, is a wrk Lua script (a method or body other than GET's).
	script string
}

// runWrk loads t with conns connections for wrkDuration, wrk placed as p says.
func runWrk(b *testing.B, wrk string, p placement, t target, conns int) wrkResult {
	b.Helper()
	args := []string{fmt.Sprintf("-t%d", min(p.threads, conns)), fmt.Sprintf("-c%d", conns), "-d" + wrkDuration, "--latency", "--timeout", "5s"}
	for _, h := range t.headers {
		args = append(args, "-H", h)
	}
	if t.script != "" {
		args = append(args, "-s", t.script)
	}
	var before time.Duration
	for _, pid := range t.pids {
		before += cpuTime(b, pid)
	}
	out, err := command(p.load, wrk, append(args, t.url)...).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk %s: %v\n%s", t.url, err, out)
	}
	var r wrkResult
	if len(t.pids) > 0 {
		used := -before
		for _, pid := range t.pids {
			used += cpuTime(b, pid)
		}
		m := requestsRe.FindSubmatch(out)
		if m == nil {
			b.Fatalf("wrk output has no request count:\n%s", out)
		}
		if n, _ := strconv.Atoi(string(m[1])); n > 0 {
			r.cpuPerReq = used / time.Duration(n)
		}
	}
	m := rpsRe.FindSubmatch(out)
	if m == nil {
		b.Fatalf("wrk output has no Requests/sec:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	for _, l := range latRe.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(l[2]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(l[3])]
		d := time.Duration(v * float64(unit))
		if string(l[1]) == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if m := non2xxRe.FindSubmatch(out); m != nil {
		r.non2xx, _ = strconv.Atoi(string(m[1]))
	}
	if strings.Contains(string(out), "Socket errors") {
		b.Logf("wrk %s reported socket errors:\n%s", t.url, out)
	}
	return r
}

// compare measures the targets in turns, rounds times each, and returns for each the
// median of its runs' throughputs and of their percentiles. Any non-2xx answer fails
// the benchmark: an error page is not a fair comparison.
func compare(b *testing.B, wrk string, p placement, conns int, targets ...target) []wrkResult {
	b.Helper()
	runs := make([][]wrkResult, len(targets))
	for range rounds {
		for i, t := range targets {
			r := runWrk(b, wrk, p, t, conns)
			if r.non2xx > 0 {
				b.Fatalf("%d non-2xx answers from %s", r.non2xx, t.url)
			}
			runs[i] = append(runs[i], r)
		}
	}
	out := make([]wrkResult, len(targets))
	for i, rs := range runs {
		out[i] = wrkResult{
			rps:       median(rs, func(r wrkResult) float64 { return r.rps }),
			p50:       time.Duration(median(rs, func(r wrkResult) float64 { return float64(r.p50) })),
			p99:       time.Duration(median(rs, func(r wrkResult) float64 { return float64(r.p99) })),
			cpuPerReq: time.Duration(median(rs, func(r wrkResult) float64 { return float64(r.cpuPerReq) })),
		}
	}
	return out
}

func median(rs []wrkResult, f func(wrkResult) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// clockTick is the unit of the CPU times in /proc (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU time (user + system) process pid and its live children have used.
func cpuTime(b *testing.B, pid int) time.Duration {
	b.Helper()
	total := procTicks(b, pid)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child)); err == nil && statField(stat, 4) == strconv.Itoa(pid) {
			total += procTicks(b, child)
		}
	}
	return time.Duration(total) * clockTick
}

// procTicks is utime + stime of pid, in clock ticks.
func procTicks(b *testing.B, pid int) int64 {
	b.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("CPU time of %d: %v", pid, err)
	}
	u, _ := strconv.ParseInt(statField(stat, 14), 10, 64)
	s, _ := strconv.ParseInt(statField(stat, 15), 10, 64)
	return u + s
}

// statField returns field n (1-based, as proc(5) numbers them) of a /proc/<pid>/stat
// line; the command name (field 2) may hold spaces and is skipped by its parentheses.
func statField(stat []byte, n int) string {
	line := string(stat)
	i := strings.LastIndexByte(line, ')')
	if i < 0 || n < 3 {
		return ""
	}
	f := strings.Fields(line[i+1:])
	if n-3 >= len(f) {
		return ""
	}
	return f[n-3]
}
