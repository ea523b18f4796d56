// Package version holds the build's version and commit, stamped by ko through -ldflags
// -X (see ko.yaml). Plain `go build` leaves the defaults.
package version

// Version is the release tag the binary was built from, or "dev".
var Version = "dev"

// Commit is the short commit the binary was built from, or empty.
var Commit = ""
