// Package structure holds tests of the repository's shape that no single package can
// check: no block of code is shared between two services (shared code belongs in
// internal/), every service's main.go stays wiring only, and every service keeps the
// layout services/README.md describes (the edge in internal/api, the AWS adapters in
// internal/store, a domain free of AWS, HTTP, gin and CloudEvents, no file over 500
// lines). They read source files and need no services, so `make unit` runs them.
package structure
