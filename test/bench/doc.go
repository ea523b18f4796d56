// Package bench holds the benchmarks behind the project's speed and memory targets.
// Each measures the project's component beside a named reference in the same run and
// reports the ratio, so the figures mean the same on any machine. Run them with
// `make bench`.
package bench
