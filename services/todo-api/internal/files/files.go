// Package files is the domain of users' own folders in the files bucket: which keys a
// user may name (key hygiene), what todo-api may sign or vend for them, and nothing
// else. Every key a caller sends is resolved inside "users/<sub>/", where sub is the
// verified subject of their token; the adapters (S3 presigning and listing, STS token
// vending) only ever receive full keys and policies this package has built and checked.
//
// In AWS, IAM enforces the folder as well (see the session policy in Credentials and
// the roles provisioned by internal/provision); this package is the guarantee that
// holds where IAM is not evaluated (moto) and for presigned URLs, which carry the
// service's own permissions.
package files

import (
	"context"
	"fmt"
	"mime"
	"slices"
	"strings"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/filekey"
	"github.com/serverless-architect/serverless-architect/internal/iampolicy"
)

// Credentials are temporary AWS credentials limited to one folder.
type Credentials struct {
	AccessKeyID     string    `json:"accessKeyId"`
	SecretAccessKey string    `json:"secretAccessKey"`
	SessionToken    string    `json:"sessionToken"`
	Expiration      time.Time `json:"expiration"`
}

// Grant is the answer to a credentials request: credentials and where they work.
type Grant struct {
	Credentials
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix"`
	Region string `json:"region"`
}

// SessionRequest is what the vendor is asked for: a session of the vending role
// restricted by Policy (the session policy) and tagged with Tags.
type SessionRequest struct {
	SessionName string
	Policy      string
	Tags        map[string]string
	Duration    time.Duration
}

// Vendor issues temporary credentials (sts:AssumeRole on the vending role).
type Vendor interface {
	Vend(ctx context.Context, r SessionRequest) (Credentials, error)
}

// Upload is a checked request to upload one object.
type Upload struct {
	// Key is the full key, folder included.
	Key         string
	ContentType string
	Size        int64
	MaxBytes    int64
	Expires     time.Duration
}

// SignedUpload is how a client uploads: a PUT with exactly the signed headers, or a
// browser form POST whose policy bounds the size.
type SignedUpload struct {
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Post      *SignedPost       `json:"post,omitempty"`
	ExpiresAt time.Time         `json:"expiresAt"`
}

// SignedPost is a presigned POST: the form fields to send before the file.
type SignedPost struct {
	URL    string            `json:"url"`
	Fields map[string]string `json:"fields"`
}

