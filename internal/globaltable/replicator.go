// Package globaltable is a local stand-in for DynamoDB Global Tables (version
// 2019.11.21) between regions of one endpoint that has none (moto keeps a table of the
// same name in each region apart, and ignores ReplicaUpdates).
//
// A Replicator follows the stream of each replicated table in each region and applies
// every write made in one region to the table of every other region, where it appears
// in that region's stream as an ordinary INSERT, MODIFY or REMOVE record, as it does in
// AWS. Concurrent writes of one item in two regions resolve last writer wins: the write
// with the later time (the stream record's approximate creation time; on one moto one
// clock stamps every region; ties go to the greater region name) ends up in every
// region. The lag from a write to its copy in another region is measured and reported.
//
// What differs from AWS, and why it does not matter for the project's tests: the copies
// are ordinary writes of the endpoint, so a losing concurrent write that reaches a
// region first is overwritten there by a repair (one more record in that region's
// stream) instead of never being applied; and a write that changes nothing still
// appears in moto's streams.
package globaltable

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
)

// DynamoDBAPI is the part of the DynamoDB client the replicator uses.
type DynamoDBAPI interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTable(ctx context.Context, in *dynamodb.UpdateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateTableOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// StreamsAPI is the part of the DynamoDB Streams client the replicator uses.
type StreamsAPI interface {
	DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// Region is one region's clients.
type Region struct {
	Name    string
	DB      DynamoDBAPI
	Streams StreamsAPI
}

// Replicator keeps same-named tables of several regions replicas of each other. Make
// one with New; Run runs it.
type Replicator struct {
	regions []Region
	tables  []string
	log     *slog.Logger
	// PollInterval is the pause after a round of reads that found nothing (50ms).
	PollInterval time.Duration
	// ReportInterval is how often the lag is logged while writes are replicated (30s).
	ReportInterval time.Duration

	lag *lagStats
	wg  sync.WaitGroup
}

// New returns a Replicator of tables across regions (at least two), logging to log.
func New(regions []Region, tables []string, log *slog.Logger) (*Replicator, error) {
	if len(regions) < 2 {
		return nil, fmt.Errorf("a global table needs at least two regions, got %d", len(regions))
	}
	seen := map[string]bool{}
	for _, r := range regions {
		if r.Name == "" || seen[r.Name] {
			return nil, fmt.Errorf("regions must be named and distinct: %q", r.Name)
		}
		seen[r.Name] = true
	}
	return &Replicator{regions: regions, tables: tables, log: log, PollInterval: 50 * time.Millisecond,
		ReportInterval: 30 * time.Second, lag: newLagStats()}, nil
}

// Run is Start, then Wait.
func (r *Replicator) Run(ctx context.Context) error {
	if err := r.Start(ctx); err != nil {
		return err
	}
	r.Wait()
	return nil
}

// Wait waits until the replication Start began has stopped (its context ended).
func (r *Replicator) Wait() { r.wg.Wait() }

// Start turns on the stream of each table that has none (NEW_AND_OLD_IMAGES, as adding
// a replica does in AWS), opens every stream at its trim horizon, so writes made while
// no replicator ran are replicated too, and replicates in the background until ctx
// ends. An error means a table cannot be replicated (missing, or streaming no new
// images); nothing runs then.
func (r *Replicator) Start(ctx context.Context) error {
	runs := make([]*tableRun, 0, len(r.tables))
	for _, t := range r.tables {
		tr := &tableRun{r: r, table: t, last: map[string]version{}, echoes: map[string]map[string][]time.Time{}, streams: map[string]*stream{}}
		for _, reg := range r.regions {
			s, err := openStream(ctx, reg, t)
			if err != nil {
				return err
			}
			tr.streams[reg.Name] = s
			tr.echoes[reg.Name] = map[string][]time.Time{}
		}
		runs = append(runs, tr)
	}
	r.log.Info("replicating", "tables", r.tables, "regions", r.regionNames())
	for _, tr := range runs {
		r.wg.Go(func() { tr.run(ctx) })
	}
	r.wg.Go(func() { r.report(ctx) })
	return nil
}

func (r *Replicator) regionNames() []string {
	names := make([]string, len(r.regions))
	for i, reg := range r.regions {
		names[i] = reg.Name
	}
	return names
}

// Lag returns the replication lag measured so far per direction ("us-east-1 ->
// eu-west-1"): from a write in one region to the end of its copy in the other.
func (r *Replicator) Lag() map[string]Lag { return r.lag.snapshot() }

// report logs the lag every ReportInterval in which writes were replicated.
func (r *Replicator) report(ctx context.Context) {
	t := time.NewTicker(r.ReportInterval)
	defer t.Stop()
	seen := map[string]int{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for dir, l := range r.Lag() {
			if l.Count != seen[dir] {
				seen[dir] = l.Count
				r.log.Info("replication lag", "direction", dir, "writes", l.Count, "p50", l.P50.String(), "p99", l.P99.String(), "max", l.Max.String())
			}
		}
	}
}

// stream is one region's stream of a table: an iterator per open shard.
type stream struct {
	region Region
	arn    string
	iters  map[string]string // shard id -> iterator ("" once closed)
	after  map[string]string // shard id -> last sequence number read
	listed time.Time
}

// openStream finds (or turns on) the stream of table in reg and positions it at the
// trim horizon of every shard.
func openStream(ctx context.Context, reg Region, table string) (*stream, error) {
	desc, err := reg.DB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return nil, fmt.Errorf("replicate table %s in %s: %w", table, reg.Name, err)
	}
	spec := desc.Table.StreamSpecification
	if spec == nil || !aws.ToBool(spec.StreamEnabled) {
		if _, err := reg.DB.UpdateTable(ctx, &dynamodb.UpdateTableInput{
			TableName:           aws.String(table),
			StreamSpecification: &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewTypeNewAndOldImages},
		}); err != nil {
			return nil, fmt.Errorf("turn on the stream of %s in %s: %w", table, reg.Name, err)
		}
		if desc, err = reg.DB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err != nil {
			return nil, fmt.Errorf("replicate table %s in %s: %w", table, reg.Name, err)
		}
	} else if v := spec.StreamViewType; v != ddbtypes.StreamViewTypeNewImage && v != ddbtypes.StreamViewTypeNewAndOldImages {
		return nil, fmt.Errorf("table %s in %s streams %s: replication needs new images", table, reg.Name, v)
	}
	s := &stream{region: reg, arn: aws.ToString(desc.Table.LatestStreamArn), iters: map[string]string{}, after: map[string]string{}}
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// refresh lists the stream's shards and opens an iterator on each one not seen yet.
func (s *stream) refresh(ctx context.Context) error {
	var start *string
	for {
		out, err := s.region.Streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(s.arn), ExclusiveStartShardId: start})
		if err != nil {
			return fmt.Errorf("describe stream %s: %w", s.arn, err)
		}
		for _, sh := range out.StreamDescription.Shards {
			id := aws.ToString(sh.ShardId)
			if _, ok := s.iters[id]; ok {
				continue
			}
			if err := s.position(ctx, id); err != nil {
				return err
			}
		}
		if start = out.StreamDescription.LastEvaluatedShardId; start == nil {
			s.listed = time.Now()
			return nil
		}
	}
}

