package files

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
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

// Listing is todo-api's answer to GET /v1/files: a page of the caller's objects, keys
// relative to Prefix, the caller's folder.
type Listing struct {
	Prefix    string `json:"prefix"`
	Items     []Item `json:"items"`
	NextToken string `json:"nextToken"`
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

// List lists one page of the caller's objects under prefix, after nextToken; limit 0
// is the API's default page.
func (a *API) List(ctx context.Context, prefix, nextToken string, limit int) (Listing, error) {
	q := url.Values{"prefix": {prefix}}
	if nextToken != "" {
		q.Set("nextToken", nextToken)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var l Listing
	err := a.Client.Call(ctx, http.MethodGet, []string{"v1", "files"}, q, nil, &l)
	return l, err
}

// maxListPages bounds ListAll, in case a server keeps answering with a next token.
const maxListPages = 10000

// ListAll lists every object under prefix, page after page, and returns the folder
// the API states with them.
func (a *API) ListAll(ctx context.Context, prefix string) (string, []Item, error) {
	var items []Item
	next, folder := "", ""
	seen := map[string]bool{}
	for range maxListPages {
		l, err := a.List(ctx, prefix, next, 0)
		if err != nil {
			return "", nil, err
		}
		folder = l.Prefix
		items = append(items, l.Items...)
		if next = l.NextToken; next == "" {
			return folder, items, nil
		}
		if seen[next] {
			return "", nil, fmt.Errorf("list files: the API repeated the page token %q", next)
		}
		seen[next] = true
	}
	return "", nil, fmt.Errorf("list files: more than %d pages", maxListPages)
}

// Folder asks the API for the caller's folder (the prefix of GET /v1/files): clients
// never build it themselves.
func (a *API) Folder(ctx context.Context) (string, error) {
	l, err := a.List(ctx, "", "", 1)
	if err != nil {
		return "", fmt.Errorf("ask the API for your folder: %w", err)
	}
	if l.Prefix == "" {
		return "", errors.New("the API did not state your folder (prefix in GET /v1/files): it is older than this CLI")
	}
	return l.Prefix, nil
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