// SignedDownload is a presigned GET.
type SignedDownload struct {
	Method    string    `json:"method"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Object is one object as listed.
type Object struct {
	// Key is the full key.
	Key          string
	Size         int64
	LastModified time.Time
	ETag         string
}

// Bucket is the storage the presigned URLs and listings are for.
type Bucket interface {
	PresignUpload(ctx context.Context, u Upload) (SignedUpload, error)
	PresignDownload(ctx context.Context, key string, expires time.Duration) (SignedDownload, error)
	// List returns up to limit objects whose keys start with prefix and sort after
	// startAfter (all when it is empty), in key order, and whether more exist.
	List(ctx context.Context, prefix, startAfter string, limit int) ([]Object, bool, error)
	// DeleteAll deletes every object whose key starts with prefix, and aborts the
	// multipart uploads under it, and returns how many objects it deleted.
	DeleteAll(ctx context.Context, prefix string) (int, error)
}

// Options configure a Service.
type Options struct {
	// Bucket is the files bucket's name.
	Bucket string
	// Region is the bucket's region, returned with credentials.
	Region string
	// Partition is the ARN partition ("aws").
	Partition string
	// CredentialsTTL is the lifetime of vended credentials (15 min to 12 h).
	CredentialsTTL time.Duration
	// URLTTL is the lifetime of presigned URLs.
	URLTTL time.Duration
	// MaxUploadBytes bounds one upload.
	MaxUploadBytes int64
	// ContentTypes are the media types that may be uploaded ("image/png"); a "type/*"
	// entry admits a whole type.
	ContentTypes []string
	// ListLimit is the largest page of a listing, and its default size (1 to 1000,
	// S3's own page).
	ListLimit int
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	switch {
	case o.Bucket == "":
		return fmt.Errorf("FILES_BUCKET is required")
	case o.CredentialsTTL < 15*time.Minute || o.CredentialsTTL > 12*time.Hour:
		return fmt.Errorf("FILES_CREDENTIALS_TTL %s: STS allows 15m to 12h", o.CredentialsTTL)
	case o.URLTTL <= 0 || o.URLTTL > 7*24*time.Hour:
		return fmt.Errorf("FILES_URL_TTL %s: want more than 0 and at most 7 days", o.URLTTL)
	case o.MaxUploadBytes < 1 || o.MaxUploadBytes > 5<<30:
		return fmt.Errorf("FILES_UPLOAD_MAX_BYTES %d: want 1 byte to 5 GiB (one PUT)", o.MaxUploadBytes)
	case len(o.ContentTypes) == 0:
		return fmt.Errorf("FILES_UPLOAD_CONTENT_TYPES is empty: no upload could be signed")
	case o.ListLimit < 0 || o.ListLimit > 1000:
		return fmt.Errorf("FILES_LIST_LIMIT %d: want 1 to 1000 (one S3 page)", o.ListLimit)
	}
	for _, ct := range o.ContentTypes {
		if _, _, err := mime.ParseMediaType(ct); err != nil {
			return fmt.Errorf("FILES_UPLOAD_CONTENT_TYPES: %q is not a media type", ct)
		}
	}
	return nil
}

// MaxChainedSession is the longest session STS grants to an AssumeRole made with a
// role's own credentials (role chaining), whatever the role's maximum session says.
// Under IRSA or EKS Pod Identity todo-api runs on role credentials, so every vended
// session is a chained one.
const MaxChainedSession = time.Hour

// Signer describes the credentials todo-api signs and assumes roles with.
type Signer struct {
	// RoleSession is true when they are a role's session (IRSA, Pod Identity, an
	// instance profile, an assumed role), or could not be told apart from one.
	RoleSession bool
	// Identity is the caller's ARN when it is known, for the log.
	Identity string
}

// ForSigner returns o with the lifetimes the signer's credentials can honour, and one
// warning per value it lowered. On a role session, FILES_CREDENTIALS_TTL above an hour
// would make STS refuse every AssumeRole (role chaining is capped at an hour), and a
// presigned URL cannot outlive the session that signed it, which is an hour for IRSA's
// and Pod Identity's sessions: both are lowered to MaxChainedSession.
func (o Options) ForSigner(s Signer) (Options, []string) {
	if !s.RoleSession {
		return o, nil
	}
	who := "role credentials"
	if s.Identity != "" {
		who += " (" + s.Identity + ")"
	}
	var warnings []string
	if o.CredentialsTTL > MaxChainedSession {
		warnings = append(warnings, fmt.Sprintf("FILES_CREDENTIALS_TTL %s lowered to %s: todo-api runs on %s, so its AssumeRole is role chaining, which STS caps at one hour", o.CredentialsTTL, MaxChainedSession, who))
		o.CredentialsTTL = MaxChainedSession
	}
	if o.URLTTL > MaxChainedSession {
		warnings = append(warnings, fmt.Sprintf("FILES_URL_TTL %s lowered to %s: todo-api runs on %s, and a presigned URL stops working when the session that signed it expires", o.URLTTL, MaxChainedSession, who))
		o.URLTTL = MaxChainedSession
	}
	return o, warnings
}

// Service answers the files routes for one caller at a time.
type Service struct {
	o      Options
	vendor Vendor
	bucket Bucket
}

// NewService returns a Service; o must Validate. A nil Vendor disables Credentials.
func NewService(o Options, v Vendor, b Bucket) (*Service, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.ListLimit == 0 {
		o.ListLimit = 1000
	}
	return &Service{o: o, vendor: v, bucket: b}, nil
}

// resolve returns the caller's folder and the full key of key inside it.
func resolve(sub, field, key string) (folder, full string, err error) {
	folder, err = FolderOf(sub)
	if err != nil {
		return "", "", err
	}
	k, err := CleanKey(field, key)
	if err != nil {
		return "", "", err
	}
	if full, err = filekey.Join(folder, k); err != nil {
		return "", "", apperr.Field(field, "%s", err)
	}
	if !Inside(folder, full) {
		return "", "", fmt.Errorf("resolve %q: %q escapes %q", key, full, folder) // cannot happen after CleanKey
	}
	return folder, full, nil
}

// SessionPolicy is the session policy of a vended session for folder: the project's
// single folder definition (iampolicy.Folder) with the caller's literal folder.
func SessionPolicy(bucket, partition, folder string) (iampolicy.Document, error) {
	return iampolicy.Folder{Bucket: bucket, Prefix: folder, Partition: partition}.Document()
}

// SessionName is the RoleSessionName of a vended session: it appears in CloudTrail, so
// it names the user (limited to STS's 64 characters of [\w+=,.@-]).
func SessionName(sub string) string {
	var b strings.Builder
	b.WriteString("todo-files-")
	for _, r := range sub {
		if b.Len() >= 64 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("+=,.@-_", r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Credentials vends credentials limited to the caller's folder: a session of the
// vending role with a session policy naming the folder literally, and the session tag
// sub=<sub> (iampolicy.UserTag) which the vending role's own policy uses
// (iampolicy.UserFolder), so that in AWS the folder is enforced twice by IAM.
func (s *Service) Credentials(ctx context.Context, sub string) (Grant, error) {
	if s.vendor == nil {
		return Grant{}, apperr.New(apperr.Unavailable, "token vending is not configured on this server (FILES_VENDING_ROLE_ARN); use the presigned URLs")
	}
	folder, err := FolderOf(sub)
	if err != nil {
		return Grant{}, err
	}
	doc, err := SessionPolicy(s.o.Bucket, s.o.Partition, folder)
	if err != nil {
		return Grant{}, fmt.Errorf("session policy: %w", err)
	}
	policy, err := doc.Compact()
	if err != nil {
		return Grant{}, fmt.Errorf("session policy: %w", err)
	}
	c, err := s.vendor.Vend(ctx, SessionRequest{
		SessionName: SessionName(sub),
		Policy:      policy,
		Tags:        map[string]string{iampolicy.UserTag: sub},
		Duration:    s.o.CredentialsTTL,
	})
	if err != nil {
		return Grant{}, err
	}
	return Grant{Credentials: c, Bucket: s.o.Bucket, Prefix: folder, Region: s.o.Region}, nil
}

// UploadRequest is what a caller asks to upload.
type UploadRequest struct {
	Key         string
	ContentType string
	Size        int64
}

// UploadURL signs an upload of one object inside the caller's folder, of exactly Size
// bytes (at most MaxUploadBytes) and an allowed content type.
func (s *Service) UploadURL(ctx context.Context, sub string, r UploadRequest) (SignedUpload, error) {
	_, full, err := resolve(sub, "key", r.Key)
	if err != nil {
		return SignedUpload{}, err
	}
	ct, err := s.contentType(r.ContentType)
	if err != nil {
		return SignedUpload{}, err
	}
	switch {
	case r.Size < 1:
		return SignedUpload{}, apperr.Field("size", "is required: the object's size in bytes, at least 1")
	case r.Size > s.o.MaxUploadBytes:
		return SignedUpload{}, apperr.New(apperr.TooLarge, "size %d is over the upload limit of %d bytes", r.Size, s.o.MaxUploadBytes)
	}
	return s.bucket.PresignUpload(ctx, Upload{Key: full, ContentType: ct, Size: r.Size, MaxBytes: s.o.MaxUploadBytes, Expires: s.o.URLTTL})
}

// contentType checks a content type against the allowed list and returns it as sent
// to S3 (the media type, lower case, with its parameters).
func (s *Service) contentType(ct string) (string, error) {
	if ct == "" {
		return "", apperr.Field("contentType", "is required")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", apperr.Field("contentType", "is not a media type")
	}
	for _, allowed := range s.o.ContentTypes {
		a := strings.ToLower(allowed)
		if a == mt || (strings.HasSuffix(a, "/*") && strings.HasPrefix(mt, strings.TrimSuffix(a, "*"))) {
			return mime.FormatMediaType(mt, params), nil
		}
	}
	return "", apperr.New(apperr.UnsupportedMedia, "content type %s may not be uploaded; allowed: %s", mt, strings.Join(s.o.ContentTypes, ", "))
}

// DownloadURL signs a GET of one object inside the caller's folder. It does not check
// that the object exists: S3 answers 404 to the URL, which leaks nothing.
func (s *Service) DownloadURL(ctx context.Context, sub, key string) (SignedDownload, error) {
	_, full, err := resolve(sub, "key", key)
	if err != nil {
		return SignedDownload{}, err
	}
	return s.bucket.PresignDownload(ctx, full, s.o.URLTTL)
}

// Listing is a page of the caller's objects.
type Listing struct {
	// Prefix is the caller's folder, "users/<sub>/": an object listed as Key is the S3
	// object Prefix+Key. Clients use it; they never build the folder themselves.
	Prefix string
	// Items are the objects, keys relative to Prefix, in key order.
	Items []ListedKey
	// Cursor is where the next page starts (a key relative to the folder), empty on the
	// last page. The API seals it into nextToken.
	Cursor string
}

// ListedKey is one object of a Listing.
type ListedKey struct {
	Key          string    `json:"key"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"lastModified"`
	ETag         string    `json:"etag,omitempty"`
}

// ListQuery is one page of a listing: the objects under Prefix (relative to the
// folder) after the relative key StartAfter, at most Limit (ListLimit when 0).
type ListQuery struct {
	Prefix     string
	StartAfter string
	Limit      int
}

// List lists a page of the caller's objects. Anything the bucket returns outside the
// folder (or outside the prefix) is dropped, not shown.
func (s *Service) List(ctx context.Context, sub string, q ListQuery) (Listing, error) {
	folder, err := FolderOf(sub)
	if err != nil {
		return Listing{}, err
	}
	p, err := CleanPrefix("prefix", q.Prefix)
	if err != nil {
		return Listing{}, err
	}
	full, err := filekey.Join(folder, p)
	if err != nil {
		return Listing{}, apperr.Field("prefix", "%s", err)
	}
	limit := q.Limit
	switch {
	case limit == 0:
		limit = s.o.ListLimit
	case limit < 0 || limit > s.o.ListLimit:
		return Listing{}, apperr.Field("limit", "must be a whole number from 1 to %d", s.o.ListLimit)
	}
	after := ""
	if q.StartAfter != "" {
		if !strings.HasPrefix(q.StartAfter, p) {
			return Listing{}, apperr.Field("nextToken", "belongs to a listing of another prefix; list again from the start")
		}
		after = folder + q.StartAfter
	}
	objs, more, err := s.bucket.List(ctx, full, after, limit)
	if err != nil {
		return Listing{}, err
	}
	out := Listing{Prefix: folder, Items: make([]ListedKey, 0, len(objs))}
	for _, o := range objs {
		if !Inside(folder, o.Key) || !strings.HasPrefix(o.Key, full) {
			continue
		}
		out.Items = append(out.Items, ListedKey{Key: strings.TrimPrefix(o.Key, folder), Size: o.Size, LastModified: o.LastModified.UTC(), ETag: o.ETag})
	}
	slices.SortFunc(out.Items, func(a, b ListedKey) int { return strings.Compare(a.Key, b.Key) })
	if last := len(objs) - 1; more && last >= 0 && strings.HasPrefix(objs[last].Key, full) {
		out.Cursor = strings.TrimPrefix(objs[last].Key, folder)
	}
	return out, nil
}

// Purge deletes everything in the caller's folder (objects and unfinished multipart
// uploads) and returns how many objects it deleted: the files part of deleting an
// account. It is idempotent.
func (s *Service) Purge(ctx context.Context, sub string) (int, error) {
	folder, err := FolderOf(sub)
	if err != nil {
		return 0, err
	}
	n, err := s.bucket.DeleteAll(ctx, folder)
	if err != nil {
		return n, fmt.Errorf("purge %s: %w", folder, err)
	}
	return n, nil
}