// position opens an iterator on shard after the last record read, or at its trim
// horizon.
func (s *stream) position(ctx context.Context, shard string) error {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(s.arn), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon}
	if seq := s.after[shard]; seq != "" {
		in.ShardIteratorType, in.SequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, aws.String(seq)
	}
	out, err := s.region.Streams.GetShardIterator(ctx, in)
	if err != nil {
		return fmt.Errorf("get an iterator on %s shard %s: %w", s.arn, shard, err)
	}
	s.iters[shard] = aws.ToString(out.ShardIterator)
	return nil
}

// version is one write of an item: when, where, and what it left.
type version struct {
	at     time.Time
	region string
	// image is the item after the write; nil for a delete.
	image map[string]ddbtypes.AttributeValue
	keys  map[string]ddbtypes.AttributeValue
}

// newer reports whether v wins over w: later, or as late and from a greater region.
func (v version) newer(w version) bool {
	return v.at.After(w.at) || v.at.Equal(w.at) && v.region > w.region
}

// echoTTL is how long an expected copy is waited for in a stream.
const echoTTL = 5 * time.Minute

// tableRun replicates one table. One goroutine reads every region's stream of it and
// applies the copies, so its state needs no lock.
type tableRun struct {
	r       *Replicator
	table   string
	streams map[string]*stream
	// last is the winning version of each item (by key) seen so far.
	last map[string]version
	// echoes are the records this replicator's own copies will make, per region: a
	// record matching one is a copy, not a write to replicate.
	echoes map[string]map[string][]time.Time
}

func (t *tableRun) run(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		n, err := t.round(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures++
			d := cloudevent.Backoff(100*time.Millisecond, 5*time.Second, failures, rand.Float64())
			t.r.log.Error("replication round failed; retrying", "table", t.table, "err", err, "retryIn", d.String())
			if cloudevent.Sleep(ctx, d) != nil {
				return
			}
		case n == 0:
			failures = 0
			if cloudevent.Sleep(ctx, t.r.PollInterval) != nil {
				return
			}
		default:
			failures = 0
		}
	}
}

