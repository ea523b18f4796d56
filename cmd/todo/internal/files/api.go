package files

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/api"
)

// Grant is todo-api's answer to POST /v1/files/credentials.
type Grant struct {
	AccessKeyID     string    `json:"accessKeyId"`
	SecretAccessKey string    `json:"secretAccessKey"`
	SessionToken    string    `json:"sessionToken"`
	Expiration      time.Time `json:"expiration"`
	Bucket          string    `json:"bucket"`
	Prefix          string    `json:"prefix"`
	Region          string    `json:"region"`
}

// SignedUpload is todo-api's answer to POST /v1/files/upload-url.
type SignedUpload struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// SignedDownload is todo-api's answer to GET /v1/files/download-url.
type SignedDownload struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

// Item is one listed object, its key relative to the user's folder.
type Item struct {
	Key          string    `json:"key"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"lastModified"`
}

// Listing is todo-api's answer to GET /v1/files.
type Listing struct {
	Items     []Item `json:"items"`
	Truncated bool   `json:"truncated"`
}

// API calls todo-api's /v1/files routes.
type API struct {
	// Client is the API client (base URL, bearer token, error envelope).
	Client *api.Client
	// HTTP carries the presigned transfers, which go to S3, not to the API.
	HTTP *http.Client
}

// Credentials vends credentials for the caller's folder.
func (a *API) Credentials(ctx context.Context) (Grant, error) {
	var g Grant
	err := a.Client.Call(ctx, http.MethodPost, []string{"v1", "files", "credentials"}, nil, nil, &g)
	return g, err
}

// UploadURL asks for a presigned upload of size bytes of contentType at key.
func (a *API) UploadURL(ctx context.Context, key, contentType string, size int64) (SignedUpload, error) {
	var u SignedUpload
	err := a.Client.Call(ctx, http.MethodPost, []string{"v1", "files", "upload-url"}, nil, map[string]any{"key": key, "contentType": contentType, "size": size}, &u)
	return u, err
}

// DownloadURL asks for a presigned download of key.
func (a *API) DownloadURL(ctx context.Context, key string) (SignedDownload, error) {
	var d SignedDownload
	err := a.Client.Call(ctx, http.MethodGet, []string{"v1", "files", "download-url"}, url.Values{"key": {key}}, nil, &d)
	return d, err
}

// List lists the caller's objects under prefix.
func (a *API) List(ctx context.Context, prefix string) (Listing, error) {
	var l Listing
	err := a.Client.Call(ctx, http.MethodGet, []string{"v1", "files"}, url.Values{"prefix": {prefix}}, nil, &l)
	return l, err
}

// Vended is an aws.CredentialsProvider backed by todo-api's token vending. The grant's
// bucket and prefix say where the credentials work.
type Vended struct {
	API *API

	mu    sync.Mutex
	grant Grant
}

var _ aws.CredentialsProvider = (*Vended)(nil)

// Retrieve implements aws.CredentialsProvider.
func (v *Vended) Retrieve(ctx context.Context) (aws.Credentials, error) {
	g, err := v.API.Credentials(ctx)
	if err != nil {
		return aws.Credentials{}, err
	}
	v.mu.Lock()
	v.grant = g
	v.mu.Unlock()
	return aws.Credentials{AccessKeyID: g.AccessKeyID, SecretAccessKey: g.SecretAccessKey, SessionToken: g.SessionToken,
		Source: "todo-api", CanExpire: true, Expires: g.Expiration}, nil
}

// Grant returns the latest grant, fetching one when there is none.
func (v *Vended) Grant(ctx context.Context) (Grant, error) {
	v.mu.Lock()
	g := v.grant
	v.mu.Unlock()
	if g.Bucket != "" {
		return g, nil
	}
	if _, err := v.Retrieve(ctx); err != nil {
		return Grant{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.grant, nil
}
