package devstack

import (
	"bufio"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The local trace collector. sa dev runs a small OTLP/HTTP receiver in its own process
// (on a loopback port the system picks) and points every service at it
// (OTEL_EXPORTER_OTLP_ENDPOINT), so locally every service records spans. The receiver
// appends each span it gets, as one JSON line (Span), to <dir>/traces/<UTC day>.jsonl;
// `sa trace <trace-id>` reads them back. Files are kept across runs; delete the
// directory to forget them. The same server answers GET /metrics with sa dev's own
// series (metrics.go).

// TracesDir is the directory, under the stack's, of the collected spans.
const TracesDir = "traces"

// traceBodyMax bounds one export request's body (decompressed).
const traceBodyMax = 32 << 20

// Span is one collected span, as a line of a traces file.
type Span struct {
	TraceID       string         `json:"traceId"`
	SpanID        string         `json:"spanId"`
	ParentSpanID  string         `json:"parentSpanId,omitempty"`
	Service       string         `json:"service"`
	Name          string         `json:"name"`
	Kind          string         `json:"kind"`
	Start         time.Time      `json:"start"`
	End           time.Time      `json:"end"`
	Status        string         `json:"status"` // unset, ok or error
	StatusMessage string         `json:"statusMessage,omitempty"`
	Attributes    map[string]any `json:"attributes,omitempty"`
	Links         []SpanLink     `json:"links,omitempty"`
}

// SpanLink is a span's link to a span of another trace.
type SpanLink struct {
	TraceID string `json:"traceId"`
	SpanID  string `json:"spanId"`
}

// Duration is how long the span took.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// traceReceiver is the OTLP/HTTP receiver (POST /v1/traces, protobuf or JSON, gzip or
// not), writing under dir.
type traceReceiver struct {
	dir string
	now func() time.Time
	mu  sync.Mutex // serialises appends, so lines never interleave
}

// startTraces serves the receiver on a loopback port and returns the endpoint the
// services are given (OTEL_EXPORTER_OTLP_ENDPOINT: the base URL, without /v1/traces).
func (s *stackRun) startTraces() (string, error) {
	dir := filepath.Join(s.o.Dir, TracesDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("trace directory: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("the trace receiver cannot listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, s.metricsHandler())
	mux.Handle("/", &traceReceiver{dir: dir, now: time.Now})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.con.Printf("the trace receiver stopped: %v", err)
		}
	}()
	s.mu.Lock()
	s.traces = srv
	s.mu.Unlock()
	u := "http://" + ln.Addr().String()
	s.con.Printf("collecting traces on %s into %s (sa trace <trace-id>); sa dev's own metrics on %s%s", u, dir, u, MetricsPath)
	return u, nil
}

// stopTraces stops the receiver, if it runs.
func (s *stackRun) stopTraces() { s.stopServer(&s.traces) }

