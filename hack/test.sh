#!/usr/bin/env bash
# Runs every test: static checks, unit tests, integration tests against a real
# moto_server, and the end-to-end tests of the local stack. Usage: hack/test.sh [go test flags]   (make test)
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

log "checking moto, chromium and the image tools (installed where missing)"
ensure_moto
# chromium: the browser test (test/e2e/blog_browser_test.go). libheif-examples (heif-enc),
# webp (cwebp) and libjpeg-turbo-progs (cjpeg, jpegtran, djpeg): the image tests make
# HEIC, AVIF, WebP and every kind of JPEG on the spot, and compare with libjpeg and,
# for HEIF orientation, with libvips-tools (vipsthumbnail, built with libheif);
# libavif-bin (avifenc, avifdec) makes and decodes the 10-bit AVIFs heif-enc cannot.
apt_install chromium libheif-examples webp libjpeg-turbo-progs libvips-tools libavif-bin
use_ko_build_settings
log "downloading Go modules"
go mod download
"$ROOT/hack/lint.sh"

# One moto_server for the whole run; tests isolate themselves with unique resource names.
if [ -z "${MOTO_ENDPOINT:-}" ]; then
  port=$(free_port)
  moto_log=$(mktemp)
  moto_server -H 127.0.0.1 -p "$port" >"$moto_log" 2>&1 &
  moto_pid=$!
  trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; rm -f "$moto_log"' EXIT
  export MOTO_ENDPOINT="http://127.0.0.1:${port}"
  wait_http "${MOTO_ENDPOINT}/moto-api/" 60 || { cat "$moto_log" >&2; die "moto_server did not start on port ${port}"; }
  log "moto_server for tests on ${MOTO_ENDPOINT}"
fi
export SA_INTEGRATION=1

# The services compiled as sa dev compiles them (the same settings as go test's, above):
# the end-to-end tests' stacks then start from a warm build cache instead of compiling
# inside their start-up deadline. go list -export compiles without linking: go build
# would link all seven and throw the binaries away (Go does not cache a link), 10 s of
# every run; each stack links what it starts.
log "compiling the services as ko.yaml builds them"
go list -export -f '{{.Export}}' ./services/... >/dev/null

# go test builds and runs the packages in the order they are named, -p (the CPUs) at a
# time, and prints their results in that order: the longest, test/e2e (one stack most
# of its tests share, and four stacks of their own for the tests that need other
# options or stop a part of theirs), goes first, then the next longest, so the rest
# run beside them instead of after them. The timeout is generous: on a 2-core machine
# shared with other builds a stack's start-up alone took over 4 minutes. -vet=off: lint.sh
# ran every vet analyzer already (go test's own vet would run its subset again, on every
# dependency, as a fresh machine's build cache holds none of it).
log "go test: test/e2e first; go test prints each package's result in that order, so the others' come after it"
go test -count=1 -vet=off -timeout 40m "$@" ./test/e2e ./internal/devstack ./services/gateway ./...
log "make test passed"
