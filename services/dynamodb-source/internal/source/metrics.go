package source

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the source's Prometheus series (docs/observability.md). A nil *Metrics
// counts nothing.
//
// DynamoDB Streams' GetRecords, unlike Kinesis's, returns no MillisBehindLatest and no
// count of the records after a batch, so how far a shard is behind is known only from
// what was read: the iterator age is now minus the ApproximateCreationDateTime of the
// oldest record read and not yet delivered (0 once a read came back empty: caught up),
// and the pending records are those of the last batch not yet delivered, a lower bound
// of the records behind (a full batch says more may follow).
type Metrics struct {
	records  *prometheus.CounterVec
	failures *prometheus.CounterVec
	age      *prometheus.Desc
	pending  *prometheus.Desc
	held     *prometheus.Desc
	shards   sync.Map // shard id -> *shardProgress
	now      func() time.Time
}

// shardProgress is what the worker of one shard has read and not yet delivered.
type shardProgress struct {
	mu      sync.Mutex
	created []time.Time // the creation times of the batch's records, oldest first
	next    int         // the index of the first record not yet delivered
	pending atomic.Int64
}

// NewMetrics registers the source's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamodb_source_records_total",
			Help: "Stream records done with, by outcome (delivered: the sink accepted the event; dead_lettered: put on the dead-letter queue) and, for dead letters, reason (undecodable, refused: the sink answered 4xx, rounds: DELIVERY_ROUNDS failed rounds).",
		}, []string{"outcome", "reason"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamodb_source_delivery_failures_total",
			Help: "Delivery rounds that failed and will be retried, by kind (sink_error: the sink answered with a failure; sink_unreachable: no answer).",
		}, []string{"kind"}),
		age: prometheus.NewDesc("dynamodb_source_iterator_age_seconds",
			"Per leased shard, now minus the approximate creation time of the oldest record read and not yet delivered; 0 when the last read found nothing new.", []string{"shard"}, nil),
		pending: prometheus.NewDesc("dynamodb_source_records_pending",
			"Per leased shard, records of the last batch read and not yet delivered: a lower bound of the records behind (DynamoDB Streams tells no more).", []string{"shard"}, nil),
		held: prometheus.NewDesc("dynamodb_source_shards_leased", "Shards this worker holds the lease of.", nil, nil),
		now:  time.Now,
	}
	reg.MustRegister(m.records, m.failures, m)
	return m
}

// Describe is part of prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.age
	ch <- m.pending
	ch <- m.held
}

// Collect is part of prometheus.Collector: the shard gauges as of the scrape, so a
// shard whose delivery is stuck shows its age growing.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	now := m.now()
	n := 0
	m.shards.Range(func(k, v any) bool {
		n++
		s, id := v.(*shardProgress), k.(string)
		ch <- prometheus.MustNewConstMetric(m.age, prometheus.GaugeValue, s.age(now).Seconds(), id)
		ch <- prometheus.MustNewConstMetric(m.pending, prometheus.GaugeValue, float64(s.pending.Load()), id)
		return true
	})
	ch <- prometheus.MustNewConstMetric(m.held, prometheus.GaugeValue, float64(n))
}

// shard starts the series of a shard this worker leased; the returned func ends them.
func (m *Metrics) shard(id string) (*shardProgress, func()) {
	s := &shardProgress{}
	if m == nil {
		return s, func() {}
	}
	m.shards.Store(id, s)
	return s, func() { m.shards.CompareAndDelete(id, s) }
}

// read records a batch GetRecords returned.
func (s *shardProgress) read(recs []types.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.created, s.next = s.created[:0], 0
	for _, r := range recs {
		var t time.Time
		if r.Dynamodb != nil && r.Dynamodb.ApproximateCreationDateTime != nil {
			t = *r.Dynamodb.ApproximateCreationDateTime
		}
		s.created = append(s.created, t)
	}
	s.pending.Store(int64(len(recs)))
}

// done records that the batch's next record was delivered or dead-lettered.
func (s *shardProgress) done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next < len(s.created) {
		s.next++
		s.pending.Store(int64(len(s.created) - s.next))
	}
}

func (s *shardProgress) age(now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next >= len(s.created) || s.created[s.next].IsZero() {
		return 0
	}
	return max(now.Sub(s.created[s.next]), 0)
}

func (m *Metrics) delivered() {
	if m != nil {
		m.records.WithLabelValues("delivered", "").Inc()
	}
}

func (m *Metrics) deadLettered(reason string) {
	if m != nil {
		m.records.WithLabelValues("dead_lettered", reason).Inc()
	}
}

func (m *Metrics) failed(answered bool) {
	if m == nil {
		return
	}
	kind := "sink_unreachable"
	if answered {
		kind = "sink_error"
	}
	m.failures.WithLabelValues(kind).Inc()
}
