package api

import (
	"time"

	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/server"
)

// Config is todo-api's whole configuration, read from the environment once at start.
// services/todo-api/README.md lists every variable with its default.
type Config struct {
	server.Config
	Auth auth.Config

	// Region is the AWS region; the SDK's own AWS_ENDPOINT_URL(_<SERVICE>) variables
	// point it at moto locally.
	Region string `env:"AWS_REGION,required"`
	// TodosTable is the DynamoDB table of to-dos.
	TodosTable string `env:"TODOS_TABLE" envDefault:"todos"`
	// DAXEndpoint, when set, makes reads and writes go through DAX
	// (dax://cluster.xxxx.dax-clusters.<region>.amazonaws.com or daxs://...).
	DAXEndpoint string `env:"DAX_ENDPOINT"`
	// DAXQueryCacheTTL is the query-cache TTL of the DAX cluster: for this long after a
	// user's write, that user's lists are read with strong consistency (see README).
	DAXQueryCacheTTL time.Duration `env:"DAX_QUERY_CACHE_TTL" envDefault:"5m"`
	// PageTokenKey is a base64 key of 32 bytes that seals pagination tokens. Every
	// replica must share it; when empty a random one is made (tokens then do not survive
	// a restart or cross replicas, and a warning is logged).
	PageTokenKey string `env:"PAGE_TOKEN_KEY"`
	// DefaultPageSize and MaxPageSize bound `limit`.
	DefaultPageSize int `env:"DEFAULT_PAGE_SIZE" envDefault:"50"`
	MaxPageSize     int `env:"MAX_PAGE_SIZE" envDefault:"100"`
}
