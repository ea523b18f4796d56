// Package api is the thumbnailer's edge and wiring: its configuration, its AWS clients
// and the CloudEvents receiver in front of the photo handler.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/memlimit"
	"github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/internal/s3event"
	"github.com/serverless-architect/serverless-architect/internal/server"
	"github.com/serverless-architect/serverless-architect/internal/thumbnail"
	"github.com/serverless-architect/serverless-architect/services/thumbnailer/internal/photo"
	"github.com/serverless-architect/serverless-architect/services/thumbnailer/internal/store"
)

// Config is the thumbnailer's whole configuration, read from the environment once at
// start. services/thumbnailer/README.md lists every variable with its default.
type Config struct {
	server.Config

	// Region is the AWS region of the bucket and table.
	Region string `env:"AWS_REGION,required"`
	// PostsTable is the blog's table, which holds the photo items.
	PostsTable string `env:"POSTS_TABLE" envDefault:"posts"`
	// S3ForcePathStyle makes S3 requests path-style (moto needs it).
	S3ForcePathStyle bool `env:"S3_FORCE_PATH_STYLE" envDefault:"false"`
	// Widths are the thumbnail widths; the first is thumbnails/<id>.jpg.
	Widths []int `env:"THUMBNAIL_WIDTHS" envDefault:"256" envSeparator:","`
	// Quality is the JPEG quality of the thumbnails.
	Quality int `env:"THUMBNAIL_QUALITY" envDefault:"82"`
	// CacheControl is the thumbnails' Cache-Control header.
	CacheControl string `env:"THUMBNAIL_CACHE_CONTROL" envDefault:"public, max-age=31536000, immutable"`
	// WebP also writes each thumbnail as WebP when that is smaller.
	WebP bool `env:"THUMBNAIL_WEBP" envDefault:"true"`
	// MaxPixels, MaxImageBytes, MaxMetadataBytes and MaxFrames refuse larger uploads.
	MaxPixels        int64 `env:"MAX_PIXELS" envDefault:"50000000"`
	MaxImageBytes    int64 `env:"MAX_IMAGE_BYTES" envDefault:"26214400"`
	MaxMetadataBytes int64 `env:"MAX_METADATA_BYTES" envDefault:"1048576"`
	MaxFrames        int   `env:"MAX_FRAMES" envDefault:"1000"`
	// MemoryBudget bounds the bytes all jobs in flight reserve together.
	MemoryBudget int64 `env:"MEMORY_BUDGET_BYTES" envDefault:"872415232"`
	// ProbeBytes is how much of an upload is read to find its header.
	ProbeBytes int64 `env:"PROBE_BYTES" envDefault:"262144"`
	// UploadsPrefix and ThumbnailsPrefix are where uploads are and thumbnails go.
	UploadsPrefix    string `env:"UPLOADS_PREFIX" envDefault:"uploads/"`
	ThumbnailsPrefix string `env:"THUMBNAILS_PREFIX" envDefault:"thumbnails/"`
	// CgroupRoot is where the container's memory limit is read (memlimit).
	CgroupRoot string `env:"CGROUP_ROOT" envDefault:"/sys/fs/cgroup"`
	// GoMemLimit is GOMEMLIMIT as set (the runtime applies it; memlimit leaves it be).
	GoMemLimit string `env:"GOMEMLIMIT"`
}

// Options are the photo handler options cfg sets.
func (c Config) Options() photo.Options {
	return photo.Options{
		Thumbnail: thumbnail.Options{
			Widths: c.Widths, Quality: c.Quality, MaxAspect: thumbnail.DefaultOptions.MaxAspect, WebP: c.WebP,
			Limits: thumbnail.Limits{MaxPixels: c.MaxPixels, MaxBytes: c.MaxImageBytes, MaxMetadataBytes: c.MaxMetadataBytes, MaxFrames: c.MaxFrames},
		},
		MemoryBudget: c.MemoryBudget, ProbeBytes: c.ProbeBytes,
		UploadsPrefix: c.UploadsPrefix, ThumbnailsPrefix: c.ThumbnailsPrefix, CacheControl: c.CacheControl,
	}
}

// Build checks cfg, sets Go's memory limit from the container's, and returns the
// thumbnailer's HTTP handler (CloudEvents on POST /). The AWS clients are built, and
// the WebAssembly codecs compiled, in the background so the server is ready at once;
// events arriving first wait for them.
func Build(ctx context.Context, cfg Config, log *slog.Logger) (http.Handler, error) {
	opts := cfg.Options()
	photos := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "thumbnailer_photos_total",
		Help: "Upload events handled, by outcome (ready, rejected, failed, duplicate, error: retried) and, for rejected and failed, reason (too_large, not_image, type_mismatch, upload_gone).",
	}, []string{"outcome", "reason"})
	metrics.FromContext(ctx).MustRegister(photos)
	opts.Outcome = func(outcome, reason string) { photos.WithLabelValues(outcome, reason).Inc() }
	if _, err := photo.New(nil, nil, opts, log); err != nil {
		return nil, err
	}
	limit, source, err := memlimit.Apply(func(string) string { return cfg.GoMemLimit }, cfg.CgroupRoot)
	if err != nil {
		log.Warn("cannot read the container's memory limit; Go's is left as it was", "err", err)
	}
	log.Info("memory", "goMemoryLimitBytes", limit, "from", source, "memoryBudgetBytes", cfg.MemoryBudget)
	if limit != math.MaxInt64 && cfg.MemoryBudget > limit-runtimeBytes {
		log.Warn("MEMORY_BUDGET_BYTES leaves less than 48 MiB under Go's memory limit for the runtime, the server and the codecs: "+
			"large jobs may make the collector thrash or the container be OOM-killed; lower the budget or raise the container's limit",
			"memoryBudgetBytes", cfg.MemoryBudget, "goMemoryLimitBytes", limit)
	}
	go thumbnail.Warm()
	h := awsconf.Start(ctx, func(ctx context.Context) (*photo.Handler, error) {
		awsCfg, err := awsconf.Load(ctx, awsconf.Options{Region: cfg.Region})
		if err != nil {
			log.Error("cannot build the AWS clients; every event will fail (and be retried) until restarted", "err", err)
			return nil, err
		}
		objects := store.S3{Client: s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = cfg.S3ForcePathStyle })}
		photos := store.Photos{Client: dynamodb.NewFromConfig(awsCfg), Table: cfg.PostsTable}
		return photo.New(objects, photos, opts, log)
	})
	return cloudevent.NewHTTPHandler(log, func(ctx context.Context, e cloudevents.Event) error {
		ph, err := h.Get(ctx)
		if err != nil {
			return apperr.Wrap(err, apperr.Unavailable, "the thumbnailer cannot reach AWS yet")
		}
		return receive(ctx, ph, e)
	}), nil
}

// receive hands the upload an S3 ObjectCreated event names to ph; every other event is
// acknowledged and ignored. An event that is not a valid S3 record, and an upload the
// photo handler says it can never process, are refused for good (cloudevent.Permanent).
func receive(ctx context.Context, ph *photo.Handler, e cloudevents.Event) error {
	if !s3event.IsObjectCreated(e) {
		return nil
	}
	rec, key, err := s3event.FromEvent(e)
	if err != nil {
		return cloudevent.Permanent(err)
	}
	err = ph.Upload(ctx, rec.S3.Bucket.Name, key)
	if err != nil && apperr.CodeOf(err) == apperr.Invalid {
		return cloudevent.Permanent(err)
	}
	return err
}

// runtimeBytes is what the thumbnailer uses outside the budgeted jobs: the Go runtime,
// the HTTP server, the AWS SDK, the compiled WebAssembly codecs (the whole process was
// 34 MiB resident between bursts in TestBurstOfHugeUploadsFitsTheContainer).
const runtimeBytes = 48 << 20

// Describe is the start-up line's attributes.
func (c Config) Describe() []any {
	return []any{"table", c.PostsTable, "widths", fmt.Sprint(c.Widths), "memoryBudgetBytes", c.MemoryBudget}
}
