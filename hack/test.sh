#!/usr/bin/env bash
# Runs every test: static checks, unit tests, integration tests against a real
# moto_server, and the end-to-end tests of the local stack. Usage: hack/test.sh [go test flags]   (make test)
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_moto
# chromium: the browser test (test/e2e/blog_browser_test.go). libheif-examples (heif-enc),
# webp (cwebp) and libjpeg-turbo-progs (cjpeg, jpegtran, djpeg): the image tests make
# HEIC, AVIF, WebP and every kind of JPEG on the spot, and compare with libjpeg and,
# for HEIF orientation, with libvips-tools (vipsthumbnail, built with libheif).
apt_install chromium libheif-examples webp libjpeg-turbo-progs libvips-tools
# As ko builds the images (ko.yaml): the image codecs' WebAssembly builds only.
export GOFLAGS="${GOFLAGS:+${GOFLAGS} }-tags=nodynamic"
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

# sa dev builds each service with ko.yaml's settings (CGO_ENABLED=0, -trimpath,
# -tags=nodynamic), which go test's own builds do not share: build them once here, so
# the end-to-end tests' stacks start from a warm build cache instead of compiling the
# standard library and every dependency again inside their start-up deadline.
log "building the services as ko.yaml builds them"
CGO_ENABLED=0 go build -trimpath -tags=nodynamic ./services/...

# The end-to-end package starts a dozen whole stacks one after another: about 15 min
# on a quiet 2-core machine, so its timeout is twice that.
log "go test"
go test -count=1 -timeout 40m "$@" ./...
# The cluster tier's own module: its unit tests (the cluster tests skip outside
# hack/test-cluster.sh).
(cd test/cluster && go test -count=1 "$@" ./...)