// round reads each region's stream once and handles what it read, in stream order per
// region. n is the number of records read.
func (t *tableRun) round(ctx context.Context) (n int, err error) {
	for _, reg := range t.r.regions {
		s := t.streams[reg.Name]
		if time.Since(s.listed) > 10*time.Second {
			if err := s.refresh(ctx); err != nil {
				return n, err
			}
		}
		for shard, iter := range s.iters {
			if iter == "" {
				continue
			}
			out, err := reg.Streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(iter), Limit: aws.Int32(100)})
			var expired *types.ExpiredIteratorException
			if errors.As(err, &expired) {
				if err := s.position(ctx, shard); err != nil {
					return n, err
				}
				continue
			}
			if err != nil {
				return n, fmt.Errorf("get records of %s in %s: %w", t.table, reg.Name, err)
			}
			for _, rec := range out.Records {
				if err := t.handle(ctx, reg.Name, rec); err != nil {
					return n, err
				}
				if rec.Dynamodb != nil {
					s.after[shard] = aws.ToString(rec.Dynamodb.SequenceNumber)
				}
				n++
			}
			s.iters[shard] = aws.ToString(out.NextShardIterator)
		}
	}
	return n, nil
}

// handle takes one record of region's stream: a copy this replicator made (checked
// against the winning version, and repaired when a newer write reached that region
// first), or a write made there, which is copied to every other region unless a newer
// write of the item is known.
func (t *tableRun) handle(ctx context.Context, region string, rec types.Record) error {
	if rec.Dynamodb == nil || rec.Dynamodb.Keys == nil {
		return nil
	}
	v := version{region: region, keys: item(rec.Dynamodb.Keys)}
	if rec.EventName != types.OperationTypeRemove {
		if rec.Dynamodb.NewImage == nil {
			return fmt.Errorf("record %s of %s in %s has no new image", aws.ToString(rec.EventID), t.table, region)
		}
		v.image = item(rec.Dynamodb.NewImage)
	}
	if rec.Dynamodb.ApproximateCreationDateTime != nil {
		v.at = *rec.Dynamodb.ApproximateCreationDateTime
	}
	key := fingerprint(v.keys, nil)
	if t.takeEcho(region, fingerprint(v.keys, v.image)) {
		if cur, ok := t.last[key]; ok && fingerprint(cur.keys, cur.image) != fingerprint(v.keys, v.image) {
			// A newer write of the item reached this region before our copy of an
			// older one: the copy overwrote it. Put the winner back.
			t.r.log.Debug("repairing a region overwritten by an older copy", "table", t.table, "region", region, "key", key)
			return t.apply(ctx, t.r.region(region), cur)
		}
		return nil
	}
	if cur, ok := t.last[key]; ok && !v.newer(cur) {
		// A concurrent write that lost: the winner is (or will be) in this region too.
		t.r.log.Debug("a write lost to a newer one (last writer wins)", "table", t.table, "region", region, "key", key)
		return nil
	}
	t.last[key] = v
	for _, reg := range t.r.regions {
		if reg.Name == region {
			continue
		}
		if err := t.apply(ctx, reg, v); err != nil {
			return err
		}
		t.r.lag.add(region+" -> "+reg.Name, time.Since(v.at))
	}
	return nil
}

// apply writes v into reg's table and expects the record it makes there.
func (t *tableRun) apply(ctx context.Context, reg Region, v version) error {
	region := reg.Name
	if v.image != nil {
		if _, err := reg.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(t.table), Item: v.image}); err != nil {
			return fmt.Errorf("copy a write of %s from %s to %s: %w", t.table, v.region, region, err)
		}
		t.expectEcho(region, fingerprint(v.keys, v.image))
		return nil
	}
	out, err := reg.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(t.table), Key: v.keys, ReturnValues: ddbtypes.ReturnValueAllOld})
	if err != nil {
		return fmt.Errorf("copy a delete of %s from %s to %s: %w", t.table, v.region, region, err)
	}
	if len(out.Attributes) > 0 { // deleting nothing makes no record
		t.expectEcho(region, fingerprint(v.keys, nil))
	}
	return nil
}

// region returns the region named name (one of the replicator's: records come only
// from their streams).
func (r *Replicator) region(name string) Region {
	for _, reg := range r.regions {
		if reg.Name == name {
			return reg
		}
	}
	return Region{Name: name}
}

func (t *tableRun) expectEcho(region, fp string) {
	t.echoes[region][fp] = append(t.echoes[region][fp], time.Now().Add(echoTTL))
}

// takeEcho consumes an expected copy matching fp, dropping expired expectations.
func (t *tableRun) takeEcho(region, fp string) bool {
	now := time.Now()
	for k, exp := range t.echoes[region] {
		live := exp[:0]
		for _, e := range exp {
			if e.After(now) {
				live = append(live, e)
			}
		}
		if len(live) == 0 {
			delete(t.echoes[region], k)
		} else {
			t.echoes[region][k] = live
		}
	}
	if exp := t.echoes[region][fp]; len(exp) > 0 {
		t.echoes[region][fp] = exp[1:]
		return true
	}
	return false
}
