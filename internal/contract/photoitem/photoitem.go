// Package photoitem is the contract of MyBlog's photo item, the one item two services
// write: blog-api registers a photo as pending (the whole item, Item), and the
// thumbnailer moves it once from pending to ready, rejected or failed (the status, the
// thumbnail keys or the reason, and updatedAt). Both build its key and name its
// attributes and statuses from here. The item lives in the posts table beside the posts
// (docs/events.md, services/blog-api/README.md).
package photoitem

// The key of a photo item: pk is KeyPrefix + the photo's id, sk is SortKey. Feed is
// the feedPk of every photo (the feed index lists photos newest first).
const (
	KeyPrefix = "PHOTO#"
	SortKey   = "PHOTO"
	Feed      = "PHOTOS"
)

// The statuses of a photo. A photo is registered Pending; the thumbnailer moves it to
// one of the others, once: Ready (thumbnails made), Rejected (the upload is not an
// image it accepts; Reason says why) or Failed (it could not be processed for good).
const (
	Pending  = "pending"
	Ready    = "ready"
	Rejected = "rejected"
	Failed   = "failed"
)

// The names of the attributes the thumbnailer reads or sets (Item's tags name all).
const (
	AttrPK               = "pk"
	AttrSK               = "sk"
	AttrStatus           = "status"
	AttrThumbnailKey     = "thumbnailKey"
	AttrThumbnailWebPKey = "thumbnailWebpKey"
	AttrReason           = "reason"
	AttrUpdatedAt        = "updatedAt"
)

// PK returns the partition key of photo id.
func PK(id string) string { return KeyPrefix + id }

// Item is a photo item as DynamoDB holds it. Times are in contract.TimeLayout.
type Item struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	FeedPK string `dynamodbav:"feedPk"`
	FeedSK string `dynamodbav:"feedSk"`
	ID     string `dynamodbav:"id"`
	Status string `dynamodbav:"status"`
	// ContentType is the type the uploader declared; the thumbnailer checks the bytes
	// against it.
	ContentType string `dynamodbav:"contentType"`
	Filename    string `dynamodbav:"filename,omitempty"`
	// OriginalKey is the upload's key in the media bucket (uploads/<id>.<ext>).
	OriginalKey string `dynamodbav:"originalKey"`
	// ThumbnailKey is the JPEG thumbnail, set when Ready.
	ThumbnailKey string `dynamodbav:"thumbnailKey,omitempty"`
	// ThumbnailWebPKey is the WebP thumbnail, set when Ready and the WebP was smaller.
	ThumbnailWebPKey string `dynamodbav:"thumbnailWebpKey,omitempty"`
	// Reason says why a photo is Rejected or Failed.
	Reason    string `dynamodbav:"reason,omitempty"`
	CreatedAt string `dynamodbav:"createdAt"`
	UpdatedAt string `dynamodbav:"updatedAt"`
}
