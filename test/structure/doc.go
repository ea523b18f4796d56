// Package structure holds tests of the repository's shape that no single package can
// check: no block of code is shared between two services (shared code belongs in
// internal/), and every service's main.go stays wiring only. They read source files
// and need no services, so `make unit` runs them.
package structure
