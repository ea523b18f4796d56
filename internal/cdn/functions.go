package cdn

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"strings"
)

// MediaFunctionCode is the CloudFront Function (cloudfront-js-2.0, viewer request) on
// the blog's /media/* behaviour: it strips the /media prefix, so /media/uploads/x.jpg is
// read from the media bucket as uploads/x.jpg. Its golden copy is
// testdata/media-function.js; TestMediaFunctionTwin runs it under node and checks that
// StripMedia, its Go twin, gives the same URIs.
//
//go:embed media-function.js
var MediaFunctionCode []byte

// CodeSHA256 is the hex SHA-256 of a function's code, as a FunctionAssociation holds it.
func CodeSHA256(code []byte) string {
	sum := sha256.Sum256(code)
	return hex.EncodeToString(sum[:])
}

// ViewerRequestFunc rewrites a viewer request's URI, as a viewer-request CloudFront
// Function does.
type ViewerRequestFunc func(uri string) string

// StripMedia is MediaFunctionCode in Go: /media and /media/... lose the /media prefix;
// other URIs are unchanged.
func StripMedia(uri string) string {
	if uri == "/media" || strings.HasPrefix(uri, "/media/") {
		if rest := uri[len("/media"):]; rest != "" {
			return rest
		}
		return "/"
	}
	return uri
}

// LocalFunction returns the Go twin of the function whose code has the hex SHA-256
// sum: the local edge cannot run JavaScript, so it runs the twin of each function the
// project publishes, found by the hash of exactly the code that was published.
func LocalFunction(sum string) (ViewerRequestFunc, bool) {
	if sum == CodeSHA256(MediaFunctionCode) {
		return StripMedia, true
	}
	return nil, false
}
