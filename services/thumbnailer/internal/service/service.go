// Package service wires the thumbnailer: its configuration, its AWS clients and the
// CloudEvents receiver in front of the photo handler.
package service

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
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
	// MaxPixels and MaxImageBytes refuse larger uploads.
	MaxPixels     int64 `env:"MAX_PIXELS" envDefault:"50000000"`
	MaxImageBytes int64 `env:"MAX_IMAGE_BYTES" envDefault:"26214400"`
	// MemoryBudget bounds the bytes all jobs in flight reserve together.
	MemoryBudget int64 `env:"MEMORY_BUDGET_BYTES" envDefault:"268435456"`
	// ProbeBytes is how much of an upload is read to find its header.
	ProbeBytes int64 `env:"PROBE_BYTES" envDefault:"262144"`
	// UploadsPrefix and ThumbnailsPrefix are where uploads are and thumbnails go.
	UploadsPrefix    string `env:"UPLOADS_PREFIX" envDefault:"uploads/"`
	ThumbnailsPrefix string `env:"THUMBNAILS_PREFIX" envDefault:"thumbnails/"`
}

// Options are the photo handler options cfg sets.
func (c Config) Options() photo.Options {
	return photo.Options{
		Thumbnail: thumbnail.Options{
			Widths: c.Widths, Quality: c.Quality, MaxAspect: thumbnail.DefaultOptions.MaxAspect,
			Limits: thumbnail.Limits{MaxPixels: c.MaxPixels, MaxBytes: c.MaxImageBytes},
		},
		MemoryBudget: c.MemoryBudget, ProbeBytes: c.ProbeBytes,
		UploadsPrefix: c.UploadsPrefix, ThumbnailsPrefix: c.ThumbnailsPrefix, CacheControl: c.CacheControl,
	}
}

// Build checks cfg and returns the thumbnailer's HTTP handler (CloudEvents on POST /).
// The AWS clients are built in the background so the server is ready at once; events
// arriving first wait for them.
func Build(ctx context.Context, cfg Config, log *slog.Logger) (http.Handler, error) {
	opts := cfg.Options()
	if _, err := photo.New(nil, nil, opts, log); err != nil {
		return nil, err
	}
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
		return ph.Handle(ctx, e)
	}), nil
}

// Describe is the start-up line's attributes.
func (c Config) Describe() []any {
	return []any{"table", c.PostsTable, "widths", fmt.Sprint(c.Widths), "memoryBudgetBytes", c.MemoryBudget}
}
