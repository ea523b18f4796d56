// Package contract is the home of MyBlog's data contracts, each owned by one package
// below it: photoitem (the photo item blog-api registers and the thumbnailer finishes)
// and subscriberitem (the subscriber item blog-api writes and the welcome mailer reads
// from the table's stream). The CloudEvents are owned by internal/cloudevent
// (com.amazonaws.dynamodb.*) and internal/s3event (com.amazonaws.s3.*);
// docs/events.md documents every one, and this package's tests check that page's
// examples against the owners.
package contract

import "time"

// TimeLayout is how the items' times are written: RFC 3339 in UTC with exactly nine
// fractional digits, so that their strings sort as the times do (the feed index's sort
// keys rely on it).
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// FormatTime renders t in TimeLayout.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }
