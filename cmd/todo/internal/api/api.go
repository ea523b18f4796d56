// Package api is the todo CLI's client of the to-do REST API: JSON over HTTPS with the
// user's id token as the bearer token, and the API's error envelope turned into an
// *Error.
package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Todo is a to-do as the API returns it. Raw keeps the API's own JSON object, so machine
// output shows exactly what the API sent.
type Todo struct {
	ID        string     `json:"id"`
	Title     string     `json:"title"`
	Notes     string     `json:"notes"`
	Done      bool       `json:"done"`
	DueAt     *time.Time `json:"dueAt,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	UpdatedAt time.Time  `json:"updatedAt"`
	Version   int64      `json:"version"`

	Raw json.RawMessage `json:"-"`
}

// NewTodo is the body of a create.
type NewTodo struct {
	Title string     `json:"title"`
	Notes string     `json:"notes,omitempty"`
	DueAt *time.Time `json:"dueAt,omitempty"`
}

// Patch is a partial update: nil fields are left alone; ClearDue sends "dueAt": null.
type Patch struct {
	Title    *string
	Notes    *string
	Done     *bool
	DueAt    *time.Time
	ClearDue bool
}

// Empty reports whether p changes nothing.
func (p Patch) Empty() bool {
	return p.Title == nil && p.Notes == nil && p.Done == nil && p.DueAt == nil && !p.ClearDue
}

// MarshalJSON encodes only the fields being changed.
func (p Patch) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	if p.Title != nil {
		m["title"] = *p.Title
	}
	if p.Notes != nil {
		m["notes"] = *p.Notes
	}
	if p.Done != nil {
		m["done"] = *p.Done
	}
	switch {
	case p.ClearDue:
		m["dueAt"] = nil
	case p.DueAt != nil:
		m["dueAt"] = p.DueAt.Format(time.RFC3339Nano)
	}
	return json.Marshal(m)
}

// Page is one page of a list.
type Page struct {
	Items     []Todo
	NextToken string
}

// Error is an error answer of the API (its envelope), or a non-JSON error answer.
type Error struct {
	Status    int
	Code      string
	Message   string
	Field     string
	RequestID string
}

// Error returns "field: message (request id)", the line the CLI prints.
func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.RequestID != "" {
		msg += " (request " + e.RequestID + ")"
	}
	return msg
}

// TokenSource returns the bearer token for a request.
type TokenSource func(ctx context.Context) (string, error)

// Client calls the API.
type Client struct {
	base  *url.URL
	http  *http.Client
	token TokenSource
	renew TokenSource
}

// WithRenew makes the client answer a 401 by getting a new token from renew (a
// refresh with the refresh token, whatever the stored expiry says) and sending the
// request once more: an id token can expire, or be refused for clock skew, between
// the check before a request and its arrival.
func (c *Client) WithRenew(renew TokenSource) *Client {
	c.renew = renew
	return c
}

// New returns a Client for the API at baseURL (for example https://localhost:8443).
func New(baseURL string, hc *http.Client, token TokenSource) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("API URL %q: want an absolute URL like https://localhost:8443", baseURL)
	}
	return &Client{base: u, http: hc, token: token}, nil
}

// HTTPClient returns an HTTP client that trusts the system roots plus the CAs in
// caFile (when not empty).
func HTTPClient(caFile string) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read CA file %s: no PEM certificates in it", caFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// List returns one page of the caller's to-dos. limit 0 leaves the page size to the API.
func (c *Client) List(ctx context.Context, limit int, nextToken string) (Page, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if nextToken != "" {
		q.Set("nextToken", nextToken)
	}
	var body struct {
		Items     []json.RawMessage `json:"items"`
		NextToken *string           `json:"nextToken"`
	}
	if err := c.do(ctx, http.MethodGet, c.base.JoinPath("v1", "todos"), q, nil, &body); err != nil {
		return Page{}, err
	}
	p := Page{Items: make([]Todo, 0, len(body.Items)), NextToken: derefString(body.NextToken)}
	for _, raw := range body.Items {
		t, err := decodeTodo(raw)
		if err != nil {
			return Page{}, fmt.Errorf("list todos: %w", err)
		}
		p.Items = append(p.Items, t)
	}
	return p, nil
}

// Create adds a to-do.
func (c *Client) Create(ctx context.Context, n NewTodo) (Todo, error) {
	return c.todo(ctx, http.MethodPost, c.base.JoinPath("v1", "todos"), n)
}

// Get returns one to-do.
func (c *Client) Get(ctx context.Context, id string) (Todo, error) {
	return c.todo(ctx, http.MethodGet, c.todoURL(id), nil)
}

// Update changes some fields of a to-do.
func (c *Client) Update(ctx context.Context, id string, p Patch) (Todo, error) {
	return c.todo(ctx, http.MethodPatch, c.todoURL(id), p)
}

// Delete removes a to-do.
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, c.todoURL(id), nil, nil, nil)
}

// todoURL is /v1/todos/{id}; JoinPath takes escaped segments.
func (c *Client) todoURL(id string) *url.URL {
	return c.base.JoinPath("v1", "todos", url.PathEscape(id))
}

func (c *Client) todo(ctx context.Context, method string, u *url.URL, in any) (Todo, error) {
	var raw json.RawMessage
	if err := c.do(ctx, method, u, nil, in, &raw); err != nil {
		return Todo{}, err
	}
	return decodeTodo(raw)
}

func decodeTodo(raw json.RawMessage) (Todo, error) {
	var t Todo
	if err := json.Unmarshal(raw, &t); err != nil {
		return Todo{}, fmt.Errorf("decode todo: %w", err)
	}
	t.Raw = raw
	return t, nil
}

// Call sends one request to the route made of path's segments under the API's base
// URL and decodes a 2xx JSON answer into out (when not nil); an error answer is an
// *Error. Other route families of the API (files) use it.
func (c *Client) Call(ctx context.Context, method string, path []string, q url.Values, in, out any) error {
	return c.do(ctx, method, c.base.JoinPath(path...), q, in, out)
}

// do sends one request and decodes a 2xx JSON answer into out (when not nil). A 401
// is answered by one renewal of the token and one more try, when WithRenew was set.
func (c *Client) do(ctx context.Context, method string, u *url.URL, q url.Values, in, out any) error {
	u.RawQuery = q.Encode()
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = b
	}
	tok, err := c.token(ctx)
	if err != nil {
		return err
	}
	status, b, err := c.send(ctx, method, u, body, in != nil, tok, c.renew != nil)
	if err == nil && status == http.StatusUnauthorized {
		if tok, err = c.renew(ctx); err != nil {
			return err
		}
		status, b, err = c.send(ctx, method, u, body, in != nil, tok, false)
	}
	if err != nil {
		return err
	}
	if out == nil || status == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, u.String(), err)
	}
	return nil
}

// send makes one exchange and returns the status and body of a 2xx answer (or of a
// 401 when pass401), and an *Error for any other status.
func (c *Client) send(ctx context.Context, method string, u *url.URL, body []byte, hasBody bool, tok string, pass401 bool) (int, []byte, error) {
	var rd io.Reader
	if hasBody {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, u.String(), err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if hasBody {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, networkError(method, u.String(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: read answer: %w", method, u.String(), err)
	}
	if resp.StatusCode == http.StatusUnauthorized && pass401 {
		return resp.StatusCode, b, nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return 0, nil, errorFrom(resp, b)
	}
	return resp.StatusCode, b, nil
}

// errorFrom decodes the API's error envelope; a body that is not one (a proxy's error
// page, say) gives the status text.
func errorFrom(resp *http.Response, b []byte) *Error {
	var env struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			Field     string `json:"field"`
			RequestID string `json:"requestId"`
		} `json:"error"`
	}
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	if err := json.Unmarshal(b, &env); err == nil && env.Error.Message != "" {
		e.Code = env.Error.Code
		e.Message = env.Error.Message
		e.Field = env.Error.Field
		if env.Error.RequestID != "" {
			e.RequestID = env.Error.RequestID
		}
		return e
	}
	e.Message = fmt.Sprintf("%s from %s %s", resp.Status, resp.Request.Method, resp.Request.URL)
	return e
}

// networkError says which URL could not be reached and what to check.
func networkError(method, u string, err error) error {
	var ua x509.UnknownAuthorityError
	var ctxErr = errors.Is(err, context.Canceled)
	switch {
	case errors.As(err, &ua):
		return fmt.Errorf("%s %s: %w (does --ca-file, or the stack's caFile, name the CA that signed the server's certificate?)", method, u, unwrapURL(err))
	case ctxErr:
		return fmt.Errorf("%s %s: %w", method, u, unwrapURL(err))
	default:
		return fmt.Errorf("%s %s: %w (is make dev running?)", method, u, unwrapURL(err))
	}
}

// unwrapURL drops the *url.Error layer, whose text repeats the method and URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