func (t *traceReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" {
		http.Error(w, "this receiver takes traces only: POST /v1/traces", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST the spans", http.StatusMethodNotAllowed)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-protobuf" && mt != "application/json" {
		http.Error(w, "Content-Type must be application/x-protobuf or application/json (OTLP/HTTP)", http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, "bad gzip body: "+err.Error(), http.StatusBadRequest)
			return
		}
		defer func() { _ = zr.Close() }()
		body = zr
	}
	b, err := io.ReadAll(io.LimitReader(body, traceBodyMax+1))
	if err != nil || len(b) > traceBodyMax {
		http.Error(w, fmt.Sprintf("cannot read the body (the limit is %d bytes): %v", traceBodyMax, err), http.StatusRequestEntityTooLarge)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if mt == "application/json" {
		err = protojson.Unmarshal(b, &req)
	} else {
		err = proto.Unmarshal(b, &req)
	}
	if err != nil {
		http.Error(w, "not an OTLP ExportTraceServiceRequest: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := t.write(spansOf(&req)); err != nil {
		http.Error(w, "cannot store the spans: "+err.Error(), http.StatusInternalServerError)
		return
	}
	var resp []byte
	if mt == "application/json" {
		resp, err = protojson.Marshal(&coltracepb.ExportTraceServiceResponse{})
	} else {
		resp, err = proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", mt)
	_, _ = w.Write(resp)
}

// write appends spans to the file of the day.
func (t *traceReceiver) write(spans []Span) error {
	if len(spans) == 0 {
		return nil
	}
	var b []byte
	for _, s := range spans {
		line, err := json.Marshal(s)
		if err != nil {
			return err
		}
		b = append(append(b, line...), '\n')
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(t.dir, t.now().UTC().Format(time.DateOnly)+".jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// spansOf flattens an export request into Spans.
func spansOf(req *coltracepb.ExportTraceServiceRequest) []Span {
	var out []Span
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				s := Span{
					TraceID:       hex.EncodeToString(sp.GetTraceId()),
					SpanID:        hex.EncodeToString(sp.GetSpanId()),
					ParentSpanID:  hex.EncodeToString(sp.GetParentSpanId()),
					Service:       service,
					Name:          sp.GetName(),
					Kind:          strings.ToLower(strings.TrimPrefix(sp.GetKind().String(), "SPAN_KIND_")),
					Start:         time.Unix(0, int64(sp.GetStartTimeUnixNano())).UTC(), //nolint:gosec // nanoseconds since 1970 fit an int64 until 2262
					End:           time.Unix(0, int64(sp.GetEndTimeUnixNano())).UTC(),   //nolint:gosec // as above
					Status:        strings.ToLower(strings.TrimPrefix(sp.GetStatus().GetCode().String(), "STATUS_CODE_")),
					StatusMessage: sp.GetStatus().GetMessage(),
				}
				if attrs := sp.GetAttributes(); len(attrs) > 0 {
					s.Attributes = make(map[string]any, len(attrs))
					for _, kv := range attrs {
						s.Attributes[kv.GetKey()] = anyValue(kv.GetValue())
					}
				}
				for _, l := range sp.GetLinks() {
					s.Links = append(s.Links, SpanLink{TraceID: hex.EncodeToString(l.GetTraceId()), SpanID: hex.EncodeToString(l.GetSpanId())})
				}
				out = append(out, s)
			}
		}
	}
	return out
}

// anyValue is v as a JSON value.
func anyValue(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return hex.EncodeToString(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		a := make([]any, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			a = append(a, anyValue(e))
		}
		return a
	case *commonpb.AnyValue_KvlistValue:
		m := map[string]any{}
		for _, kv := range x.KvlistValue.GetValues() {
			m[kv.GetKey()] = anyValue(kv.GetValue())
		}
		return m
	default:
		return nil
	}
}

// ReadTrace returns the spans of traceID (32 hex digits) collected under the stack
// directory dir, in start order; none (and no error) when there are none yet.
func ReadTrace(dir, traceID string) ([]Span, error) {
	traceID = strings.ToLower(strings.TrimSpace(traceID))
	if len(traceID) != 32 {
		return nil, fmt.Errorf("trace id %q: want 32 hex digits (the X-Trace-Id of an answer)", traceID)
	}
	if _, err := hex.DecodeString(traceID); err != nil {
		return nil, fmt.Errorf("trace id %q: want 32 hex digits (the X-Trace-Id of an answer)", traceID)
	}
	var out []Span
	err := eachSpan(dir, func(s Span) bool {
		if s.TraceID == traceID {
			out = append(out, s)
		}
		return true
	})
	slices.SortStableFunc(out, func(a, b Span) int { return a.Start.Compare(b.Start) })
	return out, err
}

// AllSpans returns every span collected under the stack directory dir, in the order
// they were written.
func AllSpans(dir string) ([]Span, error) {
	var out []Span
	err := eachSpan(dir, func(s Span) bool {
		out = append(out, s)
		return true
	})
	return out, err
}

// LastTrace returns the id of the newest trace that a request or an event began: the
// trace of the span of kind server, consumer or producer that started last among the
// spans collected under dir; "" when there is none. The pollers' own calls (a stream
// read, a queue receive: each a trace of one client span) are not what an operator
// looks for.
func LastTrace(dir string) (string, error) {
	var last Span
	err := eachSpan(dir, func(s Span) bool {
		entry := s.Kind == "server" || s.Kind == "consumer" || s.Kind == "producer"
		if entry && !s.Start.Before(last.Start) {
			last = s
		}
		return true
	})
	return last.TraceID, err
}

// eachSpan calls f with every span of every traces file under dir, oldest file first,
// until f returns false. Lines that do not parse (a line cut short by a crash) are
// skipped.
func eachSpan(dir string, f func(Span) bool) error {
	files, err := filepath.Glob(filepath.Join(dir, TracesDir, "*.jsonl"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		if _, err := os.Stat(filepath.Join(dir, TracesDir)); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no traces collected in %s: sa dev collects them while it runs", filepath.Join(dir, TracesDir))
		}
	}
	slices.Sort(files)
	for _, name := range files {
		file, err := os.Open(name)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(file)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var s Span
			if json.Unmarshal(sc.Bytes(), &s) != nil {
				continue
			}
			if !f(s) {
				_ = file.Close()
				return nil
			}
		}
		err = sc.Err()
		_ = file.Close()
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
	}
	return nil
}

// tracesEnv is the environment that points a service at the receiver: spans are
// exported every 200 ms rather than every 5 s, so `sa trace` finds a request's spans
// as soon as it is answered. The receiver takes traces only, so the services do not
// push metrics to it (OTEL_METRICS_EXPORTER=none): locally their series are on each
// one's Prometheus /metrics.
func tracesEnv(endpoint string) []string {
	if endpoint == "" {
		return nil
	}
	return []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint,
		"OTEL_BSP_SCHEDULE_DELAY=200",
		"OTEL_METRICS_EXPORTER=none",
	}
}
